import { describe, expect, it } from "vitest";
import { Projection } from "../src/index.js";
import { randomMatrix, scrambledIds } from "./helpers.js";

/**
 * Search refuses NaN vectors on the way in, so the NaN scores here come from answers overwritten
 * in place after loading (the projection's matrices are views of the engine's memory): the
 * nearest a damaged projection can get to the ranking code.
 */
describe.each(["wasm", "js"] as const)("NaN scores on the %s kernel", (kernel) => {
  const heads = 300; // ≥ 4 × 64: the wasm kernel hands block maxima to top-k
  const d = 8;
  const ids = scrambledIds(heads, 7);
  const projection = Projection.fromArrays({
    mhProjectionId: 1,
    model: "m",
    temperature: 0.1,
    clusterIds: ids,
    centroids: randomMatrix(heads, d, 1),
    answers: randomMatrix(heads, d, 2),
    kernel,
  });
  const query = Array.from(randomMatrix(1, d, 3));
  const before = projection.directSearch(query, { topK: heads }).results;
  // Damage the best, a middle and the worst head, and one in the first block.
  const damaged = new Set([
    before[0]?.headIndex,
    before[150]?.headIndex,
    before[heads - 1]?.headIndex,
    3,
  ] as number[]);
  for (const k of damaged) projection.answers[k * d] = Number.NaN;

  it.each([1, 3, 16, 20, 100, heads])("top-%i never ranks a NaN above a number", (topK) => {
    const results = projection.directSearch(query, { topK }).results;
    const batch = projection.directSearchBatch([query, query], { topK });
    expect(batch[1]?.results).toEqual(results);
    expect(results).toHaveLength(topK);
    const firstNaN = results.findIndex((r) => Number.isNaN(r.score));
    const numbers = firstNaN === -1 ? results : results.slice(0, firstNaN);
    // the numbers are the best of the undamaged heads, in the order they had
    const expected = before.filter((r) => !damaged.has(r.headIndex)).slice(0, numbers.length);
    expect(numbers.map((r) => r.headIndex)).toEqual(expected.map((r) => r.headIndex));
    if (firstNaN !== -1) {
      const nans = results.slice(firstNaN);
      expect(nans.every((r) => Number.isNaN(r.score))).toBe(true);
      expect(firstNaN).toBe(heads - damaged.size);
      // NaNs among themselves: by cluster id
      const nanIds = nans.map((r) => r.clusterId);
      expect(nanIds).toEqual([...nanIds].sort((a, b) => a - b));
    }
  });
});
