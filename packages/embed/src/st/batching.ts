/**
 * Turning tokenized texts into padded batches: sorted by length so that a batch pads little, each
 * batch padded only to its own longest member, and the batch size lowered for long inputs so that
 * the attention scores (batch × heads × L × L) stay bounded.
 */
import type { BatchInput } from "./bert.js";
import type { Encoded } from "./tokenizer.js";

export interface PlannedBatch extends BatchInput {
  /** Input positions of the batch's rows. */
  readonly indices: Int32Array;
}

/**
 * At most this many batch × L × L attention cells per head in one batch (8 texts of 256
 * tokens): the scores of one layer then take at most heads × 2 MiB.
 */
export const MAX_BATCH_CELLS = 8 * 256 * 256;

export function planBatches(
  encoded: readonly Encoded[],
  batchSize: number,
  padId = 0,
  maxCells = MAX_BATCH_CELLS,
): PlannedBatch[] {
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  const order = encoded.map((_, i) => i);
  order.sort(
    (a, b) => (encoded[a] as Encoded).ids.length - (encoded[b] as Encoded).ids.length || a - b,
  );
  const batches: PlannedBatch[] = [];
  let start = 0;
  while (start < order.length) {
    // Rows are sorted by length: the longest row of a batch is its last one.
    let n = Math.min(batchSize, order.length - start);
    let L = (encoded[order[start + n - 1] as number] as Encoded).ids.length;
    while (n > 1 && n * L * L > maxCells) {
      n = Math.max(1, Math.floor(maxCells / (L * L)));
      L = (encoded[order[start + n - 1] as number] as Encoded).ids.length;
    }
    const indices = Int32Array.from(order.slice(start, start + n));
    const ids = new Int32Array(n * L).fill(padId);
    const typeIds = new Int32Array(n * L);
    const lengths = new Int32Array(n);
    for (let r = 0; r < n; r++) {
      const e = encoded[indices[r] as number] as Encoded;
      ids.set(e.ids, r * L);
      typeIds.set(e.typeIds, r * L);
      lengths[r] = e.ids.length;
    }
    batches.push({ indices, ids, typeIds, lengths, batch: n, seqLen: L });
    start += n;
  }
  return batches;
}

/** Split a [batch, d] result into one Float32Array per row, placed at the rows' input positions. */
export function scatterRows(
  data: Float32Array,
  batch: PlannedBatch,
  dims: number,
  out: Float32Array[],
): void {
  for (let r = 0; r < batch.batch; r++) {
    out[batch.indices[r] as number] = data.slice(r * dims, (r + 1) * dims);
  }
}
