import {
  formatDtype,
  HOST_LITTLE_ENDIAN,
  hostDtype,
  inferDtype,
  matchesArrayType,
  parseDtype,
  swapBytesInPlace,
} from "./dtype.js";
import { NpyError } from "./errors.js";
import { type DecodeOptions, formatHeader, type NpyHeader, parseHeader } from "./header.js";
import type { NpyArray, NpyTypedArray } from "./types.js";

/** What `encodeNpy` takes: the data, and optionally its shape, dtype and order. */
export interface NpyArrayInput {
  data: NpyTypedArray;
  /** Defaults to `[data.length]`; `[]` is a 0-d array of one element. */
  shape?: readonly number[];
  /**
   * The dtype to write, defaulting to the typed array's own (`Float32Array` → `<f4`).
   * A big-endian dtype (`>f4`) writes swapped bytes; `|b1` writes a `Uint8Array` as bools and
   * `<f2` a `Uint16Array` of half-float bits.
   */
  dtype?: string;
  /** True when `data` is laid out in Fortran (column-major) order. */
  fortranOrder?: boolean;
}

/**
 * Decodes the bytes of an `.npy` file. The result's data is a view of `bytes` (no copy) when the
 * data is aligned for its type and already in host byte order; otherwise it is copied once.
 */
export function decodeNpy(bytes: Uint8Array, options: DecodeOptions = {}): NpyArray {
  const header = parseHeader(bytes, options);
  checkDataLength(header, bytes.length - header.dataOffset);
  return arrayFromData(header, bytes.subarray(header.dataOffset));
}

/** Checks that `available` bytes of data are exactly what the header calls for. */
export function checkDataLength(header: NpyHeader, available: number): void {
  if (available < header.dataLength) {
    throw new NpyError(
      "TRUNCATED",
      `data is ${available} bytes but shape (${header.shape.join(", ")}) of ${header.descr} needs ${header.dataLength}`,
    );
  }
  if (available > header.dataLength) {
    throw new NpyError(
      "TRAILING_DATA",
      `${available - header.dataLength} bytes follow the ${header.dataLength} bytes of data that shape (${header.shape.join(", ")}) of ${header.descr} calls for`,
    );
  }
}

/**
 * Wraps exactly `header.dataLength` bytes of data as the typed array of the header's dtype, in host
 * byte order. `owned` says the bytes may be swapped in place instead of copied.
 */
export function arrayFromData(header: NpyHeader, data: Uint8Array, owned = false): NpyArray {
  const { dtype } = header;
  const needsSwap = dtype.itemSize > 1 && dtype.littleEndian !== HOST_LITTLE_ENDIAN;
  const aligned = data.byteOffset % dtype.itemSize === 0;
  let source = data.subarray(0, header.dataLength);
  // new Uint8Array(view) copies; Buffer#slice would not (it returns a view of the caller's bytes).
  if (!aligned || (needsSwap && !owned)) source = new Uint8Array(source);
  if (needsSwap) swapBytesInPlace(source, dtype.itemSize);
  const typed = new dtype.arrayType(source.buffer as ArrayBuffer, source.byteOffset, header.size);
  return {
    dtype: hostDtype(dtype.code),
    shape: [...header.shape],
    fortranOrder: header.fortranOrder,
    data: typed,
  };
}

/** A validated encode request: the header bytes and how the data must be written. */
export interface EncodePlan {
  header: Uint8Array;
  /** The data's bytes, in host order. */
  data: Uint8Array;
  /** Item size to swap on the way out, or 0 when the bytes go out as they are. */
  swapItemSize: number;
}

/** Validates an encode request and builds its header (shared by `encodeNpy` and the file writer). */
export function planEncode(array: NpyArrayInput): EncodePlan {
  const { data } = array;
  if (!ArrayBuffer.isView(data) || data instanceof DataView) {
    throw new NpyError("BAD_ARRAY", "data must be a typed array");
  }
  const descr = array.dtype ?? inferDtype(data);
  const info = parseDtype(descr);
  if (!matchesArrayType(data, info)) {
    throw new NpyError(
      "BAD_ARRAY",
      `dtype '${descr}' is held in a ${info.arrayType.name}, but data is a ${data.constructor.name}`,
    );
  }
  const shape = array.shape ? [...array.shape] : [data.length];
  let size = 1;
  for (const [axis, dim] of shape.entries()) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new NpyError(
        "BAD_SHAPE",
        `shape axis ${axis} is ${dim}; expected a non-negative integer`,
      );
    }
    size *= dim;
  }
  if (size !== data.length) {
    throw new NpyError(
      "BAD_ARRAY",
      `shape (${shape.join(", ")}) holds ${size} elements but data has ${data.length}`,
    );
  }
  // NumPy flags an array whose C and Fortran layouts coincide as C-ordered; match its bytes.
  const fortranOrder = (array.fortranOrder ?? false) && layoutsDiffer(shape);
  const header = formatHeader(formatDtype(info.code, info.littleEndian), shape, fortranOrder);
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const swap = info.itemSize > 1 && info.littleEndian !== HOST_LITTLE_ENDIAN;
  return { header, data: bytes, swapItemSize: swap ? info.itemSize : 0 };
}

/** Encodes an array as the bytes NumPy 2.x `np.save` writes for the same array. */
export function encodeNpy(array: NpyArrayInput): Uint8Array {
  return encodePlanned(planEncode(array));
}

/** The whole file of a validated encode request, in one buffer. */
export function encodePlanned(plan: EncodePlan): Uint8Array {
  const out = new Uint8Array(plan.header.length + plan.data.length);
  out.set(plan.header, 0);
  out.set(plan.data, plan.header.length);
  if (plan.swapItemSize) swapBytesInPlace(out.subarray(plan.header.length), plan.swapItemSize);
  return out;
}

/** True when C and Fortran order place the elements differently (two or more axes longer than 1). */
function layoutsDiffer(shape: readonly number[]): boolean {
  if (shape.includes(0)) return false;
  return shape.filter((d) => d > 1).length > 1;
}
