import { NpyError } from "./errors.js";
import type { NpyTypedArray } from "./types.js";

/** Byte order of the machine we run on; typed arrays use it. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HOST_ORDER_CHAR = HOST_LITTLE_ENDIAN ? "<" : ">";

type TypedArrayConstructor =
  | Uint8ArrayConstructor
  | Int8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor;

/** A dtype we understand: kind + item size, with the byte order the bytes are in. */
export interface DtypeInfo {
  /** NumPy kind and size without byte order, e.g. `f4`. */
  readonly code: string;
  readonly itemSize: number;
  /** True when the bytes on disk are little-endian (always true for one-byte types). */
  readonly littleEndian: boolean;
  readonly arrayType: TypedArrayConstructor;
}

const KINDS: Record<string, TypedArrayConstructor> = {
  b1: Uint8Array,
  i1: Int8Array,
  u1: Uint8Array,
  i2: Int16Array,
  u2: Uint16Array,
  i4: Int32Array,
  u4: Uint32Array,
  i8: BigInt64Array,
  u8: BigUint64Array,
  f2: Uint16Array,
  f4: Float32Array,
  f8: Float64Array,
};

/** NumPy's one-character type codes that mean the same as a kind+size descr. */
const CHAR_CODES: Record<string, string> = {
  "?": "b1",
  b: "i1",
  B: "u1",
  h: "i2",
  H: "u2",
  i: "i4",
  I: "u4",
  q: "i8",
  Q: "u8",
  e: "f2",
  f: "f4",
  d: "f8",
};

/**
 * Parses a NumPy dtype string such as `<f4`, `>i8`, `|b1`, `=u2` or `f8`.
 * Structured, object, string and datetime dtypes are refused with `UNSUPPORTED_DTYPE`.
 */
export function parseDtype(descr: string): DtypeInfo {
  let order = "=";
  let rest = descr;
  const first = descr.charAt(0);
  if (first === "<" || first === ">" || first === "|" || first === "=") {
    order = first;
    rest = descr.slice(1);
  }
  const code = CHAR_CODES[rest] ?? rest;
  const arrayType = KINDS[code];
  if (arrayType === undefined) {
    const why =
      rest.startsWith("O") || rest.startsWith("V")
        ? " (object and void dtypes can hold pickled Python objects and are never loaded)"
        : "";
    throw new NpyError(
      "UNSUPPORTED_DTYPE",
      `unsupported dtype '${descr}'${why}; supported: b1 i1 u1 i2 u2 i4 u4 i8 u8 f2 f4 f8`,
    );
  }
  const itemSize = Number(code.slice(1));
  // '|' means "byte order does not apply"; NumPy reads a multi-byte '|' type as native.
  const littleEndian =
    itemSize === 1 || order === "<" || ((order === "=" || order === "|") && HOST_LITTLE_ENDIAN);
  return { code, itemSize, littleEndian, arrayType };
}

/** The descr NumPy writes for data of this kind held in this byte order, e.g. `<f4`, `|u1`. */
export function formatDtype(code: string, littleEndian: boolean): string {
  if (code.endsWith("1")) return `|${code}`;
  return `${littleEndian ? "<" : ">"}${code}`;
}

/** The descr of data of this kind held in memory (host byte order). */
export function hostDtype(code: string): string {
  return code.endsWith("1") ? `|${code}` : `${HOST_ORDER_CHAR}${code}`;
}

/** The dtype `encodeNpy` assumes for a typed array when none is given. */
export function inferDtype(data: NpyTypedArray): string {
  if (data instanceof Float32Array) return hostDtype("f4");
  if (data instanceof Float64Array) return hostDtype("f8");
  if (data instanceof Int32Array) return hostDtype("i4");
  if (data instanceof Uint32Array) return hostDtype("u4");
  if (data instanceof Int16Array) return hostDtype("i2");
  if (data instanceof Uint16Array) return hostDtype("u2");
  if (data instanceof Int8Array) return "|i1";
  if (data instanceof Uint8Array || (data as unknown) instanceof Uint8ClampedArray) return "|u1";
  if (data instanceof BigInt64Array) return hostDtype("i8");
  if (data instanceof BigUint64Array) return hostDtype("u8");
  throw new NpyError("BAD_ARRAY", "data must be a typed array");
}

/** True when `data` is the typed array that holds `info`'s kind in memory. */
export function matchesArrayType(data: NpyTypedArray, info: DtypeInfo): boolean {
  if (info.arrayType === Uint8Array) {
    return data instanceof Uint8Array || (data as unknown) instanceof Uint8ClampedArray;
  }
  return data instanceof info.arrayType;
}

/** Reverses the bytes of every `itemSize`-byte item of `bytes`, in place. */
export function swapBytesInPlace(bytes: Uint8Array, itemSize: number): void {
  if (itemSize === 1) return;
  const n = bytes.length;
  if (itemSize === 2) {
    for (let i = 0; i < n; i += 2) {
      const a = bytes[i] as number;
      bytes[i] = bytes[i + 1] as number;
      bytes[i + 1] = a;
    }
  } else if (itemSize === 4) {
    for (let i = 0; i < n; i += 4) {
      const a = bytes[i] as number;
      const b = bytes[i + 1] as number;
      bytes[i] = bytes[i + 3] as number;
      bytes[i + 1] = bytes[i + 2] as number;
      bytes[i + 2] = b;
      bytes[i + 3] = a;
    }
  } else {
    for (let i = 0; i < n; i += itemSize) {
      for (let lo = i, hi = i + itemSize - 1; lo < hi; lo++, hi--) {
        const a = bytes[lo] as number;
        bytes[lo] = bytes[hi] as number;
        bytes[hi] = a;
      }
    }
  }
}
