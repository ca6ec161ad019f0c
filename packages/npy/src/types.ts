/** Typed arrays that hold NPY data in memory. */
export type NpyTypedArray =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

/**
 * An n-dimensional array as stored in an `.npy` file.
 *
 * `dtype` is the NumPy descr of the data as held in `data` (e.g. `'<f4'`, `'|b1'`), so after
 * reading a big-endian file it names the native little-endian type.
 * `f2` data is held as raw IEEE half-precision bits in a `Uint16Array`.
 */
export interface NpyArray {
  dtype: string;
  shape: number[];
  fortranOrder: boolean;
  data: NpyTypedArray;
}
