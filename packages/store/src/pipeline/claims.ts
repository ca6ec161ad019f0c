import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { modelEmbeddingsDir } from "@ldakit/format";
import type { BatchStatus, TrainingBatch } from "@ldakit/schema";
import type { StoreContext } from "../context.js";
import { transition } from "./batches.js";
import { discardBatchData } from "./discard.js";

const HOST = hostname();

/** Identifies this process as a batch's worker: `host:pid:nonce`. */
export function workerId(): string {
  return `${HOST}:${process.pid}:${randomBytes(4).toString("hex")}`;
}

/** True when the worker is a process on this host that no longer exists. */
function workerIsDead(claimedBy: string | null): boolean {
  if (!claimedBy) return true;
  const [host, pid] = claimedBy.split(":");
  if (host !== HOST) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
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

export interface Claim {
  /** The batch now claimed (in `importing`), or undefined when none is pending. */
  batch: TrainingBatch | undefined;
  /** Vector files of reclaimed batches, to delete now that the transaction has committed. */
  obsoleteFiles: string[];
}

/**
 * Takes the next batch to work on, atomically: first puts batches whose worker died (or whose
 * lease ran out) back to `pending`, dropping what they half did, then claims the oldest pending
 * batch.
 */
export function claimNext(ctx: StoreContext, me: string, leaseMs: number): Claim {
  const { sql, kysely } = ctx;
  return sql.immediate(() => {
    const obsoleteFiles: string[] = [];
    const leaseCutoff = new Date(Date.parse(ctx.now()) - leaseMs).toISOString();
    const inProgress = sql.all(
      kysely
        .selectFrom("training_batches")
        .selectAll()
        .where("status", "in", ["importing", "embedding"])
        .orderBy("batch_id"),
    );
    for (const batch of inProgress) {
      const dead = workerIsDead(batch.claimed_by);
      if (dead || batch.updated_at < leaseCutoff) {
        obsoleteFiles.push(...discardBatchData(ctx, batch.batch_id));
        const pid = Number(batch.claimed_by?.split(":")[1]);
        if (dead && batch.model_name && Number.isInteger(pid)) {
          ctx.vectors.removeTemporaryFiles(modelEmbeddingsDir(batch.model_name), pid);
        }
        transition(
          ctx,
          batch.batch_id,
          batch.status,
          "pending",
          { claimed_by: null },
          `reclaimed from ${batch.claimed_by ?? "no worker"}, which stopped while ${batch.status}`,
        );
      }
    }
    for (;;) {
      const next = sql.first(
        kysely
          .selectFrom("training_batches")
          .selectAll()
          .where("status", "=", "pending")
          .orderBy("batch_id")
          .limit(1),
      );
      if (!next) return { batch: undefined, obsoleteFiles };
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
        continue;
      }
      return { batch: { ...next, status: "importing" as const, claimed_by: me }, obsoleteFiles };
    }
  });
}
