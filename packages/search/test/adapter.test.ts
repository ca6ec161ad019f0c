/** The query adapter W and the blend β through the public API, on both kernels. */
import { describe, expect, it } from "vitest";
import { Projection, type ProjectionArrays, SearchError } from "../src/index.js";
import { randomMatrix, scrambledIds } from "./helpers.js";

const BASE = {
  mhProjectionId: 1,
  model: "m",
  temperature: 0.1,
};

function random(heads: number, dims: number, seed: number, extra: Partial<ProjectionArrays> = {}) {
  return Projection.fromArrays({
    ...BASE,
    clusterIds: scrambledIds(heads, seed),
    centroids: randomMatrix(heads, dims, seed + 1),
    answers: randomMatrix(heads, dims, seed + 2),
    ...extra,
  });
}

function thrown(fn: () => unknown): SearchError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SearchError);
    return e as SearchError;
  }
  throw new Error("expected a SearchError, nothing was thrown");
}

const norm = (v: ArrayLike<number>) => Math.hypot(...Array.from(v));

describe.each(["wasm", "js"] as const)("%s kernel", (kernel) => {
  it("keeps W as given (row-major, rows = W[i, :]) and β; rows and flat arrays are the same W", () => {
    const rows = [
      [1, 2, 0],
      [0, 1, 0],
      [3, 0, 1],
    ];
    const a = random(4, 3, 1, { kernel, adapter: rows, blend: 0.25 });
    const b = random(4, 3, 1, { kernel, adapter: Float64Array.from(rows.flat()), blend: 0.25 });
    expect(Array.from(a.adapter as Float32Array)).toEqual(rows.flat());
    expect(a.blend).toBe(0.25);
    expect(b.adapter).toEqual(a.adapter);
    const q = [0.3, -0.2, 0.9];
    expect(b.project(q)).toEqual(a.project(q));
    const plain = random(4, 3, 1, { kernel });
    expect(plain.adapter).toBeNull();
    expect(plain.blend).toBe(1);
  });

  it("routes by W q̂, not by Wᵀ q̂ (the orientation of the C-order matrix)", () => {
    // W sends e0 to e1: the query e0 routes to the head whose centroid is e1
    const init = {
      ...BASE,
      kernel,
      clusterIds: [10, 20],
      centroids: [
        [1, 0, 0],
        [0, 1, 0],
      ],
      answers: [
        [0, 0, 1],
        [0, 1, 1],
      ],
      adapter: [
        [0, 0, 0],
        [1, 0, 0],
        [0, 0, 1],
      ],
    };
    const p = Projection.fromArrays(init);
    const { routing } = p.search([1, 0, 0], { routingTop: 1 });
    expect(routing[0]?.clusterId).toBe(20);
    const transposed = Projection.fromArrays({
      ...init,
      adapter: [
        [0, 1, 0],
        [0, 0, 0],
        [0, 0, 1],
      ],
    });
    expect(() => transposed.search([1, 0, 0])).toThrow(
      "query: the adapter W maps it to the zero vector (W q̂ = 0), so it has no direction to route by",
    );
  });

  it("β = 0 ranks as direct search; β blends the projected vector with the query", () => {
    const p0 = random(30, 8, 5, { kernel, blend: 0, adapter: randomMatrix(8, 8, 9) });
    const p1 = random(30, 8, 5, { kernel, adapter: randomMatrix(8, 8, 9) });
    const pb = random(30, 8, 5, { kernel, blend: 0.4, adapter: randomMatrix(8, 8, 9) });
    const queries = randomMatrix(6, 8, 11);
    for (let i = 0; i < 6; i++) {
      const q = queries.subarray(i * 8, (i + 1) * 8);
      const direct = p0.directSearch(q, { topK: 30 }).results;
      const blended = p0.search(q, { topK: 30 }).results;
      expect(blended.map((h) => h.clusterId)).toEqual(direct.map((h) => h.clusterId));
      for (let k = 0; k < 30; k++) {
        expect(
          Math.abs(
            (blended[k] as { score: number }).score - (direct[k] as { score: number }).score,
          ),
        ).toBeLessThan(1e-6);
      }
      // b̂ = normalize(0.4 p + 0.6 q̂), with p the β = 1 projection of the same routing
      const p = p1.project(q);
      const b = pb.project(q);
      expect(b.weights).toEqual(p.weights);
      const qn = norm(q);
      const expected = Array.from(p.projected, (v, j) => 0.4 * v + (0.6 * (q[j] as number)) / qn);
      const en = norm(expected);
      for (let j = 0; j < 8; j++) {
        expect(Math.abs((b.projected[j] as number) - (expected[j] as number) / en)).toBeLessThan(
          1e-6,
        );
      }
      expect(Math.abs(norm(b.projected) - 1)).toBeLessThan(1e-6);
    }
  });

  it("a blend that cancels (β = 1/2, p = −q̂) gives b̂ = 0, every score 0, ranked by cluster id", () => {
    const p = Projection.fromArrays({
      ...BASE,
      kernel,
      blend: 0.5,
      clusterIds: [30, 10, 20],
      centroids: [
        [1, 0],
        [1, 0],
        [1, 0],
      ],
      answers: [
        [-2, 0],
        [-2, 0],
        [-2, 0],
      ],
    });
    const { projected } = p.project([5, 0]);
    expect(Array.from(projected)).toEqual([0, 0]);
    const { results } = p.search([5, 0], { topK: 3 });
    expect(results.map((h) => [h.clusterId, h.score])).toEqual([
      [10, 0],
      [20, 0],
      [30, 0],
    ]);
  });

  it("refuses a query that W maps to nothing, in a batch naming the query", () => {
    // W's null space holds e2
    const p = random(5, 3, 2, {
      kernel,
      adapter: [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 0],
      ],
    });
    const message =
      "the adapter W maps it to the zero vector (W q̂ = 0), so it has no direction to route by";
    const error = thrown(() => p.search([0, 0, 2]));
    expect(error.code).toBe("ZERO_VECTOR");
    expect(error.message).toBe(`query: ${message}`);
    expect(() => p.project([0, 0, -1])).toThrow(`query: ${message}`);
    expect(() =>
      p.searchBatch([
        [1, 0, 0],
        [0, 0, 5],
        [0, 1, 0],
      ]),
    ).toThrow(`queries[1]: ${message}`);
    // a query off the null space routes
    expect(p.search([0, 0.001, 1]).results).toHaveLength(5);
  });

  it("tiny and huge W still route: the careful path rescales W q̂ before normalizing", () => {
    const tiny = random(12, 6, 3, { kernel, adapter: randomMatrix(6, 6, 4).map((v) => v * 1e-25) });
    const unit = random(12, 6, 3, { kernel, adapter: randomMatrix(6, 6, 4) });
    const huge = random(12, 6, 3, { kernel, adapter: randomMatrix(6, 6, 4).map((v) => v * 1e36) });
    const q = randomMatrix(1, 6, 8);
    const expected = unit.search(q, { topK: 12, routingTop: 12 });
    for (const p of [tiny, huge]) {
      const got = p.search(q, { topK: 12, routingTop: 12 });
      expect(got.results.map((h) => h.clusterId)).toEqual(expected.results.map((h) => h.clusterId));
      for (let k = 0; k < 12; k++) {
        expect(
          Math.abs((got.routing[k]?.weight ?? 0) - (expected.routing[k]?.weight ?? 0)),
        ).toBeLessThan(1e-5);
      }
    }
  });
});

describe("fromArrays refuses a bad adapter or blend", () => {
  it.each([
    [
      { adapter: new Float32Array(8) },
      "DIMENSION_MISMATCH",
      "adapter holds 8 values but W must be d × d = 9 (d = 3",
    ],
    [
      { adapter: [[1, 0, 0]] },
      "DIMENSION_MISMATCH",
      "adapter has 1 rows but W must be d × d with d = 3",
    ],
    [
      {
        adapter: [
          [1, 0, 0],
          [0, 1],
          [0, 0, 1],
        ],
      },
      "DIMENSION_MISMATCH",
      "adapter[1] has 2 values",
    ],
    [
      { adapter: [[1, 0, 0], null, [0, 0, 1]] },
      "BAD_ARGUMENT",
      "adapter[1] is not an array of numbers",
    ],
    [{ adapter: "W" }, "BAD_ARGUMENT", "adapter must be a Float32Array/Float64Array"],
    [
      {
        adapter: [
          [1, 0, 0],
          [0, Number.NaN, 0],
          [0, 0, 1],
        ],
      },
      "NOT_FINITE",
      "adapter: W[1, 1] is NaN; the adapter must be finite",
    ],
    [
      {
        adapter: [
          [1, 0, 0],
          [0, 1, 0],
          [0, 0, 1e39],
        ],
      },
      "NOT_FINITE",
      "adapter: W[2, 2] is 1e+39 (beyond float32's range)",
    ],
    [{ blend: -0.1 }, "BAD_ARGUMENT", "blend must be a finite number from 0 to 1, got -0.1"],
    [{ blend: 1.01 }, "BAD_ARGUMENT", "got 1.01"],
    [{ blend: Number.NaN }, "BAD_ARGUMENT", "got NaN"],
    [{ blend: "0.5" }, "BAD_ARGUMENT", "got 0.5"],
  ] as const)("%j", (extra, code, message) => {
    const error = thrown(() => random(4, 3, 1, extra as unknown as Partial<ProjectionArrays>));
    expect(error.code).toBe(code);
    expect(error.message).toContain(message);
  });
});
