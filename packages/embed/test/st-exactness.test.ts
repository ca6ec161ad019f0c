/**
 * The TensorFlow.js sentence-transformers embedder against an independent float64 NumPy forward
 * pass of the same folder (test/python/reference_embed.py), and against the published example.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  loadSentenceTransformerFromDir,
  type SentenceTransformerEmbedder,
} from "../src/st/index.js";
import {
  compiledWorker,
  cosine,
  exactnessTexts,
  maxAbsDiff,
  pythonReference,
  type Reference,
  sharedModelDir,
} from "./st-helpers.js";

let dir: string;
let worker: { script: string; cleanup: () => Promise<void> };
let embedder: SentenceTransformerEmbedder;
const texts = exactnessTexts();
let reference: Reference;
let vectors: Float32Array[];

beforeAll(async () => {
  [dir, worker] = await Promise.all([sharedModelDir(), compiledWorker()]);
  // The default configuration: two worker threads, batches of 32.
  embedder = await loadSentenceTransformerFromDir(dir, {
    workerScript: worker.script,
    name: "all-MiniLM-L6-v2",
  });
  [reference, vectors] = await Promise.all([pythonReference(dir, texts), embedder.embed(texts)]);
}, 600_000);

afterAll(async () => {
  await embedder?.dispose();
  await worker?.cleanup();
});

describe("all-MiniLM-L6-v2 on TensorFlow.js", () => {
  it("describes itself", () => {
    expect(embedder.name).toBe("all-MiniLM-L6-v2");
    expect(embedder.dimensions).toBe(384);
    expect(embedder.maxSeqLength).toBe(256);
    expect(embedder.backend).toMatch(/^tfjs-(wasm|node|cpu)$/);
  });

  it("covers what the exactness test must cover", () => {
    expect(texts.length).toBeGreaterThanOrEqual(200);
    expect(texts).toContain("");
    const counts = embedder.countTokens(texts);
    expect(counts.filter((n) => n === 256).length).toBeGreaterThanOrEqual(10); // truncated ones
    expect(Math.min(...counts)).toBe(2); // [CLS] [SEP]
    for (const re of [
      /[\u4e00-\u9fff]/,
      /[\u0600-\u06ff]/,
      /[\u0400-\u04ff]/,
      /\p{Extended_Pictographic}/u,
      /é/,
    ]) {
      expect(texts.some((t) => re.test(t))).toBe(true);
    }
  });

  it("tokenizes exactly as Python's tokenizers (truncation at max_seq_length, no padding)", () => {
    // The folder's tokenizer.json asks for padding to 128 and truncation at 128: both ignored,
    // truncation at sentence_bert_config.json's 256.
    const ours = embedder.countTokens(texts);
    expect(ours).toEqual(reference.ids.map((ids) => ids.length));
  });

  it("matches the float64 reference on every text: cosine ≥ 0.99999, max |Δ| ≤ 1e-4", () => {
    expect(vectors).toHaveLength(texts.length);
    let minCos = 1;
    let maxDelta = 0;
    const bad: string[] = [];
    for (const [i, v] of vectors.entries()) {
      const ref = reference.vectors[i] as number[];
      expect(v).toBeInstanceOf(Float32Array);
      expect(v.length).toBe(384);
      const c = cosine(v, ref);
      const d = maxAbsDiff(v, ref);
      minCos = Math.min(minCos, c);
      maxDelta = Math.max(maxDelta, d);
      if (!(c >= 0.99999 && d <= 1e-4))
        bad.push(`#${i} cos=${c} maxΔ=${d} ${JSON.stringify(texts[i]?.slice(0, 60))}`);
    }
    // Printed for the record (the closing note quotes these).
    console.log(
      `exactness vs float64 reference (${texts.length} texts, numpy ${reference.versions.numpy}, ` +
        `tokenizers ${reference.versions.tokenizers}): min cosine ${minCos.toFixed(12)} (1 − cos = ${(1 - minCos).toExponential(2)}), max |Δ| ${maxDelta.toExponential(3)}`,
    );
    expect(bad).toEqual([]);
  });

  it("gives the sentence-transformers README's published similarities", async () => {
    const [a, b, c] = await embedder.embed([
      "The weather is lovely today.",
      "It's so sunny outside!",
      "He drove to the stadium.",
    ]);
    expect(Math.abs(cosine(a as Float32Array, b as Float32Array) - 0.666)).toBeLessThanOrEqual(
      1e-3,
    );
    expect(Math.abs(cosine(a as Float32Array, c as Float32Array) - 0.1046)).toBeLessThanOrEqual(
      1e-3,
    );
    expect(Math.abs(cosine(b as Float32Array, c as Float32Array) - 0.1411)).toBeLessThanOrEqual(
      1e-3,
    );
  });

  it("returns unit vectors (Normalize is listed in modules.json)", () => {
    for (const v of vectors) expect(Math.abs(Math.hypot(...v) - 1)).toBeLessThan(1e-5);
  });

  it("returns an empty list for no texts", async () => {
    expect(await embedder.embed([])).toEqual([]);
  });
});
