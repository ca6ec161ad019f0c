import type { TrainingBatch } from "@ldakit/schema";
import type { StoreContext } from "../context.js";
import { flushRemovals, recordRemovals } from "../lifecycle.js";
import { transition } from "./batches.js";
import { assertOwner } from "./claims.js";
import { discardBatchData, discardClusters } from "./discard.js";
import { type PipelineTimings, timed } from "./timings.js";

/**
 * Completes an embedded batch. When it is a newer version of a file imported before, the older
 * version's clusters, questions, vector rows and files go in the same step: no duplicates, no orphans.
 */
export function completeBatch(
  ctx: StoreContext,
  batch: TrainingBatch,
  me: string,
  timings?: PipelineTimings,
): void {
  timed(timings, "sqlite", () =>
    ctx.sql.immediate(
      "complete",
      () => {
        assertOwner(ctx, batch.batch_id, me);
        const older = ctx.sql
          .all(
            ctx.kysely
              .selectFrom("clusters")
              .innerJoin("training_batches", "training_batches.batch_id", "clusters.batch_id")
              .select("clusters.cluster_id")
              .where("training_batches.file_path", "=", batch.file_path)
              .where("training_batches.batch_id", "<", batch.batch_id),
          )
          .map((c) => c.cluster_id);
        recordRemovals(
          ctx,
          discardClusters(ctx, older),
          `superseded by batch ${batch.batch_id} of ${batch.file_path}`,
        );
        transition(ctx, batch.batch_id, "embedding", "completed", { claimed_by: null });
      },
      { durable: true },
    ),
  );
  timed(timings, "files", () => flushRemovals(ctx));
}

/** Records a batch's failure: what it imported goes, the message stays. */
export function failBatch(ctx: StoreContext, batchId: number, me: string, message: string): void {
  ctx.sql.immediate(
    "fail",
    () => {
      const status = assertOwner(ctx, batchId, me);
      recordRemovals(ctx, discardBatchData(ctx, batchId), `batch ${batchId} failed`);
      transition(ctx, batchId, status, "failed", { claimed_by: null, error_message: message });
    },
    { durable: true },
  );
  flushRemovals(ctx);
}
