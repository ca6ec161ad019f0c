import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHashEmbedder } from "@ldakit/embed";
import { LDAProjectionDB } from "@ldakit/store";
import { getTf } from "@ldakit/tf";
import { afterEach, describe, expect, it } from "vitest";
import {
  evaluateHeldOut,
  rankOfExpected,
  TEMPERATURE_RANGE,
  TrainError,
  temperatureProblem,
  trainAdapter,
  trainProjection,
} from "../src/index.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function storeWithClusters() {
  const root = mkdtempSync(join(tmpdir(), "ldakit-train-nf-"));
  dirs.push(root);
  mkdirSync(join(root, "raw"));
  const clusters = ["tea", "coffee", "bread", "soup"].map((t, i) => ({
    answer: `How to make ${t}: prepare, cook and serve the ${t}.`,
    answer_id: `r${i}`,
    questions: [`how do I make ${t}`, `${t} recipe please`, `cooking ${t} at home`],
  }));
  writeFileSync(join(root, "raw", "data.json"), JSON.stringify({ clusters }));
  const db = await LDAProjectionDB.open(join(root, "lda.db"));
  await db.scan(join(root, "raw"));
  await db.processPending({ embedder: createHashEmbedder(32) });
  return db;
}

async function trainError(run: () => Promise<unknown>): Promise<TrainError> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(TrainError);
    return error as TrainError;
  }
  throw new Error("expected a TrainError");
}

describe("temperatures", () => {
  it("the valid range keeps τ and 1/τ normal float32 numbers", () => {
    expect(TEMPERATURE_RANGE.min).toBe(2 ** -126);
    expect(TEMPERATURE_RANGE.max).toBe(2 ** 126);
    expect(Number.isFinite(Math.fround(1 / TEMPERATURE_RANGE.min))).toBe(true);
    expect(temperatureProblem(TEMPERATURE_RANGE.min)).toBeNull();
    expect(temperatureProblem(TEMPERATURE_RANGE.max)).toBeNull();
    expect(temperatureProblem(0.05)).toBeNull();
    for (const bad of [1e-40, 2 ** -127, 2 ** 127, 0, -1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(temperatureProblem(bad)).not.toBeNull();
  });

  it("train --temperature 1e-40 is refused before anything is stored (it stored Recall@1 100%)", async () => {
    const db = await storeWithClusters();
    const error = await trainError(() =>
      trainProjection(db, { temperature: 1e-40, adapter: "none", blend: 1, folds: 3 }),
    );
    expect(error.code).toBe("BAD_ARGUMENT");
    expect(error.message).toMatch(/1e-40 is out of range.*float32/);
    expect(await db.latestProjectionId()).toBeUndefined();
    expect((await db.verify()).problems).toEqual([]);
    await db.close();
  });

  it("a temperature of the selection grid or of the adapter loss out of range is refused", async () => {
    const db = await storeWithClusters();
    const grid = await trainError(() =>
      trainProjection(db, { temperatures: [0.1, 1e-40], adapter: "none", folds: 3 }),
    );
    expect(grid.code).toBe("BAD_ARGUMENT");
    const adapter = await trainError(() =>
      trainProjection(db, { adapter: "linear", adapterTemperature: 1e-39, folds: 3 }),
    );
    expect(adapter.code).toBe("BAD_ARGUMENT");
    expect(adapter.message).toMatch(/adapter temperature/);
    const folds = await trainError(() => trainProjection(db, { folds: 13, adapter: "none" }));
    expect(folds.message).toMatch(/folds is 13, more than the 12 questions/);
    expect(await db.latestProjectionId()).toBeUndefined();
    await db.close();
  });

  it("the smallest valid temperature trains and stores finite metrics", async () => {
    const db = await storeWithClusters();
    const result = await trainProjection(db, {
      temperature: TEMPERATURE_RANGE.min,
      adapter: "none",
      blend: 1,
      folds: 3,
    });
    for (const v of [result.heldOut.recallAt1, result.heldOut.mrr]) {
      expect(Number.isFinite(v)).toBe(true);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    const hits = await db.searchWithProjection(
      (await createHashEmbedder(32).embed(["how do I make tea"]))[0] as Float32Array,
      result.mhProjectionId,
      { topK: 4 },
    );
    expect(hits.results).toHaveLength(4);
    await db.close();
  });
});

describe("non-finite scores", () => {
  it("rankOfExpected ranks a NaN last and never counts a NaN expected score as a hit", () => {
    const tieOrder = [0, 1, 2, 3];
    expect(rankOfExpected([Number.NaN, Number.NaN, Number.NaN, Number.NaN], 2, tieOrder)).toBe(3);
    expect(rankOfExpected([0.1, Number.NaN, 0.5, 0.2], 1, tieOrder)).toBe(4);
    expect(rankOfExpected([0.1, Number.NaN, 0.5, 0.2], 3, tieOrder)).toBe(2);
    expect(rankOfExpected([Number.NaN, 0.3, Number.NaN, 0.2], 2, tieOrder)).toBe(4);
    expect(rankOfExpected([0.9, 0.3, 0.9], 2, [0, 1, 2])).toBe(2);
    // the old comparison `s > target` counted nothing above a NaN: rank 1, a perfect score
  });

  it("a NaN score in the k-fold evaluation is an error, not a perfect metric", async () => {
    const { tf } = await getTf();
    const d = 4;
    const questions = Float32Array.from([
      1,
      0,
      0,
      0,
      0.9,
      0.1,
      0,
      0,
      0,
      1,
      0,
      0,
      0.1,
      0.9,
      0,
      0,
      0,
      0,
      1,
      0,
      Number.NaN,
      0,
      0.9,
      0,
    ]);
    const set = {
      questions,
      questionCluster: Int32Array.from([0, 0, 1, 1, 2, 2]),
      answers: Float32Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]),
      dimensions: d,
      clusterIds: [1, 2, 3],
    };
    const options = {
      temperatures: [0.1],
      folds: 2,
      centroid: "mean" as const,
      maxQueries: 100,
      seed: 1,
    };
    const error = await trainError(() => evaluateHeldOut(tf, set, options));
    expect(error.code).toBe("NOT_FINITE");
    expect(error.message).toMatch(/is NaN; nothing was stored/);
  });

  it("adapter training that produces a NaN loss is an error naming the step", async () => {
    const { tf } = await getTf();
    const error = await trainError(() =>
      trainAdapter(
        tf,
        {
          questions: Float32Array.from([1, 0, Number.NaN, 1, 0, 1, 0.2, 0.8]),
          questionCluster: Int32Array.from([0, 0, 1, 1]),
        },
        {
          dimensions: 2,
          targets: Float32Array.from([1, 0, 0, 1]),
          temperature: 0.05,
          lambda: 0.01,
          maxSteps: 5,
          batchSize: 4,
          seed: 0,
        },
      ),
    );
    expect(error.code).toBe("NOT_FINITE");
    expect(error.message).toMatch(/adapter training diverged: the loss is NaN at step/);
  });
});
