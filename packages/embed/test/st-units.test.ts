/**
 * Units of the sentence-transformers embedder that need no model: the safetensors reader and the
 * batch planner.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { planBatches } from "../src/st/batching.js";
import {
  halfToFloat,
  MAX_BATCH_CELLS,
  parseSafetensors,
  SafetensorsError,
} from "../src/st/index.js";
import type { Encoded } from "../src/st/tokenizer.js";
import { floatToBf16, floatToHalf, writeSafetensors } from "./st-helpers.js";

const tmp = mkdtempSync(path.join(os.tmpdir(), "ldakit-st-units-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function bytesOf(tensors: Parameters<typeof writeSafetensors>[1]): Uint8Array {
  const file = path.join(tmp, `t${Math.random()}.safetensors`);
  writeSafetensors(file, tensors);
  return new Uint8Array(readFileSync(file));
}

describe("safetensors", () => {
  it("reads F32, F16, BF16 and F64 as float32", () => {
    const values = [0, 1, -2.5, 0.1, 65504, 6.1e-5, -1e-7, 2.5e-3];
    const st = parseSafetensors(
      bytesOf({
        a: { dtype: "F32", shape: [2, 4], data: values },
        b: { dtype: "F16", shape: [8], data: values },
        c: { dtype: "BF16", shape: [8], data: values },
        d: { dtype: "F64", shape: [8], data: values },
      }),
      "x.safetensors",
    );
    expect([...st.entries.keys()]).toEqual(["a", "b", "c", "d"]);
    expect(st.entries.get("a")?.shape).toEqual([2, 4]);
    expect(st.metadata).toEqual({ format: "pt" });
    expect(Array.from(st.float32("a"))).toEqual(values.map(Math.fround));
    expect(Array.from(st.float32("d"))).toEqual(values.map(Math.fround));
    expect(Array.from(st.float32("b"))).toEqual(values.map((v) => halfToFloat(floatToHalf(v))));
    const bf = st.float32("c");
    for (const [i, v] of values.entries()) {
      expect(Math.abs((bf[i] as number) - v)).toBeLessThanOrEqual(Math.abs(v) / 128 + 1e-40);
      expect(floatToBf16(bf[i] as number)).toBe(floatToBf16(v));
    }
  });

  it("reads tensors whose data is not 4-byte aligned", () => {
    const st = parseSafetensors(
      bytesOf({
        h: { dtype: "F16", shape: [1], data: [1] },
        f: { dtype: "F32", shape: [3], data: [1.5, -2, 7] },
      }),
    );
    expect(st.entries.get("f")?.begin).toBe(2);
    expect(Array.from(st.float32("f"))).toEqual([1.5, -2, 7]);
  });

  it("halfToFloat: zero, subnormals, infinities, NaN", () => {
    expect(halfToFloat(0x0000)).toBe(0);
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x03ff)).toBe(1023 * 2 ** -24);
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0x7c00)).toBe(Number.POSITIVE_INFINITY);
    expect(halfToFloat(0xfc00)).toBe(Number.NEGATIVE_INFINITY);
    expect(halfToFloat(0x7e00)).toBeNaN();
  });

  it("rejects broken files with the file's name", () => {
    const good = bytesOf({ a: { dtype: "F32", shape: [2], data: [1, 2] } });
    expect(() => parseSafetensors(good.subarray(0, 4), "f.st")).toThrow(/f\.st: too short/);
    const long = good.slice();
    new DataView(long.buffer).setBigUint64(0, 1n << 40n, true);
    expect(() => parseSafetensors(long, "f.st")).toThrow(/f\.st: header length/);
    const notJson = good.slice();
    notJson[8] = 0x7b + 1;
    expect(() => parseSafetensors(notJson, "f.st")).toThrow(SafetensorsError);
    const short = good.slice(0, good.length - 4);
    expect(() => parseSafetensors(short, "f.st")).toThrow(/data_offsets \[0, 8\] outside/);
    const st = parseSafetensors(good, "f.st");
    expect(() => st.float32("b")).toThrow(/f\.st: no tensor named b/);
  });

  it("rejects a shape that does not match its byte range, and integer weights", () => {
    const enc = (header: object, data: number) => {
      const json = Buffer.from(JSON.stringify(header));
      const out = Buffer.alloc(8 + json.length + data);
      out.writeBigUInt64LE(BigInt(json.length), 0);
      json.copy(out, 8);
      return new Uint8Array(out);
    };
    expect(() =>
      parseSafetensors(enc({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, 8), "g"),
    ).toThrow(/g: tensor a: F32\[3\] needs 12 bytes, data_offsets give 8/);
    const ints = parseSafetensors(
      enc({ p: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, 8),
      "g",
    );
    expect(() => ints.float32("p")).toThrow(/dtype I64/);
  });
});

describe("planBatches", () => {
  const enc = (n: number): Encoded => ({
    ids: new Int32Array(n).fill(5),
    typeIds: new Int32Array(n),
  });

  it("sorts by length, pads each batch to its longest, and remembers input positions", () => {
    const input = [enc(5), enc(2), enc(9), enc(3), enc(2)];
    const batches = planBatches(input, 2, 0);
    expect(batches.map((b) => Array.from(b.indices))).toEqual([[1, 4], [3, 0], [2]]);
    expect(batches.map((b) => b.seqLen)).toEqual([2, 5, 9]);
    const second = batches[1];
    expect(Array.from(second?.lengths ?? [])).toEqual([3, 5]);
    expect(Array.from(second?.ids ?? [])).toEqual([5, 5, 5, 0, 0, 5, 5, 5, 5, 5]);
  });

  it("lowers the batch size for long inputs", () => {
    const input = Array.from({ length: 40 }, () => enc(256));
    const batches = planBatches(input, 32, 0);
    const per = MAX_BATCH_CELLS / (256 * 256);
    expect(batches.every((b) => b.batch <= per)).toBe(true);
    expect(batches.reduce((a, b) => a + b.batch, 0)).toBe(40);
  });

  it("rejects a bad batch size", () => {
    expect(() => planBatches([enc(2)], 0)).toThrow(/batch size/);
  });
});
