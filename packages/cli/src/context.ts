import {
  DEFAULT_BUSY_TIMEOUT_MS,
  isLockedError,
  LDAProjectionDB,
  MAX_BUSY_TIMEOUT_MS,
  type OpenMode,
  StoreError,
} from "@ldakit/store";

/** Options every command takes. */
export interface GlobalOptions {
  db?: string;
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

export function databasePath(options: GlobalOptions): string {
  return options.db || process.env.LDAKIT_DB || "lda.db";
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
  const path = databasePath(options);
  const timeout = busyTimeoutMs(options);
  let db: LDAProjectionDB;
  try {
    db = await LDAProjectionDB.open(path, { mode, busyTimeoutMs: timeout });
  } catch (error) {
    throw explainStoreError(error, path, timeout);
  }
  try {
    return await fn(db);
  } catch (error) {
    throw explainStoreError(error, path, timeout);
  } finally {
    await db.close();
  }
}

/** The store's refusals, with the ldakit command or flag that does something about them. */
function explainStoreError(error: unknown, path: string, timeout: number): unknown {
  if (isLockedError(error)) {
    return new Error(
      `the store ${path} is locked: another process (another ldakit command, or a program with the database open) held its write lock longer than the busy timeout of ${timeout} ms; run this again when that process has finished, or wait longer with --busy-timeout MS (or LDAKIT_BUSY_TIMEOUT)`,
      { cause: error },
    );
  }
  if (!(error instanceof StoreError)) return error;
  switch (error.code) {
    case "STORE_NOT_FOUND":
      return new Error(
        `no store at ${path}; create one with \`ldakit --db ${path} migrate --scan --input DIR\` (or give --db PATH or set LDAKIT_DB to an existing store)`,
        { cause: error },
      );
    case "SCHEMA_TOO_OLD":
      return new Error(`${error.message} (ldakit --db ${path} migrate)`, { cause: error });
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
