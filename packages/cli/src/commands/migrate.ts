import { resolveEmbedder } from "@ldakit/embed";
import {
  BATCH_STATUSES,
  type BatchStatus,
  LATEST_MIGRATION,
  type TrainingBatch,
} from "@ldakit/schema";
import type { OpenMode, ProcessResult, RetryOutcome, RetryResult } from "@ldakit/store";
import type { Command } from "commander";
import {
  type GlobalOptions,
  printJson,
  printTable,
  ReportedFailure,
  UsageError,
  withStore,
} from "../context.js";
import { Progress } from "../progress.js";

interface MigrateOptions extends GlobalOptions {
  scan?: boolean;
  input?: string;
  recursive?: boolean;
  processPending?: boolean;
  model: string;
  modelDir?: string;
  listBatches?: boolean;
  status?: string;
  retryFailed?: boolean;
}

export function registerMigrate(program: Command): void {
  program
    .command("migrate")
    .description(
      "create the store or bring its schema up to date (the only command that does), and import raw Q-A files into it: scan for new and modified files, process them, list batches",
    )
    .option(
      "--scan",
      "find new and modified *.json files in --input and queue them as pending batches",
    )
    .option("--input <dir>", "folder of raw Q-A JSON files (for --scan)")
    .option("--recursive", "with --scan: also look in subfolders")
    .option("--process-pending", "import and embed every pending batch, oldest first")
    .option("--model <name>", "embedding model for --process-pending / --retry-failed", "hash-384")
    .option(
      "--model-dir <dir>",
      "folder of the model (default: $LDAKIT_MODEL_DIR, then the model cache)",
    )
    .option("--list-batches", "list batches (failures with their error)")
    .option(
      "--status <status>",
      `with --list-batches: only batches in this status (${BATCH_STATUSES.join(", ")})`,
    )
    .option(
      "--retry-failed",
      "move failed batches back to pending and process them (a batch a newer scan of its file superseded is not retried)",
    )
    .action(async (options: MigrateOptions, command: Command) => {
      const all = { ...command.optsWithGlobals(), ...options } as MigrateOptions;
      await migrate(all);
    });
}

async function migrate(options: MigrateOptions): Promise<void> {
  // Bare `ldakit migrate` creates the store or brings its schema up to date, nothing else.
  const schemaOnly =
    !options.scan && !options.processPending && !options.listBatches && !options.retryFailed;
  if (options.scan && !options.input) throw new UsageError("--scan needs --input DIR");
  if (
    options.status !== undefined &&
    !(BATCH_STATUSES as readonly string[]).includes(options.status)
  ) {
    throw new UsageError(
      `--status must be one of ${BATCH_STATUSES.join(", ")}, not "${options.status}"`,
    );
  }
  const report: Record<string, unknown> = {};
  let failed = false;
  // Only what brings a store into being may create one (a bare migrate, a scan); processing needs
  // one to exist, so a mistyped --db is an error rather than an empty store; listing alone only
  // reads, so it works on a store this user cannot write.
  const mode: OpenMode =
    schemaOnly || options.scan
      ? "create"
      : options.processPending || options.retryFailed
        ? "write"
        : "read";
  await withStore(options, mode, async (db) => {
    if (schemaOnly) {
      report.schema = { version: LATEST_MIGRATION, migrated: db.migratedOnOpen };
      if (!options.json) {
        const migrated = db.migratedOnOpen;
        console.log(
          migrated.length === 0
            ? `store ${db.path}: schema ${LATEST_MIGRATION}, up to date`
            : `store ${db.path}: schema ${LATEST_MIGRATION} (ran ${migrated.join(", ")})`,
        );
      }
    }
    if (options.scan) {
      const result = await db.scan(options.input as string, {
        recursive: options.recursive ?? false,
      });
      report.scan = {
        new: result.new.map((f) => ({ batch_id: f.batchId, file: f.path })),
        modified: result.modified.map((f) => ({ batch_id: f.batchId, file: f.path })),
        unchanged: result.unchanged.length,
        skipped: result.skipped.map((f) => ({ file: f.path, reason: f.reason, error: f.error })),
      };
      // The files after a skipped one are queued all the same; the exit code still tells.
      failed ||= result.skipped.some((f) => f.error);
      if (!options.json) {
        for (const f of result.new) console.log(`new       batch ${f.batchId}  ${f.path}`);
        for (const f of result.modified) console.log(`modified  batch ${f.batchId}  ${f.path}`);
        for (const f of result.skipped) console.log(`skipped   ${f.path}: ${f.reason}`);
        console.log(
          `scan: ${result.new.length} new, ${result.modified.length} modified, ${result.unchanged.length} unchanged${result.skipped.length > 0 ? `, ${result.skipped.length} skipped` : ""}`,
        );
      }
    }
    if (options.retryFailed || options.processPending) {
      const embedder = await resolveEmbedder(
        options.model,
        options.modelDir ? { modelDir: options.modelDir } : {},
      );
      const progress = new Progress();
      const onProgress = (p: { batchId: number; phase: string; done: number; total: number }) => {
        if (p.phase === "embedding") progress.update(`batch ${p.batchId}`, p.done, p.total);
      };
      try {
        let result: ProcessResult | RetryResult;
        if (options.retryFailed) {
          const retry = await db.retryFailed({ embedder, onProgress });
          result = retry;
          report.retried = retry.retried;
          report.retries = retry.retries.map((r) => ({
            batch_id: r.batchId,
            file: r.filePath,
            result: r.result,
            status: r.status,
            error: r.error,
            previous_error: r.previousError,
            superseded_by: r.supersededBy,
          }));
        } else {
          result = await db.processPending({ embedder, onProgress });
        }
        progress.stop();
        report.processed = {
          completed: result.completed.map((o) => ({
            batch_id: o.batchId,
            file: o.filePath,
            clusters: o.clusters,
            questions: o.questions,
            vectors: o.vectors,
          })),
          failed: result.failed.map((o) => ({
            batch_id: o.batchId,
            file: o.filePath,
            error: o.error,
          })),
          superseded: result.superseded.map((o) => ({
            batch_id: o.batchId,
            file: o.filePath,
            superseded_by: o.supersededBy,
          })),
        };
        failed ||= result.failed.length > 0;
        if (!options.json) printProcessResult(result, embedder.name);
      } finally {
        progress.stop();
        await embedder.dispose();
      }
    }
    if (options.listBatches) {
      const batches = await db.listBatches(
        options.status ? { status: options.status as BatchStatus } : {},
      );
      report.batches = batches;
      if (!options.json) printBatches(batches);
    }
    if (options.json) printJson(report);
  });
  if (failed) throw new ReportedFailure("some inputs were skipped or batches failed");
}

function printProcessResult(result: ProcessResult | RetryResult, model: string): void {
  if ("retries" in result) {
    printRetries(result, model);
    return;
  }
  for (const o of result.completed) {
    console.log(
      `Batch ${o.batchId}: COMPLETED  ${o.clusters} clusters, ${o.questions} questions, ${o.vectors} vectors (${model})`,
    );
  }
  for (const o of result.failed) printFailure(o.batchId, o.filePath, o.error ?? "");
  for (const o of result.superseded) {
    console.log(
      `Batch ${o.batchId}: SUPERSEDED by batch ${o.supersededBy}, a newer scan of the same file (not processed; marked failed)`,
    );
    console.log(`  File: ${o.filePath}`);
  }
  const total = result.completed.length + result.failed.length;
  const superseded = result.superseded.length > 0 ? `, ${result.superseded.length} superseded` : "";
  console.log(
    total + result.superseded.length === 0
      ? "nothing pending"
      : `processed ${total} batch(es): ${result.completed.length} completed, ${result.failed.length} failed${superseded}`,
  );
}

/** `--retry-failed`: what happened to each batch that was failed, then any other pending batch. */
function printRetries(result: RetryResult, model: string): void {
  const retried = new Set(result.retries.map((r) => r.batchId));
  for (const r of result.retries) printRetry(r, result, model);
  const others = {
    completed: result.completed.filter((o) => !retried.has(o.batchId)),
    failed: result.failed.filter((o) => !retried.has(o.batchId)),
    superseded: result.superseded,
  };
  if (others.completed.length + others.failed.length + others.superseded.length > 0) {
    console.log("other pending batches processed on the way:");
    printProcessResult(others, model);
  }
  const count = (what: RetryOutcome["result"]) =>
    result.retries.filter((r) => r.result === what).length;
  console.log(
    result.retries.length === 0
      ? "retry: no failed batches"
      : `retry: ${result.retries.length} failed batch(es): ${count("completed")} retried and completed, ${count("failed")} retried and failed again, ${count("superseded")} superseded (not retried)${count("elsewhere") > 0 ? `, ${count("elsewhere")} taken by another process` : ""}`,
  );
}

function printRetry(r: RetryOutcome, result: RetryResult, model: string): void {
  switch (r.result) {
    case "completed": {
      const o = result.completed.find((c) => c.batchId === r.batchId);
      console.log(
        `Batch ${r.batchId}: retried, COMPLETED  ${o?.clusters ?? 0} clusters, ${o?.questions ?? 0} questions, ${o?.vectors ?? 0} vectors (${model})`,
      );
      console.log(`  File: ${r.filePath}`);
      break;
    }
    case "failed":
      console.log(`Batch ${r.batchId}: retried, FAILED again`);
      console.log(`  File: ${r.filePath}`);
      console.log(`  Error: ${r.error ?? ""}`);
      break;
    case "superseded":
      console.log(
        `Batch ${r.batchId}: not retried: superseded by batch ${r.supersededBy}, a newer scan of the same file (still failed)`,
      );
      console.log(`  File: ${r.filePath}`);
      console.log(`  Error: ${r.previousError ?? ""}`);
      break;
    case "elsewhere":
      console.log(
        `Batch ${r.batchId}: moved back to pending; another process took it (now ${r.status})`,
      );
      console.log(`  File: ${r.filePath}`);
      break;
  }
}

function printFailure(batchId: number, file: string, error: string): void {
  console.log(`Batch ${batchId}: FAILED`);
  console.log(`  File: ${file}`);
  console.log(`  Error: ${error}`);
}

function printBatches(batches: TrainingBatch[]): void {
  const others = batches.filter((b) => b.status !== "failed");
  if (others.length > 0) {
    printTable(
      ["batch", "status", "clusters", "questions", "model", "updated", "file"],
      others.map((b) => [
        b.batch_id,
        b.status,
        b.num_clusters,
        b.num_questions,
        b.model_name,
        b.updated_at,
        b.file_path,
      ]),
    );
  }
  for (const b of batches.filter((b) => b.status === "failed")) {
    if (others.length > 0) console.log();
    printFailure(b.batch_id, b.file_path, b.error_message ?? "");
  }
  if (batches.length === 0) console.log("no batches");
}
