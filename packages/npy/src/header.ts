import { type DtypeInfo, parseDtype } from "./dtype.js";
import { NpyError } from "./errors.js";
import { type PyValue, parsePythonLiteral } from "./literal.js";

/** `\x93NUMPY` */
export const MAGIC = new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);
/** NumPy aligns the start of the data to this many bytes. */
const ARRAY_ALIGN = 64;
/** NumPy leaves room for this many digits in the growth axis so a header can be patched in place. */
const GROWTH_AXIS_MAX_DIGITS = 21;
/** NumPy's default `max_header_size`. */
export const DEFAULT_MAX_HEADER_SIZE = 10_000;
/** Bytes of magic, version and the v1 length field; the v2/v3 length field is two bytes longer. */
export const PREFIX_V1 = 10;
export const PREFIX_V2 = 12;

export type NpyVersion = [major: 1 | 2 | 3, minor: 0];

/** What an NPY header says. */
export interface NpyHeader {
  /** The dtype as written in the file, e.g. `>f4`. */
  descr: string;
  dtype: DtypeInfo;
  shape: number[];
  fortranOrder: boolean;
  version: NpyVersion;
  /** Length of the header text (the dict, padding and newline), as stored in the file. */
  headerLength: number;
  /** Byte offset where the array data starts. */
  dataOffset: number;
  /** Number of elements: the product of `shape` (1 for 0-d). */
  size: number;
  /** Bytes of data the header calls for. */
  dataLength: number;
}

export interface DecodeOptions {
  /** Largest header text accepted, in characters; NumPy's default is 10 000. */
  maxHeaderSize?: number;
}

/** How many bytes the header occupies in total, once its length field is read (needs ≤ 12 bytes). */
export function readHeaderPrefix(bytes: Uint8Array): {
  version: NpyVersion;
  headerLength: number;
  dataOffset: number;
} {
  if (bytes.length < 8) {
    if (!startsWithMagic(bytes, bytes.length)) throw badMagic(bytes);
    throw new NpyError("TRUNCATED", `file ends after ${bytes.length} bytes, inside the NPY magic`);
  }
  if (!startsWithMagic(bytes, MAGIC.length)) throw badMagic(bytes);
  const major = bytes[6] as number;
  const minor = bytes[7] as number;
  if ((major !== 1 && major !== 2 && major !== 3) || minor !== 0) {
    throw new NpyError(
      "UNSUPPORTED_VERSION",
      `NPY format version ${major}.${minor} is not supported (1.0, 2.0 and 3.0 are)`,
    );
  }
  const prefix = major === 1 ? PREFIX_V1 : PREFIX_V2;
  if (bytes.length < prefix) {
    throw new NpyError(
      "TRUNCATED",
      `file ends after ${bytes.length} bytes, inside the header length`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, prefix);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  return { version: [major, 0], headerLength, dataOffset: prefix + headerLength };
}

/** Parses the header at the start of `bytes` (which must hold at least the whole header). */
export function parseHeader(bytes: Uint8Array, options: DecodeOptions = {}): NpyHeader {
  const { version, dataOffset } = readHeaderPrefix(bytes);
  const prefix = version[0] === 1 ? PREFIX_V1 : PREFIX_V2;
  const headerLength = dataOffset - prefix;
  checkHeaderSize(headerLength, options);
  if (bytes.length < dataOffset) {
    throw new NpyError(
      "TRUNCATED",
      `file ends after ${bytes.length} bytes, inside a header that needs ${dataOffset}`,
    );
  }
  const text = decodeHeaderText(bytes.subarray(prefix, dataOffset), version);
  const dict = parsePythonLiteral(text, version[0] <= 2);
  const { descr, dtype, shape, fortranOrder } = validateHeaderDict(dict);
  const size = shape.reduce((a, b) => a * b, 1);
  return {
    descr,
    dtype,
    shape,
    fortranOrder,
    version,
    headerLength,
    dataOffset,
    size,
    dataLength: size * dtype.itemSize,
  };
}

/** Refuses a header longer than `options.maxHeaderSize`, before anything reads it. */
export function checkHeaderSize(headerLength: number, options: DecodeOptions): void {
  const maxHeaderSize = options.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE;
  if (headerLength > maxHeaderSize) {
    throw new NpyError(
      "HEADER_TOO_LARGE",
      `header is ${headerLength} bytes, over the limit of ${maxHeaderSize} (raise maxHeaderSize to read it)`,
    );
  }
}

function decodeHeaderText(bytes: Uint8Array, version: NpyVersion): string {
  if (version[0] === 3) {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch (cause) {
      throw new NpyError("BAD_HEADER", "v3.0 header is not valid UTF-8", { cause });
    }
  }
  // WHATWG's "latin1" decoder is really windows-1252; NumPy means ISO-8859-1, byte = code point.
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return text;
}

function validateHeaderDict(value: PyValue): {
  descr: string;
  dtype: DtypeInfo;
  shape: number[];
  fortranOrder: boolean;
} {
  if (value === null || typeof value !== "object" || value.kind !== "dict") {
    throw new NpyError("BAD_HEADER", `header is not a dict: ${describe(value)}`);
  }
  const keys = [...value.entries.keys()];
  const expected = ["descr", "fortran_order", "shape"];
  const sorted = keys.map((k) => (typeof k === "string" ? k : describe(k))).sort();
  if (sorted.length !== 3 || sorted.some((k, i) => k !== expected[i])) {
    throw new NpyError(
      "BAD_HEADER",
      `header keys are [${sorted.join(", ")}]; expected exactly [descr, fortran_order, shape]`,
    );
  }
  const descr = value.entries.get("descr") as PyValue;
  const fortranOrder = value.entries.get("fortran_order") as PyValue;
  const shapeValue = value.entries.get("shape") as PyValue;

  if (typeof descr !== "string") {
    if (descr !== null && typeof descr === "object" && descr.kind === "list") {
      throw new NpyError("UNSUPPORTED_DTYPE", "structured dtypes (a list descr) are not supported");
    }
    throw new NpyError("BAD_HEADER", `'descr' is not a dtype string: ${describe(descr)}`);
  }
  if (typeof fortranOrder !== "boolean") {
    throw new NpyError(
      "BAD_HEADER",
      `'fortran_order' is not True or False: ${describe(fortranOrder)}`,
    );
  }
  if (shapeValue === null || typeof shapeValue !== "object" || shapeValue.kind !== "tuple") {
    throw new NpyError("BAD_SHAPE", `'shape' is not a tuple: ${describe(shapeValue)}`);
  }
  const shape = shapeValue.items.map((dim, axis) => {
    if (typeof dim !== "number" || !Number.isSafeInteger(dim) || dim < 0) {
      throw new NpyError(
        "BAD_SHAPE",
        `'shape' axis ${axis} is ${describe(dim)}; expected a non-negative integer`,
      );
    }
    return dim;
  });
  // The non-zero axes alone must be countable: NumPy refuses an empty array whose other axes
  // overflow, so `(2**40, 2**40, 0)` is not read as a harmless empty array.
  let size = 1;
  for (const dim of shape) if (dim !== 0) size *= dim;
  if (!Number.isSafeInteger(size)) {
    throw new NpyError("BAD_SHAPE", `shape (${shape.join(", ")}) holds too many elements`);
  }
  return { descr, dtype: parseDtype(descr), shape, fortranOrder };
}

function describe(value: PyValue): string {
  if (value === null) return "None";
  if (typeof value === "string") return `'${value}'`;
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number") return String(value);
  if (value.kind === "dict") return "a dict";
  if (value.kind === "float") return `the float ${value.value}`;
  return `a ${value.kind} of ${value.items.length}`;
}

function startsWithMagic(bytes: Uint8Array, count: number): boolean {
  for (let i = 0; i < Math.min(count, MAGIC.length); i++) {
    if (bytes[i] !== MAGIC[i]) return false;
  }
  return true;
}

function badMagic(bytes: Uint8Array): NpyError {
  const head = Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join(" ");
  return new NpyError("BAD_MAGIC", `not an NPY file: starts with [${head}], expected \\x93NUMPY`);
}

/**
 * The header bytes NumPy 2.x `np.save` writes for this array: sorted keys, `repr` spacing,
 * room for the growth axis to reach 21 digits, space padding and a newline so the data starts
 * at a multiple of 64, and the smallest format version that can hold it.
 */
export function formatHeader(
  descr: string,
  shape: readonly number[],
  fortranOrder: boolean,
): Uint8Array {
  const shapeRepr =
    shape.length === 1 ? `(${shape[0]},)` : `(${shape.map((d) => String(d)).join(", ")})`;
  let text = `{'descr': '${descr}', 'fortran_order': ${fortranOrder ? "True" : "False"}, 'shape': ${shapeRepr}, }`;
  if (shape.length > 0) {
    const growthAxis = shape[fortranOrder ? shape.length - 1 : 0] as number;
    text += " ".repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(growthAxis).length));
  }
  // Our dtypes and shapes are ASCII, so latin1 (v1/v2) always encodes them; v3 is never needed.
  const bodyLength = text.length + 1;
  let prefix = PREFIX_V1;
  let padding = ARRAY_ALIGN - ((prefix + bodyLength) % ARRAY_ALIGN);
  let major: 1 | 2 = 1;
  if (bodyLength + padding > 0xffff) {
    major = 2;
    prefix = PREFIX_V2;
    padding = ARRAY_ALIGN - ((prefix + bodyLength) % ARRAY_ALIGN);
  }
  const headerLength = bodyLength + padding;
  const out = new Uint8Array(prefix + headerLength);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, headerLength, true);
  else view.setUint32(8, headerLength, true);
  for (let i = 0; i < text.length; i++) out[prefix + i] = text.charCodeAt(i);
  out.fill(0x20, prefix + text.length, out.length - 1);
  out[out.length - 1] = 0x0a;
  return out;
}
