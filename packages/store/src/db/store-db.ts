import { AsyncLocalStorage } from "node:async_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { Database } from "@ldakit/schema";
import type Sqlite from "better-sqlite3";
import { Kysely, type SelectQueryBuilder, sql } from "kysely";
import { StoreError } from "../errors.js";
import { crashPoint } from "../faults.js";
import { StoreSqliteDialect } from "./sqlite-dialect.js";

/** The database a store lives in. */
export type StoreBackend = "sqlite" | "postgres";

/**
 * The handle a transaction's statements run on. It is a `Kysely<Database>` (Kysely's
 * `Transaction` is one), so helpers that run either inside a transaction or on their own take
 * this type and are given `ctx.kysely` outside one.
 */
export type Queries = Kysely<Database>;

export interface TransactionOptions {
  /**
   * The commit must be on disk when it returns: needed before deleting files whose rows the
   * transaction dropped. SQLite in WAL mode with `synchronous = NORMAL` may undo the last
   * commits on power loss while the unlinks that followed them persist, so these commit with
   * `FULL`; PostgreSQL's commits are durable already (ldakit refuses `synchronous_commit = off`).
   */
  durable?: boolean;
}

/** The advisory locks of a PostgreSQL store; SQLite's write lock covers them all. */
export type LockMode = "shared" | "exclusive";

/** The transaction open in this asynchronous call chain, to refuse a nested one. */
interface OpenTransaction {
  name: string;
  db: StoreDb;
  /** The transaction holds the store's one SQLite connection: a query outside it would wait forever. */
  holdsConnection: boolean;
}

const openTransaction = new AsyncLocalStorage<OpenTransaction>();

/** The `NESTED_TRANSACTION` error: a programming error, named so it is found at once. */
function nestedTransaction(outer: string, what: string): StoreError {
  return new StoreError(
    "NESTED_TRANSACTION",
    `${what} inside the "${outer}" transaction of the same store: inside a transaction, run statements on its handle only`,
  );
}

/**
 * The store's database connection, whichever the backend: Kysely builds and runs every query,
 * and {@link StoreDb.transaction} is the one way the store writes. A named transaction is a pair
 * of crash points, `<name>:before-commit` and `<name>:after-commit` (see faults.ts).
 *
 * What "a transaction is alone" means differs, and the store's steps say what they need:
 * - SQLite: `BEGIN IMMEDIATE` takes the database's write lock, so every writing transaction of
 *   every process is alone; {@link lock} and {@link lockRowsForUpdate} change nothing.
 * - PostgreSQL: transactions run side by side in READ COMMITTED. A step that must not interleave
 *   with another takes a named advisory lock ({@link lock}) or locks its rows `FOR UPDATE`;
 *   serialization failures and deadlocks roll back and run the step again, so a transaction's
 *   body may run more than once and must start from the database each time.
 */
export abstract class StoreDb {
  abstract readonly backend: StoreBackend;
  /** Builds every query; outside a transaction, runs single statements. */
  abstract readonly kysely: Kysely<Database>;

  async transaction<T>(
    name: string,
    fn: (tx: Queries) => Promise<T>,
    options: TransactionOptions = {},
  ): Promise<T> {
    const outer = openTransaction.getStore();
    if (outer?.db === this) throw nestedTransaction(outer.name, `the "${name}" transaction began`);
    const state: OpenTransaction = { name, db: this, holdsConnection: false };
    const result = await openTransaction.run(state, () =>
      this.runTransaction(
        async (tx) => {
          const value = await fn(tx);
          crashPoint(`${name}:before-commit`);
          return value;
        },
        options,
        state,
      ),
    );
    crashPoint(`${name}:after-commit`);
    return result;
  }

  protected abstract runTransaction<T>(
    fn: (tx: Queries) => Promise<T>,
    options: TransactionOptions,
    state: OpenTransaction,
  ): Promise<T>;

  /** Takes the named lock until the transaction ends (PostgreSQL; SQLite holds its write lock already). */
  abstract lock(tx: Queries, key: string, mode?: LockMode): Promise<void>;

  /**
   * The query with its rows locked until the transaction ends (`FOR UPDATE`, and with
   * `skipLocked` skipping rows another transaction holds) on PostgreSQL; unchanged on SQLite.
   */
  abstract lockRowsForUpdate<DB, TB extends keyof DB, O>(
    query: SelectQueryBuilder<DB, TB, O>,
    skipLocked?: boolean,
  ): SelectQueryBuilder<DB, TB, O>;

  /**
   * `count` new ids of a table's key, for rows the caller inserts with them in its transaction:
   * rows inserted many to a statement keep their ids without relying on the order of RETURNING.
   */
  abstract allocateIds(
    tx: Queries,
    table: IdentityTable,
    column: string,
    count: number,
  ): Promise<number[]>;
}

/** Tables whose rows the store inserts with ids it allocated. */
export type IdentityTable = "clusters" | "questions" | "cluster_heads";

/** A SQLite store's connection: one better-sqlite3 connection behind one mutex. */
export class SqliteStoreDb extends StoreDb {
  readonly backend = "sqlite" as const;
  readonly kysely: Kysely<Database>;

  constructor(readonly sqlite: Sqlite.Database) {
    super();
    this.kysely = new Kysely<Database>({
      dialect: new StoreSqliteDialect(sqlite, () => {
        const open = openTransaction.getStore();
        if (open?.db === this && open.holdsConnection) {
          throw nestedTransaction(open.name, "a statement ran on the store's own handle");
        }
      }),
    });
  }

  protected runTransaction<T>(
    fn: (tx: Queries) => Promise<T>,
    options: TransactionOptions,
    state: OpenTransaction,
  ): Promise<T> {
    return this.kysely.connection().execute(async (connection) => {
      state.holdsConnection = true;
      // The safety level cannot change inside a transaction: set it around it.
      const previous = options.durable
        ? (this.sqlite.pragma("synchronous", { simple: true }) as number)
        : undefined;
      if (previous !== undefined && previous < 2) this.sqlite.pragma("synchronous = FULL");
      try {
        return await connection.transaction().execute(fn);
      } finally {
        if (previous !== undefined && previous < 2) this.sqlite.pragma(`synchronous = ${previous}`);
      }
    });
  }

  async lock(): Promise<void> {}

  async allocateIds(
    tx: Queries,
    table: IdentityTable,
    column: string,
    count: number,
  ): Promise<number[]> {
    // The write lock is held, so the next rowids are exactly max + 1… (what SQLite would pick).
    const { rows } = await sql<{ id: number | null }>`
      SELECT max(${sql.ref(column)}) AS id FROM ${sql.table(table)}
    `.execute(tx);
    const first = Number(rows[0]?.id ?? 0) + 1;
    return Array.from({ length: count }, (_, i) => first + i);
  }

  lockRowsForUpdate<DB, TB extends keyof DB, O>(
    query: SelectQueryBuilder<DB, TB, O>,
  ): SelectQueryBuilder<DB, TB, O> {
    return query;
  }
}

/** How many times a PostgreSQL transaction runs before a serialization failure or deadlock is final. */
const MAX_TRANSACTION_ATTEMPTS = 8;

/** SQLSTATEs after which running the whole transaction again is right. */
const RETRYABLE_SQLSTATES = new Set([
  "40001", // serialization_failure
  "40P01", // deadlock_detected
]);

/** True for an error of PostgreSQL (or the network) that means the connection is gone. */
export function isConnectionLost(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string") {
    const message = (error as Error | null)?.message ?? "";
    return /Connection terminated|Client has encountered a connection error|not queryable/.test(
      message,
    );
  }
  return (
    code.startsWith("08") || // connection_exception
    code === "57P01" || // admin_shutdown
    code === "57P02" || // crash_shutdown
    code === "57P03" || // cannot_connect_now
    code === "ECONNREFUSED" ||
    code === "ECONNRESET" ||
    code === "EPIPE" ||
    code === "ETIMEDOUT"
  );
}

/** A stable 64-bit key of an advisory lock's name, computed by the server. */
const lockKey = (key: string) => sql`hashtextextended(${`ldakit:${key}`}, 0)`;

/** A PostgreSQL store's connection: Kysely's PostgresDialect over a `pg` pool. */
export class PostgresStoreDb extends StoreDb {
  readonly backend = "postgres" as const;

  constructor(
    readonly kysely: Kysely<Database>,
    /** Names the database in messages (the URL without its password). */
    private readonly location: string,
  ) {
    super();
  }

  protected async runTransaction<T>(
    fn: (tx: Queries) => Promise<T>,
    _options: TransactionOptions,
    state: OpenTransaction,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.kysely.transaction().setIsolationLevel("read committed").execute(fn);
      } catch (error) {
        if (!(error instanceof StoreError) && isConnectionLost(error)) {
          // Not retried: had the commit reached the server before the loss, running the step
          // again would do it twice. Every step is guarded by the state it expects, so stopping
          // loses nothing; the rows stay as the server last committed them.
          throw new StoreError(
            "CONNECTION_LOST",
            `lost the connection to the store ${this.location} during the "${state.name}" step (its changes were rolled back unless the commit had reached the server): ${(error as Error).message}`,
            { cause: error },
          );
        }
        const code = (error as { code?: unknown }).code;
        if (typeof code !== "string" || !RETRYABLE_SQLSTATES.has(code)) throw error;
        if (attempt === MAX_TRANSACTION_ATTEMPTS) {
          throw new StoreError(
            "LOCKED",
            `the store ${this.location} stayed too busy: ${attempt} attempts of one step failed with ${(error as Error).message}; run the command again`,
            { cause: error },
          );
        }
        // Jittered back-off, so the transactions that collided do not collide again.
        await sleep(Math.random() * 5 * 2 ** attempt);
      }
    }
  }

  async lock(tx: Queries, key: string, mode: LockMode = "exclusive"): Promise<void> {
    await (mode === "shared"
      ? sql`SELECT pg_advisory_xact_lock_shared(${lockKey(key)})`
      : sql`SELECT pg_advisory_xact_lock(${lockKey(key)})`
    ).execute(tx);
  }

  async allocateIds(
    tx: Queries,
    table: IdentityTable,
    column: string,
    count: number,
  ): Promise<number[]> {
    if (count === 0) return [];
    const { rows } = await sql<{ id: number }>`
      SELECT nextval(pg_get_serial_sequence(${table}, ${column}))::integer AS id
      FROM generate_series(1, ${count})
    `.execute(tx);
    return rows.map((r) => Number(r.id));
  }

  lockRowsForUpdate<DB, TB extends keyof DB, O>(
    query: SelectQueryBuilder<DB, TB, O>,
    skipLocked = false,
  ): SelectQueryBuilder<DB, TB, O> {
    const locked = query.forUpdate();
    return skipLocked ? locked.skipLocked() : locked;
  }
}
