/** Search behaviour through the public API, on both kernels. */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type KernelChoice, Projection, type ProjectionArrays, SearchError } from "../src/index.js";
import { randomMatrix, scrambledIds } from "./helpers.js";

const KERNELS = ["wasm", "js"] as const;

function random(heads: number, dims: number, seed: number, extra: Partial<ProjectionArrays> = {}) {
  return Projection.fromArrays({
    mhProjectionId: 1,
    model: "m",
    temperature: 0.1,
    clusterIds: scrambledIds(heads, seed),
    centroids: randomMatrix(heads, dims, seed + 1),
    answers: randomMatrix(heads, dims, seed + 2),
    ...extra,
  });
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SearchError);
    return (e as SearchError).code;
  }
  return undefined;
}

describe.each(KERNELS)("%s kernel", (kernel: KernelChoice) => {
  describe("ties are broken by the smaller cluster id", () => {
    it("equal answers rank by cluster id, whatever the head order", () => {
      const d = 12;
      const ids = [50, 10, 30, 20, 40];
      const same = randomMatrix(1, d, 5);
      const answers = ids.map(() => Float64Array.from(same));
      const p = Projection.fromArrays({
        mhProjectionId: 1,
        model: "m",
        temperature: 0.1,
        clusterIds: ids,
        centroids: ids.map((_, k) => randomMatrix(1, d, 10 + k)),
        answers,
        kernel,
      });
      const q = randomMatrix(1, d, 99);
      const { results } = p.search(q, { topK: 5 });
      expect(results.map((h) => h.clusterId)).toEqual([10, 20, 30, 40, 50]);
      expect(new Set(results.map((h) => h.score)).size).toBe(1);
      expect(results.map((h) => h.headIndex)).toEqual([1, 3, 2, 4, 0]);
      expect(p.directSearch(q, { topK: 3 }).results.map((h) => h.clusterId)).toEqual([10, 20, 30]);
    });

    it("equal centroids give equal routing weights, listed by cluster id", () => {
      const d = 9;
      const ids = [7, 3, 5];
      const c = randomMatrix(1, d, 1);
      const p = Projection.fromArrays({
        mhProjectionId: 1,
        model: "m",
        temperature: 0.5,
        clusterIds: ids,
        centroids: [c, c, c],
        answers: ids.map((_, k) => randomMatrix(1, d, 20 + k)),
        kernel,
      });
      const { routing } = p.search(randomMatrix(1, d, 2), { routingTop: 3 });
      expect(routing.map((r) => r.clusterId)).toEqual([3, 5, 7]);
      for (const r of routing) expect(r.weight).toBeCloseTo(1 / 3, 6);
    });

    it.each([
      [5, 400], // insertion selection
      [40, 1000], // heap
      [300, 1000], // full sort
    ])("topK %i of %i heads with groups of exact ties", (topK, heads) => {
      const d = 8;
      const ids = scrambledIds(heads, 3);
      // 10 distinct answer vectors, each shared by many heads
      const distinct = Array.from({ length: 10 }, (_, g) => randomMatrix(1, d, 300 + g));
      const answers = ids.map((_, k) => distinct[k % 10] as Float64Array);
      const p = Projection.fromArrays({
        mhProjectionId: 1,
        model: "m",
        temperature: 0.1,
        clusterIds: ids,
        centroids: randomMatrix(heads, d, 4),
        answers,
        kernel,
      });
      const q = randomMatrix(1, d, 5);
      for (const results of [p.search(q, { topK }).results, p.directSearch(q, { topK }).results]) {
        expect(results).toHaveLength(topK);
        // the expected order: all scores sorted by (score desc, id asc), from a full ranking
        const all = p.directSearch(q, { topK: heads }).results;
        expect(all).toHaveLength(heads);
        for (let i = 1; i < results.length; i++) {
          const a = results[i - 1] as { score: number; clusterId: number };
          const b = results[i] as { score: number; clusterId: number };
          expect(a.score > b.score || (a.score === b.score && a.clusterId < b.clusterId)).toBe(
            true,
          );
        }
      }
      // exact against a brute-force ranking of the same scores
      const full = p.search(q, { topK: heads }).results;
      const brute = [...full].sort((a, b) => b.score - a.score || a.clusterId - b.clusterId);
      expect(full).toEqual(brute);
      expect(p.search(q, { topK }).results).toEqual(brute.slice(0, topK));
    });
  });

  it("topK larger than H returns all H, best first", () => {
    const p = random(7, 10, 1, { kernel });
    const q = randomMatrix(1, 10, 2);
    const { results, routing } = p.search(q, { topK: 100, routingTop: 50 });
    expect(results).toHaveLength(7);
    expect(routing).toHaveLength(7);
    expect(new Set(results.map((h) => h.clusterId))).toEqual(new Set(p.clusterIds));
    for (let i = 1; i < 7; i++) {
      expect((results[i - 1] as { score: number }).score).toBeGreaterThanOrEqual(
        (results[i] as { score: number }).score,
      );
    }
    expect(p.directSearch(q, { topK: 8 }).results).toHaveLength(7);
  });

  it("defaults: topK 5, routingTop 3; routingTop 0 gives no routing", () => {
    const p = random(20, 6, 2, { kernel });
    const q = randomMatrix(1, 6, 3);
    const r = p.search(q);
    expect(r.results).toHaveLength(5);
    expect(r.routing).toHaveLength(3);
    expect(p.search(q, { routingTop: 0 }).routing).toEqual([]);
    expect(p.directSearch(q).results).toHaveLength(5);
  });

  it("routing reports the strongest weights of project()", () => {
    const p = random(50, 16, 4, { kernel });
    const q = randomMatrix(1, 16, 5);
    const { weights } = p.project(q);
    const { routing } = p.search(q, { routingTop: 4 });
    const sorted = [...weights].sort((a, b) => b - a);
    expect(routing.map((r) => r.weight)).toEqual(sorted.slice(0, 4));
    for (const r of routing) {
      expect(r.clusterId).toBe(p.clusterIds[r.headIndex]);
      expect(weights[r.headIndex]).toBe(r.weight);
    }
  });

  it("batch equals single, bit for bit, across chunk boundaries", () => {
    const heads = 300;
    const d = 40;
    const p = random(heads, d, 6, { kernel });
    const n = 71; // more than one chunk of 32, with an odd last chunk
    const flat = Float32Array.from(randomMatrix(n, d, 7));
    const rows = Array.from({ length: n }, (_, i) => flat.subarray(i * d, (i + 1) * d));
    const single = rows.map((q) => p.search(q, { topK: 7, routingTop: 4 }));
    expect(p.searchBatch(rows, { topK: 7, routingTop: 4 })).toEqual(single);
    expect(p.searchBatch(flat, { topK: 7, routingTop: 4 })).toEqual(single);
    const direct = rows.map((q) => p.directSearch(q, { topK: 7 }));
    expect(p.directSearchBatch(rows, { topK: 7 })).toEqual(direct);
    expect(p.directSearchBatch(flat, { topK: 7 })).toEqual(direct);
    expect(p.searchBatch([], {})).toEqual([]);
    expect(p.searchBatch(rows.slice(0, 1))).toEqual([p.search(rows[0] as Float32Array)]);
  });

  it("direct search ranks answers by cos(q, a_j)", () => {
    const heads = 40;
    const d = 24;
    const answers = randomMatrix(heads, d, 8);
    const p = random(heads, d, 8, { kernel, answers });
    const q = randomMatrix(1, d, 9);
    const qn = Math.hypot(...q);
    const { results } = p.directSearch(q, { topK: heads });
    for (const hit of results) {
      const a = answers.subarray(hit.headIndex * d, (hit.headIndex + 1) * d);
      let dot = 0;
      for (let j = 0; j < d; j++) dot += (a[j] as number) * (q[j] as number);
      expect(Math.abs(hit.score - dot / (Math.hypot(...a) * qn))).toBeLessThan(1e-6);
    }
  });

  it.each([1e-30, 0.01, 0.1, 10, 1e6])("temperature %s stays finite", (temperature) => {
    const p = random(200, 32, 10, { kernel, temperature });
    for (let i = 0; i < 5; i++) {
      const q = randomMatrix(1, 32, 20 + i);
      const { weights, projected } = p.project(q);
      let sum = 0;
      for (const w of weights) {
        expect(Number.isFinite(w)).toBe(true);
        expect(w).toBeGreaterThanOrEqual(0);
        sum += w;
      }
      expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
      expect(Math.abs(Math.hypot(...projected) - 1)).toBeLessThan(1e-5);
      for (const hit of p.search(q).results) expect(Number.isFinite(hit.score)).toBe(true);
      if (temperature === 1e-30) {
        // all weight on the best-matching head
        expect(Math.max(...weights)).toBe(1);
      }
      if (temperature === 1e6) {
        for (const w of weights) expect(Math.abs(w - 1 / 200)).toBeLessThan(1e-7);
      }
    }
  });

  it("returns fresh arrays and objects", () => {
    const p = random(30, 8, 11, { kernel });
    const q = randomMatrix(1, 8, 12);
    const a = p.project(q);
    const b = p.project(q);
    expect(a.weights).not.toBe(b.weights);
    a.weights.fill(0);
    a.projected.fill(0);
    expect(p.project(q)).toEqual(b);
    const r1 = p.search(q);
    const r2 = p.search(q);
    expect(r1).toEqual(r2);
    expect(r1.results).not.toBe(r2.results);
  });

  it("accepts number[] and Float64Array queries and row matrices", () => {
    const heads = 12;
    const d = 10;
    const c = randomMatrix(heads, d, 13);
    const a = randomMatrix(heads, d, 14);
    const ids = scrambledIds(heads, 15);
    const base = { mhProjectionId: 3, model: "m", temperature: 0.2, clusterIds: ids, kernel };
    const flat = Projection.fromArrays({ ...base, centroids: c, answers: a });
    const rows = Projection.fromArrays({
      ...base,
      centroids: Array.from({ length: heads }, (_, k) =>
        Array.from(c.subarray(k * d, (k + 1) * d)),
      ),
      answers: Array.from({ length: heads }, (_, k) =>
        Float64Array.from(a.subarray(k * d, (k + 1) * d)),
      ),
    });
    expect(rows.centroids).toEqual(flat.centroids);
    const q = randomMatrix(1, d, 16);
    const q32 = Float32Array.from(q);
    expect(rows.search(Array.from(q32))).toEqual(flat.search(q32));
    expect(flat.search(q)).toEqual(flat.search(Array.from(q)));
  });

  it("query errors", () => {
    const p = random(10, 8, 17, { kernel });
    expect(code(() => p.search(new Float32Array(9)))).toBe("DIMENSION_MISMATCH");
    expect(() => p.search(new Float32Array(9))).toThrow(
      "query has 9 values but the projection has 8 dimensions",
    );
    expect(code(() => p.project(new Float32Array(7)))).toBe("DIMENSION_MISMATCH");
    expect(code(() => p.directSearch(new Float32Array(8)))).toBe("ZERO_VECTOR");
    const nan = new Float32Array(8).fill(1);
    nan[3] = Number.NaN;
    expect(() => p.search(nan)).toThrow("query: value [3] is NaN");
    expect(code(() => p.search(nan))).toBe("NOT_FINITE");
    const ok = new Float32Array(8).fill(1);
    expect(() => p.searchBatch([ok, new Float32Array(5)])).toThrow(
      "queries[1] has 5 values but the projection has 8 dimensions",
    );
    expect(() => p.searchBatch([ok, ok, nan])).toThrow("queries[2]: value [3] is NaN");
    expect(code(() => p.directSearchBatch(new Float32Array(12)))).toBe("DIMENSION_MISMATCH");
    expect(code(() => p.searchBatch("abc" as unknown as Float32Array[]))).toBe("BAD_ARGUMENT");
    for (const topK of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(code(() => p.search(ok, { topK }))).toBe("BAD_ARGUMENT");
    }
    expect(code(() => p.search(ok, { routingTop: -1 }))).toBe("BAD_ARGUMENT");
    expect(code(() => p.directSearch(ok, { topK: 0 }))).toBe("BAD_ARGUMENT");
  });
});

describe("fromArrays", () => {
  const d = 6;
  const base = (): ProjectionArrays => ({
    mhProjectionId: 4,
    model: "all-MiniLM-L6-v2",
    temperature: 0.1,
    clusterIds: [5, 6, 7],
    centroids: randomMatrix(3, d, 1),
    answers: randomMatrix(3, d, 2),
  });

  it("normalizes rows into float32 matrices in head order", () => {
    const init = base();
    const p = Projection.fromArrays(init);
    expect(p.kernel).toBe("wasm-simd");
    expect(p.centroids).toBeInstanceOf(Float32Array);
    expect(p.centroids).toHaveLength(3 * d);
    const c = init.centroids as Float64Array;
    for (let k = 0; k < 3; k++) {
      const row = c.subarray(k * d, (k + 1) * d);
      const n = Math.hypot(...row);
      for (let j = 0; j < d; j++) {
        expect(p.centroids[k * d + j]).toBe(Math.fround((row[j] as number) / n));
      }
    }
    expect(p.mhProjectionId).toBe(4);
    expect(p.model).toBe("all-MiniLM-L6-v2");
    expect(p.clusterIds).toEqual([5, 6, 7]);
    expect(p.dimensions).toBe(d);
    expect(p.numHeads).toBe(3);
    expect(p.headIndex(6)).toBe(1);
    expect(p.headIndex(8)).toBeUndefined();
    expect(p.warnings).toEqual([]);
  });

  it.each([
    [{ clusterIds: [] }, "BAD_ARGUMENT", "at least one head"],
    [{ clusterIds: [1, 1, 2] }, "BAD_ARGUMENT", "cluster 1 twice"],
    [{ clusterIds: [1, -2, 3] }, "BAD_ARGUMENT", "clusterIds[1]"],
    [{ temperature: 0 }, "BAD_ARGUMENT", "temperature"],
    [{ temperature: Number.NaN }, "BAD_ARGUMENT", "temperature"],
    [{ temperature: 1e-40 }, "BAD_ARGUMENT", "overflows"],
    [{ mhProjectionId: -1 }, "BAD_ARGUMENT", "mhProjectionId"],
    [{ model: "" }, "BAD_ARGUMENT", "model"],
    [{ centroids: new Float32Array(17) }, "DIMENSION_MISMATCH", "17 values"],
    [
      { answers: randomMatrix(3, d + 1, 3) },
      "DIMENSION_MISMATCH",
      "centroids have 6 dimensions but answers have 7",
    ],
    [{ answers: [new Float32Array(d), new Float32Array(d)] }, "DIMENSION_MISMATCH", "2 rows"],
    [{ dimensions: 5 }, "DIMENSION_MISMATCH", "dimensions is 5"],
    [
      {
        answers: [
          [1, 2, 3, 4, 5, 6],
          [1, 2, 3, 4, 5, 6],
          [1, 2, 3],
        ],
      },
      "DIMENSION_MISMATCH",
      "answers[2] has 3 values",
    ],
    [{ centroids: "x" as unknown as Float32Array }, "BAD_ARGUMENT", "centroids must be"],
  ] as const)("rejects %j", (override, errorCode, message) => {
    const init = { ...base(), ...override } as ProjectionArrays;
    expect(code(() => Projection.fromArrays(init))).toBe(errorCode);
    expect(() => Projection.fromArrays(init)).toThrow(message);
  });

  it("names the head of a NaN or zero vector", () => {
    const c = randomMatrix(3, d, 1);
    c[2 * d + 4] = Number.NaN;
    expect(() => Projection.fromArrays({ ...base(), centroids: c })).toThrow(
      "centroids[2] (cluster 7): value [4] is NaN",
    );
    const a = randomMatrix(3, d, 2);
    a.fill(0, d, 2 * d);
    expect(() => Projection.fromArrays({ ...base(), answers: a })).toThrow(
      "answers[1] (cluster 6): the vector is all zeros",
    );
  });

  it("normalizes huge finite float64 values without overflow", () => {
    const c = randomMatrix(3, d, 1).map((v) => v * 1e200);
    const p = Projection.fromArrays({ ...base(), centroids: c });
    for (let k = 0; k < 3; k++) {
      expect(Math.hypot(...p.centroids.subarray(k * d, (k + 1) * d))).toBeCloseTo(1, 6);
    }
  });

  it("the WebAssembly and JavaScript kernels agree", () => {
    const heads = 500;
    const dims = 48;
    const w = random(heads, dims, 30, { kernel: "wasm" });
    const j = random(heads, dims, 30, { kernel: "js" });
    expect(w.kernel).toBe("wasm-simd");
    expect(j.kernel).toBe("js");
    expect(w.centroids).toEqual(j.centroids);
    for (let i = 0; i < 10; i++) {
      const q = randomMatrix(1, dims, 40 + i);
      const a = w.project(q);
      const b = j.project(q);
      for (let k = 0; k < heads; k++) {
        expect(Math.abs((a.weights[k] as number) - (b.weights[k] as number))).toBeLessThan(1e-6);
      }
      for (let k = 0; k < dims; k++) {
        expect(Math.abs((a.projected[k] as number) - (b.projected[k] as number))).toBeLessThan(
          1e-6,
        );
      }
      const sa = w.search(q, { topK: 10 });
      const sb = j.search(q, { topK: 10 });
      expect(sa.results.map((h) => h.clusterId)).toEqual(sb.results.map((h) => h.clusterId));
      expect(sa.routing.map((h) => h.clusterId)).toEqual(sb.routing.map((h) => h.clusterId));
      sa.results.forEach((h, n) => {
        expect(Math.abs(h.score - (sb.results[n] as { score: number }).score)).toBeLessThan(1e-6);
      });
    }
  });
});

it("src/kernel-wasm.ts is what src/kernel.wat assembles to", () => {
  const script = fileURLToPath(new URL("../scripts/build-wasm.mjs", import.meta.url));
  const proc = spawnSync(process.execPath, [script, "--check"], { encoding: "utf8" });
  expect(proc.stderr).toBe("");
  expect(proc.status).toBe(0);
});
