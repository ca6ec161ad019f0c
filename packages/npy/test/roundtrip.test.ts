/**
 * Round trips over every dtype × order × byte order × shape kind, in memory through
 * encodeNpy/decodeNpy, and through NumPy: every encoded file must load in np.load with the
 * same dtype, shape, order and values (and re-save to the very same bytes).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeNpy, encodeNpy, type NpyTypedArray, toCOrder } from "../src/index.js";
import {
  byteOrders,
  bytesOf,
  cToF,
  DTYPE_NAMES,
  DTYPES,
  type DtypeName,
  firstDiff,
  makeData,
  makeTempDir,
  nativeDescr,
  product,
  sameBytes,
} from "./helpers.js";
import { type CheckResult, checkWithNumpy } from "./numpy-helper.js";

const SHAPES: { kind: string; shape: number[] }[] = [
  { kind: "0-d", shape: [] },
  { kind: "empty", shape: [0] },
  { kind: "empty-2d", shape: [3, 0] },
  { kind: "1-d", shape: [7] },
  { kind: "2-d", shape: [3, 4] },
  { kind: "3-d", shape: [2, 3, 4] },
  { kind: "rank-5", shape: [2, 1, 3, 2, 2] },
];

interface Case {
  id: string;
  name: DtypeName;
  descr: string;
  order: "C" | "F";
  shape: number[];
  /** Values in C order (reference). */
  dataC: NpyTypedArray;
  /** Values in the array's own order (what is handed to encodeNpy). */
  data: NpyTypedArray;
}

/** Whether the Fortran flag carries information (NumPy itself writes False otherwise). */
function orderMatters(shape: number[]): boolean {
  return shape.filter((d) => d > 1).length >= 2;
}

const cases: Case[] = [];
let seed = 1;
for (const name of DTYPE_NAMES) {
  for (const bo of byteOrders(name)) {
    for (const order of ["C", "F"] as const) {
      for (const { kind, shape } of SHAPES) {
        const dataC = makeData(name, product(shape), seed++);
        const data = order === "F" ? cToF(dataC, shape) : dataC;
        cases.push({
          id: `${bo}${name} ${order} ${kind} [${shape.join(",")}]`,
          name,
          descr: `${bo}${name}`,
          order,
          shape,
          dataC,
          data,
        });
      }
    }
  }
}

describe("encodeNpy → decodeNpy round trip", () => {
  it("covers every dtype, byte order, order and shape kind", () => {
    expect(cases.length).toBe((9 * 2 + 3) * 2 * SHAPES.length);
  });

  it.each(cases.map((c) => [c.id, c] as const))("%s", (_id, c) => {
    const before = new Uint8Array(bytesOf(c.data));
    const encoded = encodeNpy({
      data: c.data,
      shape: c.shape,
      dtype: c.descr,
      fortranOrder: c.order === "F",
    });
    expect(sameBytes(bytesOf(c.data), before), "encodeNpy must not modify its input").toBe(true);
    expect(encoded).toBeInstanceOf(Uint8Array);

    const decoded = decodeNpy(encoded);
    expect(decoded.dtype).toBe(nativeDescr(c.descr));
    expect(decoded.shape).toEqual(c.shape);
    expect(decoded.data).toBeInstanceOf(DTYPES[c.name].ctor);
    expect(decoded.data.length).toBe(product(c.shape));
    if (orderMatters(c.shape)) expect(decoded.fortranOrder).toBe(c.order === "F");
    if (decoded.fortranOrder === (c.order === "F")) {
      expect(sameBytes(bytesOf(decoded.data), bytesOf(c.data)), "data in memory order").toBe(true);
    }

    const asC = toCOrder(decoded);
    expect(asC.fortranOrder).toBe(false);
    expect(asC.shape).toEqual(c.shape);
    expect(asC.dtype).toBe(decoded.dtype);
    const got = bytesOf(asC.data);
    const want = bytesOf(c.dataC);
    expect(sameBytes(got, want), firstDiff(got, want)).toBe(true);
  });
});

describe("files written by ldakit load in NumPy", () => {
  const tmp = makeTempDir();
  const results = new Map<string, CheckResult | Error>();

  beforeAll(() => {
    const specs: { file: string; raw: string }[] = [];
    const ids: string[] = [];
    cases.forEach((c, i) => {
      try {
        const bytes = encodeNpy({
          data: c.data,
          shape: c.shape,
          dtype: c.descr,
          fortranOrder: c.order === "F",
        });
        const file = join(tmp.dir, `case${i}.npy`);
        const raw = join(tmp.dir, `case${i}.raw`);
        writeFileSync(file, bytes);
        writeFileSync(raw, bytesOf(c.dataC));
        specs.push({ file, raw });
        ids.push(c.id);
      } catch (err) {
        results.set(c.id, err as Error);
      }
    });
    checkWithNumpy(specs).forEach((r, i) => {
      results.set(ids[i] as string, r);
    });
  });

  afterAll(() => tmp.cleanup());

  it.each(cases.map((c) => [c.id, c] as const))("%s", (_id, c) => {
    const r = results.get(c.id);
    if (r instanceof Error) throw r;
    expect(r, "no NumPy result").toBeDefined();
    const res = r as CheckResult;
    expect(res.error).toBeUndefined();
    expect(res.ok).toBe(true);
    // NumPy canonicalises one-byte types to '|'; others keep the requested byte order.
    expect(res.descr).toBe(c.descr);
    expect(res.shape).toEqual(c.shape);
    expect(res.version).toEqual([1, 0]);
    if (orderMatters(c.shape)) {
      expect(res.fortranOrder).toBe(c.order === "F");
      expect(res.fContiguous).toBe(c.order === "F");
    }
    expect(res.valuesEqual, "NumPy values differ").toBe(true);
    // Whenever NumPy would write the same fortran_order flag, its bytes must be ours exactly.
    if (res.fortranOrder === false || !res.cContiguous) {
      expect(res.resaveEqual, "np.save(np.load(file)) != file").toBe(true);
    }
  });
});
