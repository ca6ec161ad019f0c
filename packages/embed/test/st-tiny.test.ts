/**
 * Small random BERT models in the sentence-transformers layout (the real tokenizer, random
 * weights): every pooling mode, Normalize on and off, float16 / bfloat16 weights, a `bert.`
 * weight prefix, against the independent float64 reference; and memory that stays flat over
 * tens of thousands of texts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { getTf } from "@ldakit/tf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSentenceTransformerFromDir } from "../src/st/index.js";
import {
  cosine,
  exactnessTexts,
  makeTinyModel,
  maxAbsDiff,
  pythonReference,
  rng,
  sharedModelDir,
  type TinyModelOptions,
} from "./st-helpers.js";

let realDir: string;
let tmp: string;

beforeAll(async () => {
  realDir = await sharedModelDir();
  tmp = mkdtempSync(path.join(os.tmpdir(), "ldakit-tiny-"));
}, 600_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const texts = exactnessTexts().filter((_, i) => i % 3 === 0);

async function compare(name: string, opts: TinyModelOptions, dims: number) {
  const dir = path.join(tmp, name);
  makeTinyModel(dir, realDir, opts);
  const e = await loadSentenceTransformerFromDir(dir, { threads: 0, batchSize: 8 });
  try {
    expect(e.dimensions).toBe(dims);
    const [ours, ref] = await Promise.all([e.embed(texts), pythonReference(dir, texts)]);
    let minCos = 1;
    let maxDelta = 0;
    for (const [i, v] of ours.entries()) {
      const rv = ref.vectors[i] as number[];
      expect(v.length).toBe(dims);
      minCos = Math.min(minCos, cosine(v, rv));
      // Relative to the vector's scale (unnormalized pooling can be large).
      const scale = Math.max(1, ...rv.map(Math.abs));
      maxDelta = Math.max(maxDelta, maxAbsDiff(v, rv) / scale);
    }
    expect(minCos).toBeGreaterThanOrEqual(0.99999);
    expect(maxDelta).toBeLessThanOrEqual(1e-4);
    return ours;
  } finally {
    await e.dispose();
  }
}

describe("tiny BERT models against the float64 reference", () => {
  it("mean pooling + Normalize, float32", async () => {
    await compare("mean-f32", { pooling: { mean: true } }, 32);
  }, 300_000);

  it("cls pooling, no Normalize, float16 weights, maxSeqLength 16", async () => {
    await compare(
      "cls-f16",
      { pooling: { cls: true }, normalize: false, dtype: "F16", maxSeqLength: 16 },
      32,
    );
  }, 300_000);

  it("max pooling, no Normalize", async () => {
    await compare("max", { pooling: { max: true }, normalize: false, seed: 3 }, 32);
  }, 300_000);

  it("mean_sqrt_len pooling, `bert.` prefixed weights, 3 layers", async () => {
    await compare(
      "sqrt",
      { pooling: { meanSqrt: true }, normalize: false, prefix: "bert.", layers: 3 },
      32,
    );
  }, 300_000);

  it("several pooling modes concatenated in sentence-transformers' order (cls, max, mean)", async () => {
    await compare(
      "multi",
      { pooling: { cls: true, mean: true, max: true }, hidden: 16, heads: 2 },
      48,
    );
  }, 300_000);
});

describe("weight dtypes", () => {
  it("bfloat16 weights give exactly the vectors of the same values stored as float32", async () => {
    const a = path.join(tmp, "bf16");
    const b = path.join(tmp, "bf16-as-f32");
    makeTinyModel(a, realDir, { dtype: "BF16", seed: 11 });
    makeTinyModel(b, realDir, { dtype: "F32", roundTo: "BF16", seed: 11 });
    const ea = await loadSentenceTransformerFromDir(a, { threads: 0 });
    const eb = await loadSentenceTransformerFromDir(b, { threads: 0 });
    const sample = texts.slice(0, 20);
    const [va, vb] = [await ea.embed(sample), await eb.embed(sample)];
    for (const [i, v] of va.entries())
      expect(Array.from(v)).toEqual(Array.from(vb[i] as Float32Array));
    await ea.dispose();
    await eb.dispose();
  }, 300_000);

  it("float64 weights are read (converted to float32)", async () => {
    const a = path.join(tmp, "f64");
    makeTinyModel(a, realDir, { dtype: "F64", seed: 5 });
    const e = await loadSentenceTransformerFromDir(a, { threads: 0 });
    const [v] = await e.embed(["hello"]);
    expect(v?.length).toBe(32);
    await e.dispose();
  }, 300_000);
});

describe("memory", () => {
  it("tf.memory() is the same after every batch of 100 000 texts", async () => {
    const dir = path.join(tmp, "memory");
    makeTinyModel(dir, realDir, { hidden: 16, heads: 2, layers: 1, intermediate: 32 });
    const { tf } = await getTf();
    const before = tf.memory();
    const e = await loadSentenceTransformerFromDir(dir, { threads: 0, batchSize: 32 });
    const loaded = tf.memory();
    expect(loaded.numTensors).toBeGreaterThan(before.numTensors); // the weights
    const r = rng(99);
    const words = ["alpha", "beta", "gamma", "delta", "語", "😀", "é", "x"];
    const many = Array.from({ length: 100_000 }, () =>
      Array.from(
        { length: 1 + Math.floor(r() * 40) },
        () => words[Math.floor(r() * words.length)],
      ).join(" "),
    );
    const seen = new Set<string>();
    let batches = 0;
    const out = await e.embed(many, {
      onProgress: () => {
        const m = tf.memory();
        seen.add(`${m.numTensors}/${m.numBytes}`);
        batches++;
      },
    });
    expect(out).toHaveLength(100_000);
    expect(batches).toBe(Math.ceil(100_000 / 32));
    // Every batch ends with exactly the weights on the engine: nothing accumulates.
    expect([...seen]).toEqual([`${loaded.numTensors}/${loaded.numBytes}`]);
    await e.dispose();
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
  }, 600_000);
});
