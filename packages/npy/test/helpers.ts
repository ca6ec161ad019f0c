/** Test utilities that do not depend on the codec under test. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { NpyError, type NpyTypedArray } from "../src/index.js";

type TypedCtor = {
  new (buffer: ArrayBuffer, byteOffset?: number, length?: number): NpyTypedArray;
  new (length: number): NpyTypedArray;
  BYTES_PER_ELEMENT: number;
};

export type DtypeName =
  | "b1"
  | "i1"
  | "u1"
  | "i2"
  | "u2"
  | "i4"
  | "u4"
  | "i8"
  | "u8"
  | "f2"
  | "f4"
  | "f8";

export const DTYPES: Record<DtypeName, { ctor: TypedCtor; size: number }> = {
  b1: { ctor: Uint8Array as unknown as TypedCtor, size: 1 },
  i1: { ctor: Int8Array as unknown as TypedCtor, size: 1 },
  u1: { ctor: Uint8Array as unknown as TypedCtor, size: 1 },
  i2: { ctor: Int16Array as unknown as TypedCtor, size: 2 },
  u2: { ctor: Uint16Array as unknown as TypedCtor, size: 2 },
  i4: { ctor: Int32Array as unknown as TypedCtor, size: 4 },
  u4: { ctor: Uint32Array as unknown as TypedCtor, size: 4 },
  i8: { ctor: BigInt64Array as unknown as TypedCtor, size: 8 },
  u8: { ctor: BigUint64Array as unknown as TypedCtor, size: 8 },
  f2: { ctor: Uint16Array as unknown as TypedCtor, size: 2 },
  f4: { ctor: Float32Array as unknown as TypedCtor, size: 4 },
  f8: { ctor: Float64Array as unknown as TypedCtor, size: 8 },
};

export const DTYPE_NAMES = Object.keys(DTYPES) as DtypeName[];

/** 'b1' from '|b1', '>f4', '=i8' ... */
export function baseName(descr: string): DtypeName {
  const name = descr.replace(/^[<>|=]/, "");
  if (!(name in DTYPES)) throw new Error(`test helper: unknown dtype ${descr}`);
  return name as DtypeName;
}

/** The byte orders a round trip covers for a dtype: '|' for one-byte types, else '<' and '>'. */
export function byteOrders(name: DtypeName): string[] {
  return DTYPES[name].size === 1 ? ["|"] : ["<", ">"];
}

/** The descr @ldakit/npy reports for data held in memory (little-endian host). */
export function nativeDescr(descr: string): string {
  const name = baseName(descr);
  return `${DTYPES[name].size === 1 ? "|" : "<"}${name}`;
}

export function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A Uint8Array view of a typed array's bytes (no copy). */
export function bytesOf(a: NpyTypedArray | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

/** First differing byte, for failure messages. */
export function firstDiff(a: Uint8Array, b: Uint8Array): string {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) {
      const ctx = (x: Uint8Array) =>
        JSON.stringify(Buffer.from(x.subarray(Math.max(0, i - 16), i + 16)).toString("latin1"));
      return `byte ${i}: expected ${b[i]} got ${a[i]}; expected ...${ctx(b)}... got ...${ctx(a)}...`;
    }
  }
  return a.length === b.length ? "equal" : `length: expected ${b.length} got ${a.length}`;
}

/** A typed array of dtype `name` holding a copy of `bytes` (native order), aligned. */
export function typedFromBytes(name: DtypeName, bytes: Uint8Array): NpyTypedArray {
  const { ctor, size } = DTYPES[name];
  if (bytes.length % size !== 0) throw new Error("test helper: byte length not a multiple");
  const buf = new ArrayBuffer(bytes.length);
  new Uint8Array(buf).set(bytes);
  return new ctor(buf, 0, bytes.length / size);
}

export function readRaw(name: DtypeName, path: string): NpyTypedArray {
  return typedFromBytes(name, new Uint8Array(readFileSync(path)));
}

/** Deterministic xorshift32 stream. */
function rng(seed: number): () => number {
  let s = (seed * 2654435761) >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/**
 * `n` deterministic values of dtype `name` in a fresh native typed array. Floats start with
 * NaN (including payload and signalling NaNs), ±Infinity, -0, extremes and subnormals.
 */
export function makeData(name: DtypeName, n: number, seed = 1): NpyTypedArray {
  const { ctor, size } = DTYPES[name];
  const out = new ctor(n);
  const next = rng(seed + n * 7919 + size);
  const bytes = bytesOf(out);
  if (name === "b1") {
    for (let i = 0; i < n; i++) bytes[i] = next() & 1;
    return out;
  }
  for (let i = 0; i < bytes.length; i++) bytes[i] = next() & 0xff;
  if (name === "f4") {
    const f = out as Float32Array;
    const u = new Uint32Array(f.buffer, f.byteOffset, f.length);
    for (let i = 0; i < n; i++) f[i] = ((next() / 2 ** 32) * 2 - 1) * 1000;
    const specials = [
      0x7fc00000, 0x7fc00001, 0x7f800001, 0xffc00000, 0x7f800000, 0xff800000, 0x80000000,
      0x7f7fffff, 0x00000001, 0x00800000,
    ];
    for (let i = 0; i < Math.min(n, specials.length); i++) u[i] = specials[i] as number;
  } else if (name === "f8") {
    const f = out as Float64Array;
    const u = new BigUint64Array(f.buffer, f.byteOffset, f.length);
    for (let i = 0; i < n; i++) f[i] = ((next() / 2 ** 32) * 2 - 1) * 1e6;
    const specials = [
      0x7ff8000000000000n,
      0x7ff8000000000001n,
      0x7ff0000000000001n,
      0xfff8000000000000n,
      0x7ff0000000000000n,
      0xfff0000000000000n,
      0x8000000000000000n,
      0x7fefffffffffffffn,
      1n,
    ];
    for (let i = 0; i < Math.min(n, specials.length); i++) u[i] = specials[i] as bigint;
  } else if (name === "f2") {
    const u = out as Uint16Array;
    const specials = [0x7e00, 0x7c01, 0x7c00, 0xfc00, 0x8000, 0x7bff, 0x0001, 0x3c00];
    for (let i = 0; i < Math.min(n, specials.length); i++) u[i] = specials[i] as number;
  }
  return out;
}

/** Reference C-order → Fortran-order element permutation (independent of the codec). */
export function cToF<T extends NpyTypedArray>(data: T, shape: readonly number[]): T {
  return permute(data, shape, true);
}

/** Reference Fortran-order → C-order element permutation. */
export function fToC<T extends NpyTypedArray>(data: T, shape: readonly number[]): T {
  return permute(data, shape, false);
}

function permute<T extends NpyTypedArray>(data: T, shape: readonly number[], toF: boolean): T {
  const n = product(shape);
  const ctor = data.constructor as unknown as new (length: number) => T;
  const out = new ctor(n);
  // Move elements through same-width integer views: a Float32 store would quiet signalling NaNs.
  const src = intView(data);
  const dst = intView(out);
  const rank = shape.length;
  const cStrides = new Array<number>(rank).fill(1);
  const fStrides = new Array<number>(rank).fill(1);
  for (let k = rank - 2; k >= 0; k--)
    cStrides[k] = (cStrides[k + 1] as number) * (shape[k + 1] as number);
  for (let k = 1; k < rank; k++)
    fStrides[k] = (fStrides[k - 1] as number) * (shape[k - 1] as number);
  const idx = new Array<number>(rank).fill(0);
  for (let c = 0; c < n; c++) {
    let f = 0;
    let rem = c;
    for (let k = 0; k < rank; k++) {
      idx[k] = Math.floor(rem / (cStrides[k] as number));
      rem -= (idx[k] as number) * (cStrides[k] as number);
      f += (idx[k] as number) * (fStrides[k] as number);
    }
    if (toF) dst[f] = src[c] as number;
    else dst[c] = src[f] as number;
  }
  return out;
}

function intView(a: NpyTypedArray): unknown[] {
  const ctors = { 1: Uint8Array, 2: Uint16Array, 4: Uint32Array, 8: BigUint64Array } as const;
  const ctor = ctors[a.BYTES_PER_ELEMENT as 1 | 2 | 4 | 8] as unknown as new (
    buffer: ArrayBufferLike,
    byteOffset: number,
    length: number,
  ) => unknown[];
  return new ctor(a.buffer, a.byteOffset, a.length);
}

/** Python repr of a shape tuple: (), (3,), (2, 3). */
export function pyShape(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(", ")})`;
}

/** The header dict exactly as NumPy writes it (without padding). */
export function numpyDict(descr: string, fortranOrder: boolean, shape: readonly number[]): string {
  return `{'descr': '${descr}', 'fortran_order': ${fortranOrder ? "True" : "False"}, 'shape': ${pyShape(shape)}, }`;
}

export interface BuildOptions {
  /** Header text; by default a NumPy-style dict for '<f4' (3,). */
  header?: string;
  version?: [number, number];
  data?: Uint8Array;
  /** Pad with spaces and '\n' so the data starts at a multiple of 64 (as NumPy does). Default true. */
  align?: boolean;
  /** Encoding of the header text. Default latin1 (utf8 for version 3). */
  encoding?: "latin1" | "utf8";
  /** Override the magic prefix (6 bytes). */
  magic?: Uint8Array;
  /** Override the header-length field. */
  headerLength?: number;
}

export const MAGIC = new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

/** Builds .npy bytes by hand, to craft valid and invalid files. */
export function buildNpy(opts: BuildOptions = {}): Uint8Array {
  const version = opts.version ?? [1, 0];
  const lenBytes = version[0] === 1 ? 2 : 4;
  let header = opts.header ?? numpyDict("<f4", false, [3]);
  const encoding = opts.encoding ?? (version[0] === 3 ? "utf8" : "latin1");
  if (opts.align ?? true) {
    const base = 6 + 2 + lenBytes + Buffer.byteLength(header, encoding) + 1;
    const pad = (64 - (base % 64)) % 64;
    header = `${header}${" ".repeat(pad)}\n`;
  }
  const hbytes = Buffer.from(header, encoding);
  const data = opts.data ?? new Uint8Array(0);
  const out = new Uint8Array(8 + lenBytes + hbytes.length + data.length);
  out.set(opts.magic ?? MAGIC, 0);
  out[6] = version[0];
  out[7] = version[1];
  const dv = new DataView(out.buffer);
  const hlen = opts.headerLength ?? hbytes.length;
  if (lenBytes === 2) dv.setUint16(8, hlen, true);
  else dv.setUint32(8, hlen, true);
  out.set(hbytes, 8 + lenBytes);
  out.set(data, 8 + lenBytes + hbytes.length);
  return out;
}

/** Three little-endian float32 values 0, 1, 2 — the payload of the default header. */
export function f4Payload(values: number[] = [0, 1, 2]): Uint8Array {
  return bytesOf(new Float32Array(values));
}

export function makeTempDir(prefix = "ldakit-npy-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Asserts that `fn` throws an NpyError whose code is `code` (or one of `code`). */
export function expectNpyError(fn: () => unknown, code: string | string[]): NpyError {
  try {
    fn();
  } catch (err) {
    return checkNpyError(err, code);
  }
  return checkNpyError(undefined, code);
}

/** Async variant of {@link expectNpyError}. */
export async function expectNpyErrorAsync(
  fn: () => Promise<unknown>,
  code: string | string[],
): Promise<NpyError> {
  try {
    await fn();
  } catch (err) {
    return checkNpyError(err, code);
  }
  return checkNpyError(undefined, code);
}

/** What was thrown (undefined: nothing) is an NpyError with one of the codes and a message. */
function checkNpyError(thrown: unknown, code: string | string[]): NpyError {
  const codes = Array.isArray(code) ? code : [code];
  if (thrown === undefined)
    throw new Error(`expected NpyError ${codes.join("|")}, nothing was thrown`);
  if (!(thrown instanceof NpyError)) {
    throw new Error(`expected NpyError ${codes.join("|")}, got ${String(thrown)}`, {
      cause: thrown,
    });
  }
  expect(codes, `code of: ${thrown.message}`).toContain(thrown.code);
  expect(thrown.message.length).toBeGreaterThan(0);
  return thrown;
}
