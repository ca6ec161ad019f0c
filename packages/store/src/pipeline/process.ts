import { availableParallelism } from "node:os";
import type { StoreContext } from "../context.js";
import { StoreError } from "../errors.js";
import { flushRemovals, sweep } from "../lifecycle.js";
import { type VectorFileJob, VectorWriterPool } from "../writer-pool.js";
import { transition } from "./batches.js";
import { claimNext, LostClaim, reclaimAbandoned, workerId } from "./claims.js";
import { embedBatch } from "./embed.js";
import { failureMessage } from "./failures.js";
import { completeBatch, failBatch } from "./finish.js";
import { importBatch } from "./import.js";
import { timed } from "./timings.js";
import type { BatchOutcome, ProcessOptions, ProcessResult } from "./types.js";

/** {@link ProcessOptions} with its defaults filled in, once checked. */
interface Settings extends ProcessOptions {
  chunkSize: number;
  leaseMs: number;
  writerThreads: number;
}

function settingsOf(options: ProcessOptions): Settings {
  const bad = (what: string, value: unknown) =>
    new StoreError("BAD_ARGUMENT", `${what}, not ${String(value)}`);
  if (typeof options?.embedder?.embed !== "function")
    throw bad("processing needs an embedder: { embedder }", options?.embedder);
  const chunkSize = options.chunkSize ?? 512;
  if (!Number.isInteger(chunkSize) || chunkSize < 1)
    throw bad("chunkSize must be a positive integer", chunkSize);
  const leaseMs = options.leaseMs ?? 5 * 60_000;
  if (!(Number.isFinite(leaseMs) && leaseMs > 0))
    throw bad("leaseMs must be a positive number", leaseMs);
  const writerThreads = options.writerThreads ?? (availableParallelism() > 1 ? 2 : 0);
  if (!Number.isInteger(writerThreads) || writerThreads < 0)
    throw bad("writerThreads must be 0 or a positive integer", writerThreads);
  return { ...options, chunkSize, leaseMs, writerThreads };
}

/**
 * process-pending (docs/ARCHITECTURE.md): claims pending batches oldest first (and batches a
 * killed process left behind) and takes each through importing → embedding → completed. A
 * failing batch ends `failed` with its message and does not stop the others.
 */
export async function processPending(
  ctx: StoreContext,
  options: ProcessOptions,
): Promise<ProcessResult> {
  const settings = settingsOf(options);
  sweepBefore(ctx);
  return run(ctx, settings);
}

/** What an interrupted command left goes first (docs/ARCHITECTURE.md §3.1). */
function sweepBefore(ctx: StoreContext): void {
  sweep(ctx, { reclaimBatches: reclaimAbandoned });
}

/** retry-failed (docs/ARCHITECTURE.md): failed batches go back to pending and are processed again. */
export async function retryFailed(
  ctx: StoreContext,
  options: ProcessOptions,
): Promise<ProcessResult & { retried: number[] }> {
  const settings = settingsOf(options);
  sweepBefore(ctx);
  const retried = ctx.sql.immediate("retry", () => {
    const failed = ctx.sql.all(
      ctx.kysely
        .selectFrom("training_batches")
        .select("batch_id")
        .where("status", "=", "failed")
        .orderBy("batch_id"),
    );
    for (const { batch_id } of failed)
      transition(ctx, batch_id, "failed", "pending", { error_message: null }, "retry");
    return failed.map((b) => b.batch_id);
  });
  return { ...(await run(ctx, settings)), retried };
}

async function run(ctx: StoreContext, settings: Settings): Promise<ProcessResult> {
  const me = workerId();
  let pool: VectorWriterPool | undefined;
  const writeFiles = (jobs: VectorFileJob[]): Promise<void> => {
    if (settings.writerThreads === 0) {
      try {
        for (const job of jobs) ctx.vectors.writeAbsolute(job.path, job.vector);
      } catch (error) {
        return Promise.reject(error);
      }
      return Promise.resolve();
    }
    pool ??= new VectorWriterPool(settings.writerThreads);
    return pool.write(jobs);
  };
  try {
    return await processAll(ctx, me, settings, writeFiles);
  } finally {
    await pool?.close();
  }
}

/** The processing loop: one batch at a time until none is pending. */
async function processAll(
  ctx: StoreContext,
  me: string,
  settings: Settings,
  writeFiles: (jobs: VectorFileJob[]) => Promise<void>,
): Promise<ProcessResult> {
  const result: ProcessResult = { completed: [], failed: [] };
  for (;;) {
    const batch = timed(settings.timings, "sqlite", () => claimNext(ctx, me, settings.leaseMs));
    timed(settings.timings, "files", () => flushRemovals(ctx));
    if (!batch) return result;
    const outcome: BatchOutcome = {
      batchId: batch.batch_id,
      filePath: batch.file_path,
      status: "completed",
      clusters: 0,
      questions: 0,
      vectors: 0,
    };
    try {
      settings.onProgress?.({
        batchId: batch.batch_id,
        filePath: batch.file_path,
        phase: "importing",
        done: 0,
        total: 0,
      });
      const imported = importBatch(ctx, batch, me, settings.embedder, settings.timings);
      outcome.clusters = imported.clusters.length;
      outcome.questions = imported.questions.length;
      outcome.vectors = await embedBatch(ctx, batch, me, imported, settings, writeFiles);
      completeBatch(ctx, batch, me, settings.timings);
      result.completed.push(outcome);
    } catch (error) {
      if (error instanceof LostClaim) continue;
      const message = describeFailure(ctx, error);
      try {
        failBatch(ctx, batch.batch_id, me, message);
      } catch (inner) {
        if (inner instanceof LostClaim) continue;
        // Most likely the disk is still full. The batch keeps its claim, which dies with this
        // process, so the next run puts it back to pending: nothing is lost.
        throw new StoreError(
          "WRITE_FAILED",
          `batch ${batch.batch_id} (${batch.file_path}): ${message}; recording the failure did not work either (${describeFailure(ctx, inner)}). The batch goes back to pending on the next run: free space or fix permissions, then run process-pending again`,
          { cause: error },
        );
      }
      result.failed.push({
        ...outcome,
        status: "failed",
        error: message,
        clusters: 0,
        questions: 0,
        vectors: 0,
      });
    }
  }
}

/**
 * A failure as a person can act on it: SQLite's own errors ("database or disk is full", "disk
 * I/O error", "attempt to write a readonly database") name the database file they concern.
 */
function describeFailure(ctx: StoreContext, error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && code.startsWith("SQLITE_")) {
    const hint =
      code === "SQLITE_FULL" || code.startsWith("SQLITE_IOERR")
        ? " (is the disk full?)"
        : code.startsWith("SQLITE_READONLY") || code.startsWith("SQLITE_CANTOPEN")
          ? " (check the permissions of the database and its folder)"
          : "";
    return `cannot write the database ${ctx.path}: ${failureMessage(error)} [${code}]${hint}`;
  }
  return failureMessage(error);
}
