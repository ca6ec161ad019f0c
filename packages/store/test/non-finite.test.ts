import { join } from "node:path";
import { createHashEmbedder } from "@ldakit/embed";
import { writeNpySync } from "@ldakit/npy";
import { describe, expect, it } from "vitest";
import { LDAProjectionDB, type NewProjection } from "../src/index.js";
import { expectStoreError, formA, sqlite3, tempDir, writeFiles } from "./helpers.js";

/** 3 clusters × 2 questions embedded with hash-16, and the arguments of a sound projection. */
async function store(): Promise<{ db: LDAProjectionDB; projection: NewProjection }> {
  const root = tempDir("ldakit-nonfinite-");
  writeFiles(join(root, "raw"), { "data.json": formA(3, 2) });
  const db = await LDAProjectionDB.open(join(root, "lda.db"));
  await db.scan(join(root, "raw"));
  await db.processPending({ embedder: createHashEmbedder(16), writerThreads: 0 });
  const set = await db.loadTrainingSet("hash-16");
  const d = set.dimensions;
  const projection: NewProjection = {
    modelId: set.modelId,
    temperature: 0.1,
    centroidMethod: "mean",
    recallAt1: 0.5,
    mrr: 0.75,
    heads: set.clusters.map((c, k) => ({
      clusterId: c.clusterId,
      centroid: set.questions.slice(k * 2 * d, (k * 2 + 1) * d),
      answer: set.answers.slice(k * d, (k + 1) * d),
      numQuestions: c.numQuestions,
    })),
  };
  return { db, projection };
}

describe("createProjection refuses numbers a search could not use", () => {
  it.each([
    ["recallAt1", Number.NaN],
    ["recallAt1", 1.5],
    ["mrr", Number.POSITIVE_INFINITY],
    ["mrr", -0.25],
  ] as const)("%s = %s is BAD_ARGUMENT and stores nothing", async (field, value) => {
    const { db, projection } = await store();
    await expectStoreError(
      db.createProjection({ ...projection, [field]: value }),
      "BAD_ARGUMENT",
      new RegExp(`${field} must be a number from 0 to 1 \\(or null\\), not ${value}`),
    );
    expect(await db.latestProjectionId()).toBeUndefined();
    expect((await db.verify()).problems).toEqual([]);
    await db.close();
  });

  it("a temperature whose 1/τ overflows float32 is BAD_ARGUMENT", async () => {
    const { db, projection } = await store();
    await expectStoreError(
      db.createProjection({ ...projection, temperature: 1e-40 }),
      "BAD_ARGUMENT",
      /temperature 1e-40 is too small: 1\/τ overflows float32/,
    );
    expect(await db.latestProjectionId()).toBeUndefined();
    const ok = await db.createProjection({ ...projection, recallAt1: null, mrr: 0 });
    expect(ok).toBe(1);
    await db.close();
  });
});

describe("verify checks head vectors and the projection's numbers", () => {
  it.each([
    ["a NaN", (v: Float32Array) => v.fill(0.25).fill(Number.NaN, 5, 6), /value 5 is NaN/],
    [
      "an infinity",
      (v: Float32Array) => v.fill(Number.NEGATIVE_INFINITY, 2),
      /value 2 is -Infinity/,
    ],
    [
      "a zero vector",
      (v: Float32Array) => v.fill(0),
      /all 16 values are 0: the vector has no direction/,
    ],
  ] as const)(
    "a head file overwritten with %s is reported, file and element",
    async (_, damage, problem) => {
      const { db, projection } = await store();
      const mhId = await db.createProjection(projection);
      expect((await db.verify()).problems).toEqual([]);
      const heads = sqlite3(
        db.path,
        `SELECT cluster_id || ' ' || centroid_path || ' ' || answer_emb_path FROM cluster_heads WHERE mh_projection_id = ${mhId} ORDER BY cluster_id`,
      ).split("\n");
      const [clusterId, centroidPath, answerPath] = (heads[1] as string).split(" ") as [
        string,
        string,
        string,
      ];
      for (const [role, path] of [
        ["centroid", centroidPath],
        ["answer", answerPath],
      ] as const) {
        const data = new Float32Array(16);
        damage(data);
        const saved = db.vectors.read(path, 16);
        writeNpySync(db.vectors.absolute(path), { data, shape: [16] });
        const problems = (await db.verify()).problems;
        expect(problems).toHaveLength(1);
        expect(problems[0]?.path).toBe(path);
        expect(problems[0]?.problem).toMatch(problem);
        expect(problems[0]?.problem).toContain(
          `${role} of cluster ${clusterId} in projection ${mhId}`,
        );
        expect((await db.verify({ mhProjectionId: mhId })).problems).toEqual(problems);
        writeNpySync(db.vectors.absolute(path), { data: saved, shape: [16] });
      }
      expect((await db.verify()).problems).toEqual([]);
      await db.close();
    },
  );

  it("a stored temperature search refuses is reported", async () => {
    const { db, projection } = await store();
    const mhId = await db.createProjection(projection);
    await db.close();
    sqlite3(
      db.path,
      `UPDATE multi_head_projections SET temperature = 1e-40 WHERE mh_projection_id = ${mhId}`,
    );
    const again = await LDAProjectionDB.open(db.path);
    const problems = (await again.verify()).problems.map((p) => p.problem);
    // (mh_<id>.json, written with τ = 0.1, now also disagrees with the row)
    expect(problems).toContain(
      `projection ${mhId}: temperature 1e-40 is unusable (1/τ must be a finite float32); search refuses this projection`,
    );
    await again.close();
  });
});
