import type Sqlite from "better-sqlite3";
import type { Compilable } from "kysely";

/**
 * Runs Kysely-built queries synchronously on the better-sqlite3 connection Kysely itself uses.
 * Kysely types and builds every query; executing it synchronously lets a whole pipeline step run
 * inside one `BEGIN IMMEDIATE` transaction (which Kysely's async API cannot start on SQLite) and
 * reuses prepared statements on the hot paths.
 */
export class SyncSql {
  private readonly statements = new Map<string, Sqlite.Statement>();

  constructor(readonly sqlite: Sqlite.Database) {}

  private prepare(query: Compilable<unknown>): {
    statement: Sqlite.Statement;
    parameters: unknown[];
  } {
    const compiled = query.compile();
    let statement = this.statements.get(compiled.sql);
    if (statement === undefined) {
      statement = this.sqlite.prepare(compiled.sql);
      this.statements.set(compiled.sql, statement);
    }
    return { statement, parameters: compiled.parameters as unknown[] };
  }

  /** The prepared statement of a query, to run many times with other parameters in the same order. */
  statement(query: Compilable<unknown>): Sqlite.Statement {
    return this.prepare(query).statement;
  }

  /** Every row a query returns (a SELECT, or a write with RETURNING). */
  all<R>(query: Compilable<R>): R[] {
    const { statement, parameters } = this.prepare(query);
    return statement.all(...parameters) as R[];
  }

  /** The first row, or undefined. */
  first<R>(query: Compilable<R>): R | undefined {
    const { statement, parameters } = this.prepare(query);
    return statement.get(...parameters) as R | undefined;
  }

  /** Runs a write without RETURNING; returns how many rows it changed. */
  run(query: Compilable<unknown>): { changes: number; lastInsertRowid: number } {
    const { statement, parameters } = this.prepare(query);
    const result = statement.run(...parameters);
    return { changes: result.changes, lastInsertRowid: Number(result.lastInsertRowid) };
  }

  /** Runs `fn` in a `BEGIN IMMEDIATE` transaction: it takes the write lock up front, so two processes serialize instead of failing with SQLITE_BUSY on upgrade. */
  immediate<T>(fn: () => T): T {
    return this.sqlite.transaction(fn).immediate();
  }
}
