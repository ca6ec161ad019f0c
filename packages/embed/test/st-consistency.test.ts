/**
 * A text's vector does not depend on its batch, its padding, the thread it runs on or the
 * TensorFlow.js backend; worker threads keep their memory flat. The configurations are compared
 * on each backend this machine runs (wasm always; tensorflow when tfjs-node's native addon loads —
 * skipped with the reason otherwise, a failure when LDAKIT_REQUIRE_TF_BACKENDS names it), forced
 * in the embedder's worker threads.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tfBackendPlan } from "../../../tools/tf-backends.mjs";
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

const plan = await tfBackendPlan(["wasm", "tensorflow"]);
let dir: string;
let worker: { script: string; cleanup: () => Promise<void> };
/** The cpu backend in a worker thread: the slow, plain reference every backend is compared to. */
let cpu: SentenceTransformerEmbedder;

// A mix of lengths, so that batches pad a lot (short texts next to long ones).
const all = exactnessTexts();
const texts = [...all.slice(0, 24), ...all.slice(190, 192)];
const few = ["The weather is lovely today.", "", "Café 😀 日本語", "He drove to the stadium."];

beforeAll(async () => {
  [dir, worker] = await Promise.all([sharedModelDir(), compiledWorker()]);
  cpu = await loadSentenceTransformerFromDir(dir, {
    threads: 1,
    backend: "cpu",
    workerScript: worker.script,
  });
}, 600_000);

afterAll(async () => {
  await cpu?.dispose();
  await worker?.cleanup();
});

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  for (const [i, v] of a.entries()) m = Math.max(m, maxAbsDiff(v, b[i] as Float32Array));
  return m;
}

for (const b of plan) {
  if (b.missing) {
    describe(`TensorFlow.js ${b.name} backend`, () => {
      it("loads (LDAKIT_REQUIRE_TF_BACKENDS names it)", () => {
        throw new Error(`the ${b.name} backend is required but does not load: ${b.reason}`);
      });
    });
  }
  const title = b.run ? `on ${b.description}` : `on ${b.name} — skipped: ${b.reason}`;
  describe.skipIf(!b.run)(title, () => {
    const label = b.name === "tensorflow" ? "tfjs-node" : "tfjs-wasm";
    /** One worker thread, batches of 64: what the other configurations are compared with. */
    let single: SentenceTransformerEmbedder;

    beforeAll(async () => {
      single = await loadSentenceTransformerFromDir(dir, {
        threads: 1,
        batchSize: 64,
        backend: b.request,
        workerScript: worker.script,
      });
    }, 600_000);

    afterAll(async () => {
      await single?.dispose();
    });

    describe("batch and padding independence", () => {
      it("one text alone, in a batch of 64, in batches of 7, in reverse order: ≤ 1e-5", async () => {
        expect(single.backend).toBe(label);
        const alone: Float32Array[] = [];
        for (const t of texts) alone.push(...(await single.embed([t])));
        const together = await single.embed(texts);
        const reversed = (await single.embed([...texts].reverse())).reverse();
        const small = await loadSentenceTransformerFromDir(dir, {
          threads: 1,
          batchSize: 7,
          backend: b.request,
          workerScript: worker.script,
        });
        const sevens = await small.embed(texts);
        await small.dispose();
        const d = Math.max(
          maxDiff(alone, together),
          maxDiff(alone, reversed),
          maxDiff(alone, sevens),
        );
        console.log(`batch/padding independence on ${b.name}: max |Δ| ${d.toExponential(3)}`);
        expect(d).toBeLessThanOrEqual(1e-5);
      }, 600_000);

      it("duplicates in one call give the same vector", async () => {
        const [x, y, z] = await single.embed([
          "same text",
          "a much longer text that pads the batch a lot more",
          "same text",
        ]);
        expect(maxAbsDiff(x as Float32Array, z as Float32Array)).toBeLessThanOrEqual(1e-6);
        expect(cosine(x as Float32Array, y as Float32Array)).toBeLessThan(0.99);
      }, 60_000);
    });

    describe("worker threads", () => {
      let pool: PooledSentenceTransformerEmbedder;

      beforeAll(async () => {
        pool = (await loadSentenceTransformerFromDir(dir, {
          threads: 2,
          batchSize: 4,
          backend: b.request,
          workerScript: worker.script,
        })) as PooledSentenceTransformerEmbedder;
      }, 600_000);

      afterAll(async () => {
        await pool?.dispose();
      });

      it("two workers give one worker's vectors, in input order", async () => {
        expect(pool.threads).toBe(2);
        expect(pool.dimensions).toBe(384);
        expect(pool.backend).toBe(label);
        const [x, y] = await Promise.all([pool.embed(texts), single.embed(texts)]);
        expect(x).toHaveLength(texts.length);
        expect(maxDiff(x, y)).toBeLessThanOrEqual(1e-5);
      }, 600_000);

      it("concurrent calls are answered separately and correctly", async () => {
        const [x, y] = await Promise.all([
          pool.embed(texts.slice(0, 5)),
          pool.embed(texts.slice(5, 9)),
        ]);
        const ref = await single.embed(texts.slice(0, 9));
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
          backend: b.request,
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

    it("the cpu backend gives this backend's vectors (≤ 1e-4)", async () => {
      expect(cpu.backend).toBe("tfjs-cpu");
      const [c, x] = await Promise.all([cpu.embed(few), single.embed(few)]);
      const d = maxDiff(c, x);
      console.log(`cpu vs ${b.name}: max |Δ| ${d.toExponential(3)}`);
      expect(d).toBeLessThanOrEqual(1e-4);
    }, 600_000);
  });
}

describe("the calling thread (threads: 0)", () => {
  it("gives a worker thread's vectors on the backend it chose", async () => {
    // The calling thread's engine picks its backend once (auto or LDAKIT_TF_BACKEND); a worker
    // forced to the same backend must agree with it.
    const local = await loadSentenceTransformerFromDir(dir, { threads: 0, batchSize: 64 });
    try {
      const request =
        local.backend === "tfjs-node" ? "node" : local.backend === "tfjs-cpu" ? "cpu" : "wasm";
      const w = await loadSentenceTransformerFromDir(dir, {
        threads: 1,
        batchSize: 7,
        backend: request,
        workerScript: worker.script,
      });
      try {
        expect(w.backend).toBe(local.backend);
        const [x, y] = await Promise.all([local.embed(texts), w.embed(texts)]);
        const d = maxDiff(x, y);
        console.log(
          `threads: 0 (${local.backend}) vs a worker thread: max |Δ| ${d.toExponential(3)}`,
        );
        expect(d).toBeLessThanOrEqual(1e-5);
      } finally {
        await w.dispose();
      }
    } finally {
      await local.dispose();
    }
  }, 600_000);
});

const tensorflow = plan.find((b) => b.name === "tensorflow");
describe("a forced backend that does not load", () => {
  it.skipIf(tensorflow?.run === true)(
    tensorflow?.run === true
      ? "fails the load with its reason — skipped: the tensorflow backend loads on this machine"
      : "fails the load with its reason",
    async () => {
      await expect(
        loadSentenceTransformerFromDir(dir, {
          threads: 1,
          backend: "node",
          workerScript: worker.script,
        }),
      ).rejects.toThrow(/tfjs-node/);
    },
    600_000,
  );
});
