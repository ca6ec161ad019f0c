import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LDAProjectionDB, StoreError } from "@ldakit/store";
import { getTf } from "@ldakit/tf";
import { afterEach, describe, expect, it } from "vitest";
import {
  evaluateHeldOut,
  pickTemperature,
  TrainError,
  type TrainErrorCode,
  trainProjection,
} from "../src/index.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function emptyStore(): Promise<LDAProjectionDB> {
  const root = mkdtempSync(join(tmpdir(), "ldakit-train-errors-"));
  dirs.push(root);
  return LDAProjectionDB.open(join(root, "lda.db"));
}

async function expectTrainError(
  promise: Promise<unknown>,
  code: TrainErrorCode,
  message: RegExp,
): Promise<void> {
  const error = await promise.then(
    () => new Error(`expected a TrainError ${code}, got a result`),
    (e: unknown) => e,
  );
  expect(error, String(error)).toBeInstanceOf(TrainError);
  expect(error).toMatchObject({
    name: "TrainError",
    code,
    message: expect.stringMatching(message),
  });
}

describe("TrainError", () => {
  it("NO_CLUSTERS, AMBIGUOUS_MODEL and TOO_FEW_CLUSTERS: a store with nothing to train on", async () => {
    const db = await emptyStore();
    await expectTrainError(trainProjection(db), "NO_CLUSTERS", /no embedded clusters yet/);
    const model = await db.getOrCreateModel("one", { dimensions: 4 });
    const cluster = await db.addCluster({ answerText: "a", modelId: model.model_id });
    await db.storeEmbedding({
      entityType: "answer",
      entityId: cluster,
      modelId: model.model_id,
      vector: new Float32Array([1, 0, 0, 0]),
    });
    const question = await db.addQuestion(cluster, "q?");
    await db.storeEmbedding({
      entityType: "question",
      entityId: question,
      modelId: model.model_id,
      vector: new Float32Array([0, 1, 0, 0]),
    });
    await expectTrainError(
      trainProjection(db, { temperature: 0.1 }),
      "TOO_FEW_CLUSTERS",
      /model "one" has 1 cluster\(s\) with vectors; a projection needs at least 2/,
    );
    await db.getOrCreateModel("two", { dimensions: 4 });
    await expectTrainError(
      trainProjection(db),
      "AMBIGUOUS_MODEL",
      /several models \(one, two\); choose one/,
    );
    // A model the store does not have is the store's own error, passed through.
    const unknown = await trainProjection(db, { model: "three" }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(StoreError);
    expect(unknown).toMatchObject({ code: "MODEL_NOT_FOUND" });
    await db.close();
  });

  it("BAD_ARGUMENT: options out of range, refused before any work", async () => {
    const db = await emptyStore();
    const cases: Array<[Parameters<typeof trainProjection>[1], RegExp]> = [
      [{ temperature: 0 }, /temperature must be a positive number, not 0/],
      [{ temperature: Number.NaN }, /temperature must be a positive number, not NaN/],
      [{ temperatures: [] }, /no temperature to evaluate/],
      [{ folds: 1 }, /folds must be an integer of at least 2, not 1/],
      [{ folds: 2.5 }, /folds must be an integer of at least 2, not 2.5/],
      [{ centroid: "median" as never }, /centroid must be "weighted" or "mean", not "median"/],
      [{ maxEvalQueries: 0 }, /must be a positive integer, not 0/],
      [{ seed: 0.5 }, /seed must be an integer, not 0.5/],
    ];
    // The store is empty: these options are checked before the store is asked anything.
    for (const [options, message] of cases)
      await expectTrainError(trainProjection(db, options), "BAD_ARGUMENT", message);
    await db.close();
    await expectTrainError(
      Promise.resolve().then(() => pickTemperature([])),
      "BAD_ARGUMENT",
      /no temperature to pick from/,
    );
    const { tf } = await getTf();
    const set = {
      questions: new Float32Array([1, 0, 0, 1]),
      questionCluster: Int32Array.from([0, 1]),
      answers: new Float32Array([1, 0, 0, 1]),
      dimensions: 2,
      clusterIds: [1, 2],
    };
    await expectTrainError(
      evaluateHeldOut(tf, set, {
        temperatures: [0.1],
        folds: 1,
        centroid: "mean",
        maxQueries: 10,
        seed: 0,
      }),
      "BAD_ARGUMENT",
      /folds must be an integer of at least 2, not 1/,
    );
  });
});

describe("the README", () => {
  it("lists every TrainError code in its Errors section, and no other", () => {
    const source = readFileSync(join(import.meta.dirname, "..", "src", "errors.ts"), "utf8");
    const start = source.indexOf("export type TrainErrorCode");
    const codes = [
      ...source.slice(start, source.indexOf(";", start)).matchAll(/\|\s*"([A-Z_]+)"/g),
    ].map((m) => m[1]);
    expect(codes.length).toBeGreaterThan(4);
    const readme = readFileSync(join(import.meta.dirname, "..", "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("\n## Errors"));
    expect(section.length, "README.md has an Errors section").toBeGreaterThan(20);
    const listed = [...section.matchAll(/^\|\s*`([A-Z_]+)`/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual([...codes].sort());
  });
});
