import { mkdirSync, realpathSync, statSync } from "node:fs";
import { resolve } from "node:path";
import {
  type Database,
  migrateLdakitDatabase,
  readStoreSchema,
  type StoreSchemaState,
  TABLE_NAMES,
} from "@ldakit/schema";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { createStoreContext, type StoreContext } from "../context.js";
import { StoreError } from "../errors.js";
import { isConnectionLost, PostgresStoreDb } from "./store-db.js";

/** True for a `postgres://` or `postgresql://` URL: the store is on a PostgreSQL server. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/**
 * The URL as messages may show it: the password replaced by `***` — the one before `@`, and any
 * query parameter node-postgres takes one from (`?password=`, `?sslpassword=`).
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    for (const key of [...parsed.searchParams.keys()]) {
      if (/password/i.test(key)) parsed.searchParams.set(key, "***");
    }
    return parsed.toString();
  } catch {
    return url
      .replace(/(\/\/[^:/@]*:)[^@]*@/, "$1***@")
      .replace(/([?&][^=&]*password=)[^&]*/gi, "$1***");
  }
}

/** Connections of one store's pool: a worker runs one transaction at a time, plus reads beside it. */
const POOL_SIZE = 4;

/** `SELECT` statements of the store read `bigint` counts; node-postgres would hand them over as text. */
const INT8_OID = 20;

export interface OpenPostgresOptions {
  mode: "create" | "write" | "read";
  busyTimeoutMs: number;
  storeRoot: string | undefined;
  refuseUnlessOpenable(
    location: string,
    mode: "create" | "write" | "read",
    schema: StoreSchemaState,
    engine: "PostgreSQL",
  ): void;
}

/** The setting of `store_settings` that names the store root. */
const STORE_ROOT_KEY = "store_root";

/**
 * Opens a store on PostgreSQL: a pool of `pg` connections under Kysely's PostgresDialect. A `read`
 * store's sessions are read-only transactions throughout; the busy timeout becomes
 * `lock_timeout`; commits are synchronous (file removals follow them).
 */
export async function openPostgresStore(
  url: string,
  options: OpenPostgresOptions,
): Promise<{ location: string; context: StoreContext; migrated: readonly string[] }> {
  const location = redactUrl(url);
  const pool = new pg.Pool({
    connectionString: url,
    max: POOL_SIZE,
    application_name: "ldakit",
    // 0 means "no limit" to PostgreSQL, where the store means "fail at once".
    lock_timeout: Math.max(1, options.busyTimeoutMs),
    options: [
      "-c synchronous_commit=on",
      options.mode === "read" ? "-c default_transaction_read_only=on" : "",
    ]
      .filter(Boolean)
      .join(" "),
    types: {
      getTypeParser: ((oid: number, format?: "text" | "binary") =>
        oid === INT8_OID
          ? (value: string) => Number(value)
          : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle connection the server drops emits `error` on the pool; unhandled, it ends the process.
  // The next query on the pool reports the loss where it can be acted on.
  pool.on("error", () => {});
  const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    let clockOffsetMs: number;
    try {
      const before = Date.now();
      const { rows } = await sql<{ ms: number }>`
        SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms
      `.execute(kysely);
      clockOffsetMs = Math.round(Number(rows[0]?.ms) - (before + Date.now()) / 2);
    } catch (cause) {
      throw connectionFailed(location, cause);
    }
    const schema = await readStoreSchema(kysely);
    options.refuseUnlessOpenable(location, options.mode, schema, "PostgreSQL");
    if (options.mode !== "read") await refuseUnlessWritable(kysely, location);
    // Before migrating: a refused open must not leave the tables of a store behind.
    if (options.storeRoot === undefined && !(await recordsStoreRoot(kysely))) {
      throw storeRootRequired(location, options.mode);
    }
    const migrated =
      options.mode === "read" ? [] : await migrateLdakitDatabase(kysely as Kysely<unknown>);
    const root = await storeRootOf(kysely, location, options);
    const db = new PostgresStoreDb(kysely, location);
    return {
      location,
      context: createStoreContext(location, root, db, clockOffsetMs),
      migrated,
    };
  } catch (error) {
    await kysely.destroy().catch(() => {});
    if (error instanceof StoreError) throw error;
    if (isConnectionLost(error)) throw connectionFailed(location, error);
    if ((error as { code?: unknown }).code === INSUFFICIENT_PRIVILEGE) {
      throw readOnlyRole(location, (error as Error).message, error);
    }
    if ((error as { code?: unknown }).code === "55P03") {
      throw new StoreError(
        "LOCKED",
        `the store ${location} is locked: another connection held a lock longer than the busy timeout of ${options.busyTimeoutMs} ms; run this again when it has finished, or wait longer with a larger busy timeout`,
        { cause: error },
      );
    }
    throw new StoreError(
      "OPEN_FAILED",
      `cannot open the store ${location}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** SQLSTATE of a statement the role has no right to run. */
const INSUFFICIENT_PRIVILEGE = "42501";

function readOnlyRole(location: string, why: string, cause?: unknown): StoreError {
  return new StoreError(
    "READ_ONLY",
    `the store ${location} is not writable by this role: ${why}; a command that only reads it can still open it, or connect as a role that may write`,
    { cause },
  );
}

/**
 * Refuses a role that cannot write the store's tables before anything is written: without it,
 * a write-mode open by a role with only SELECT would succeed and its first step fail half-way.
 * (`has_table_privilege` with several privileges is true when any one is held: each is asked.)
 */
async function refuseUnlessWritable(kysely: Kysely<Database>, location: string): Promise<void> {
  const { rows } = await sql<{ name: string }>`
    SELECT c.relname AS name FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
      AND c.relname IN (${sql.join([...TABLE_NAMES])})
      AND NOT (has_table_privilege(c.oid, 'INSERT') AND has_table_privilege(c.oid, 'UPDATE')
               AND has_table_privilege(c.oid, 'DELETE'))
    ORDER BY c.relname
  `.execute(kysely);
  if (rows.length > 0) {
    throw readOnlyRole(
      location,
      `it may not insert, update and delete in ${rows.map((r) => r.name).join(", ")}`,
    );
  }
}

function connectionFailed(location: string, cause: unknown): StoreError {
  const code = (cause as { code?: unknown }).code;
  const why =
    code === "28P01" || code === "28000"
      ? "the server refused the login"
      : code === "3D000"
        ? "the database does not exist"
        : code === "ECONNREFUSED"
          ? "nothing accepts connections there (is the server running?)"
          : "the server cannot be reached";
  return new StoreError(
    "CONNECTION_FAILED",
    `cannot connect to the store ${location}: ${why}: ${(cause as Error).message}`,
    { cause },
  );
}

/**
 * The store root a PostgreSQL store records, checked against what was given: recorded on first
 * use, refused when different later, and required to exist (a shared folder that is not mounted
 * must not silently become a new, empty root).
 */
async function storeRootOf(
  kysely: Kysely<Database>,
  location: string,
  options: OpenPostgresOptions,
): Promise<string> {
  const given = options.storeRoot === undefined ? undefined : resolve(options.storeRoot);
  const recorded = (
    await kysely
      .selectFrom("store_settings")
      .select("value")
      .where("key", "=", STORE_ROOT_KEY)
      .executeTakeFirst()
  )?.value;
  if (recorded === undefined) {
    if (given === undefined || options.mode === "read") {
      throw storeRootRequired(location, options.mode);
    }
    mkdirSync(given, { recursive: true });
    const root = realpathSync(given);
    await kysely
      .insertInto("store_settings")
      .values({ key: STORE_ROOT_KEY, value: root })
      .onConflict((oc) => oc.column("key").doNothing())
      .execute();
    // Another worker may have recorded its own root first: the recorded one is the answer.
    return storeRootOf(kysely, location, { ...options, storeRoot: root });
  }
  if (given !== undefined && given !== recorded && realOrSelf(given) !== recorded) {
    throw new StoreError(
      "STORE_ROOT_MISMATCH",
      `the store ${location} keeps its files under ${recorded}, not ${given}: every worker must use the same store root (mount the shared folder at the same path)`,
    );
  }
  let isFolder = false;
  try {
    isFolder = statSync(recorded).isDirectory();
  } catch {}
  if (!isFolder) {
    throw new StoreError(
      "STORE_ROOT_MISSING",
      `the store root ${recorded} of the store ${location} is not a folder on this machine: mount the shared storage there first`,
    );
  }
  return recorded;
}

function storeRootRequired(location: string, mode: OpenPostgresOptions["mode"]): StoreError {
  return new StoreError(
    "STORE_ROOT_REQUIRED",
    mode === "read"
      ? `the store ${location} has no store root yet; a command that writes it (e.g. ldakit migrate --store-root DIR) records one`
      : `the store ${location} has no store root yet: name the folder that will hold its vector files, shared by every worker (--store-root DIR, or storeRoot)`,
  );
}

/** True when the database has `store_settings` (migration 007) with a store root in it. */
async function recordsStoreRoot(kysely: Kysely<Database>): Promise<boolean> {
  const { rows } = await sql<{ present: boolean }>`
    SELECT to_regclass('store_settings') IS NOT NULL AS present
  `.execute(kysely);
  if (!rows[0]?.present) return false;
  const row = await kysely
    .selectFrom("store_settings")
    .select("value")
    .where("key", "=", STORE_ROOT_KEY)
    .executeTakeFirst();
  return row !== undefined;
}

function realOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
