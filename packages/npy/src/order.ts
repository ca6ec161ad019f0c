import type { NpyArray, NpyTypedArray } from "./types.js";

/**
 * Returns a C-order (row-major) copy of `array`. A Fortran-order array is transposed in memory;
 * a C-order one is copied as it is. Elements are moved as raw bits, so NaN payloads survive.
 */
export function toCOrder(array: NpyArray): NpyArray {
  const { shape, data } = array;
  const out = new (data.constructor as new (n: number) => NpyTypedArray)(data.length);
  if (!array.fortranOrder || shape.length < 2 || data.length === 0) {
    new Uint8Array(out.buffer).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return { ...array, shape: [...shape], fortranOrder: false, data: out };
  }
  // Copy in 1-, 2- or 4-byte words; an 8-byte element is two words.
  const itemSize = data.BYTES_PER_ELEMENT;
  const wordSize = Math.min(itemSize, 4);
  const Words = wordSize === 1 ? Uint8Array : wordSize === 2 ? Uint16Array : Uint32Array;
  const src = new Words(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength / wordSize);
  const dst = new Words(out.buffer as ArrayBuffer, 0, out.byteLength / wordSize);
  const k = itemSize / wordSize;

  const rank = shape.length;
  // Fortran strides in elements: axis 0 moves by 1. Walk C order with an odometer over the axes.
  const fStrides = new Array<number>(rank);
  let stride = 1;
  for (let axis = 0; axis < rank; axis++) {
    fStrides[axis] = stride;
    stride *= shape[axis] as number;
  }
  const last = rank - 1;
  const lastDim = shape[last] as number;
  const lastStride = (fStrides[last] as number) * k;
  const index = new Array<number>(rank).fill(0);
  let base = 0;
  for (let o = 0; o < dst.length; o += lastDim * k) {
    for (let j = 0, s = base * k; j < lastDim; j++, s += lastStride) {
      for (let w = 0; w < k; w++) dst[o + j * k + w] = src[s + w] as number;
    }
    // Advance every axis but the last, carrying as an odometer does.
    for (let axis = last - 1; axis >= 0; axis--) {
      const i = (index[axis] as number) + 1;
      const step = fStrides[axis] as number;
      if (i < (shape[axis] as number)) {
        index[axis] = i;
        base += step;
        break;
      }
      index[axis] = 0;
      base -= step * (i - 1);
    }
  }
  return { ...array, shape: [...shape], fortranOrder: false, data: out };
}
