import {
  assertTransition,
  type BatchStatus,
  type BatchStatusHistory,
  type TrainingBatch,
} from "@ldakit/schema";
import type { StoreContext } from "../context.js";
import { StoreError } from "../errors.js";

/** Fields of `training_batches` a status change may set beside the status. */
export interface TransitionFields {
  error_message?: string | null;
  claimed_by?: string | null;
  model_name?: string;
  num_clusters?: number;
  num_questions?: number;
}

export function appendHistory(
  ctx: StoreContext,
  batchId: number,
  from: BatchStatus | null,
  to: BatchStatus,
  message: string | null,
): void {
  ctx.sql.run(
    ctx.kysely.insertInto("batch_status_history").values({
      batch_id: batchId,
      old_status: from,
      new_status: to,
      changed_at: ctx.now(),
      message,
    }),
  );
}

/** Moves a batch from one status to another, with its history row, in the caller's transaction. */
export function transition(
  ctx: StoreContext,
  batchId: number,
  from: BatchStatus,
  to: BatchStatus,
  fields: TransitionFields = {},
  message: string | null = null,
): void {
  assertTransition(from, to, batchId);
  const { changes } = ctx.sql.run(
    ctx.kysely
      .updateTable("training_batches")
      .set({ status: to, updated_at: ctx.now(), ...fields })
      .where("batch_id", "=", batchId)
      .where("status", "=", from),
  );
  if (changes !== 1)
    throw new StoreError("BATCH_CONFLICT", `batch ${batchId} is no longer ${from}`);
  appendHistory(ctx, batchId, from, to, message ?? fields.error_message ?? null);
}

export function listBatches(
  ctx: StoreContext,
  filter: { status?: BatchStatus } = {},
): TrainingBatch[] {
  let query = ctx.kysely.selectFrom("training_batches").selectAll().orderBy("batch_id");
  if (filter.status) query = query.where("status", "=", filter.status);
  return ctx.sql.all(query);
}

export function batchHistory(ctx: StoreContext, batchId: number): BatchStatusHistory[] {
  return ctx.sql.all(
    ctx.kysely
      .selectFrom("batch_status_history")
      .selectAll()
      .where("batch_id", "=", batchId)
      .orderBy("history_id"),
  );
}
