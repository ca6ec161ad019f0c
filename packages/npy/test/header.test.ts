/**
 * Header parsing: every malformed file throws NpyError with its code, every header NumPy
 * accepts is accepted. Each crafted file is also handed to np.load so the expectations are
 * checked against NumPy's own reader (numpy/lib/format.py `_read_array_header`).
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeNpy, NpyError } from "../src/index.js";
import {
  buildNpy,
  bytesOf,
  expectNpyError,
  f4Payload,
  MAGIC,
  makeTempDir,
  numpyDict,
} from "./helpers.js";
import { PYTHON, type TryLoadResult, tryLoadWithNumpy } from "./numpy-helper.js";

const GOOD = numpyDict("<f4", false, [3]);
const P = f4Payload();

interface Invalid {
  name: string;
  bytes: Uint8Array;
  /** Expected code (or any of several when the format leaves the order of checks open). */
  code: string | string[];
  maxHeaderSize?: number;
  /** What np.load does with the file: reject (default), or accept where NumPy is lenient. */
  numpy?: "rejects" | "accepts" | "unchecked";
  /** A substring the error message must contain (it names the problem). */
  mentions?: string;
}

function withHeader(header: string, data: Uint8Array = P, version: [number, number] = [1, 0]) {
  return buildNpy({ header, data, version });
}

function bigHeader(length: number): string {
  // Unpadded header of exactly `length` characters (NumPy limits len(header) <= max_header_size).
  return `${GOOD}${" ".repeat(length - GOOD.length - 1)}\n`;
}

const valid = buildNpy({ data: P });

/** A shape that is not a tuple of ints is a malformed header; either code names it. */
const SHAPE_CODES = ["BAD_HEADER", "BAD_SHAPE"];

const INVALID: Invalid[] = [
  // magic
  {
    name: "bad magic byte",
    bytes: buildNpy({ data: P, magic: new Uint8Array([0x92, 0x4e, 0x55, 0x4d, 0x50, 0x59]) }),
    code: "BAD_MAGIC",
  },
  {
    name: "magic NUMPX",
    bytes: buildNpy({ data: P, magic: new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x58]) }),
    code: "BAD_MAGIC",
  },
  {
    name: "lowercase magic",
    bytes: buildNpy({ data: P, magic: new Uint8Array([0x93, 0x6e, 0x75, 0x6d, 0x70, 0x79]) }),
    code: "BAD_MAGIC",
  },
  {
    name: "zip (npz) file",
    bytes: new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0]),
    code: "BAD_MAGIC",
  },
  { name: "empty input", bytes: new Uint8Array(0), code: "TRUNCATED" },
  { name: "truncated magic", bytes: MAGIC.slice(0, 4), code: "TRUNCATED" },
  { name: "magic without version", bytes: valid.slice(0, 7), code: "TRUNCATED" },
  // version
  {
    name: "version 4.0",
    bytes: withHeader(GOOD, P, [4, 0]),
    code: "UNSUPPORTED_VERSION",
    mentions: "4",
  },
  { name: "version 0.9", bytes: withHeader(GOOD, P, [0, 9]), code: "UNSUPPORTED_VERSION" },
  { name: "version 0.0", bytes: withHeader(GOOD, P, [0, 0]), code: "UNSUPPORTED_VERSION" },
  { name: "version 1.1", bytes: withHeader(GOOD, P, [1, 1]), code: "UNSUPPORTED_VERSION" },
  { name: "version 2.1", bytes: withHeader(GOOD, P, [2, 1]), code: "UNSUPPORTED_VERSION" },
  { name: "version 255.255", bytes: withHeader(GOOD, P, [255, 255]), code: "UNSUPPORTED_VERSION" },
  // header length / header text
  { name: "header length field cut", bytes: valid.slice(0, 9), code: "TRUNCATED" },
  {
    name: "v2 header length field cut",
    bytes: buildNpy({ version: [2, 0], data: P }).slice(0, 11),
    code: "TRUNCATED",
  },
  { name: "header cut in the middle", bytes: valid.slice(0, 40), code: "TRUNCATED" },
  { name: "header cut before newline", bytes: valid.slice(0, 63), code: "TRUNCATED" },
  {
    name: "header length past the end (v2, 4 GiB)",
    bytes: buildNpy({ version: [2, 0], data: P, headerLength: 0xffffffff }),
    code: ["HEADER_TOO_LARGE", "TRUNCATED"],
  },
  {
    name: "header not a dict (list)",
    bytes: withHeader("['descr', 'fortran_order', 'shape']"),
    code: "BAD_HEADER",
  },
  {
    name: "header not a dict (tuple)",
    bytes: withHeader("('<f4', False, (3,))"),
    code: "BAD_HEADER",
  },
  { name: "header not a dict (string)", bytes: withHeader("'<f4'"), code: "BAD_HEADER" },
  { name: "empty header", bytes: withHeader(""), code: "BAD_HEADER" },
  { name: "blank header", bytes: withHeader("   "), code: "BAD_HEADER" },
  {
    name: "unterminated dict",
    bytes: withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), "),
    code: "BAD_HEADER",
  },
  {
    name: "unterminated string",
    bytes: withHeader("{'descr': '<f4, 'fortran_order': False, 'shape': (3,), }"),
    code: "BAD_HEADER",
  },
  {
    name: "unterminated tuple",
    bytes: withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (3, }"),
    code: "BAD_HEADER",
  },
  { name: "garbage after the dict", bytes: withHeader(`${GOOD}x`), code: "BAD_HEADER" },
  { name: "two dicts", bytes: withHeader(`${GOOD} {}`), code: "BAD_HEADER" },
  { name: "NUL in the padding", bytes: withHeader(`${GOOD}\u0000`), code: "BAD_HEADER" },
  {
    name: "missing comma between items",
    bytes: withHeader("{'descr': '<f4' 'fortran_order': False, 'shape': (3,)}"),
    code: "BAD_HEADER",
  },
  {
    name: "missing key shape",
    bytes: withHeader("{'descr': '<f4', 'fortran_order': False, }"),
    code: "BAD_HEADER",
    mentions: "shape",
  },
  {
    name: "missing key descr",
    bytes: withHeader("{'fortran_order': False, 'shape': (3,), }"),
    code: "BAD_HEADER",
    mentions: "descr",
  },
  {
    name: "missing key fortran_order",
    bytes: withHeader("{'descr': '<f4', 'shape': (3,), }"),
    code: "BAD_HEADER",
    mentions: "fortran_order",
  },
  {
    name: "extra key",
    bytes: withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'extra': 1, }"),
    code: "BAD_HEADER",
    mentions: "extra",
  },
  {
    name: "key in the wrong case",
    bytes: withHeader("{'descr': '<f4', 'fortran_order': False, 'Shape': (3,), }"),
    code: "BAD_HEADER",
  },
  { name: "empty dict", bytes: withHeader("{}"), code: "BAD_HEADER" },
  {
    name: "unquoted keys",
    bytes: withHeader("{descr: '<f4', fortran_order: False, shape: (3,)}"),
    code: "BAD_HEADER",
  },
  {
    name: "fortran_order 0",
    bytes: withHeader("{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }"),
    code: "BAD_HEADER",
    mentions: "fortran_order",
  },
  {
    name: "fortran_order 'False'",
    bytes: withHeader("{'descr': '<f4', 'fortran_order': 'False', 'shape': (3,), }"),
    code: "BAD_HEADER",
  },
  {
    name: "fortran_order false (JSON)",
    bytes: withHeader("{'descr': '<f4', 'fortran_order': false, 'shape': (3,), }"),
    code: "BAD_HEADER",
  },
  {
    name: "fortran_order None",
    bytes: withHeader("{'descr': '<f4', 'fortran_order': None, 'shape': (3,), }"),
    code: "BAD_HEADER",
  },
  {
    name: "shape is a list",
    bytes: withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': [3], }"),
    code: SHAPE_CODES,
  },
  {
    name: "shape is an int",
    bytes: withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': 3, }"),
    code: SHAPE_CODES,
  },
  {
    name: "shape (3) is an int",
    bytes: withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (3), }"),
    code: SHAPE_CODES,
  },
  {
    name: "shape with a float",
    bytes: withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (3.0,), }"),
    code: SHAPE_CODES,
  },
  {
    name: "shape with a string",
    bytes: withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': ('3',), }"),
    code: SHAPE_CODES,
  },
  {
    name: "shape with None",
    bytes: withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (None,), }"),
    code: SHAPE_CODES,
  },
  // shape values
  {
    name: "negative shape",
    bytes: withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }"),
    code: "BAD_SHAPE",
    numpy: "unchecked",
  },
  {
    name: "negative dimension in 2-d",
    bytes: withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (3, -1), }"),
    code: "BAD_SHAPE",
    numpy: "unchecked",
  },
  {
    name: "shape too large to address",
    bytes: withHeader(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }",
    ),
    code: ["BAD_SHAPE", "TOO_LARGE", "TRUNCATED"],
  },
  // descr
  {
    name: "descr <f3",
    bytes: withHeader(numpyDict("<f3", false, [3])),
    code: "UNSUPPORTED_DTYPE",
    mentions: "f3",
  },
  { name: "descr O", bytes: withHeader(numpyDict("O", false, [3])), code: "UNSUPPORTED_DTYPE" },
  {
    name: "descr |O (pickle)",
    bytes: withHeader(numpyDict("|O", false, [3]), new Uint8Array(24)),
    code: "UNSUPPORTED_DTYPE",
    mentions: "O",
  },
  {
    name: "descr <c8 (complex)",
    bytes: withHeader(numpyDict("<c8", false, [3]), new Uint8Array(24)),
    code: "UNSUPPORTED_DTYPE",
    numpy: "accepts",
  },
  {
    name: "descr <U4 (unicode)",
    bytes: withHeader(numpyDict("<U4", false, [3]), new Uint8Array(48)),
    code: "UNSUPPORTED_DTYPE",
    numpy: "accepts",
  },
  {
    name: "descr |S4 (bytes)",
    bytes: withHeader(numpyDict("|S4", false, [3])),
    code: "UNSUPPORTED_DTYPE",
    numpy: "accepts",
  },
  {
    name: "descr |V4 (void)",
    bytes: withHeader(numpyDict("|V4", false, [3])),
    code: "UNSUPPORTED_DTYPE",
    numpy: "accepts",
  },
  {
    name: "descr <M8[s] (datetime)",
    bytes: withHeader(numpyDict("<M8[s]", false, [3]), new Uint8Array(24)),
    code: "UNSUPPORTED_DTYPE",
    numpy: "accepts",
  },
  {
    name: "descr <f16",
    bytes: withHeader(numpyDict("<f16", false, [3]), new Uint8Array(48)),
    code: "UNSUPPORTED_DTYPE",
    numpy: "unchecked",
  },
  {
    name: "descr empty string",
    bytes: withHeader(numpyDict("", false, [3])),
    code: "UNSUPPORTED_DTYPE",
  },
  {
    name: "structured descr",
    bytes: withHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }"),
    code: "UNSUPPORTED_DTYPE",
    numpy: "accepts",
  },
  {
    name: "structured descr, two fields",
    bytes: withHeader(
      "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (3,), }",
      new Uint8Array(24),
    ),
    code: "UNSUPPORTED_DTYPE",
    numpy: "accepts",
  },
  {
    name: "subarray descr",
    bytes: withHeader("{'descr': ('<f4', (3,)), 'fortran_order': False, 'shape': (1,), }"),
    code: ["UNSUPPORTED_DTYPE", "BAD_HEADER"],
    numpy: "unchecked",
  },
  {
    name: "descr is a number",
    bytes: withHeader("{'descr': 4, 'fortran_order': False, 'shape': (3,), }"),
    code: ["UNSUPPORTED_DTYPE", "BAD_HEADER"],
  },
  // escapes and nesting: each threw a RangeError before, not an NpyError
  {
    name: "escape \\U00110000 past Unicode in a string",
    bytes: withHeader("{'descr': '\\U00110000', 'fortran_order': False, 'shape': (3,), }"),
    code: "BAD_HEADER",
    mentions: "U+10FFFF",
  },
  {
    name: "escape \\U00110000 as a dict key",
    bytes: withHeader("{'\\U00110000': '<f4', 'fortran_order': False, 'shape': (3,), }"),
    code: "BAD_HEADER",
    mentions: "U+10FFFF",
  },
  {
    name: "lists nested 4 950 deep in an 11.5 KB header",
    bytes: withHeader(
      `{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': ${"[".repeat(4950)}${"]".repeat(4950)}}`,
    ),
    code: "BAD_HEADER",
    maxHeaderSize: 12_000,
    mentions: "nested deeper than 64",
  },
  {
    name: "tuples nested 300 deep as the shape",
    bytes: withHeader(
      `{'descr': '<f4', 'fortran_order': False, 'shape': ${"(".repeat(300)}3,${"),".repeat(299)}), }`,
    ),
    code: "BAD_HEADER",
    mentions: "nested deeper than 64",
  },
  {
    name: "lone surrogate escape as the descr",
    bytes: withHeader("{'descr': '\\ud800', 'fortran_order': False, 'shape': (3,), }"),
    code: "UNSUPPORTED_DTYPE",
  },
  {
    name: "octal escape in the descr (NumPy reads '<f4')",
    bytes: withHeader("{'descr': '\\074f4', 'fortran_order': False, 'shape': (3,), }"),
    code: "BAD_HEADER",
    mentions: "octal",
    numpy: "accepts",
  },
  {
    name: "carriage return inside a string",
    bytes: withHeader("{'descr': '<f4\r', 'fortran_order': False, 'shape': (3,), }"),
    code: "BAD_HEADER",
    mentions: "newline",
  },
  {
    name: "vertical tab before the dict (Python's tokenizer refuses it)",
    bytes: withHeader(`\v${GOOD}`),
    code: "BAD_HEADER",
  },
  {
    name: "shape (01, 4) with a leading zero",
    bytes: withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (01, 4), }"),
    code: "BAD_HEADER",
    mentions: "leading zeros",
  },
  {
    name: "empty array whose other axes overflow (2**31, 0, 3, 2**31)",
    bytes: withHeader(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483648, 0, 3, 2147483648), }",
      new Uint8Array(0),
    ),
    code: "BAD_SHAPE",
  },
  {
    name: "lone CR before a header with Python 2 'L' integers",
    bytes: withHeader("\r{'descr': '<f4', 'fortran_order': False, 'shape': (3L,), }"),
    code: "BAD_HEADER",
    mentions: "'L'",
  },
  {
    name: "form feed line before a header with Python 2 'L' integers",
    bytes: withHeader("\n\f{'descr': '<f4', 'fortran_order': False, 'shape': (3L,), }"),
    code: "BAD_HEADER",
  },
  // sizes
  {
    name: "header over the default limit (10001)",
    bytes: buildNpy({ header: bigHeader(10001), data: P, align: false }),
    code: "HEADER_TOO_LARGE",
    mentions: "10001",
  },
  {
    name: "header over a lowered limit",
    bytes: valid,
    code: "HEADER_TOO_LARGE",
    maxHeaderSize: 100,
  },
  { name: "data cut by one byte", bytes: valid.slice(0, valid.length - 1), code: "TRUNCATED" },
  { name: "data missing", bytes: valid.slice(0, 64), code: "TRUNCATED" },
  {
    name: "0-d without data",
    bytes: withHeader(numpyDict("<f8", false, []), new Uint8Array(0)),
    code: "TRUNCATED",
  },
  {
    name: "one trailing byte",
    bytes: withHeader(GOOD, new Uint8Array([...P, 0])),
    code: "TRAILING_DATA",
    numpy: "accepts",
  },
  {
    name: "one trailing element",
    bytes: withHeader(GOOD, f4Payload([0, 1, 2, 3])),
    code: "TRAILING_DATA",
    numpy: "accepts",
  },
  {
    name: "data for an empty array",
    bytes: withHeader(numpyDict("<f4", false, [0]), P),
    code: "TRAILING_DATA",
    numpy: "accepts",
  },
];

interface Accepted {
  name: string;
  bytes: Uint8Array;
  dtype: string;
  shape: number[];
  fortranOrder?: boolean;
  values?: number[];
  maxHeaderSize?: number;
}

const ACCEPTED: Accepted[] = [
  { name: "NumPy's own layout", bytes: valid, dtype: "<f4", shape: [3], values: [0, 1, 2] },
  {
    name: "no newline at the end of the header",
    bytes: buildNpy({ header: `${GOOD}${" ".repeat(53)}`, data: P, align: false }),
    dtype: "<f4",
    shape: [3],
    values: [0, 1, 2],
  },
  {
    name: "no padding at all (unaligned data)",
    bytes: buildNpy({ header: GOOD, data: P, align: false }),
    dtype: "<f4",
    shape: [3],
    values: [0, 1, 2],
  },
  {
    name: "keys in another order, no trailing comma",
    bytes: withHeader("{'shape': (3,), 'fortran_order': False, 'descr': '<f4'}"),
    dtype: "<f4",
    shape: [3],
    values: [0, 1, 2],
  },
  {
    name: "double-quoted strings",
    bytes: withHeader('{"descr": "<f4", "fortran_order": False, "shape": (3,)}'),
    dtype: "<f4",
    shape: [3],
    values: [0, 1, 2],
  },
  {
    name: "newlines and tabs between tokens",
    bytes: withHeader("{\n\t'descr' :\t'<f4' ,\n 'fortran_order':False,\r\n'shape':( 3 , ) ,\n}"),
    dtype: "<f4",
    shape: [3],
    values: [0, 1, 2],
  },
  {
    name: "leading spaces and tab",
    bytes: withHeader(` \t${GOOD}`),
    dtype: "<f4",
    shape: [3],
    values: [0, 1, 2],
  },
  {
    name: "CRLF terminated",
    bytes: buildNpy({ header: `${GOOD}\r\n`, data: P, align: false }),
    dtype: "<f4",
    shape: [3],
    values: [0, 1, 2],
  },
  {
    name: "2-d shape with a trailing comma",
    bytes: withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3,), }"),
    dtype: "<f4",
    shape: [1, 3],
    values: [0, 1, 2],
  },
  {
    name: "fortran_order True",
    bytes: withHeader(numpyDict("<f4", true, [1, 3])),
    dtype: "<f4",
    shape: [1, 3],
    fortranOrder: true,
    values: [0, 1, 2],
  },
  {
    name: "byte order '='",
    bytes: withHeader(numpyDict("=f4", false, [3])),
    dtype: "<f4",
    shape: [3],
    values: [0, 1, 2],
  },
  {
    name: "big-endian data",
    bytes: withHeader(
      numpyDict(">f4", false, [3]),
      new Uint8Array([0, 0, 0, 0, 0x3f, 0x80, 0, 0, 0x40, 0, 0, 0]),
    ),
    dtype: "<f4",
    shape: [3],
    values: [0, 1, 2],
  },
  {
    name: "'<u1' is '|u1'",
    bytes: withHeader(numpyDict("<u1", false, [3]), new Uint8Array([0, 1, 2])),
    dtype: "|u1",
    shape: [3],
    values: [0, 1, 2],
  },
  {
    name: "'>i1' is '|i1'",
    bytes: withHeader(numpyDict(">i1", false, [3]), new Uint8Array([0, 1, 0xff])),
    dtype: "|i1",
    shape: [3],
    values: [0, 1, -1],
  },
  {
    name: "'>b1' is '|b1'",
    bytes: withHeader(numpyDict(">b1", false, [3]), new Uint8Array([0, 1, 0])),
    dtype: "|b1",
    shape: [3],
    values: [0, 1, 0],
  },
  {
    name: "version 2.0",
    bytes: withHeader(GOOD, P, [2, 0]),
    dtype: "<f4",
    shape: [3],
    values: [0, 1, 2],
  },
  {
    name: "version 3.0",
    bytes: withHeader(GOOD, P, [3, 0]),
    dtype: "<f4",
    shape: [3],
    values: [0, 1, 2],
  },
  {
    name: "header exactly at the limit (10000)",
    bytes: buildNpy({ header: bigHeader(10000), data: P, align: false }),
    dtype: "<f4",
    shape: [3],
    values: [0, 1, 2],
  },
  {
    name: "header over the default limit, limit raised",
    bytes: buildNpy({ header: bigHeader(10001), data: P, align: false }),
    dtype: "<f4",
    shape: [3],
    values: [0, 1, 2],
    maxHeaderSize: 20000,
  },
  {
    name: "v2 header of 70 000 bytes, limit raised",
    bytes: buildNpy({ version: [2, 0], header: GOOD + " ".repeat(70_000), data: P }),
    dtype: "<f4",
    shape: [3],
    values: [0, 1, 2],
    maxHeaderSize: 100_000,
  },
  {
    name: "descr spelled with \\x and \\u escapes",
    bytes: withHeader("{'descr': '\\x3cf\\u0034', 'fortran_order': False, 'shape': (3,), }", P),
    dtype: "<f4",
    shape: [3],
    values: [0, 1, 2],
  },
  {
    name: "shape (-0,) is the shape (0,)",
    bytes: withHeader(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (-0,), }",
      new Uint8Array(0),
    ),
    dtype: "<f4",
    shape: [0],
    values: [],
  },
  {
    name: "0-d",
    bytes: withHeader(numpyDict("<f8", false, []), bytesOf(new Float64Array([2.5]))),
    dtype: "<f8",
    shape: [],
    values: [2.5],
  },
  {
    name: "large dimension of an empty array",
    bytes: withHeader(numpyDict("<f8", false, [0, 10_000_000_000]), new Uint8Array(0)),
    dtype: "<f8",
    shape: [0, 10_000_000_000],
    values: [],
  },
];

const tmp = makeTempDir();
let numpyInvalid: TryLoadResult[] = [];
let numpyAccepted: TryLoadResult[] = [];

beforeAll(() => {
  const files = (
    list: { name: string; bytes: Uint8Array; maxHeaderSize?: number }[],
    tag: string,
  ) =>
    list.map((c, i) => {
      const file = join(tmp.dir, `${tag}${i}.npy`);
      writeFileSync(file, c.bytes);
      return c.maxHeaderSize === undefined ? { file } : { file, maxHeaderSize: c.maxHeaderSize };
    });
  numpyInvalid = tryLoadWithNumpy(files(INVALID, "bad"));
  numpyAccepted = tryLoadWithNumpy(files(ACCEPTED, "ok"));
});
afterAll(() => tmp.cleanup());

describe("invalid files throw NpyError with a stable code", () => {
  it.each(INVALID.map((c, i) => [c.name, c, i] as const))("%s", (_name, c, i) => {
    const options = c.maxHeaderSize === undefined ? undefined : { maxHeaderSize: c.maxHeaderSize };
    const err = expectNpyError(() => decodeNpy(c.bytes, options), c.code);
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(NpyError);
    if (c.mentions) expect(err.message).toContain(c.mentions);

    const np = numpyInvalid[i] as TryLoadResult;
    const expectation = c.numpy ?? "rejects";
    if (expectation === "rejects")
      expect(np.ok, `NumPy accepted it: ${JSON.stringify(np)}`).toBe(false);
    if (expectation === "accepts") expect(np.ok, `NumPy rejected it: ${np.error}`).toBe(true);
  });
});

describe("headers NumPy accepts are accepted", () => {
  it.each(ACCEPTED.map((c, i) => [c.name, c, i] as const))("%s", (_name, c, i) => {
    const np = numpyAccepted[i] as TryLoadResult;
    expect(np.ok, `NumPy rejects this file (test is wrong): ${np.error}`).toBe(true);
    const options = c.maxHeaderSize === undefined ? undefined : { maxHeaderSize: c.maxHeaderSize };
    const arr = decodeNpy(c.bytes, options);
    expect(arr.dtype).toBe(c.dtype);
    expect(arr.shape).toEqual(c.shape);
    expect(np.shape).toEqual(c.shape);
    expect(arr.fortranOrder).toBe(c.fortranOrder ?? false);
    if (c.values) expect(Array.from(arr.data as Iterable<number>, Number)).toEqual(c.values);
  });
});

describe("whitespace, signs and leading zeros are read as Python's ast.literal_eval reads them", () => {
  // Outside brackets Python's tokenizer has line and indent rules; inside them any whitespace
  // goes. Each text is judged by ast.literal_eval itself.
  const body = "{'descr': '<f4', 'fortran_order': False, 'shape': (0,)}";
  const before = ["", " ", "\t", "\f", "\n", "\r", "\r\n", " \n ", "\n\n", "\f\n  \n", "\t\f"];
  const beforeMore = [" \f\t", "\f\t", "\n\f", "\n \f", "\n\f ", "\r ", " \r ", "\v"];
  const after = ["", " ", "\n", "\n  ", "\n\f", "\n \n", "\r\n  \r\n", "\n\t", "\n\t\n", "\f"];
  const afterMore = [" \f ", "\n\f ", "\n \f", "\r", "\r ", "\r\r", "\n  \t  ", " \r\n \r\n"];
  const texts = [
    ...[...before, ...beforeMore].map((w) => `${w}${body}\n`),
    ...[...after, ...afterMore, "\nx"].map((t) => `${body}${t}`),
    "{\f'descr'\r:\n'<f4', 'fortran_order'\t: False,\r\n'shape': (0,)\v}",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (0, - -1)}",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (0, +-1)}",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (- 0,)}",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (01, 0)}",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (00, 0_0)}",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (0_1, 0)}",
  ];
  let python: boolean[] = [];
  beforeAll(() => {
    const script = [
      "import ast, json, sys",
      "out = []",
      "for t in json.load(sys.stdin):",
      "    try:",
      "        ast.literal_eval(t)",
      "        out.append(True)",
      "    except Exception:",
      "        out.append(False)",
      "print(json.dumps(out))",
    ].join("\n");
    const proc = spawnSync(PYTHON, ["-c", script], {
      input: JSON.stringify(texts),
      encoding: "utf8",
    });
    expect(proc.status, proc.stderr).toBe(0);
    python = JSON.parse(proc.stdout) as boolean[];
  });
  it.each(texts.map((t, i) => [JSON.stringify(t), i] as const))("%s", (_name, i) => {
    // Unpadded: NumPy's padding would end every text with spaces and a newline.
    const bytes = buildNpy({ header: texts[i] as string, data: new Uint8Array(0), align: false });
    let accepted: boolean;
    try {
      decodeNpy(bytes);
      accepted = true;
    } catch (error) {
      expect(error).toBeInstanceOf(NpyError);
      expect((error as NpyError).code).toBe("BAD_HEADER");
      accepted = false;
    }
    expect(accepted, `ast.literal_eval ${python[i] ? "accepts" : "refuses"} it`).toBe(python[i]);
  });
});
