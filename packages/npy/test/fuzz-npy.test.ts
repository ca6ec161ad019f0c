/**
 * The NPY fuzzer: any bytes give a value that matches them or an NpyError, never another error,
 * a wrong value or a hang.
 *
 * Inputs start from valid files of every dtype, byte order, memory order and format version
 * (written by this package and by NumPy) and are mutated: header text spliced, numbers, dtypes,
 * shapes and fortran_order replaced, then bytes flipped, inserted, deleted and cut. Each input is
 * read from memory (`decodeNpy`) and from a file (`readNpySync`), which must agree. A value must
 * account for exactly the bytes after the header, hold them (as they are or byte-swapped), and —
 * checked once for all values in one NumPy run — equal what `np.load` reads from the same bytes.
 *
 * The seed is fixed and printed; LDAKIT_FUZZ_SEED overrides it, LDAKIT_FUZZ_RUNS the count
 * (2 000 here, 20 000 under `pnpm test:faults`).
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FuzzFigures, fuzzRuns, recordFuzzFigures } from "../../../tools/fault-report.mjs";
import {
  decodeNpy,
  encodeNpy,
  type NpyArray,
  NpyError,
  readNpySync,
  toCOrder,
} from "../src/index.js";
import {
  buildNpy,
  byteOrders,
  bytesOf,
  DTYPE_NAMES,
  DTYPES,
  type DtypeName,
  makeData,
  makeTempDir,
  numpyDict,
  product,
} from "./helpers.js";
import { type CheckResult, checkWithNumpy, generateWithNumpy } from "./numpy-helper.js";

const RUNS = fuzzRuns(2000);
const HEADER_RUNS = fuzzRuns(2000);
const SEED = process.env.LDAKIT_FUZZ_SEED ? Number(process.env.LDAKIT_FUZZ_SEED) : 20_251_113;
/** One read taking longer than this counts as a hang; a linear parser of ≤ 10 kB needs < 1 ms. */
const HANG_MS = 1000;
/** Values cross-checked against NumPy (all of them at the CI count; the first this many above). */
const NUMPY_CHECKS = 4000;

const CODES = new Set([
  "BAD_MAGIC",
  "UNSUPPORTED_VERSION",
  "BAD_HEADER",
  "HEADER_TOO_LARGE",
  "UNSUPPORTED_DTYPE",
  "BAD_SHAPE",
  "TRUNCATED",
  "TRAILING_DATA",
  "TOO_LARGE",
]);

interface Seed {
  label: string;
  version: [number, number];
  header: string;
  data: Uint8Array;
}

/** Splits a valid file into its version, header dict text (padding dropped) and data. */
function splitNpy(label: string, bytes: Uint8Array): Seed {
  const major = bytes[6] as number;
  const prefix = major === 1 ? 10 : 12;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const text = Buffer.from(bytes.subarray(prefix, prefix + length)).toString(
    major === 3 ? "utf8" : "latin1",
  );
  return {
    label,
    version: [major, bytes[7] as number],
    header: text.trimEnd(),
    data: bytes.slice(prefix + length),
  };
}

const SHAPES = [[], [0], [5], [2, 3], [3, 1, 2], [4, 0], [1, 7]];

/** Files of every dtype, byte order, memory order and version this package writes or reads. */
function packageSeeds(): Seed[] {
  const seeds: Seed[] = [];
  let i = 0;
  for (const name of DTYPE_NAMES) {
    for (const order of byteOrders(name)) {
      for (const fortran of [false, true]) {
        for (const version of [1, 2, 3] as const) {
          const shape = SHAPES[i++ % SHAPES.length] as number[];
          const descr = `${order}${name}`;
          const data = bytesOf(makeData(name, product(shape), i));
          const label = `${descr} ${fortran ? "F" : "C"} (${shape.join(",")}) v${version}`;
          if (version === 1) {
            // The package's own writer; it swaps native values into the file's byte order.
            const typed = makeData(name, product(shape), i);
            const bytes = encodeNpy({ data: typed, shape, dtype: descr, fortranOrder: fortran });
            seeds.push(splitNpy(label, bytes));
          } else {
            seeds.push({
              label,
              version: [version, 0],
              header: numpyDict(descr, fortran, shape),
              data,
            });
          }
        }
      }
    }
  }
  return seeds;
}

/** A few files straight from NumPy, in each format version. */
function numpySeeds(dir: string): Seed[] {
  const files = generateWithNumpy(dir, [
    { name: "np-f4", descr: "<f4", shape: [2, 3], writer: "save" },
    { name: "np-f8-F", descr: ">f8", shape: [3, 2], order: "F", writer: "v2" },
    { name: "np-b1", descr: "|b1", shape: [4], writer: "v3" },
    { name: "np-i8", descr: "<i8", shape: [2, 2], writer: "v1" },
    { name: "np-u2", descr: ">u2", shape: [5], writer: "v3" },
    { name: "np-f2", descr: "<f2", shape: [0], writer: "save" },
    { name: "np-i1", descr: "|i1", shape: [], writer: "v2" },
  ]);
  return files.map((f) => splitNpy(f.name, readBytes(f.file)));
}

function readBytes(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}

// --- mutations -------------------------------------------------------------------------------

const DESCRS = [
  ...DTYPE_NAMES.flatMap((n) => ["<", ">", "|", "="].map((o) => `${o}${n}`)),
  "f",
  "d",
  "?",
  "e",
  "q",
  "<f3",
  "O",
  "|O",
  "<U4",
  "|S4",
  "|V8",
  "<c8",
  "<M8[s]",
  "",
  "<f4\\x00",
  "\\x3cf4",
  "\\u003cf8",
  "\\U0000003ci4",
  "\\U00110000",
  "\\ud800",
  "\\074f4",
];

const TOKENS = [
  "'",
  '"',
  "\\",
  "\\x",
  "\\u12",
  "\\U00110000",
  "\\udfff",
  "\\N{DIGIT ONE}",
  "(",
  ")",
  "[",
  "]",
  "{",
  "}",
  ",",
  ":",
  " ",
  "\t",
  "\n",
  "\r",
  "\f",
  "\v",
  "\0",
  "\xff",
  "\u00e9",
  "\u4e2d",
  "True",
  "False",
  "None",
  "true",
  "1L",
  "3l",
  "-1",
  "-0",
  "+4",
  "- -2",
  "0",
  "01",
  "1_0",
  "1__0",
  "3.0",
  "1e400",
  ".5",
  "9007199254740993",
  "99999999999999999999999",
  "'descr'",
  "'shape'",
  "'fortran_order'",
  "u'descr'",
  "U'shape'",
  "b'descr'",
  "[[[[[[[[[[[[[[[[",
  "((((((((((((((((",
  "]]]]]]]]",
  "))))))))",
  `${"[".repeat(70)}${"]".repeat(70)}`,
  `${"(".repeat(65)}1${")".repeat(65)}`,
  "{'a': {'b': {'c': ()}}}",
  "__proto__",
  "constructor",
  "'__proto__'",
];

const pick = <T>(items: readonly T[]) => fc.constantFrom(...items);

const SHAPE_TEXT = fc.oneof(
  fc
    .array(fc.oneof(fc.nat(8), fc.constantFrom(0, 1, 2 ** 31, 2 ** 53, 2 ** 63, -1)), {
      maxLength: 5,
    })
    .map((dims) => (dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(", ")})`)),
  pick(["()", "(3)", "[3]", "3", "(3.0,)", "('3',)", "(None,)", "(True,)", "(3L,)", "(-0,)"]),
);

/** A change to the header text, applied before the file is reassembled. */
const headerMutation = fc.oneof(
  fc.record({
    kind: fc.constant("splice"),
    at: fc.nat(),
    cut: fc.nat(6),
    token: pick(TOKENS),
  }),
  fc.record({ kind: fc.constant("descr"), value: pick(DESCRS) }),
  fc.record({ kind: fc.constant("shape"), value: SHAPE_TEXT }),
  fc.record({
    kind: fc.constant("fortran"),
    value: pick(["True", "False", "0", "1", "'False'", "None", "false"]),
  }),
  fc.record({
    kind: fc.constant("number"),
    value: fc.oneof(
      fc.integer({ min: -5, max: 70 }).map(String),
      pick(["1e3", "2**3", "0x10", "18446744073709551616", "4294967296"]),
    ),
  }),
  fc.record({
    kind: fc.constant("key"),
    from: pick(["'descr'", "'shape'", "'fortran_order'"]),
    to: pick([
      "'Descr'",
      "'shape '",
      "descr",
      "'x'",
      "'shape'",
      "u'descr'",
      "'\\x64escr'",
      "'\\u0073hape'",
    ]),
  }),
  fc.record({
    kind: fc.constant("random"),
    at: fc.nat(),
    text: fc.string({ maxLength: 8, unit: "binary" }),
  }),
);

/** A change to the assembled bytes. */
const byteMutation = fc.oneof(
  fc.record({
    kind: fc.constant("flip"),
    at: fc.nat(),
    bit: fc.nat(7),
  }),
  fc.record({
    kind: fc.constant("set"),
    at: fc.nat(),
    value: fc.nat(255),
  }),
  fc.record({
    kind: fc.constant("insert"),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  fc.record({
    kind: fc.constant("delete"),
    at: fc.nat(),
    count: fc.integer({ min: 1, max: 16 }),
  }),
  fc.record({ kind: fc.constant("truncate"), at: fc.nat() }),
  fc.record({
    kind: fc.constant("version"),
    major: fc.constantFrom(0, 1, 2, 3, 4, 255),
    minor: fc.constantFrom(0, 0, 0, 1),
  }),
  fc.record({
    kind: fc.constant("length"),
    value: fc.oneof(fc.nat(200), fc.constantFrom(0, 1, 0xffff, 10_000, 10_001, 0xffffffff)),
  }),
  fc.record({ kind: fc.constant("data"), delta: fc.integer({ min: -9, max: 9 }) }),
);

type HeaderMutation = typeof headerMutation extends fc.Arbitrary<infer T> ? T : never;
type ByteMutation = typeof byteMutation extends fc.Arbitrary<infer T> ? T : never;

function applyHeader(text: string, m: HeaderMutation): string {
  switch (m.kind) {
    case "splice": {
      const at = m.at % (text.length + 1);
      return text.slice(0, at) + m.token + text.slice(at + m.cut);
    }
    case "descr":
      return text.replace(/'descr':\s*'[^']*'/, `'descr': '${m.value}'`);
    case "shape":
      return text.replace(/'shape':\s*\([^)]*\)/, `'shape': ${m.value}`);
    case "fortran":
      return text.replace(/'fortran_order':\s*\w+/, `'fortran_order': ${m.value}`);
    case "number":
      return text.replace(/\d+/, m.value);
    case "key":
      return text.replace(m.from, m.to);
    case "random": {
      const at = m.at % (text.length + 1);
      return text.slice(0, at) + m.text + text.slice(at);
    }
  }
}

function applyBytes(bytes: Uint8Array, m: ByteMutation, version: number): Uint8Array {
  const at = "at" in m ? m.at % (bytes.length + 1) : 0;
  switch (m.kind) {
    case "flip": {
      if (bytes.length === 0) return bytes;
      const out = bytes.slice();
      const i = Math.min(at, bytes.length - 1);
      out[i] = (out[i] as number) ^ (1 << m.bit);
      return out;
    }
    case "set": {
      if (bytes.length === 0) return bytes;
      const out = bytes.slice();
      out[Math.min(at, bytes.length - 1)] = m.value;
      return out;
    }
    case "insert":
      return concat(bytes.subarray(0, at), m.bytes, bytes.subarray(at));
    case "delete":
      return concat(bytes.subarray(0, at), bytes.subarray(at + m.count));
    case "truncate":
      return bytes.slice(0, at);
    case "version": {
      const out = bytes.slice();
      if (out.length > 7) {
        out[6] = m.major;
        out[7] = m.minor;
      }
      return out;
    }
    case "length": {
      const out = bytes.slice();
      const view = new DataView(out.buffer);
      if (version === 1 && out.length >= 10) view.setUint16(8, m.value & 0xffff, true);
      if (version !== 1 && out.length >= 12) view.setUint32(8, m.value >>> 0, true);
      return out;
    }
    case "data":
      return m.delta >= 0
        ? concat(bytes, new Uint8Array(m.delta).fill(0xa5))
        : bytes.slice(0, Math.max(0, bytes.length + m.delta));
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Header texts for the header-parser target: token soup, and dicts written every legal way. */
const headerPiece = fc.oneof(
  pick(TOKENS),
  pick(DESCRS.map((d) => `'${d}'`)),
  SHAPE_TEXT,
  pick(["'descr': '<f4', ", "'fortran_order': False, ", "'shape': (2,), ", "'descr': '>i2', "]),
  fc.string({ maxLength: 4 }),
);

const headerDict = fc
  .record({
    descr: fc.oneof({ weight: 4, arbitrary: pick(DESCRS.slice(0, 48)) }, pick(DESCRS)),
    fortran: fc.oneof(
      { weight: 4, arbitrary: pick(["True", "False"]) },
      pick(["0", "'True'", "None"]),
    ),
    dims: fc.array(fc.nat(4), { maxLength: 4 }),
    longSuffix: fc.boolean(),
    order: fc.nat(5),
    quote: pick(["'", '"', "u'", 'U"']),
    sep: pick([", ", ",", " , ", ",\n", ",\t", ",\r\n  "]),
    colon: pick([": ", ":", " :\t", ":\f"]),
    trailing: pick(["", ", ", ","]),
    lead: pick(["", " ", "\n", "\v"]),
    extras: fc.array(fc.tuple(fc.nat(), pick(TOKENS)), { maxLength: 2 }),
    version: fc.constantFrom(1, 2, 3),
    dataDelta: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, fc.integer({ min: -3, max: 3 })),
  })
  .map((h) => {
    const q = (key: string) =>
      h.quote.length === 2 ? `${h.quote}${key}${h.quote.charAt(1)}` : `${h.quote}${key}${h.quote}`;
    const suffix = h.longSuffix && h.version < 3 ? "L" : "";
    const dims = h.dims.map((d) => `${d}${suffix}`);
    const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(", ")})`;
    const entries = [
      `${q("descr")}${h.colon}'${h.descr}'`,
      `${q("fortran_order")}${h.colon}${h.fortran}`,
      `${q("shape")}${h.colon}${shape}`,
    ];
    const orders = [
      [0, 1, 2],
      [0, 2, 1],
      [1, 0, 2],
      [1, 2, 0],
      [2, 0, 1],
      [2, 1, 0],
    ][h.order] as number[];
    let text = `${h.lead}{${orders.map((i) => entries[i]).join(h.sep)}${h.trailing}}`;
    for (const [at, token] of h.extras) {
      const i = at % (text.length + 1);
      text = text.slice(0, i) + token + text.slice(i);
    }
    // Data of exactly the length the intended shape and dtype call for, give or take dataDelta.
    const code = h.descr.replace(/^[<>|=]/, "");
    const itemSize = code in DTYPES ? DTYPES[code as DtypeName].size : 4;
    const data = Math.max(0, h.dims.reduce((a, b) => a * b, 1) * itemSize + h.dataDelta);
    return { text, version: h.version, data };
  });

// --- the oracle ------------------------------------------------------------------------------

type Outcome =
  | { kind: "value"; array: NpyArray }
  | { kind: "clean"; code: string }
  | { kind: "other"; why: string }
  | { kind: "hang"; ms: number };

const DTYPE_OF_ARRAY: Record<string, DtypeName[]> = {};
for (const name of DTYPE_NAMES) {
  const ctor = DTYPES[name].ctor.name;
  DTYPE_OF_ARRAY[ctor] = [...(DTYPE_OF_ARRAY[ctor] ?? []), name];
}

/** Where the data starts, read from the length field alone (independent of the codec). */
function dataOffsetOf(bytes: Uint8Array): number {
  const major = bytes[6] as number;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return major === 1 ? 10 + view.getUint16(8, true) : 12 + view.getUint32(8, true);
}

function swapped(bytes: Uint8Array, itemSize: number): Uint8Array {
  const out = bytes.slice();
  for (let i = 0; i < out.length; i += itemSize) out.subarray(i, i + itemSize).reverse();
  return out;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

/** Why a value does not match its bytes, or undefined when it does. */
function wrongValue(bytes: Uint8Array, array: NpyArray): string | undefined {
  const match = /^([<|])([biuf])([1248])$/.exec(array.dtype);
  if (!match) return `dtype ${array.dtype} is not a host-order dtype`;
  const name = `${match[2]}${match[3]}` as DtypeName;
  if (!(name in DTYPES)) return `dtype ${array.dtype} is not one the package reads`;
  if ((DTYPES[name].size === 1) !== (match[1] === "|"))
    return `dtype ${array.dtype} has the wrong order mark`;
  if (!DTYPE_OF_ARRAY[array.data.constructor.name]?.includes(name)) {
    return `dtype ${array.dtype} held in a ${array.data.constructor.name}`;
  }
  if (!array.shape.every((d) => Number.isSafeInteger(d) && d >= 0 && !Object.is(d, -0))) {
    return `shape (${array.shape.join(", ")}) is not non-negative integers`;
  }
  const size = DTYPES[name].size;
  if (product(array.shape) !== array.data.length) {
    return `shape (${array.shape.join(", ")}) holds ${product(array.shape)} elements, data ${array.data.length}`;
  }
  const data = bytes.subarray(dataOffsetOf(bytes));
  if (product(array.shape) * size !== data.length) {
    return `shape × itemsize is ${product(array.shape) * size} but ${data.length} bytes follow the header`;
  }
  // Re-encoded by the package's writer, the data part must be the file's data, in one of the
  // two byte orders (NumPy decides which, below).
  const again = encodeNpy({
    data: array.data,
    shape: array.shape,
    dtype: array.dtype,
    fortranOrder: array.fortranOrder,
  });
  const ours = again.subarray(dataOffsetOf(again));
  if (!same(ours, data) && !(size > 1 && same(ours, swapped(data, size)))) {
    return "the value's bytes are not the bytes after the header";
  }
  return undefined;
}

function sameArray(a: NpyArray, b: NpyArray): boolean {
  return (
    a.dtype === b.dtype &&
    a.fortranOrder === b.fortranOrder &&
    a.shape.join() === b.shape.join() &&
    same(bytesOf(a.data), bytesOf(b.data))
  );
}

function read(fn: () => NpyArray): { outcome: Outcome; ms: number } {
  const started = performance.now();
  let outcome: Outcome;
  try {
    outcome = { kind: "value", array: fn() };
  } catch (error) {
    if (error instanceof NpyError && error.message.length > 0 && CODES.has(error.code)) {
      outcome = { kind: "clean", code: error.code };
    } else {
      const name = error instanceof Error ? error.name : typeof error;
      outcome = {
        kind: "other",
        why: `${name}: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
  }
  const ms = performance.now() - started;
  return { outcome: ms > HANG_MS ? { kind: "hang", ms } : outcome, ms };
}

/** Reads `bytes` from memory and from a file and judges the outcome. */
function judge(bytes: Uint8Array, file: string): Outcome {
  const memory = read(() => decodeNpy(bytes));
  writeFileSync(file, bytes);
  const disk = read(() => readNpySync(file));
  for (const { outcome } of [memory, disk]) {
    if (outcome.kind === "other" || outcome.kind === "hang") return outcome;
  }
  const m = memory.outcome;
  const d = disk.outcome;
  if (m.kind === "value" && d.kind === "value") {
    const why = wrongValue(bytes, m.array);
    if (why) return { kind: "other", why };
    if (!sameArray(m.array, d.array))
      return { kind: "other", why: "decodeNpy and readNpySync read different values" };
    return m;
  }
  if (m.kind === "clean" && d.kind === "clean") {
    if (m.code !== d.code)
      return { kind: "other", why: `decodeNpy says ${m.code}, readNpySync ${d.code}` };
    return m;
  }
  return { kind: "other", why: `decodeNpy gives a ${m.kind}, readNpySync a ${d.kind}` };
}

// --- the runs --------------------------------------------------------------------------------

interface Tally extends FuzzFigures {
  failures: string[];
  accepted: Array<{ bytes: Uint8Array; array: NpyArray; input: string }>;
  codes: Map<string, number>;
}

const newTally = (): Tally => ({
  tried: 0,
  values: 0,
  cleanErrors: 0,
  otherErrors: 0,
  hangs: 0,
  failures: [],
  accepted: [],
  codes: new Map(),
});

function count(tally: Tally, outcome: Outcome, bytes: Uint8Array, input: () => string): boolean {
  tally.tried++;
  if (outcome.kind === "value") {
    tally.values++;
    tally.accepted.push({ bytes, array: outcome.array, input: input() });
    return true;
  }
  if (outcome.kind === "clean") {
    tally.cleanErrors++;
    tally.codes.set(outcome.code, (tally.codes.get(outcome.code) ?? 0) + 1);
    return true;
  }
  if (outcome.kind === "hang") tally.hangs++;
  else tally.otherErrors++;
  const why = outcome.kind === "hang" ? `took ${outcome.ms.toFixed(0)} ms` : outcome.why;
  tally.failures.push(`${why}\n    input: ${input()}`);
  return false;
}

/** np.load of every accepted input must give the same dtype, shape, order and values. */
function crossCheckWithNumpy(dir: string, tally: Tally): string[] {
  const unique = new Map<string, Tally["accepted"][number]>();
  for (const a of tally.accepted) {
    const key = createHash("sha1").update(a.bytes).digest("hex");
    if (!unique.has(key) && unique.size < NUMPY_CHECKS) unique.set(key, a);
  }
  const cases = [...unique.entries()].map(([key, a]) => {
    const file = join(dir, `${key}.npy`);
    const raw = join(dir, `${key}.raw`);
    writeFileSync(file, a.bytes);
    writeFileSync(raw, bytesOf(toCOrder(a.array).data));
    return { file, raw, a };
  });
  const results: CheckResult[] = cases.length
    ? checkWithNumpy(cases.map(({ file, raw }) => ({ file, raw })))
    : [];
  const problems: string[] = [];
  results.forEach((r, i) => {
    const { a } = cases[i] as (typeof cases)[number];
    const native = r.descr?.replace(/^[>=]/, "<").replace(/^<(.1)$/, "|$1");
    const why = !r.ok
      ? `NumPy refuses it (${r.error})`
      : native !== a.array.dtype
        ? `NumPy reads dtype ${r.descr}, we ${a.array.dtype}`
        : r.shape.join() !== a.array.shape.join()
          ? `NumPy reads shape (${r.shape.join(", ")}), we (${a.array.shape.join(", ")})`
          : r.fortranOrder !== a.array.fortranOrder
            ? `NumPy reads fortran_order ${r.fortranOrder}, we ${a.array.fortranOrder}`
            : !r.valuesEqual
              ? "NumPy reads other values"
              : undefined;
    if (why) problems.push(`${why}\n    input: ${a.input}`);
  });
  return problems;
}

function report(target: string, tally: Tally): void {
  const codes = [...tally.codes.entries()]
    .sort()
    .map(([c, n]) => `${c} ${n}`)
    .join(", ");
  console.log(
    `fuzz ${target}: seed ${SEED}, ${tally.tried} inputs: ${tally.values} values, ${tally.cleanErrors} NpyErrors (${codes}), ${tally.otherErrors} other, ${tally.hangs} hangs`,
  );
  const { tried, values, cleanErrors, otherErrors, hangs } = tally;
  recordFuzzFigures(target, { tried, values, cleanErrors, otherErrors, hangs });
}

const tmp = makeTempDir("ldakit-npy-fuzz-");
let seeds: Seed[] = [];

beforeAll(() => {
  mkdirSync(join(tmp.dir, "numpy"));
  seeds = [...packageSeeds(), ...numpySeeds(join(tmp.dir, "numpy"))];
});
afterAll(() => tmp.cleanup());

describe(`NPY fuzzer (seed ${SEED}; LDAKIT_FUZZ_SEED overrides)`, () => {
  it(`${RUNS} mutated files: each a value that matches its bytes, or an NpyError`, () => {
    const tally = newTally();
    const input = fc.record({
      seed: fc.nat(),
      header: fc.array(headerMutation, { maxLength: 3 }),
      fixLength: fc.boolean(),
      align: fc.boolean(),
      bytes: fc.array(byteMutation, { maxLength: 3 }),
    });
    const file = join(tmp.dir, "input.npy");
    try {
      fc.assert(
        fc.property(input, (mutation) => {
          const seed = seeds[mutation.seed % seeds.length] as Seed;
          const text = mutation.header.reduce(applyHeader, seed.header);
          let bytes = buildNpy({
            header: text,
            version: seed.version as [number, number],
            data: seed.data,
            align: mutation.align || mutation.header.length === 0,
          });
          if (!mutation.fixLength && mutation.header.length > 0) {
            // Keep the seed's length field, so the header and data boundaries slide.
            const original = buildNpy({
              header: seed.header,
              version: seed.version as [number, number],
              data: seed.data,
            });
            bytes.set(original.subarray(8, seed.version[0] === 1 ? 10 : 12), 8);
          }
          bytes = mutation.bytes.reduce((b, m) => applyBytes(b, m, seed.version[0]), bytes);
          const describeInput = () =>
            `seed file ${seed.label}, mutations ${JSON.stringify(mutation)}`;
          return count(tally, judge(bytes, file), bytes, describeInput);
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
    } finally {
      report("npy", tally);
    }
    expect(tally.failures).toEqual([]);
    expect(tally.tried).toBe(RUNS);
    // A fuzzer whose inputs all fail the same way tests little: both outcomes must be common.
    expect(tally.values).toBeGreaterThan(RUNS / 50);
    expect(tally.codes.size).toBeGreaterThanOrEqual(7);
    expect(crossCheckWithNumpy(join(tmp.dir, "numpy"), tally)).toEqual([]);
  });

  it(`${HEADER_RUNS} header texts: each a value or an NpyError`, () => {
    const tally = newTally();
    const input = fc.oneof(
      { weight: 3, arbitrary: headerDict },
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.array(headerPiece, { maxLength: 24 }), fc.constantFrom(1, 2, 3), fc.nat(16))
          .map(([pieces, version, data]) => ({ text: pieces.join(""), version, data })),
      },
    );
    const file = join(tmp.dir, "header.npy");
    try {
      fc.assert(
        fc.property(input, ({ text, version, data }) => {
          const bytes = buildNpy({
            header: text,
            version: [version, 0],
            data: new Uint8Array(data).fill(0x3c),
          });
          return count(
            tally,
            judge(bytes, file),
            bytes,
            () => `v${version} header ${JSON.stringify(text)}, ${data} data bytes`,
          );
        }),
        { seed: SEED + 1, numRuns: HEADER_RUNS, endOnFailure: true },
      );
    } finally {
      report("npy-header", tally);
    }
    expect(tally.failures).toEqual([]);
    expect(tally.tried).toBe(HEADER_RUNS);
    expect(tally.values).toBeGreaterThan(0);
    expect(crossCheckWithNumpy(join(tmp.dir, "numpy"), tally)).toEqual([]);
  });
});
