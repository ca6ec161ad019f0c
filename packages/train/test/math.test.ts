import { describe, expect, it } from "vitest";
import { assignFolds, computeCentroids, evaluateHeldOut, pickTemperature } from "../src/index.js";
import { describeOnBackend, tfUnderTest } from "./backends.js";
import { reference } from "./numpy-reference.js";

/** Clustered random data: each cluster's questions scatter around a random direction. */
function dataset(clusters: number, perCluster: number, d: number, seed: number) {
  let s = seed;
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  };
  const centers = Array.from({ length: clusters }, () => Array.from({ length: d }, rand));
  const questions = new Float32Array(clusters * perCluster * d);
  const questionCluster = new Int32Array(clusters * perCluster);
  const answers = new Float32Array(clusters * d);
  for (let k = 0; k < clusters; k++) {
    for (let j = 0; j < d; j++) answers[k * d + j] = (centers[k]?.[j] as number) + 0.6 * rand();
    for (let i = 0; i < perCluster; i++) {
      const row = k * perCluster + i;
      questionCluster[row] = k;
      for (let j = 0; j < d; j++)
        questions[row * d + j] = (centers[k]?.[j] as number) + 0.9 * rand();
    }
  }
  return {
    questions,
    questionCluster,
    answers,
    d,
    clusterIds: Array.from({ length: clusters }, (_, k) => 100 + k),
  };
}

describe("centroids", () => {
  for (const method of ["weighted", "mean"] as const) {
    it(`${method} agrees with a float64 NumPy reference`, () => {
      const { questions, questionCluster, d } = dataset(12, 7, 16, 3);
      const ours = computeCentroids(questions, d, questionCluster, 12, method);
      const { centroids } = reference<{ centroids: number[] }>({
        kind: "centroids",
        method,
        dimensions: d,
        numClusters: 12,
        questions: Array.from(questions),
        questionCluster: Array.from(questionCluster),
      });
      const maxDiff = Math.max(...centroids.map((v, i) => Math.abs(v - (ours[i] as number))));
      expect(maxDiff).toBeLessThan(1e-6);
    });
  }

  it("weights questions near the consensus more than an outlier", () => {
    const d = 3;
    // Two questions along x, one along y: the weighted centroid leans further toward x than the mean.
    const questions = new Float32Array([1, 0, 0, 1, 0.05, 0, 0, 1, 0]);
    const cluster = new Int32Array([0, 0, 0]);
    const mean = computeCentroids(questions, d, cluster, 1, "mean");
    const weighted = computeCentroids(questions, d, cluster, 1, "weighted");
    expect(weighted[0]).toBeGreaterThan(mean[0] as number);
  });
});

describeOnBackend("k-fold held-out evaluation", () => {
  it("assigns every question of a multi-question cluster to a fold, and never a lone question", () => {
    const folds = assignFolds(new Int32Array([0, 0, 0, 0, 0, 1, 2, 2]), 3, 5, 7);
    expect(Array.from(folds.slice(0, 5)).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(folds[5]).toBe(-1);
    expect(new Set([folds[6], folds[7]]).size).toBe(2);
  });

  it("gives the metrics a float64 NumPy reference gives on the same folds", async () => {
    const tf = await tfUnderTest();
    const data = dataset(15, 6, 24, 11);
    // 0.001: most routing weights fall below the float32 normals (they are flushed to 0)
    const temperatures = [0.001, 0.05, 0.1, 1];
    const folds = 3;
    const ours = await evaluateHeldOut(
      tf,
      { ...data, dimensions: data.d },
      { temperatures, folds, centroid: "weighted", maxQueries: 10_000, seed: 5 },
    );
    const fold = assignFolds(data.questionCluster, 15, folds, 5);
    const theirs = reference<typeof ours>({
      kind: "heldout",
      dimensions: data.d,
      questions: Array.from(data.questions),
      questionCluster: Array.from(data.questionCluster),
      answers: Array.from(data.answers),
      fold: Array.from(fold),
      selected: Array.from(fold, () => true),
      clusterIds: data.clusterIds,
      temperatures,
      folds,
      centroid: "weighted",
    });
    expect(ours.direct.queries).toBe(theirs.direct.queries);
    for (const key of ["recallAt1", "recallAt5", "mrr"] as const) {
      expect(ours.direct[key]).toBeCloseTo(theirs.direct[key], 12);
    }
    for (const [i, point] of ours.curve.entries()) {
      const want = theirs.curve[i] as (typeof theirs.curve)[number];
      expect(point.queries).toBe(want.queries);
      // float32 against float64 may swap two nearly equal scores: allow one query's worth.
      expect(Math.abs(point.recallAt1 - want.recallAt1)).toBeLessThanOrEqual(
        1 / want.queries + 1e-12,
      );
      expect(Math.abs(point.mrr - want.mrr)).toBeLessThanOrEqual(1 / want.queries);
    }
    expect(ours.curve[0]?.queries).toBe(90);
  });

  it("scores at most maxQueries held-out questions", async () => {
    const tf = await tfUnderTest();
    const data = dataset(10, 8, 8, 2);
    const result = await evaluateHeldOut(
      tf,
      { ...data, dimensions: data.d },
      { temperatures: [0.1], folds: 4, centroid: "mean", maxQueries: 25, seed: 1 },
    );
    expect(result.curve[0]?.queries).toBe(25);
    expect(result.direct.queries).toBe(25);
  });
});

describe("pickTemperature", () => {
  it("takes the best MRR, then the best Recall@1, then the first tried", () => {
    const p = (temperature: number, mrr: number, recallAt1: number) => ({
      temperature,
      mrr,
      recallAt1,
      recallAt5: 0,
      queries: 1,
    });
    expect(pickTemperature([p(1, 0.2, 0.1), p(0.1, 0.8, 0.7), p(0.05, 0.7, 0.7)])).toBe(0.1);
    expect(pickTemperature([p(1, 0.8, 0.6), p(0.1, 0.8, 0.7)])).toBe(0.1);
    expect(pickTemperature([p(0.2, 0.8, 0.7), p(0.1, 0.8, 0.7)])).toBe(0.2);
  });
});
