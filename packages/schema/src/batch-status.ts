/**
 * The batch status machine (docs/ARCHITECTURE.md §3) as data.
 *
 * | from        | to                              |
 * |-------------|---------------------------------|
 * | `pending`   | `importing` (claim)             |
 * | `importing` | `embedding`, `failed`, `pending` (reclaim) |
 * | `embedding` | `completed`, `failed`, `pending` (reclaim) |
 * | `completed` | — (final)                       |
 * | `failed`    | `pending` (retry)               |
 *
 * - `pending → importing` is the only way into processing ("claim"); a store does it with a
 *   conditional UPDATE so that two processes never claim the same batch.
 * - A batch left in `importing` or `embedding` by a killed process is *reclaimed* by going
 *   back to `pending` (not straight back into `importing`): whatever it had half done is
 *   removed and it is processed again from the start through the one entry point, so it
 *   completes exactly once and its history shows the interruption.
 * - `failed → pending` is retry. `completed` is final: a modified file gets a *new* batch.
 * - No status transitions to itself.
 */

export const BATCH_STATUSES = ["pending", "importing", "embedding", "completed", "failed"] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

/** Statuses in which a process is (or was, if it died) working on the batch. */
export const IN_PROGRESS_BATCH_STATUSES = [
  "importing",
  "embedding",
] as const satisfies readonly BatchStatus[];

/** The allowed transitions: `BATCH_TRANSITIONS[from]` lists every allowed `to`. */
export const BATCH_TRANSITIONS: Readonly<Record<BatchStatus, readonly BatchStatus[]>> =
  Object.freeze({
    pending: Object.freeze(["importing"] as const),
    importing: Object.freeze(["embedding", "failed", "pending"] as const),
    embedding: Object.freeze(["completed", "failed", "pending"] as const),
    completed: Object.freeze([] as const),
    failed: Object.freeze(["pending"] as const),
  });

export function isBatchStatus(value: unknown): value is BatchStatus {
  return typeof value === "string" && (BATCH_STATUSES as readonly string[]).includes(value);
}

/** Whether `from → to` is an allowed transition. */
export function canTransition(from: BatchStatus, to: BatchStatus): boolean {
  return isBatchStatus(from) && BATCH_TRANSITIONS[from].includes(to);
}

/** Thrown by {@link assertTransition} for a transition the machine does not allow. */
export class BatchTransitionError extends Error {
  override readonly name = "BatchTransitionError";
  constructor(
    readonly from: string,
    readonly to: string,
    readonly batchId?: number,
  ) {
    super(describeRejectedTransition(from, to, batchId));
  }
}

function describeRejectedTransition(from: string, to: string, batchId?: number): string {
  const subject = batchId === undefined ? "batch" : `batch ${batchId}`;
  if (!isBatchStatus(from)) {
    return `${subject}: unknown status "${from}" (expected one of ${BATCH_STATUSES.join(", ")})`;
  }
  if (!isBatchStatus(to)) {
    return `${subject}: unknown status "${to}" (expected one of ${BATCH_STATUSES.join(", ")})`;
  }
  const allowed = BATCH_TRANSITIONS[from];
  const options =
    allowed.length === 0
      ? `"${from}" is final`
      : `from "${from}" only ${allowed.map((s) => `"${s}"`).join(", ")}`;
  return `${subject}: cannot change status from "${from}" to "${to}" (${options})`;
}

/** Throws a {@link BatchTransitionError} unless `from → to` is allowed. */
export function assertTransition(from: BatchStatus, to: BatchStatus, batchId?: number): void {
  if (!canTransition(from, to)) throw new BatchTransitionError(from, to, batchId);
}
