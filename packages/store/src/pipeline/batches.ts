import {
  assertTransition,
  type BatchStatus,
  type BatchStatusHistory,
  type TrainingBatch,
} from "@ldakit/schema";
import type { StoreContext } from "../context.js";
import type { Queries } from "../db/store-db.js";
import { StoreError } from "../errors.js";

/** Fields of `training_batches` a status change may set beside the status. */
export interface TransitionFields {
  error_message?: string | null;
  claimed_by?: string | null;
  /** When the claim lapses unless renewed; cleared by every change to a status nobody owns. */
  lease_expires_at?: string | null;
  model_name?: string;
  num_clusters?: number;
  num_questions?: number;
}

export async function appendHistory(
  ctx: StoreContext,
  q: Queries,
  batchId: number,
  from: BatchStatus | null,
  to: BatchStatus,
  message: string | null,
): Promise<void> {
  await q
    .insertInto("batch_status_history")
    .values({
      batch_id: batchId,
      old_status: from,
      new_status: to,
      changed_at: ctx.now(),
      message,
    })
    .execute();
}

/** Moves a batch from one status to another, with its history row, in the caller's transaction. */
export async function transition(
  ctx: StoreContext,
  q: Queries,
  batchId: number,
  from: BatchStatus,
  to: BatchStatus,
  fields: TransitionFields = {},
  message: string | null = null,
): Promise<void> {
  assertTransition(from, to, batchId);
  const owned = to === "importing" || to === "embedding";
  const { numUpdatedRows } = await q
    .updateTable("training_batches")
    .set({
      status: to,
      updated_at: ctx.now(),
      ...(owned ? {} : { lease_expires_at: null }),
      ...fields,
    })
    .where("batch_id", "=", batchId)
    .where("status", "=", from)
    .executeTakeFirstOrThrow();
  if (numUpdatedRows !== 1n)
    throw new StoreError("BATCH_CONFLICT", `batch ${batchId} is no longer ${from}`);
  await appendHistory(ctx, q, batchId, from, to, message ?? fields.error_message ?? null);
}

export function listBatches(
  ctx: StoreContext,
  filter: { status?: BatchStatus } = {},
): Promise<TrainingBatch[]> {
  let query = ctx.kysely.selectFrom("training_batches").selectAll().orderBy("batch_id");
  if (filter.status) query = query.where("status", "=", filter.status);
  return query.execute();
}

export function batchHistory(ctx: StoreContext, batchId: number): Promise<BatchStatusHistory[]> {
  return ctx.kysely
    .selectFrom("batch_status_history")
    .selectAll()
    .where("batch_id", "=", batchId)
    .orderBy("history_id")
    .execute();
}
