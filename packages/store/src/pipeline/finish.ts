import type { TrainingBatch } from "@ldakit/schema";
import type { StoreContext } from "../context.js";
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
  const obsolete = timed(timings, "sqlite", () =>
    ctx.sql.immediate(() => {
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
      const files = discardClusters(ctx, older);
      transition(ctx, batch.batch_id, "embedding", "completed", { claimed_by: null });
      return files;
    }),
  );
  timed(timings, "files", () => {
    for (const path of obsolete) ctx.vectors.remove(path);
  });
}

/** Records a batch's failure: what it imported goes, the message stays. */
export function failBatch(ctx: StoreContext, batchId: number, me: string, message: string): void {
  const files = ctx.sql.immediate(() => {
    const status = assertOwner(ctx, batchId, me);
    const discarded = discardBatchData(ctx, batchId);
    transition(ctx, batchId, status, "failed", { claimed_by: null, error_message: message });
    return discarded;
  });
  for (const path of files) ctx.vectors.remove(path);
}
