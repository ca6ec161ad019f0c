/**
 * Exact top-k: the k largest values, ties broken by the smaller cluster id. A bounded heap for
 * k much smaller than n (one comparison per rejected value), a full sort otherwise. Given the
 * maxima of blocks of 64 values (the kernel computes them with SIMD), whole blocks below the
 * current k-th value are skipped unread: on large projections nearly all of them.
 */

/** The values per block of the block maxima. */
export const TOP_BLOCK = 64;

/**
 * `a` ranks before `b`: larger value, or equal value and smaller id. A NaN ranks after every
 * number (and NaNs among themselves by id): it compares false with everything, so left to `>`
 * it would displace the worst kept value and then let every later value in.
 */
function before(va: number, ia: number, vb: number, ib: number): boolean {
  if (va > vb) return true;
  if (va === vb) return ia < ib;
  // here va < vb, or one of them is NaN
  if (Number.isNaN(va)) return Number.isNaN(vb) && ia < ib;
  return Number.isNaN(vb);
}

/**
 * Head indices of the `k` best values among `values[offset .. offset + n)`, best first, where
 * better means a larger value, or an equal value and a smaller `ids[head]`. NaN values rank last.
 */
export function topIndices(
  values: Float32Array,
  offset: number,
  n: number,
  k: number,
  ids: Float64Array,
  blockMax?: Float32Array,
): Int32Array {
  const m = Math.min(k, n);
  if (m <= 0) return new Int32Array(0);
  if (m <= 16) return insertionTop(values, offset, n, m, ids, blockMax);
  if (m * 8 >= n) return sortAll(values, offset, n, m, ids);

  // Min-heap (worst at the root) of the best m so far: heap[] holds head indices.
  const heap = new Int32Array(m);
  const hv = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    heap[i] = i;
    hv[i] = values[offset + i] as number;
  }
  for (let i = (m >> 1) - 1; i >= 0; i--) siftDown(heap, hv, i, m, ids);
  let worstV = hv[0] as number;
  let worstI = ids[heap[0] as number] as number;
  for (let i = m; i < n; i++) {
    if (blockMax && (i & (TOP_BLOCK - 1)) === 0 && (blockMax[i / TOP_BLOCK] as number) < worstV) {
      i += TOP_BLOCK - 1;
      continue;
    }
    const v = values[offset + i] as number;
    if (v < worstV) continue;
    const id = ids[i] as number;
    if (!before(v, id, worstV, worstI)) continue;
    heap[0] = i;
    hv[0] = v;
    siftDown(heap, hv, 0, m, ids);
    worstV = hv[0] as number;
    worstI = ids[heap[0] as number] as number;
  }
  // Pop worst-first into the back of the result.
  const out = new Int32Array(m);
  for (let size = m; size > 0; size--) {
    out[size - 1] = heap[0] as number;
    heap[0] = heap[size - 1] as number;
    hv[0] = hv[size - 1] as number;
    siftDown(heap, hv, 0, size - 1, ids);
  }
  return out;
}

function siftDown(
  heap: Int32Array,
  hv: Float64Array,
  start: number,
  size: number,
  ids: Float64Array,
) {
  let i = start;
  const h = heap[i] as number;
  const v = hv[i] as number;
  const id = ids[h] as number;
  for (;;) {
    let c = 2 * i + 1;
    if (c >= size) break;
    // pick the worse child
    const r = c + 1;
    if (
      r < size &&
      before(
        hv[c] as number,
        ids[heap[c] as number] as number,
        hv[r] as number,
        ids[heap[r] as number] as number,
      )
    ) {
      c = r;
    }
    // stop when the element is worse than (or as bad as) the worse child
    if (!before(v, id, hv[c] as number, ids[heap[c] as number] as number)) break;
    heap[i] = heap[c] as number;
    hv[i] = hv[c] as number;
    i = c;
  }
  heap[i] = h;
  hv[i] = v;
}

/** Keeps the best m in order by insertion: for small m, one comparison per rejected value. */
function insertionTop(
  values: Float32Array,
  offset: number,
  n: number,
  m: number,
  ids: Float64Array,
  blockMax: Float32Array | undefined,
): Int32Array {
  const best = new Int32Array(m);
  const bv = new Float64Array(m);
  let count = 0;
  let worstV = Number.NEGATIVE_INFINITY;
  let worstI = Number.POSITIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    // (worstV stays -∞ until m values are in: no block is skipped before that)
    if (blockMax && (i & (TOP_BLOCK - 1)) === 0 && (blockMax[i / TOP_BLOCK] as number) < worstV) {
      i += TOP_BLOCK - 1;
      continue;
    }
    const v = values[offset + i] as number;
    if (v < worstV) continue;
    const id = ids[i] as number;
    if (count === m && !before(v, id, worstV, worstI)) continue;
    let p = count < m ? count++ : m - 1;
    while (p > 0 && before(v, id, bv[p - 1] as number, ids[best[p - 1] as number] as number)) {
      best[p] = best[p - 1] as number;
      bv[p] = bv[p - 1] as number;
      p--;
    }
    best[p] = i;
    bv[p] = v;
    if (count === m) {
      worstV = bv[m - 1] as number;
      worstI = ids[best[m - 1] as number] as number;
    }
  }
  return best;
}

function sortAll(
  values: Float32Array,
  offset: number,
  n: number,
  m: number,
  ids: Float64Array,
): Int32Array {
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => {
    const va = values[offset + a] as number;
    const vb = values[offset + b] as number;
    if (va === vb || (Number.isNaN(va) && Number.isNaN(vb)))
      return (ids[a] as number) - (ids[b] as number);
    if (Number.isNaN(va)) return 1;
    if (Number.isNaN(vb)) return -1;
    return vb - va;
  });
  return Int32Array.from(order.slice(0, m));
}
