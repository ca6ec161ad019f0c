import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHashEmbedder } from "@ldakit/embed";
import { LDAProjectionDB } from "@ldakit/store";
import { afterEach, describe, expect, it } from "vitest";
import { evaluateQueries, metricsOfRanks, TrainError, trainProjection } from "../src/index.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const plants = ["fern", "cactus", "orchid", "basil", "ivy", "tomato"];

async function trainedStore() {
  const root = mkdtempSync(join(tmpdir(), "ldakit-queries-"));
  dirs.push(root);
  mkdirSync(join(root, "raw"));
  const clusters = plants.map((p) => ({
    answer: `Caring for a ${p}: water the ${p} when the soil is dry and give the ${p} bright light.`,
    answer_id: `care-${p}`,
    questions: [`how often to water a ${p}`, `${p} care`, `my ${p} is wilting`, `light for ${p}`],
  }));
  writeFileSync(join(root, "raw", "plants.json"), JSON.stringify({ clusters }));
  const db = await LDAProjectionDB.open(join(root, "lda.db"));
  await db.scan(join(root, "raw"));
  const embedder = createHashEmbedder(64);
  await db.processPending({ embedder });
  const { mhProjectionId } = await trainProjection(db, {
    temperature: 0.1,
    folds: 2,
    adapter: "none",
    blend: 1,
  });
  return { db, mhProjectionId, embedder };
}

describe("metricsOfRanks", () => {
  it("counts ranks 1 and ≤ 5 and averages 1/rank", () => {
    expect(metricsOfRanks([1, 2, 5, 6])).toEqual({
      recallAt1: 0.25,
      recallAt5: 0.75,
      mrr: (1 + 1 / 2 + 1 / 5 + 1 / 6) / 4,
      queries: 4,
    });
  });
});

describe("evaluateQueries", () => {
  it("ranks each query's own cluster by projected and direct search, as the projection does", async () => {
    const { db, mhProjectionId, embedder } = await trainedStore();
    const queries = [
      { text: "watering schedule for my fern", recordId: "care-fern" },
      { text: "does a cactus need sun", recordId: "care-cactus" },
      { text: "orchid leaves drooping", recordId: "care-orchid" },
      { text: "basil on the windowsill", recordId: "care-basil" },
      { text: "growing tomato plants", recordId: "care-tomato" },
      { text: "a question about roses", recordId: "care-rose" },
    ];
    const result = await evaluateQueries(db, mhProjectionId, queries, embedder);
    expect(result.unmatchedIds).toEqual(["care-rose"]);
    expect(result.mhProjectionId).toBe(mhProjectionId);
    expect(result.model).toBe("hash-64");
    expect(result.temperature).toBe(0.1);

    // the same ranks computed by hand through the projection's own search
    const projection = await db.loadProjection(mhProjectionId);
    const clusters = await db.listClusters();
    const idOf = new Map(clusters.map((c) => [c.answer_record_id, c.cluster_id]));
    const vectors = await embedder.embed(queries.slice(0, 5).map((q) => q.text));
    const rank = (hits: Array<{ clusterId: number }>, i: number) =>
      hits.findIndex(
        (h) => h.clusterId === idOf.get((queries[i] as { recordId: string }).recordId),
      ) + 1;
    const projected = vectors.map((v, i) => rank(projection.search(v, { topK: 6 }).results, i));
    const direct = vectors.map((v, i) => rank(projection.directSearch(v, { topK: 6 }).results, i));
    expect(result.projected).toEqual(metricsOfRanks(projected));
    expect(result.direct).toEqual(metricsOfRanks(direct));
    expect(result.projected.queries).toBe(5);
    // No adapter and β = 1: the book's projection is the projection itself.
    expect(result.projectedWithoutAdapter).toEqual(result.projected);
    expect([result.hasAdapter, result.blend]).toEqual([false, 1]);
    await db.close();
  });

  it("scores a projection with an adapter and a blend beside the same heads without them", async () => {
    const { db, embedder } = await trainedStore();
    const common = { temperature: 0.1, folds: 2, adapterMaxSteps: 20, adapterBatchSize: 8 };
    const trained = await trainProjection(db, {
      ...common,
      adapter: "linear",
      blend: 0.5,
      lambdas: [0.01],
      adapterTargets: ["answers"],
    });
    expect(trained.adapter).toBe("linear");
    const book = await trainProjection(db, { ...common, adapter: "none", blend: 1 });
    const queries = plants.map((p) => ({ text: `what does a ${p} need`, recordId: `care-${p}` }));
    const withAdapter = await evaluateQueries(db, trained.mhProjectionId, queries, embedder);
    const without = await evaluateQueries(db, book.mhProjectionId, queries, embedder);
    expect([withAdapter.hasAdapter, withAdapter.blend]).toEqual([true, 0.5]);
    // The same centroids, answers and τ: the book's figures are those of the projection trained without.
    expect(withAdapter.projectedWithoutAdapter).toEqual(without.projected);
    expect(withAdapter.direct).toEqual(without.direct);
    const projection = await db.loadProjection(trained.mhProjectionId);
    const vectors = await embedder.embed(queries.map((q) => q.text));
    const ids = new Map((await db.listClusters()).map((c) => [c.answer_record_id, c.cluster_id]));
    const ranks = vectors.map(
      (v, i) =>
        projection
          .search(v, { topK: 6 })
          .results.findIndex((h) => h.clusterId === ids.get(queries[i]?.recordId ?? null)) + 1,
    );
    expect(withAdapter.projected).toEqual(metricsOfRanks(ranks));
    await db.close();
  });

  it("refuses queries that match no head, and vectors of another model", async () => {
    const { db, mhProjectionId, embedder } = await trainedStore();
    const unmatched = await evaluateQueries(
      db,
      mhProjectionId,
      [{ text: "roses", recordId: "care-rose" }],
      embedder,
    ).catch((error: unknown) => error);
    expect(unmatched).toBeInstanceOf(TrainError);
    expect(unmatched).toMatchObject({
      code: "NO_MATCHING_QUERIES",
      message: expect.stringMatching(
        /none of the 1 queries' ids match an answer of projection \d+ \(ids such as care-rose\)/,
      ),
    });
    const otherModel = await evaluateQueries(
      db,
      mhProjectionId,
      [{ text: "fern", recordId: "care-fern" }],
      createHashEmbedder(32),
    ).catch((error: unknown) => error);
    expect(otherModel).toBeInstanceOf(TrainError);
    expect(otherModel).toMatchObject({
      code: "MODEL_MISMATCH",
      message: expect.stringMatching(
        /trained on hash-64 vectors; the queries must be embedded with it, not with hash-32/,
      ),
    });
    await db.close();
  });
});
