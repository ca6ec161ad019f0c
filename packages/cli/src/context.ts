import {
  DEFAULT_BUSY_TIMEOUT_MS,
  isLockedError,
  isPostgresUrl,
  LDAProjectionDB,
  MAX_BUSY_TIMEOUT_MS,
  type OpenMode,
  redactUrl,
  StoreError,
} from "@ldakit/store";

/** Options every command takes. */
export interface GlobalOptions {
  db?: string;
  storeRoot?: string;
  json?: boolean;
  busyTimeout?: string;
}

/** An error in how the command was called: exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** A failure the command reports with its own output (e.g. a batch failed): exit code 1, no extra message. */
export class ReportedFailure extends Error {
  override readonly name = "ReportedFailure";
}

/**
 * The store's database: `--db`, else `$LDAKIT_DATABASE_URL`, else `$LDAKIT_DB`, else `./lda.db`.
 * Each may be a SQLite file's path or a `postgres://` / `postgresql://` URL.
 */
export function databaseLocation(options: Pick<GlobalOptions, "db">): string {
  return options.db || process.env.LDAKIT_DATABASE_URL || process.env.LDAKIT_DB || "lda.db";
}

/**
 * `--store-root`, else — for a PostgreSQL store — `$LDAKIT_STORE_ROOT`; none when neither is
 * given (or it is empty). The variable goes with `$LDAKIT_DATABASE_URL`: a SQLite store given
 * with `--db` beside them keeps its files beside its database, as always.
 */
export function storeRootOption(
  options: Pick<GlobalOptions, "storeRoot">,
  location: string,
): string | undefined {
  if (options.storeRoot) return options.storeRoot;
  return (isPostgresUrl(location) && process.env.LDAKIT_STORE_ROOT) || undefined;
}

/** A database location as output may show it: a URL without its password. */
export function shownLocation(location: string): string {
  return isPostgresUrl(location) ? redactUrl(location) : location;
}

/** `--busy-timeout`, else `$LDAKIT_BUSY_TIMEOUT`, else 10 000 ms; out of range is a usage error. */
export function busyTimeoutMs(options: GlobalOptions): number {
  const fromFlag = options.busyTimeout !== undefined;
  const text = fromFlag ? options.busyTimeout : process.env.LDAKIT_BUSY_TIMEOUT;
  if (text === undefined || (!fromFlag && text === "")) return DEFAULT_BUSY_TIMEOUT_MS;
  const ms = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(ms) || ms > MAX_BUSY_TIMEOUT_MS) {
    throw new UsageError(
      `${fromFlag ? "--busy-timeout" : "LDAKIT_BUSY_TIMEOUT"} must be a whole number of milliseconds from 0 to ${MAX_BUSY_TIMEOUT_MS}, not "${text}"`,
    );
  }
  return ms;
}

/**
 * Opens the store for `fn` and closes it after. `mode` is what the command may do to the store
 * (docs/ARCHITECTURE.md §2.4): `read` for commands that only read it, `write` for commands that
 * change an existing store, `create` only for `ldakit migrate`.
 */
export async function withStore<T>(
  options: GlobalOptions,
  mode: OpenMode,
  fn: (db: LDAProjectionDB) => Promise<T>,
): Promise<T> {
  const location = databaseLocation(options);
  const storeRoot = storeRootOption(options, location);
  const timeout = busyTimeoutMs(options);
  return withOpenedStore(location, { mode, busyTimeoutMs: timeout, storeRoot }, fn);
}

/**
 * Opens the store at `location` for `fn` and closes it after, with the store's refusals
 * explained in terms of the command's flags; for a command that names its stores otherwise
 * (`store copy --from --to`), `flags` says which flags those are.
 */
export async function withOpenedStore<T>(
  location: string,
  options: { mode: OpenMode; busyTimeoutMs: number; storeRoot: string | undefined },
  fn: (db: LDAProjectionDB) => Promise<T>,
  flags: StoreFlags = GLOBAL_FLAGS,
): Promise<T> {
  const explain = (error: unknown) =>
    explainStoreError(error, location, options.mode, options.busyTimeoutMs, flags);
  let db: LDAProjectionDB;
  try {
    db = await LDAProjectionDB.open(location, {
      mode: options.mode,
      busyTimeoutMs: options.busyTimeoutMs,
      ...(options.storeRoot === undefined ? {} : { storeRoot: options.storeRoot }),
    });
  } catch (error) {
    throw explain(error);
  }
  try {
    return await fn(db);
  } catch (error) {
    throw explain(error);
  } finally {
    await db.close();
  }
}

/** How a command names a store's database and root, for the advice in error messages. */
export interface StoreFlags {
  /** What names the database, e.g. `--db, LDAKIT_DATABASE_URL or LDAKIT_DB`. */
  db: string;
  /** The flag that names the store root. */
  storeRoot: string;
  /** The environment variable that names a PostgreSQL store's root, if any. */
  storeRootVariable?: string;
}

const GLOBAL_FLAGS: StoreFlags = {
  db: "--db, LDAKIT_DATABASE_URL or LDAKIT_DB",
  storeRoot: "--store-root",
  storeRootVariable: "LDAKIT_STORE_ROOT",
};

/** The store's refusals, with the ldakit command or flag that does something about them. */
function explainStoreError(
  error: unknown,
  location: string,
  mode: OpenMode,
  timeout: number,
  flags: StoreFlags,
): unknown {
  // Every message below names the database as the store does: a URL without its password.
  const shown = shownLocation(location);
  const rootFlag =
    flags.storeRootVariable === undefined
      ? flags.storeRoot
      : `${flags.storeRoot} (or ${flags.storeRootVariable})`;
  if (isLockedError(error)) {
    return new Error(
      `the store ${shown} is locked: another process (another ldakit command, or a program with the database open) held its write lock longer than the busy timeout of ${timeout} ms; run this again when that process has finished, or wait longer with --busy-timeout MS (or LDAKIT_BUSY_TIMEOUT)`,
      { cause: error },
    );
  }
  if ((error as { code?: unknown } | null)?.code === "42501") {
    // PostgreSQL's insufficient_privilege: the login may read the store but not change it.
    return new Error(
      `the store ${shown} refused a change: ${(error as Error).message}; this login may only read it (search, eval, stats, verify and migrate --list-batches work), a command that writes needs a role allowed to write its tables`,
      { cause: error },
    );
  }
  if (!(error instanceof StoreError)) return error;
  switch (error.code) {
    case "STORE_NOT_FOUND":
      return new Error(
        `no store at ${shown}; create one with \`ldakit --db ${shown} migrate --scan --input DIR\` (or point ${flags.db} at an existing store)`,
        { cause: error },
      );
    case "NOT_A_STORE":
      // An empty PostgreSQL database is where a new store goes: say how to make it one.
      if (
        isPostgresUrl(location) &&
        mode !== "create" &&
        /is an empty PostgreSQL/.test(error.message)
      ) {
        return new Error(
          `no store in ${shown} yet: the database is empty; create the store with \`ldakit --db ${shown} --store-root DIR migrate --scan --input DIR\` (or point ${flags.db} at an existing store)`,
          { cause: error },
        );
      }
      return error;
    case "SCHEMA_TOO_OLD":
      return new Error(`${error.message} (ldakit --db ${shown} migrate)`, { cause: error });
    case "CONNECTION_FAILED":
      return new Error(
        `${error.message}; check the URL given by ${flags.db}, that the server runs there and that it accepts this user and password`,
        { cause: error },
      );
    case "STORE_ROOT_REQUIRED":
      return new Error(
        mode === "read"
          ? `the store ${shown} has no store root yet, so it holds no vectors to read; a command that writes it records one (ldakit --db ${shown} --store-root DIR migrate)`
          : `the store ${shown} has no store root yet: name the folder that will hold its vector files — shared storage every worker mounts at the same path — with ${rootFlag}`,
        { cause: error },
      );
    case "STORE_ROOT_MISMATCH":
      return new Error(
        isPostgresUrl(location)
          ? `${error.message}; give that folder as ${rootFlag}, or leave it out to use the recorded one`
          : `${error.message}: a SQLite store keeps its files beside its database; leave out ${flags.storeRoot}`,
        { cause: error },
      );
    case "STORE_ROOT_MISSING":
      return new Error(`${error.message}, then run this again`, { cause: error });
    default:
      return error;
  }
}

/** Prints a value as JSON on stdout (for `--json`). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints rows as an aligned text table. */
export function printTable(headers: string[], rows: Array<Array<string | number | null>>): void {
  const cells = rows.map((row) => row.map((c) => (c === null ? "-" : String(c))));
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)),
  );
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  process.stdout.write(`${line(headers)}\n${line(widths.map((w) => "-".repeat(w)))}\n`);
  for (const r of cells) process.stdout.write(`${line(r)}\n`);
}
