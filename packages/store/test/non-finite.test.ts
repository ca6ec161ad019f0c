import { join } from "node:path";
import { createHashEmbedder } from "@ldakit/embed";
import { writeNpySync } from "@ldakit/npy";
import { describe, expect, it } from "vitest";
import type { LDAProjectionDB, NewProjection } from "../src/index.js";
import { backends, type TestBackend, type TestStore } from "./backends.js";
import { expectStoreError, formA, tempDir, writeFiles } from "./helpers.js";

/** 3 clusters × 2 questions embedded with hash-16, and the arguments of a sound projection. */
async function store(
  backend: TestBackend,
): Promise<{ db: LDAProjectionDB; projection: NewProjection; store: TestStore }> {
  const raw = join(tempDir("ldakit-nonfinite-"), "raw");
  writeFiles(raw, { "data.json": formA(3, 2) });
  const made = await backend.newStore();
  const db = await made.open();
  await db.scan(raw);
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
  return { db, projection, store: made };
}

describe.each(backends)(
  "createProjection on $name refuses numbers a search could not use",
  (backend) => {
    it.each([
      ["recallAt1", Number.NaN],
      ["recallAt1", 1.5],
      ["mrr", Number.POSITIVE_INFINITY],
      ["mrr", -0.25],
    ] as const)("%s = %s is BAD_ARGUMENT and stores nothing", async (field, value) => {
      const { db, projection } = await store(backend);
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
      const { db, projection } = await store(backend);
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
  },
);

describe.each(backends)(
  "verify on $name checks head vectors and the projection's numbers",
  (backend) => {
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
        const { db, projection, store: made } = await store(backend);
        const mhId = await db.createProjection(projection);
        expect((await db.verify()).problems).toEqual([]);
        const heads = await made.query<{
          cluster_id: number;
          centroid_path: string;
          answer_emb_path: string;
        }>(
          "SELECT cluster_id, centroid_path, answer_emb_path FROM cluster_heads WHERE mh_projection_id = ? ORDER BY cluster_id",
          [mhId],
        );
        expect(heads).toHaveLength(3);
        const {
          cluster_id: clusterId,
          centroid_path: centroidPath,
          answer_emb_path: answerPath,
        } = heads[1] as (typeof heads)[number];
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
      const { db, projection, store: made } = await store(backend);
      const mhId = await db.createProjection(projection);
      await db.close();
      await made.query(
        "UPDATE multi_head_projections SET temperature = ? WHERE mh_projection_id = ?",
        [1e-40, mhId],
      );
      expect(
        await made.query(
          "SELECT temperature FROM multi_head_projections WHERE mh_projection_id = ?",
          [mhId],
        ),
      ).toEqual([{ temperature: 1e-40 }]);
      const again = await made.open();
      const problems = (await again.verify()).problems.map((p) => p.problem);
      // (mh_<id>.json, written with τ = 0.1, now also disagrees with the row)
      expect(problems).toContain(
        `projection ${mhId}: temperature 1e-40 is unusable (1/τ must be a finite float32); search refuses this projection`,
      );
      await again.close();
    });
  },
);
