import { randomBytes } from "node:crypto";
import { modelEmbeddingsDir } from "@ldakit/format";
import type { BatchStatus, TrainingBatch } from "@ldakit/schema";
import type { StoreContext } from "../context.js";
import {
  ownerIsDead,
  ownerToken,
  recordRemovals,
  removeStaleTemporaryFiles,
} from "../lifecycle.js";
import { transition } from "./batches.js";
import { discardBatchData } from "./discard.js";
import type { SupersededBatch } from "./types.js";

/** Identifies this process as a batch's worker: `host:pid:nonce`. */
export function workerId(): string {
  return ownerToken(randomBytes(4).toString("hex"));
}

/** Lost the claim on a batch: another process took it over, believing this one dead. */
export class LostClaim extends Error {}

/** The batch's status, when this worker still holds its claim; else {@link LostClaim}. */
export function assertOwner(ctx: StoreContext, batchId: number, me: string): BatchStatus {
  const row = ctx.sql.first(
    ctx.kysely
      .selectFrom("training_batches")
      .select(["status", "claimed_by"])
      .where("batch_id", "=", batchId),
  );
  if (!row || row.claimed_by !== me)
    throw new LostClaim(`batch ${batchId} was taken over by another process`);
  return row.status;
}

/**
 * Puts batches whose worker died (or, with `leaseMs`, whose lease ran out) back to `pending`,
 * dropping what they half did and recording their files for removal, in the caller's
 * transaction. Returns how many it put back.
 */
export function reclaimAbandoned(ctx: StoreContext, leaseMs: number | undefined): number {
  const { sql, kysely } = ctx;
  const leaseCutoff =
    leaseMs === undefined ? "" : new Date(Date.parse(ctx.now()) - leaseMs).toISOString();
  const inProgress = sql.all(
    kysely
      .selectFrom("training_batches")
      .selectAll()
      .where("status", "in", ["importing", "embedding"])
      .orderBy("batch_id"),
  );
  let reclaimed = 0;
  for (const batch of inProgress) {
    const dead = ownerIsDead(batch.claimed_by);
    if (dead || batch.updated_at < leaseCutoff) {
      recordRemovals(
        ctx,
        discardBatchData(ctx, batch.batch_id),
        `batch ${batch.batch_id} reclaimed from ${batch.claimed_by ?? "no worker"}`,
      );
      if (dead && batch.model_name) {
        removeStaleTemporaryFiles(ctx, modelEmbeddingsDir(batch.model_name));
      }
      transition(
        ctx,
        batch.batch_id,
        batch.status,
        "pending",
        { claimed_by: null },
        `reclaimed from ${batch.claimed_by ?? "no worker"}, which stopped while ${batch.status}`,
      );
      reclaimed++;
    }
  }
  return reclaimed;
}

/**
 * Takes the next batch to work on, atomically: first puts batches whose worker died (or whose
 * lease ran out) back to `pending` ({@link reclaimAbandoned}), then claims the oldest pending
 * batch. The caller removes the recorded files once this has committed.
 */
export function claimNext(
  ctx: StoreContext,
  me: string,
  leaseMs: number,
  superseded: SupersededBatch[] = [],
): TrainingBatch | undefined {
  const { sql, kysely } = ctx;
  // Reported only once the claim has committed: a rolled-back claim superseded nothing.
  const found: SupersededBatch[] = [];
  const claimed = sql.immediate(
    "claim",
    () => {
      found.length = 0;
      reclaimAbandoned(ctx, leaseMs);
      for (;;) {
        const next = sql.first(
          kysely
            .selectFrom("training_batches")
            .selectAll()
            .where("status", "=", "pending")
            .orderBy("batch_id")
            .limit(1),
        );
        if (!next) return undefined;
        const newer = sql.first(
          kysely
            .selectFrom("training_batches")
            .select("batch_id")
            .where("file_path", "=", next.file_path)
            .where("batch_id", ">", next.batch_id)
            .orderBy("batch_id")
            .limit(1),
        );
        transition(ctx, next.batch_id, "pending", "importing", { claimed_by: me });
        sql.run(
          kysely
            .updateTable("training_batches")
            .set((eb) => ({ attempts: eb("attempts", "+", 1) }))
            .where("batch_id", "=", next.batch_id),
        );
        if (newer) {
          // The file changed again after this scan; the newer batch has the current content.
          transition(ctx, next.batch_id, "importing", "failed", {
            claimed_by: null,
            error_message: `superseded by batch ${newer.batch_id}: the file changed again before this batch was processed`,
          });
          found.push({
            batchId: next.batch_id,
            filePath: next.file_path,
            supersededBy: newer.batch_id,
          });
          continue;
        }
        return { ...next, status: "importing" as const, claimed_by: me };
      }
    },
    { durable: true },
  );
  superseded.push(...found);
  return claimed;
}
