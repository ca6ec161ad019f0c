import type { NpyArray, NpyTypedArray } from "./types.js";

/**
 * Returns a C-order (row-major) copy of `array`. A Fortran-order array is transposed in memory;
 * a C-order one is copied as it is.
 */
export function toCOrder(array: NpyArray): NpyArray {
  const { shape, data } = array;
  const out = newLike(data, data.length);
  if (!array.fortranOrder || shape.length < 2) {
    out.set(data as never);
    return { ...array, shape: [...shape], fortranOrder: false, data: out };
  }
  const rank = shape.length;
  // Fortran strides: axis 0 moves by 1; walk C order with an odometer over the axes.
  const fStrides = new Array<number>(rank);
  let stride = 1;
  for (let axis = 0; axis < rank; axis++) {
    fStrides[axis] = stride;
    stride *= shape[axis] as number;
  }
  const last = rank - 1;
  const lastDim = shape[last] as number;
  const lastStride = fStrides[last] as number;
  const index = new Array<number>(rank).fill(0);
  const src = data as unknown as ArrayLike<number> & { [i: number]: number };
  const dst = out as unknown as { [i: number]: number };
  let base = 0;
  for (let o = 0; o < out.length; o += lastDim) {
    for (let j = 0, s = base; j < lastDim; j++, s += lastStride) dst[o + j] = src[s] as number;
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

function newLike(data: NpyTypedArray, length: number): NpyTypedArray {
  const ctor = data.constructor as new (n: number) => NpyTypedArray;
  return new ctor(length);
}
