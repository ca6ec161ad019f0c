import { availableParallelism } from "node:os";
import type { BatchStatus } from "@ldakit/schema";
import type { StoreContext } from "../context.js";
import { isConnectionLost } from "../db/store-db.js";
import { StoreError } from "../errors.js";
import { flushRemovals, sweep } from "../lifecycle.js";
import { type VectorFileJob, VectorWriterPool } from "../writer-pool.js";
import { transition } from "./batches.js";
import { ClaimLease, claimNext, LostClaim, reclaimAbandoned, workerId } from "./claims.js";
import { embedBatch } from "./embed.js";
import { failureMessage } from "./failures.js";
import { completeBatch, failBatch } from "./finish.js";
import { importBatch } from "./import.js";
import { timedAsync } from "./timings.js";
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
  await sweepBefore(ctx);
  return run(ctx, settings);
}

/** What an interrupted command left goes first (docs/ARCHITECTURE.md §3.1). */
async function sweepBefore(ctx: StoreContext): Promise<void> {
  await sweep(ctx, { reclaimBatches: reclaimAbandoned });
}

/** What {@link retryFailed} did with one batch that was `failed` when it started. */
export interface RetryOutcome {
  batchId: number;
  filePath: string;
  /**
   * `completed`: retried and completed. `failed`: retried and failed again (`error`).
   * `superseded`: not retried, because a newer batch of the same file exists (`supersededBy`):
   * that batch holds the file's current content, and retrying the old one could only fail it as
   * superseded again. `elsewhere`: moved back to pending, but another process took it (`status`).
   */
  result: "completed" | "failed" | "superseded" | "elsewhere";
  /** Its error before the retry. */
  previousError: string | null;
  /** The error of the failed retry; null for every other result. */
  error: string | null;
  /** The newer batch of the same file, for `superseded`; else null. */
  supersededBy: number | null;
  /** Its status once the retry is over. */
  status: BatchStatus;
}

export interface RetryResult extends ProcessResult {
  /** The ids of the batches moved back to pending (not the superseded ones). */
  retried: number[];
  /** One entry per batch that was failed, in id order. */
  retries: RetryOutcome[];
}

/**
 * retry-failed (docs/ARCHITECTURE.md): failed batches go back to pending and are processed again
 * — except those a newer batch of the same file supersedes, which stay failed with their error
 * and are reported as such. `completed` and `failed` also list other pending batches processed
 * on the way.
 */
export async function retryFailed(
  ctx: StoreContext,
  options: ProcessOptions,
): Promise<RetryResult> {
  const settings = settingsOf(options);
  await sweepBefore(ctx);
  const before = await ctx.db.transaction("retry", async (q) => {
    // Another process retrying at once skips the rows this one holds, and this one its rows.
    const failed = await ctx.db
      .lockRowsForUpdate(
        q
          .selectFrom("training_batches")
          .select(["batch_id", "file_path", "error_message"])
          .where("status", "=", "failed")
          .orderBy("batch_id"),
        true,
      )
      .execute();
    const retried = [];
    for (const b of failed) {
      const newer = await q
        .selectFrom("training_batches")
        .select("batch_id")
        .where("file_path", "=", b.file_path)
        .where("batch_id", ">", b.batch_id)
        .orderBy("batch_id", "desc")
        .limit(1)
        .executeTakeFirst();
      if (!newer)
        await transition(ctx, q, b.batch_id, "failed", "pending", { error_message: null }, "retry");
      retried.push({ ...b, supersededBy: newer?.batch_id ?? null });
    }
    return retried;
  });
  const processed = await run(ctx, settings);
  const outcomeOf = new Map<number, BatchOutcome>();
  for (const o of [...processed.completed, ...processed.failed]) outcomeOf.set(o.batchId, o);
  const statusOf = new Map(
    before.length === 0
      ? []
      : (
          await ctx.kysely
            .selectFrom("training_batches")
            .select(["batch_id", "status"])
            .where(
              "batch_id",
              "in",
              before.map((b) => b.batch_id),
            )
            .execute()
        ).map((b) => [b.batch_id, b.status] as const),
  );
  const retries = before.map((b): RetryOutcome => {
    const outcome = outcomeOf.get(b.batch_id);
    const status = statusOf.get(b.batch_id) ?? "failed";
    const common = {
      batchId: b.batch_id,
      filePath: b.file_path,
      previousError: b.error_message,
      supersededBy: b.supersededBy,
      status,
    };
    if (b.supersededBy !== null) return { ...common, result: "superseded", error: null };
    if (outcome === undefined) return { ...common, result: "elsewhere", error: null };
    return outcome.status === "completed"
      ? { ...common, result: "completed", error: null }
      : { ...common, result: "failed", error: outcome.error ?? null };
  });
  return {
    ...processed,
    retried: before.filter((b) => b.supersededBy === null).map((b) => b.batch_id),
    retries,
  };
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
  const result: ProcessResult = { completed: [], failed: [], superseded: [] };
  for (;;) {
    let batch: Awaited<ReturnType<typeof claimNext>>;
    try {
      batch = await timedAsync(settings.timings, "sqlite", () =>
        claimNext(ctx, me, settings.leaseMs, result.superseded),
      );
      await timedAsync(settings.timings, "files", () => flushRemovals(ctx));
    } catch (error) {
      if (error instanceof StoreError || !isConnectionLost(error)) throw error;
      throw new StoreError(
        "CONNECTION_LOST",
        `lost the connection to the store ${ctx.path} while claiming the next batch: ${failureMessage(error)}`,
        { cause: error },
      );
    }
    if (!batch) return result;
    const outcome: BatchOutcome = {
      batchId: batch.batch_id,
      filePath: batch.file_path,
      status: "completed",
      clusters: 0,
      questions: 0,
      vectors: 0,
    };
    const lease = new ClaimLease(ctx, batch.batch_id, me, settings.leaseMs);
    try {
      settings.onProgress?.({
        batchId: batch.batch_id,
        filePath: batch.file_path,
        phase: "importing",
        done: 0,
        total: 0,
      });
      const imported = await importBatch(ctx, batch, me, settings.embedder, settings.timings);
      outcome.clusters = imported.clusters.length;
      outcome.questions = imported.questions.length;
      lease.check();
      outcome.vectors = await embedBatch(ctx, batch, me, imported, settings, writeFiles, lease);
      lease.check();
      await completeBatch(ctx, batch, me, settings.timings);
      result.completed.push(outcome);
    } catch (error) {
      if (error instanceof LostClaim) continue;
      // Not the batch's fault: it keeps this worker's claim, and its lease hands it to another
      // worker once it lapses. Recording a failure could not reach the database either.
      if (connectionLost(error)) throw connectionLostError(ctx, batch.batch_id, error);
      const message = describeFailure(ctx, error);
      try {
        await failBatch(ctx, batch.batch_id, me, message);
      } catch (inner) {
        if (inner instanceof LostClaim) continue;
        if (connectionLost(inner)) throw connectionLostError(ctx, batch.batch_id, inner);
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
    } finally {
      await lease.stop();
    }
  }
}

/** True for an error that means the database connection broke, however it was reported. */
function connectionLost(error: unknown): boolean {
  return error instanceof StoreError ? error.code === "CONNECTION_LOST" : isConnectionLost(error);
}

/** The `CONNECTION_LOST` error that stops a worker in the middle of a batch. */
function connectionLostError(ctx: StoreContext, batchId: number, error: unknown): StoreError {
  const why =
    error instanceof StoreError
      ? error.message
      : `lost the connection to the store ${ctx.path}: ${failureMessage(error)}`;
  return new StoreError(
    "CONNECTION_LOST",
    `batch ${batchId}: ${why}. The batch stays claimed by this worker until its lease lapses; then another run takes it over. Run process-pending again once the database can be reached`,
    { cause: error },
  );
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
