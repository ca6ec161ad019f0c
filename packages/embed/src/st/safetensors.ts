/**
 * A reader for the safetensors format: an 8-byte little-endian header length N, N bytes of JSON
 * (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`), then the
 * raw little-endian tensor data, offsets relative to its start.
 *
 * Floating-point tensors (F32, F16, BF16, F64) are returned as float32; integer tensors are
 * listed but not converted (BERT's `position_ids` buffer is one, and it is not needed).
 */
import { readFile } from "node:fs/promises";
import os from "node:os";

export type SafetensorsDtype =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U8"
  | "BOOL"
  | string;

export interface SafetensorsEntry {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** Byte range inside the data section. */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsFile {
  /** The file the bytes came from (for error messages). */
  readonly file: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  /** The tensor as float32 (converted from F16/BF16/F64). Throws naming the file when absent. */
  float32(name: string): Float32Array;
  has(name: string): boolean;
}

export class SafetensorsError extends Error {
  override readonly name = "SafetensorsError";
}

const BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Read and parse a `.safetensors` file. */
export async function readSafetensors(file: string): Promise<SafetensorsFile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new SafetensorsError(`${file}: cannot read: ${(e as Error).message}`);
  }
  return parseSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file);
}

/** Parse safetensors bytes; `file` only names the source in errors. */
export function parseSafetensors(bytes: Uint8Array, file = "<bytes>"): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${file}: ${msg}`);
  };
  if (bytes.byteLength < 8) fail("too short to be a safetensors file");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getBigUint64(0, true);
  if (headerLen > BigInt(bytes.byteLength - 8)) {
    fail(`header length ${headerLen} is past the end of the file (${bytes.byteLength} bytes)`);
  }
  const n = Number(headerLen);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    return fail(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header))
    fail("header is not a JSON object");
  const dataStart = 8 + n;
  const dataLen = bytes.byteLength - dataStart;
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = (raw ?? {}) as Record<string, string>;
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e?.dtype !== "string") fail(`tensor ${name}: no dtype`);
    const dtype = e.dtype as string;
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      fail(`tensor ${name}: bad shape ${JSON.stringify(e.shape)}`);
    }
    const shape = e.shape as number[];
    const offs = e.data_offsets;
    if (
      !Array.isArray(offs) ||
      offs.length !== 2 ||
      !offs.every((o) => Number.isInteger(o) && o >= 0)
    ) {
      fail(`tensor ${name}: bad data_offsets ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    if (begin > end || end > dataLen) {
      fail(
        `tensor ${name}: data_offsets [${begin}, ${end}] outside the ${dataLen}-byte data section`,
      );
    }
    const width = BYTES[dtype];
    if (width !== undefined) {
      const count = shape.reduce((a, b) => a * b, 1);
      if (count * width !== end - begin) {
        fail(
          `tensor ${name}: ${dtype}${JSON.stringify(shape)} needs ${count * width} bytes, data_offsets give ${end - begin}`,
        );
      }
    }
    entries.set(name, { dtype, shape, begin, end });
  }

  const littleEndian = os.endianness() === "LE";
  return {
    file,
    metadata,
    entries,
    has: (name) => entries.has(name),
    float32(name: string): Float32Array {
      const e = entries.get(name);
      if (e === undefined) return fail(`no tensor named ${name}`);
      const start = dataStart + e.begin;
      const count = e.shape.reduce((a, b) => a * b, 1);
      const out = new Float32Array(count);
      const dv = new DataView(bytes.buffer, bytes.byteOffset + start, e.end - e.begin);
      switch (e.dtype) {
        case "F32":
          if (littleEndian) {
            // Copy the bytes (the data may not be 4-byte aligned in the file).
            new Uint8Array(out.buffer).set(bytes.subarray(start, start + count * 4));
          } else {
            for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, true);
          }
          return out;
        case "F64":
          for (let i = 0; i < count; i++) out[i] = dv.getFloat64(i * 8, true);
          return out;
        case "F16":
          for (let i = 0; i < count; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true));
          return out;
        case "BF16": {
          // bfloat16 is the upper half of a float32: place the bits, read them back as floats.
          const u32 = new Uint32Array(out.buffer);
          for (let i = 0; i < count; i++) u32[i] = dv.getUint16(i * 2, true) << 16;
          return out;
        }
        default:
          return fail(
            `tensor ${name} has dtype ${e.dtype}; only F32, F16, BF16 and F64 weights can be used`,
          );
      }
    },
  };
}

/** IEEE 754 binary16 → number (exact). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return frac === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
