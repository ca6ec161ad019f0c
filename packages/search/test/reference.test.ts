/**
 * Agreement with a float64 NumPy reference of the same math (reference.py), on random data, for
 * both kernels: routing weights, projected (blended) vector, every score and the top-k order, to
 * 1e-5 — without and with a query adapter W (non-symmetric) and a blend β.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Projection, wasmKernelAvailable } from "../src/index.js";
import {
  expectSameRanking,
  maxAbsDiff,
  randomMatrix,
  saveMatrix,
  scrambledIds,
  tempDir,
} from "./helpers.js";
import { type ReferenceRequest, type ReferenceResult, runReference } from "./reference.js";

const TOL = 1e-5;
const TOP = 10;
const QUERIES = 3;
const SHAPES = [
  { heads: 1, dims: 8 },
  { heads: 5, dims: 2 },
  { heads: 9, dims: 3 },
  { heads: 3, dims: 13 },
  { heads: 18, dims: 384 },
  { heads: 37, dims: 7 },
  { heads: 65, dims: 30 },
  { heads: 300, dims: 384 },
  { heads: 1029, dims: 64 },
];
const TEMPERATURES = [0.01, 0.1, 1, 10];
/** Shapes that also run with an adapter and a blend, each in every variant below. */
const ADAPTER_SHAPES = [
  { heads: 1, dims: 8 },
  { heads: 5, dims: 2 },
  { heads: 9, dims: 3 },
  { heads: 18, dims: 384 },
  { heads: 65, dims: 30 },
  { heads: 300, dims: 384 },
];
const VARIANTS = [
  { adapter: true, blend: 1 },
  { adapter: true, blend: 0.25 },
  { adapter: true, blend: 0 },
  { adapter: false, blend: 0.6 },
];

interface Case {
  heads: number;
  dims: number;
  temperature: number;
  clusterIds: number[];
  centroids: Float64Array;
  answers: Float64Array;
  queries: Float64Array;
  /** W, d×d row-major, or undefined */
  adapter?: Float64Array;
  blend?: number;
  reference?: ReferenceResult[];
}

const dir = tempDir();
const cases: Case[] = [];
const requests: ReferenceRequest[] = [];
let seed = 1;
/** Adds a random case (an adapter and a blend when asked) and its NumPy reference request. */
function addCase(
  name: string,
  heads: number,
  dims: number,
  temperature: number,
  variant: { adapter?: boolean; blend?: number } = {},
): void {
  const c: Case = {
    heads,
    dims,
    temperature,
    clusterIds: scrambledIds(heads, seed),
    centroids: randomMatrix(heads, dims, seed++),
    answers: randomMatrix(heads, dims, seed++),
    queries: randomMatrix(QUERIES, dims, seed++),
    adapter: variant.adapter ? randomMatrix(dims, dims, seed++) : undefined,
    blend: variant.blend,
  };
  cases.push(c);
  requests.push({
    cmd: "arrays",
    centroids: saveMatrix(join(dir, `${name}_C.npy`), c.centroids, heads, dims),
    answers: saveMatrix(join(dir, `${name}_A.npy`), c.answers, heads, dims),
    queries: saveMatrix(join(dir, `${name}_Q.npy`), c.queries, QUERIES, dims),
    ...(c.adapter
      ? { adapter: saveMatrix(join(dir, `${name}_W.npy`), c.adapter, dims, dims) }
      : {}),
    ...(variant.blend === undefined ? {} : { blend: variant.blend }),
    cluster_ids: c.clusterIds,
    temperature,
    top_k: TOP,
  });
}
for (const { heads, dims } of SHAPES) {
  for (const temperature of TEMPERATURES) {
    addCase(`${heads}x${dims}_t${temperature}`, heads, dims, temperature);
  }
}
for (const { heads, dims } of ADAPTER_SHAPES) {
  VARIANTS.forEach((variant, v) => {
    const temperature = TEMPERATURES[(heads + v) % TEMPERATURES.length] as number;
    addCase(`${heads}x${dims}_v${v}`, heads, dims, temperature, variant);
  });
}
runReference(requests).forEach((r, i) => {
  (cases[i] as Case).reference = r;
});

it("runs the WebAssembly SIMD kernel in Node.js", () => {
  expect(wasmKernelAvailable()).toBe(true);
});

describe.each(["wasm", "js"] as const)(
  "%s kernel agrees with the float64 NumPy reference",
  (kernel) => {
    const label = (c: Case) =>
      `H=${c.heads} d=${c.dims} τ=${c.temperature}` +
      (c.adapter ? " with W" : "") +
      (c.blend !== undefined ? ` β=${c.blend}` : "");
    it.each(cases.map((c) => [label(c), c] as const))("%s", (_, c) => {
      const p = Projection.fromArrays({
        mhProjectionId: 7,
        model: "test-model",
        temperature: c.temperature,
        clusterIds: c.clusterIds,
        centroids: c.centroids,
        answers: c.answers,
        adapter: c.adapter,
        blend: c.blend,
        kernel,
      });
      expect(p.kernel).toBe(kernel === "wasm" ? "wasm-simd" : "js");
      expect(p.adapter === null).toBe(c.adapter === undefined);
      expect(p.blend).toBe(c.blend ?? 1);
      const reference = c.reference as ReferenceResult[];
      for (let i = 0; i < QUERIES; i++) {
        const q = c.queries.subarray(i * c.dims, (i + 1) * c.dims);
        const ref = reference[i] as ReferenceResult;
        const scoreOf = (scores: number[]) => (cid: number) =>
          scores[c.clusterIds.indexOf(cid)] as number;

        const { weights, projected } = p.project(q);
        expect(maxAbsDiff(weights, ref.weights)).toBeLessThan(TOL);
        expect(maxAbsDiff(projected, ref.projected)).toBeLessThan(TOL);

        // every score, through topK = H
        const all = p.search(q, { topK: c.heads, routingTop: c.heads });
        expect(all.results).toHaveLength(c.heads);
        for (const hit of all.results) {
          expect(hit.clusterId).toBe(c.clusterIds[hit.headIndex]);
          expect(Math.abs(hit.score - (ref.scores[hit.headIndex] as number))).toBeLessThan(TOL);
        }
        for (const r of all.routing) {
          expect(Math.abs(r.weight - (ref.weights[r.headIndex] as number))).toBeLessThan(TOL);
        }
        const top = p.search(q, { topK: TOP });
        expectSameRanking(
          top.results.map((h) => h.clusterId),
          ref.order,
          scoreOf(ref.scores),
        );

        const direct = p.directSearch(q, { topK: c.heads });
        for (const hit of direct.results) {
          expect(Math.abs(hit.score - (ref.direct_scores[hit.headIndex] as number))).toBeLessThan(
            TOL,
          );
        }
        expectSameRanking(
          p.directSearch(q, { topK: TOP }).results.map((h) => h.clusterId),
          ref.direct_order,
          scoreOf(ref.direct_scores),
        );
      }
      // a batch gives what the queries give one by one, bit for bit
      const batch = p.searchBatch(c.queries, { topK: c.heads, routingTop: c.heads });
      for (let i = 0; i < QUERIES; i++) {
        const q = c.queries.subarray(i * c.dims, (i + 1) * c.dims);
        expect(batch[i]).toEqual(p.search(q, { topK: c.heads, routingTop: c.heads }));
      }
    });
  },
);

it("covers the adapter and blend variants", () => {
  expect(cases.filter((c) => c.adapter !== undefined && c.blend !== 1).length).toBeGreaterThan(8);
  expect(cases.filter((c) => c.adapter === undefined && c.blend !== undefined).length).toBe(
    ADAPTER_SHAPES.length,
  );
});
