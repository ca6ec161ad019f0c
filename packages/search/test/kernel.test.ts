/** The engines' building blocks, checked directly (the other tests go through the public API). */
import { describe, expect, it } from "vitest";
import { createEngine } from "../src/kernel.js";
import { randomMatrix } from "./helpers.js";

describe.each(["wasm", "js"] as const)("%s engine", (kernel) => {
  it("softmax exp is within 2 ulp-ish of Math.exp over the whole range", () => {
    const n = 4099; // not a multiple of 4
    const e = createEngine(n, 4, kernel);
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = Math.fround(-100 + (100 * i) / (n - 1)); // -100 .. 0
    e.scores.set(x);
    const sum = e.expRow(0, 1);
    let expected = 0;
    for (let i = 0; i < n; i++) {
      const want = Math.exp(x[i] as number);
      expected += Math.fround(want);
      const got = e.scores[i] as number;
      if (want < 1.2e-38) {
        expect(got).toBeLessThan(1.2e-38); // below the normal floats: 0 (wasm) or denormal
      } else {
        expect(Math.abs(got - want) / want).toBeLessThan(3e-7);
      }
    }
    expect(Math.abs(sum - expected) / expected).toBeLessThan(1e-6);
  });

  it("dots, weighted sums and normalize match float64 arithmetic", () => {
    const heads = 77;
    const dims = 37;
    const e = createEngine(heads, dims, kernel);
    const m = Float32Array.from(randomMatrix(heads, dims, 1));
    e.centroids.set(m);
    e.answers.set(m);
    const q = Float32Array.from(randomMatrix(3, dims, 2));
    e.queries.set(q);
    for (const n of [1, 3]) {
      e.dots(0, 0, n);
      for (let i = 0; i < n; i++) {
        for (let r = 0; r < heads; r++) {
          let s = 0;
          for (let j = 0; j < dims; j++)
            s += (m[r * dims + j] as number) * (q[i * dims + j] as number);
          expect(Math.abs((e.scores[i * heads + r] as number) - s)).toBeLessThan(2e-5);
        }
      }
      e.weightedSums(n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < dims; j++) {
          let s = 0;
          for (let r = 0; r < heads; r++) {
            s += (e.scores[i * heads + r] as number) * (m[r * dims + j] as number);
          }
          expect(Math.abs((e.projected[i * dims + j] as number) - s)).toBeLessThan(
            1e-3 * (1 + Math.abs(s)),
          );
        }
        const sumsq = e.normalize(1, i);
        expect(sumsq).toBeGreaterThan(0);
        let norm = 0;
        for (let j = 0; j < dims; j++) norm += (e.projected[i * dims + j] as number) ** 2;
        expect(Math.abs(norm - 1)).toBeLessThan(1e-6);
      }
    }
  });
});
