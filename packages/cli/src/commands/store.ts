import { resolve } from "node:path";
import {
  copyStoreContents,
  isPostgresUrl,
  type LDAProjectionDB,
  type StoreCopySummary,
  type VerifyResult,
} from "@ldakit/store";
import type { Command } from "commander";
import {
  busyTimeoutMs,
  type GlobalOptions,
  printJson,
  ReportedFailure,
  shownLocation,
  UsageError,
  withOpenedStore,
} from "../context.js";

interface StoreCopyCliOptions extends GlobalOptions {
  from: string;
  to: string;
  fromStoreRoot?: string;
  toStoreRoot?: string;
}

export function registerStore(program: Command): void {
  const store = program
    .command("store")
    .description("work on a whole store: copy it between databases");
  store
    .command("copy")
    .description(
      "copy a store into an empty database — SQLite to PostgreSQL, back, or between two of a kind — with its rows, ids, history, metrics and files, then verify both",
    )
    .requiredOption("--from <path|url>", "the store to copy: a SQLite file or a postgres:// URL")
    .requiredOption(
      "--to <path|url>",
      "where to copy it: a SQLite file (created) or a postgres:// URL of an empty database",
    )
    .option(
      "--from-store-root <dir>",
      "the source's store root, when it is on PostgreSQL (default: the one it records)",
    )
    .option(
      "--to-store-root <dir>",
      "the target's store root, when it is on PostgreSQL: the folder its vector files are copied to (recorded there)",
    )
    .action(async (options: StoreCopyCliOptions, command: Command) => {
      const all = { ...command.optsWithGlobals(), ...options } as StoreCopyCliOptions;
      await copyStore(all);
    });
}

async function copyStore(options: StoreCopyCliOptions): Promise<void> {
  // --db and --store-root name one store; a copy names two, each with its own flags.
  if (options.db !== undefined || options.storeRoot !== undefined) {
    throw new UsageError(
      "store copy names its stores with --from and --to (and --from-store-root, --to-store-root), not --db or --store-root",
    );
  }
  if (sameDatabase(options.from, options.to)) {
    throw new UsageError(
      `--from and --to are the same database ${shownLocation(options.from)}: store copy needs two`,
    );
  }
  const timeout = busyTimeoutMs(options);
  const from = { db: "--from", storeRoot: "--from-store-root" };
  const to = { db: "--to", storeRoot: "--to-store-root" };
  const report = await withOpenedStore(
    options.from,
    { mode: "read", busyTimeoutMs: timeout, storeRoot: options.fromStoreRoot },
    (source) =>
      // The target is created (or an empty one migrated) — the one thing `create` is for here.
      withOpenedStore(
        options.to,
        { mode: "create", busyTimeoutMs: timeout, storeRoot: options.toStoreRoot },
        async (target) => {
          const summary = await copyStoreContents(
            { kysely: source.kysely, root: source.root, label: source.path },
            { kysely: target.kysely, root: target.root, label: target.path },
          );
          // The copy is checked as any store is: both ends against the file convention.
          return {
            summary,
            source: await verified(source),
            target: await verified(target),
          };
        },
        to,
      ),
    from,
  );
  const problems = report.source.result.problems.length + report.target.result.problems.length;
  if (options.json) {
    printJson({
      from: report.source.path,
      to: report.target.path,
      tables: report.summary.tables,
      rows: rowCount(report.summary),
      files: report.summary.files,
      bytes: report.summary.bytes,
      verify: {
        from: { ok: report.source.result.problems.length === 0, ...report.source.result },
        to: { ok: report.target.result.problems.length === 0, ...report.target.result },
      },
    });
  } else {
    const { summary } = report;
    console.log(`copied ${report.source.path} → ${report.target.path}`);
    const tables = Object.entries(summary.tables)
      .filter(([, n]) => n > 0)
      .map(([table, n]) => `${table} ${n}`)
      .join(", ");
    console.log(
      `${rowCount(summary)} rows${tables === "" ? "" : ` (${tables})`}, ${summary.files} files (${summary.bytes} bytes)`,
    );
    for (const end of [report.source, report.target]) {
      const { files, projections } = end.result.checked;
      if (end.result.problems.length === 0) {
        console.log(`verify ${end.path}: ok, ${files} files, ${projections} projections checked`);
      } else {
        for (const p of end.result.problems) console.log(`${end.path}: ${p.path}: ${p.problem}`);
        process.stderr.write(
          `verify ${end.path}: ${end.result.problems.length} problem(s) (${files} files, ${projections} projections checked)\n`,
        );
      }
    }
  }
  if (problems > 0) throw new ReportedFailure("a store has problems after the copy");
}

async function verified(db: LDAProjectionDB): Promise<{ path: string; result: VerifyResult }> {
  return { path: db.path, result: await db.verify() };
}

function rowCount(summary: StoreCopySummary): number {
  return Object.values(summary.tables).reduce((sum, n) => sum + n, 0);
}

/** The same database named twice: one SQLite file, or one URL. */
function sameDatabase(a: string, b: string): boolean {
  if (isPostgresUrl(a) || isPostgresUrl(b)) return a === b;
  return resolve(a) === resolve(b);
}
