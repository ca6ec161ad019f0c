import { mkdirSync, realpathSync, statSync } from "node:fs";
import { resolve } from "node:path";
import {
  type Database,
  migrateLdakitDatabase,
  readStoreSchema,
  type StoreSchemaState,
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
    if (given === undefined) {
      throw new StoreError(
        "STORE_ROOT_REQUIRED",
        `the store ${location} has no store root yet: name the folder that will hold its vector files, shared by every worker (--store-root DIR, or storeRoot)`,
      );
    }
    if (options.mode === "read") {
      throw new StoreError(
        "STORE_ROOT_REQUIRED",
        `the store ${location} has no store root yet; a command that writes it (e.g. ldakit migrate --store-root DIR) records one`,
      );
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

function realOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
