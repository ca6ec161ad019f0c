import type Sqlite from "better-sqlite3";
import type { Compilable } from "kysely";
import { crashPoint } from "./faults.js";

export interface TransactionOptions {
  /**
   * Commit with `synchronous = FULL`, so the commit is on disk when it returns: needed before
   * deleting files whose rows the transaction dropped, since in WAL mode with `NORMAL` a power
   * loss may undo the last commits while the unlinks that followed them persist.
   */
  durable?: boolean;
}

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

  /**
   * Runs `fn` in a `BEGIN IMMEDIATE` transaction: it takes the write lock up front, so two
   * processes serialize instead of failing with SQLITE_BUSY on upgrade. A named transaction is
   * a pair of crash points, `<name>:before-commit` and `<name>:after-commit` (see faults.ts).
   */
  immediate<T>(fn: () => T): T;
  immediate<T>(name: string, fn: () => T, options?: TransactionOptions): T;
  immediate<T>(
    nameOrFn: string | (() => T),
    maybeFn?: () => T,
    options: TransactionOptions = {},
  ): T {
    if (typeof nameOrFn === "function") return this.sqlite.transaction(nameOrFn).immediate();
    const name = nameOrFn;
    const fn = maybeFn as () => T;
    const body = (): T => {
      const result = fn();
      crashPoint(`${name}:before-commit`);
      return result;
    };
    const previous = options.durable
      ? (this.sqlite.pragma("synchronous", { simple: true }) as number)
      : undefined;
    if (previous !== undefined && previous < 2) this.sqlite.pragma("synchronous = FULL");
    try {
      const result = this.sqlite.transaction(body).immediate();
      crashPoint(`${name}:after-commit`);
      return result;
    } finally {
      if (previous !== undefined && previous < 2) this.sqlite.pragma(`synchronous = ${previous}`);
    }
  }
}
