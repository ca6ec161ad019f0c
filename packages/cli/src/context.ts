import { LDAProjectionDB } from "@ldakit/store";

/** Options every command takes. */
export interface GlobalOptions {
  db?: string;
  json?: boolean;
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

export async function withStore<T>(
  options: GlobalOptions,
  fn: (db: LDAProjectionDB) => Promise<T>,
): Promise<T> {
  const db = await LDAProjectionDB.open(databasePath(options));
  try {
    return await fn(db);
  } finally {
    await db.close();
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
