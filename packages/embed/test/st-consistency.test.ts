/**
 * A text's vector does not depend on its batch, its padding, the thread it runs on or the
 * TensorFlow.js backend; worker threads keep their memory flat.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  loadSentenceTransformerFromDir,
  type PooledSentenceTransformerEmbedder,
  type SentenceTransformerEmbedder,
} from "../src/st/index.js";
import {
  compiledWorker,
  cosine,
  exactnessTexts,
  maxAbsDiff,
  sharedModelDir,
} from "./st-helpers.js";

let dir: string;
let worker: { script: string; cleanup: () => Promise<void> };
let local: SentenceTransformerEmbedder;

// A mix of lengths, so that batches pad a lot (short texts next to long ones).
const all = exactnessTexts();
const texts = [...all.slice(0, 24), ...all.slice(190, 192)];

beforeAll(async () => {
  [dir, worker] = await Promise.all([sharedModelDir(), compiledWorker()]);
  local = await loadSentenceTransformerFromDir(dir, { threads: 0, batchSize: 64 });
}, 600_000);

afterAll(async () => {
  await local?.dispose();
  await worker?.cleanup();
});

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  for (const [i, v] of a.entries()) m = Math.max(m, maxAbsDiff(v, b[i] as Float32Array));
  return m;
}

describe("batch and padding independence", () => {
  it("one text alone, in a batch of 64, in batches of 7, in reverse order: ≤ 1e-5", async () => {
    const alone: Float32Array[] = [];
    for (const t of texts) alone.push(...(await local.embed([t])));
    const together = await local.embed(texts);
    const reversed = (await local.embed([...texts].reverse())).reverse();
    const small = await loadSentenceTransformerFromDir(dir, { threads: 0, batchSize: 7 });
    const sevens = await small.embed(texts);
    await small.dispose();
    const d = Math.max(maxDiff(alone, together), maxDiff(alone, reversed), maxDiff(alone, sevens));
    console.log(`batch/padding independence: max |Δ| ${d.toExponential(3)}`);
    expect(d).toBeLessThanOrEqual(1e-5);
  }, 600_000);

  it("duplicates in one call give the same vector", async () => {
    const [a, b, c] = await local.embed([
      "same text",
      "a much longer text that pads the batch a lot more",
      "same text",
    ]);
    expect(maxAbsDiff(a as Float32Array, c as Float32Array)).toBeLessThanOrEqual(1e-6);
    expect(cosine(a as Float32Array, b as Float32Array)).toBeLessThan(0.99);
  }, 60_000);
});

describe("worker threads", () => {
  let pool: PooledSentenceTransformerEmbedder;

  beforeAll(async () => {
    pool = (await loadSentenceTransformerFromDir(dir, {
      threads: 2,
      batchSize: 4,
      workerScript: worker.script,
    })) as PooledSentenceTransformerEmbedder;
  }, 600_000);

  afterAll(async () => {
    await pool?.dispose();
  });

  it("two workers give the vectors of this thread, in input order", async () => {
    expect(pool.threads).toBe(2);
    expect(pool.dimensions).toBe(384);
    expect(pool.backend).toBe(local.backend);
    const [a, b] = await Promise.all([pool.embed(texts), local.embed(texts)]);
    expect(a).toHaveLength(texts.length);
    expect(maxDiff(a, b)).toBeLessThanOrEqual(1e-5);
  }, 600_000);

  it("concurrent calls are answered separately and correctly", async () => {
    const [x, y] = await Promise.all([
      pool.embed(texts.slice(0, 5)),
      pool.embed(texts.slice(5, 9)),
    ]);
    const ref = await local.embed(texts.slice(0, 9));
    expect(maxDiff([...x, ...y], ref)).toBeLessThanOrEqual(1e-5);
  }, 600_000);

  it("workers' tf.memory() does not grow with the number of texts", async () => {
    await pool.embed(texts.slice(0, 3));
    const m0 = await pool.workerMemory();
    expect(m0).toHaveLength(2);
    for (let round = 0; round < 3; round++) await pool.embed(texts.slice(0, 12));
    const m1 = await pool.workerMemory();
    expect(m1).toEqual(m0);
  }, 600_000);

  it("reports progress and can be disposed twice", async () => {
    const p = await loadSentenceTransformerFromDir(dir, {
      threads: 1,
      batchSize: 2,
      workerScript: worker.script,
    });
    const seen: number[] = [];
    await p.embed(texts.slice(0, 5), {
      onProgress: (done, total) => seen.push(done * 100 + total),
    });
    expect(seen.at(-1)).toBe(505);
    await p.dispose();
    await p.dispose();
    await expect(p.embed(["x"])).rejects.toThrow(/disposed/);
  }, 600_000);
});

describe("backends", () => {
  it("the cpu backend gives the wasm backend's vectors (≤ 1e-4)", async () => {
    // A worker thread has its own TensorFlow.js engine, so it can run another backend.
    const cpu = await loadSentenceTransformerFromDir(dir, {
      threads: 1,
      backend: "cpu",
      workerScript: worker.script,
    });
    try {
      expect(cpu.backend).toBe("tfjs-cpu");
      const few = [
        "The weather is lovely today.",
        "",
        "Café 😀 日本語",
        "He drove to the stadium.",
      ];
      const [c, w] = await Promise.all([cpu.embed(few), local.embed(few)]);
      const d = maxDiff(c, w);
      console.log(`cpu vs ${local.backend}: max |Δ| ${d.toExponential(3)}`);
      expect(d).toBeLessThanOrEqual(1e-4);
    } finally {
      await cpu.dispose();
    }
  }, 600_000);

  it("a forced backend that does not load fails the load with its reason", async () => {
    // tfjs-node's native addon is not built on machines without libtensorflow.
    const { existsSync, readdirSync } = await import("node:fs");
    const { createRequire } = await import("node:module");
    const path = await import("node:path");
    let addon = false;
    try {
      const req = createRequire(new URL("../../tf/package.json", import.meta.url));
      const lib = path.join(path.dirname(req.resolve("@tensorflow/tfjs-node/package.json")), "lib");
      addon =
        existsSync(lib) &&
        readdirSync(lib).some((d) => existsSync(path.join(lib, d, "tfjs_binding.node")));
    } catch {
      addon = false;
    }
    if (addon) return;
    await expect(
      loadSentenceTransformerFromDir(dir, {
        threads: 1,
        backend: "node",
        workerScript: worker.script,
      }),
    ).rejects.toThrow(/tfjs-node/);
  }, 600_000);
});
