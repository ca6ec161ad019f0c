/**
 * Compatibility with files NumPy writes: np.save, np.lib.format.write_array with versions
 * 1.0/2.0/3.0, Fortran arrays, big-endian data, a header over 64 KiB; encodeNpy must reproduce
 * np.save byte for byte; a NumPy-written 384×384 '<f8' matrix of the repository's fixtures (and,
 * with LDAKIT_UNIFYWEAVER_DATA, the UnifyWeaver W_matrix.npy) reads as NumPy reads it.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unifyWeaverData } from "../../../tools/unifyweaver-data.mjs";
import { decodeNpy, encodeNpy } from "../src/index.js";
import {
  baseName,
  byteOrders,
  bytesOf,
  DTYPE_NAMES,
  DTYPES,
  expectNpyError,
  firstDiff,
  makeTempDir,
  numpyDict,
  product,
  readRaw,
  sameBytes,
} from "./helpers.js";
import {
  type GenerateCase,
  type GeneratedFile,
  generateWithNumpy,
  summarizeWithNumpy,
} from "./numpy-helper.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const FIXTURES = resolve(HERE, "../../../fixtures");
const UNIFYWEAVER = unifyWeaverData(
  "W_matrix.npy is not read; fixtures/npy/valid/f8_le_384x384.npy stands in for it",
);

const SHAPES = [[], [0], [3, 0], [1], [10], [3, 4], [4, 1], [2, 3, 4], [2, 1, 3, 2, 2]];

function orderMatters(shape: number[]): boolean {
  return shape.filter((d) => d > 1).length >= 2;
}

const cases: GenerateCase[] = [];
let seed = 100;
for (const name of DTYPE_NAMES) {
  for (const bo of byteOrders(name)) {
    for (const shape of SHAPES) {
      for (const order of ["C", "F"] as const) {
        if (order === "F" && !orderMatters(shape)) continue;
        cases.push({
          name: `save_${bo === "|" ? "" : bo === "<" ? "le_" : "be_"}${name}_${order}_${shape.join("x") || "scalar"}`,
          descr: `${bo}${name}`,
          shape,
          order,
          seed: seed++,
        });
      }
    }
  }
}
// Header lengths over every residue mod 64 (3 characters per extra dimension, gcd(3, 64) = 1),
// so every padding length NumPy can write, including its full 64-space pad, is exercised.
for (let k = 0; k <= 63; k++) {
  cases.push({ name: `pad_${k}`, descr: "<f4", shape: [0, ...new Array<number>(k).fill(1)] });
}
// Dimension values of every width; the growth padding depends on shape[0] (C) / shape[-1] (F).
for (const n of [1, 9, 10, 99, 100, 1000, 12345, 100000]) {
  cases.push({ name: `len_f4_${n}`, descr: "<f4", shape: [n], seed: n });
  cases.push({ name: `len_be_f8_${n}`, descr: ">f8", shape: [n], seed: n + 1 });
}
for (const shape of [
  [0, 10_000_000_000],
  [10_000_000_000, 0],
  [0, 2 ** 53 - 1],
  [1_000_000_000_000_000, 0, 3],
]) {
  cases.push({ name: `huge_${shape.join("x")}`, descr: "<f8", shape });
}
cases.push({ name: "growth_F_2x12345", descr: "|u1", shape: [2, 12345], order: "F" });
cases.push({ name: "growth_F_12345x2", descr: "|u1", shape: [12345, 2], order: "F" });
// Explicit format versions (NumPy only picks 2.0/3.0 on its own for huge or non-latin1 headers).
const VERSIONED: GenerateCase[] = [];
for (const writer of ["v1", "v2", "v3"] as const) {
  VERSIONED.push(
    { name: `${writer}_le_f4_C`, descr: "<f4", shape: [3, 4], writer },
    { name: `${writer}_be_f8_F`, descr: ">f8", shape: [2, 3], order: "F", writer },
    { name: `${writer}_b1`, descr: "|b1", shape: [5], writer },
    { name: `${writer}_i8_scalar`, descr: "<i8", shape: [], writer },
    { name: `${writer}_be_u2_empty`, descr: ">u2", shape: [3, 0], writer },
  );
}
VERSIONED.push(
  { name: "v2long_le_f4", descr: "<f4", shape: [3, 2], writer: "v2-long" },
  { name: "v2long_be_i2_F", descr: ">i2", shape: [2, 3], order: "F", writer: "v2-long" },
);

describe("NumPy-written files", () => {
  const tmp = makeTempDir();
  let saved: GeneratedFile[] = [];
  let versioned: GeneratedFile[] = [];

  beforeAll(() => {
    saved = generateWithNumpy(tmp.dir, cases);
    versioned = generateWithNumpy(tmp.dir, VERSIONED);
  });
  afterAll(() => tmp.cleanup());

  function checkDecoded(g: GeneratedFile, options?: { maxHeaderSize?: number }) {
    const bytes = new Uint8Array(readFileSync(g.file));
    const arr = decodeNpy(bytes, options);
    expect(arr.dtype).toBe(g.nativeDescr);
    expect(arr.shape).toEqual(g.shape);
    expect(arr.fortranOrder).toBe(g.fortranOrder);
    const name = baseName(g.descr);
    expect(arr.data).toBeInstanceOf(DTYPES[name].ctor);
    expect(arr.data.length).toBe(product(g.shape));
    const want = new Uint8Array(readFileSync(g.raw));
    const got = bytesOf(arr.data);
    expect(sameBytes(got, want), firstDiff(got, want)).toBe(true);
  }

  it("generated the expected cases", () => {
    expect(saved.length).toBe(cases.length);
    expect(versioned.map((v) => v.version)).toEqual(
      VERSIONED.map((c) => (c.writer === "v2-long" ? [2, 0] : [Number(c.writer?.[1]), 0])),
    );
    // the pad family really hits NumPy's 64-space padding (dict + growth spaces + '\n' ≡ 54 mod 64)
    const full = cases.filter((c) => {
      if (!c.name.startsWith("pad_")) return false;
      const len = numpyDict("<f4", false, c.shape).length + 20 + 1;
      return (10 + len) % 64 === 0;
    });
    expect(full.length).toBeGreaterThan(0);
  });

  it("decodeNpy reads np.save files (all dtypes, byte orders, orders, shapes)", () => {
    for (const g of saved) checkDecoded(g);
  });

  it.each(VERSIONED.map((c) => [c.name] as const))("decodeNpy reads %s", (name) => {
    const g = versioned.find((v) => v.name === name) as GeneratedFile;
    if (name.startsWith("v2long")) {
      expect(g.dataOffset).toBeGreaterThan(65536);
      expectNpyError(() => decodeNpy(new Uint8Array(readFileSync(g.file))), "HEADER_TOO_LARGE");
      checkDecoded(g, { maxHeaderSize: 100_000 });
    } else {
      checkDecoded(g);
    }
  });

  it("encodeNpy bytes equal np.save bytes (explicit dtype)", () => {
    const mismatches: string[] = [];
    for (const g of saved) {
      const data = readRaw(baseName(g.descr), g.raw);
      const bytes = encodeNpy({
        data,
        shape: g.shape,
        dtype: g.descr,
        fortranOrder: g.fortranOrder,
      });
      const want = new Uint8Array(readFileSync(g.file));
      if (!sameBytes(bytes, want)) mismatches.push(`${g.name}: ${firstDiff(bytes, want)}`);
    }
    expect(mismatches).toEqual([]);
  });

  it("encodeNpy bytes equal np.save bytes (dtype inferred from the typed array)", () => {
    const mismatches: string[] = [];
    let n = 0;
    for (const g of saved) {
      const name = baseName(g.descr);
      if (name === "b1" || name === "f2" || g.descr !== g.nativeDescr) continue;
      n++;
      const data = readRaw(name, g.raw);
      const bytes =
        g.shape.length === 1 && !g.fortranOrder
          ? encodeNpy({ data })
          : encodeNpy({ data, shape: g.shape, fortranOrder: g.fortranOrder });
      const want = new Uint8Array(readFileSync(g.file));
      if (!sameBytes(bytes, want)) mismatches.push(`${g.name}: ${firstDiff(bytes, want)}`);
    }
    expect(n).toBeGreaterThan(50);
    expect(mismatches).toEqual([]);
  });

  it("encodeNpy writes format 1.0 exactly as np.lib.format.write_array(version=(1, 0))", () => {
    for (const g of versioned.filter((v) => v.name.startsWith("v1_"))) {
      const data = readRaw(baseName(g.descr), g.raw);
      const bytes = encodeNpy({
        data,
        shape: g.shape,
        dtype: g.descr,
        fortranOrder: g.fortranOrder,
      });
      const want = new Uint8Array(readFileSync(g.file));
      expect(sameBytes(bytes, want), `${g.name}: ${firstDiff(bytes, want)}`).toBe(true);
    }
  });
});

/** Reads `file` and checks it against NumPy's own dtype, shape, order, sum and samples. */
function expectReadsAsNumpy(file: string, shape: number[]): Float64Array {
  const np = summarizeWithNumpy(file);
  const arr = decodeNpy(new Uint8Array(readFileSync(file)));
  expect(arr.dtype).toBe("<f8");
  expect(arr.shape).toEqual(shape);
  expect(np.shape).toEqual(shape);
  expect(arr.fortranOrder).toBe(np.fortranOrder);
  expect(arr.data).toBeInstanceOf(Float64Array);
  const data = arr.data as Float64Array;
  let sum = 0;
  for (const v of data) sum += v;
  expect(Math.abs(sum - np.sum)).toBeLessThanOrEqual(1e-9 * Math.abs(np.sum));
  expect(np.samples).toHaveLength(4);
  for (const [i, v] of np.samples) expect(data[i]).toBe(v);
  return data;
}

describe("a NumPy-written 384×384 '<f8' matrix (fixtures/npy/valid/f8_le_384x384.npy)", () => {
  it("reads as NumPy reads it, every value as the manifest hashed it", () => {
    const manifest = JSON.parse(readFileSync(join(FIXTURES, "manifest.json"), "utf8")) as {
      cases: { name: string; version?: number[]; data_sha256?: string }[];
    };
    const entry = manifest.cases.find((c) => c.name === "npy/valid/f8_le_384x384");
    expect(entry?.version).toEqual([1, 0]);
    const data = expectReadsAsNumpy(join(FIXTURES, "npy/valid/f8_le_384x384.npy"), [384, 384]);
    const hash = createHash("sha256").update(
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
    expect(hash.digest("hex")).toBe(entry?.data_sha256);
  });
});

describe.skipIf(!UNIFYWEAVER)("the UnifyWeaver W_matrix.npy (LDAKIT_UNIFYWEAVER_DATA)", () => {
  it("reads as 384×384 '<f8' with NumPy's sum", () => {
    expectReadsAsNumpy(join(UNIFYWEAVER as string, "W_matrix.npy"), [384, 384]);
  });
});
