import type { TrainingBatch } from "@ldakit/schema";
import type { StoreContext } from "../context.js";
import { flushRemovals, holdLifecycle, recordRemovals } from "../lifecycle.js";
import { transition } from "./batches.js";
import { assertOwner } from "./claims.js";
import { discardBatchData, discardClusters } from "./discard.js";
import { type PipelineTimings, timedAsync } from "./timings.js";

/**
 * Completes an embedded batch. When it is a newer version of a file imported before, the older
 * version's clusters, questions, vector rows and files go in the same step: no duplicates, no orphans.
 */
export async function completeBatch(
  ctx: StoreContext,
  batch: TrainingBatch,
  me: string,
  timings?: PipelineTimings,
): Promise<void> {
  await timedAsync(timings, "sqlite", () =>
    ctx.db.transaction(
      "complete",
      async (q) => {
        await assertOwner(ctx, q, batch.batch_id, me);
        // Versions of one file complete one at a time, so each sees what the other dropped.
        await ctx.db.lock(q, `file:${batch.file_path}`);
        await holdLifecycle(ctx, q);
        const older = (
          await q
            .selectFrom("clusters")
            .innerJoin("training_batches", "training_batches.batch_id", "clusters.batch_id")
            .select("clusters.cluster_id")
            .where("training_batches.file_path", "=", batch.file_path)
            .where("training_batches.batch_id", "<", batch.batch_id)
            .execute()
        ).map((c) => c.cluster_id);
        await recordRemovals(
          ctx,
          q,
          await discardClusters(q, older),
          `superseded by batch ${batch.batch_id} of ${batch.file_path}`,
        );
        await transition(ctx, q, batch.batch_id, "embedding", "completed", { claimed_by: null });
      },
      { durable: true },
    ),
  );
  await timedAsync(timings, "files", () => flushRemovals(ctx));
}

/** Records a batch's failure: what it imported goes, the message stays. */
export async function failBatch(
  ctx: StoreContext,
  batchId: number,
  me: string,
  message: string,
): Promise<void> {
  await ctx.db.transaction(
    "fail",
    async (q) => {
      const status = await assertOwner(ctx, q, batchId, me);
      await holdLifecycle(ctx, q);
      await recordRemovals(ctx, q, await discardBatchData(q, batchId), `batch ${batchId} failed`);
      await transition(ctx, q, batchId, status, "failed", {
        claimed_by: null,
        error_message: message,
      });
    },
    { durable: true },
  );
  await flushRemovals(ctx);
}
