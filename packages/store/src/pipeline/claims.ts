import { randomBytes } from "node:crypto";
import { modelEmbeddingsDir } from "@ldakit/format";
import type { BatchStatus, TrainingBatch } from "@ldakit/schema";
import type { StoreContext } from "../context.js";
import type { Queries } from "../db/store-db.js";
import {
  claimHasLapsed,
  holdLifecycle,
  leaseEnd,
  ownerIsDead,
  ownerToken,
  recordRemovals,
  removeStaleTemporaryFiles,
} from "../lifecycle.js";
import { transition } from "./batches.js";
import { discardBatchData } from "./discard.js";
import type { SupersededBatch } from "./types.js";

/** Identifies this process as a batch's worker: `machine:pid:nonce`. */
export function workerId(): string {
  return ownerToken(randomBytes(4).toString("hex"));
}

/** Lost the claim on a batch: another process took it over, believing this one dead. */
export class LostClaim extends Error {}

/**
 * The batch's status, when this worker still holds its claim; else {@link LostClaim}. On
 * PostgreSQL the batch's row stays locked until the caller's transaction ends, so a takeover
 * cannot slip in between this check and the caller's writes.
 */
export async function assertOwner(
  ctx: StoreContext,
  q: Queries,
  batchId: number,
  me: string,
): Promise<BatchStatus> {
  const row = await ctx.db
    .lockRowsForUpdate(
      q
        .selectFrom("training_batches")
        .select(["status", "claimed_by"])
        .where("batch_id", "=", batchId),
    )
    .executeTakeFirst();
  if (!row || row.claimed_by !== me)
    throw new LostClaim(`batch ${batchId} was taken over by another process`);
  return row.status;
}

/**
 * Puts batches whose worker died or whose lease ended back to `pending` (with `leaseMs`, also
 * claims from before leases whose `updated_at` is older than that), dropping what they half did
 * and recording their files for removal, in the caller's transaction. Returns how many it put
 * back.
 */
export async function reclaimAbandoned(
  ctx: StoreContext,
  q: Queries,
  leaseMs: number | undefined,
): Promise<number> {
  const now = ctx.now();
  // Read without locks first: locking every in-progress row would make live workers' own steps
  // wait for this claim's commit. Only the batches that look abandoned are locked and judged again.
  const abandoned = (
    await q
      .selectFrom("training_batches")
      .select(["batch_id", "claimed_by", "lease_expires_at", "updated_at"])
      .where("status", "in", ["importing", "embedding"])
      .execute()
  )
    .filter((batch) => claimHasLapsed(batch, now, leaseMs))
    .map((batch) => batch.batch_id);
  if (abandoned.length === 0) return 0;
  // Rows another worker holds (it is renewing or reclaiming them) are skipped, not waited for:
  // two reclaimers cannot both take one batch, and a renewal that commits first wins.
  const inProgress = await ctx.db
    .lockRowsForUpdate(
      q
        .selectFrom("training_batches")
        .selectAll()
        .where("batch_id", "in", abandoned)
        .where("status", "in", ["importing", "embedding"])
        .orderBy("batch_id"),
      true,
    )
    .execute();
  let reclaimed = 0;
  for (const batch of inProgress) {
    const dead = ownerIsDead(batch.claimed_by);
    if (claimHasLapsed(batch, now, leaseMs)) {
      await holdLifecycle(ctx, q);
      await recordRemovals(
        ctx,
        q,
        await discardBatchData(q, batch.batch_id),
        `batch ${batch.batch_id} reclaimed from ${batch.claimed_by ?? "no worker"}`,
      );
      if (dead && batch.model_name) {
        removeStaleTemporaryFiles(ctx, modelEmbeddingsDir(batch.model_name));
      }
      await transition(
        ctx,
        q,
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
export async function claimNext(
  ctx: StoreContext,
  me: string,
  leaseMs: number,
  superseded: SupersededBatch[] = [],
): Promise<TrainingBatch | undefined> {
  // Reported only once the claim has committed: a rolled-back claim superseded nothing.
  const found: SupersededBatch[] = [];
  const claimed = await ctx.db.transaction(
    "claim",
    async (q) => {
      found.length = 0;
      await reclaimAbandoned(ctx, q, leaseMs);
      for (;;) {
        // Workers claiming at once each get another batch: a row one holds, the others skip.
        const next = await ctx.db
          .lockRowsForUpdate(
            q
              .selectFrom("training_batches")
              .selectAll()
              .where("status", "=", "pending")
              .orderBy("batch_id")
              .limit(1),
            true,
          )
          .executeTakeFirst();
        if (!next) return undefined;
        const newer = await q
          .selectFrom("training_batches")
          .select("batch_id")
          .where("file_path", "=", next.file_path)
          .where("batch_id", ">", next.batch_id)
          .orderBy("batch_id")
          .limit(1)
          .executeTakeFirst();
        await transition(ctx, q, next.batch_id, "pending", "importing", {
          claimed_by: me,
          lease_expires_at: leaseEnd(ctx.now(), leaseMs),
        });
        await q
          .updateTable("training_batches")
          .set((eb) => ({ attempts: eb("attempts", "+", 1) }))
          .where("batch_id", "=", next.batch_id)
          .execute();
        if (newer) {
          // The file changed again after this scan; the newer batch has the current content.
          await transition(ctx, q, next.batch_id, "importing", "failed", {
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

/**
 * Extends this worker's lease on a batch to `leaseMs` from now, in a statement of its own (a
 * heartbeat: not a step of the batch, so no crash point). False when the batch is no longer this
 * worker's — another took it over — which {@link ClaimLease} turns into a {@link LostClaim}.
 */
export async function renewClaim(
  ctx: StoreContext,
  batchId: number,
  me: string,
  leaseMs: number,
): Promise<boolean> {
  const { numUpdatedRows } = await ctx.kysely
    .updateTable("training_batches")
    .set({ lease_expires_at: leaseEnd(ctx.now(), leaseMs) })
    .where("batch_id", "=", batchId)
    .where("claimed_by", "=", me)
    .where("status", "in", ["importing", "embedding"])
    .executeTakeFirstOrThrow();
  return numUpdatedRows > 0n;
}

/**
 * Keeps a worker's claim on one batch: renews its lease every third of `leaseMs` on a timer
 * while the batch is worked on, so a batch is taken over only when its worker stops (a crash, a
 * hang, a lost connection) — not because one step took long. A renewal that finds the batch no
 * longer this worker's marks the claim lost; {@link check} then throws {@link LostClaim}, which
 * ends the work on the batch at its next step. A renewal that fails (a lock held past the busy
 * timeout, a connection gone) is tried again at the next tick: the lease outlasts two misses, and
 * the steps themselves report a lost connection.
 */
export class ClaimLease {
  private lost = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;

  constructor(
    private readonly ctx: StoreContext,
    private readonly batchId: number,
    private readonly me: string,
    private readonly leaseMs: number,
  ) {
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.renewing = this.renew().finally(() => {
        this.renewing = undefined;
        this.schedule();
      });
    }, this.leaseMs / 3);
    // A pending renewal must not keep a finished process alive.
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    try {
      if (!(await renewClaim(this.ctx, this.batchId, this.me, this.leaseMs))) this.lost = true;
    } catch {
      // tried again at the next tick (see the class comment)
    }
  }

  /** Throws {@link LostClaim} once a renewal found the batch taken over. */
  check(): void {
    if (this.lost) {
      throw new LostClaim(`batch ${this.batchId} was taken over by another process`);
    }
  }

  /** Stops renewing; waits for a renewal under way, so none runs after the batch is finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.renewing;
  }
}
