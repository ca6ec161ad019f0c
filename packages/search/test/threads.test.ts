/**
 * Helper threads: a call split between threads gives the same bits as one thread, a helper never
 * keeps a process alive, and top-k with block maxima picks exactly what a plain scan picks.
 */
import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { initKernel, Projection } from "../src/index.js";
import { createEngine } from "../src/kernel.js";
import { TOP_BLOCK, topIndices } from "../src/topk.js";
import { randomMatrix, rng, scrambledIds } from "./helpers.js";

const cores = Math.min(availableParallelism(), 8);

beforeAll(async () => {
  // starts the helpers and waits until they run, so every large call below is split
  await initKernel();
});

function pair(
  heads: number,
  dims: number,
  seed: number,
  temperature = 0.1,
  withAdapter?: { blend: number },
) {
  const init = {
    mhProjectionId: 1,
    model: "m",
    temperature,
    clusterIds: scrambledIds(heads, seed),
    centroids: randomMatrix(heads, dims, seed + 1),
    answers: randomMatrix(heads, dims, seed + 2),
    adapter: withAdapter ? randomMatrix(dims, dims, seed + 3) : undefined,
    blend: withAdapter?.blend,
  };
  return {
    one: Projection.fromArrays({ ...init, threads: 1 }),
    many: Projection.fromArrays({ ...init, threads: "auto" }),
  };
}

const bits = (a: Float32Array) =>
  Array.from(new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength)));

describe("helper threads", () => {
  it("a large projection uses every core (at most 8), threads: 1 only the caller's", () => {
    const { one, many } = pair(2000, 384, 1);
    expect(one.threads).toBe(1);
    expect(many.threads).toBe(cores);
  });

  it("threads: must be auto or a positive integer", () => {
    const init = {
      mhProjectionId: 1,
      model: "m",
      temperature: 0.1,
      clusterIds: [1, 2],
      centroids: randomMatrix(2, 4, 1),
      answers: randomMatrix(2, 4, 2),
    };
    for (const threads of [0, -1, 1.5, Number.NaN]) {
      expect(() => Projection.fromArrays({ ...init, threads })).toThrow(
        /threads must be "auto" or an integer of at least 1/,
      );
    }
  });

  // sizes around the kernel's steps: rows % 8, the weighted-sum chunks (128 rows, at most 8), the
  // top-k blocks (64 values), d % 4; single queries split from 2 × 2^17 multiply-adds on
  for (const [heads, dims, adapter] of [
    [2000, 384, undefined],
    [4099, 131, undefined],
    [1025, 257, undefined],
    [30_011, 64, undefined],
    [2000, 384, { blend: 0.3 }],
    [1025, 257, { blend: 1 }],
    [4099, 131, { blend: 0 }],
  ] as const) {
    const what = adapter ? ` with W and β = ${adapter.blend}` : "";
    it(`${heads} heads × ${dims}${what}: project, search and direct search give the same bits on 1 and ${cores} threads`, () => {
      const { one, many } = pair(heads, dims, heads, 0.1, adapter);
      expect(many.adapter === null).toBe(adapter === undefined);
      const queries = randomMatrix(5, dims, 99);
      for (let i = 0; i < 5; i++) {
        const q = queries.subarray(i * dims, (i + 1) * dims);
        const a = one.project(q);
        const b = many.project(q);
        expect(bits(b.weights)).toEqual(bits(a.weights));
        expect(bits(b.projected)).toEqual(bits(a.projected));
        expect(many.search(q, { topK: 10, routingTop: 5 })).toEqual(
          one.search(q, { topK: 10, routingTop: 5 }),
        );
        expect(many.directSearch(q, { topK: 7 })).toEqual(one.directSearch(q, { topK: 7 }));
      }
    });
  }

  for (const [heads, dims, n, adapter] of [
    [100, 384, 32, undefined],
    [1000, 384, 45, undefined],
    [777, 33, 32, undefined],
    [12_345, 96, 7, undefined],
    [100, 384, 32, { blend: 0.5 }],
    [1000, 384, 45, { blend: 0.8 }],
    [777, 33, 32, { blend: 1 }],
  ] as const) {
    const what = adapter ? ` with W and β = ${adapter.blend}` : "";
    it(`${heads} heads × ${dims}${what}: a batch of ${n} gives the same results on 1 and ${cores} threads, and as its queries one by one`, () => {
      const { one, many } = pair(heads, dims, heads + 7, 0.05, adapter);
      const queries = randomMatrix(n, dims, 5);
      const expected = one.searchBatch(queries, { topK: 5, routingTop: 3 });
      expect(many.searchBatch(queries, { topK: 5, routingTop: 3 })).toEqual(expected);
      for (let i = 0; i < n; i++) {
        expect(
          many.search(queries.subarray(i * dims, (i + 1) * dims), { topK: 5, routingTop: 3 }),
        ).toEqual(expected[i]);
      }
      expect(many.directSearchBatch(queries, { topK: 4 })).toEqual(
        one.directSearchBatch(queries, { topK: 4 }),
      );
    });
  }

  it("every split of the kernel calls gives the same bits (engines forced to split small calls)", () => {
    const u = rng(3);
    for (const [heads, dims, n] of [
      [9, 5, 1],
      [17, 7, 3],
      [130, 12, 2],
      [257, 4, 5],
      [1031, 9, 4],
      [20, 67, 3],
    ] as const) {
      const engines = [1, 2, 3, 8].map((threads) =>
        createEngine(heads, dims, "wasm", { threads, minWorkPerThread: 1, adapter: true }),
      );
      const c = Float32Array.from({ length: heads * dims }, () => u() - 0.5);
      const a = Float32Array.from({ length: heads * dims }, () => u() - 0.5);
      const q = Float32Array.from({ length: n * dims }, () => u() - 0.5);
      const w = Float32Array.from({ length: dims * dims }, () => u() - 0.5);
      const results = engines.map((e) => {
        e.centroids.set(c);
        e.answers.set(a);
        e.queries.set(q);
        (e.adapter as Float32Array).set(w);
        // W q, the routing cosines of W q, then the cosines of q for the rest
        e.adapt(n);
        const routed = bits((e.routed as Float32Array).slice(0, n * dims));
        e.dots(0, 2, n);
        const routing = bits(e.scores.slice(0, n * heads));
        e.dots(0, 0, n);
        e.softmaxRows(n, 7.5);
        const weights = e.scores.slice(0, n * heads);
        e.weightedSums(n);
        const projected = e.projected.slice(0, n * dims);
        e.dots(1, 1, n);
        return [
          routed,
          routing,
          bits(weights),
          bits(projected),
          bits(e.scores.slice(0, n * heads)),
        ];
      });
      for (const r of results.slice(1)) expect(r).toEqual(results[0]);
    }
  });

  it("helper threads never keep a process alive", () => {
    const entry = fileURLToPath(new URL("../dist/index.js", import.meta.url));
    const script = `
      import { Projection, initKernel } from ${JSON.stringify(entry)};
      await initKernel();
      const H = 3000, d = 384;
      const m = Float32Array.from({ length: H * d }, (_, i) => Math.sin(i));
      const init = { mhProjectionId: 1, model: "m", temperature: 0.1,
        clusterIds: Array.from({ length: H }, (_, i) => i), centroids: m, answers: m };
      const p = Projection.fromArrays(init);
      const q = m.subarray(5 * d, 6 * d);
      const same = JSON.stringify(p.search(q)) ===
        JSON.stringify(Projection.fromArrays({ ...init, threads: 1 }).search(q));
      console.log(p.threads, same);
    `;
    const started = Date.now();
    const proc = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(proc.stderr).toBe("");
    expect(proc.status).toBe(0);
    expect(proc.stdout.trim()).toBe(`${cores} true`);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe("top-k with block maxima", () => {
  it("picks exactly what the plain scan picks: ties, signed zeros, short last blocks, every k", () => {
    const u = rng(11);
    for (const n of [1, 63, 64, 65, 255, 256, 1000, 4097]) {
      const values = new Float32Array(n + 64);
      const offset = 64 % n; // rows start anywhere in the array
      // few distinct values: many ties between heads
      for (let i = 0; i < values.length; i++) {
        const r = u();
        values[i] = r < 0.05 ? -0 : r < 0.1 ? 0 : Math.floor(r * 20) / 7;
      }
      const ids = Float64Array.from(scrambledIds(n, n));
      const blocks = new Float32Array(Math.ceil(n / TOP_BLOCK));
      for (let b = 0; b < blocks.length; b++) {
        let m = Number.NEGATIVE_INFINITY;
        for (let i = b * TOP_BLOCK; i < Math.min(n, (b + 1) * TOP_BLOCK); i++) {
          m = Math.max(m, values[offset + i] as number);
        }
        blocks[b] = m;
      }
      for (const k of [1, 3, 5, 16, 17, 40, n]) {
        expect(Array.from(topIndices(values, offset, n, k, ids, blocks))).toEqual(
          Array.from(topIndices(values, offset, n, k, ids)),
        );
      }
    }
  });

  it("the kernel's block maxima are the maxima of each 64 scores", () => {
    const heads = 1000;
    const e = createEngine(heads, 4, "wasm");
    const u = rng(5);
    for (let i = 0; i < heads; i++) e.scores[i] = u() * 2 - 1;
    const maxima = e.blockMax(0) as Float32Array;
    expect(maxima.length).toBe(Math.ceil(heads / TOP_BLOCK));
    for (let b = 0; b < maxima.length; b++) {
      const block = e.scores.slice(b * TOP_BLOCK, Math.min(heads, (b + 1) * TOP_BLOCK));
      expect(maxima[b]).toBe(Math.max(...block));
    }
  });
});
