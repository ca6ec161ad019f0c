import type Sqlite from "better-sqlite3";
import {
  CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from "kysely";

/**
 * Kysely's SQLite dialect as the store needs it on the one better-sqlite3 connection of a store:
 *
 * - a transaction starts with `BEGIN IMMEDIATE`, so it takes the write lock up front and two
 *   processes queue on the busy timeout instead of one failing with SQLITE_BUSY when its read
 *   lock cannot be upgraded (Kysely's own driver says `BEGIN`, a deferred transaction);
 * - statements are prepared once per SQL text and reused: preparing is most of the cost of a
 *   small statement: about 2.6× the cost of running a cached one on this path;
 * - every query of the process goes through one mutex, held for the whole of a transaction, so a
 *   query issued elsewhere while a transaction awaits cannot run inside it.
 */
export class StoreSqliteDialect implements Dialect {
  /**
   * @param beforeAcquire called before a query waits for the connection: it throws when that
   *   wait could never end (a statement issued from inside the transaction holding it).
   */
  constructor(
    private readonly database: Sqlite.Database,
    private readonly beforeAcquire: () => void = () => {},
  ) {}

  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }

  createDriver(): Driver {
    return new StoreSqliteDriver(this.database, this.beforeAcquire);
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}

/** Prepared statements kept per connection; a store issues a few dozen distinct SQL texts. */
const STATEMENT_CACHE_LIMIT = 512;

class StoreSqliteConnection implements DatabaseConnection {
  private readonly statements = new Map<string, Sqlite.Statement>();

  constructor(private readonly database: Sqlite.Database) {}

  private prepare(sql: string): Sqlite.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.database.prepare(sql);
      if (this.statements.size >= STATEMENT_CACHE_LIMIT) this.statements.clear();
      this.statements.set(sql, statement);
    }
    return statement;
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const statement = this.prepare(compiled.sql);
    const parameters = compiled.parameters as unknown[];
    if (statement.reader) return { rows: statement.all(...parameters) as R[] };
    const { changes, lastInsertRowid } = statement.run(...parameters);
    return {
      numAffectedRows: BigInt(changes),
      insertId: BigInt(lastInsertRowid),
      rows: [],
    };
  }

  // biome-ignore lint/correctness/useYield: streaming is not offered; the store reads whole results
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error("the store's SQLite connection does not stream query results");
  }
}

class StoreSqliteDriver implements Driver {
  private readonly connection: StoreSqliteConnection;
  private locked: Promise<void> | undefined;
  private unlock: (() => void) | undefined;

  constructor(
    private readonly database: Sqlite.Database,
    private readonly beforeAcquire: () => void,
  ) {
    this.connection = new StoreSqliteConnection(database);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    this.beforeAcquire();
    while (this.locked) await this.locked;
    this.locked = new Promise((resolve) => {
      this.unlock = resolve;
    });
    return this.connection;
  }

  async releaseConnection(): Promise<void> {
    const unlock = this.unlock;
    this.locked = undefined;
    this.unlock = undefined;
    unlock?.();
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("begin immediate"));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("commit"));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    // SQLite may have rolled back already (SQLITE_FULL, SQLITE_IOERR…); a second rollback fails.
    if (this.database.inTransaction) {
      await connection.executeQuery(CompiledQuery.raw("rollback"));
    }
  }

  async destroy(): Promise<void> {
    // The store closes its connection itself, after taking the database out of WAL mode.
  }
}
