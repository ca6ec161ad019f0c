import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHashEmbedder, type Embedder } from "@ldakit/embed";
import { describe, expect, it } from "vitest";
import type { LDAProjectionDB } from "../src/index.js";
import { backends, type TestBackend, type TestStore } from "./backends.js";
import { formA, tempDir, vectorFilesOnDisk, writeFiles } from "./helpers.js";

const embedder = createHashEmbedder(32);

/** A new store, and a folder for its raw inputs outside the store root. */
async function openStore(backend: TestBackend) {
  const store = await backend.newStore();
  const input = join(tempDir(), "raw");
  const db = await store.open();
  return { store, input, db };
}

/** Rows and files agree: one vector row and one file per question and per cluster, nothing else. */
async function expectConsistent(
  store: TestStore,
  db: LDAProjectionDB,
  clusters: number,
  questions: number,
) {
  const stats = await db.stats();
  expect(stats.clusters).toBe(clusters);
  expect(stats.questions).toBe(questions);
  expect(stats.embeddings).toBe(clusters + questions);
  // Sorted here, not by the database: PostgreSQL's collation need not sort as JavaScript does.
  const rows = (await store.query<{ vector_path: string }>("select vector_path from embeddings"))
    .map((r) => r.vector_path)
    .sort();
  expect(vectorFilesOnDisk(db.root)).toEqual(rows);
  const [orphans] = await store.query<{ n: number }>(
    `select CAST(count(*) AS INTEGER) AS n from embeddings e where (e.entity_type = 'question' and not exists (select 1 from questions q where q.question_id = e.entity_id))
        or (e.entity_type = 'answer' and not exists (select 1 from clusters c where c.cluster_id = e.entity_id))`,
  );
  expect(orphans).toEqual({ n: 0 });
}

describe.each(backends)("batch pipeline on $name", (backend) => {
  it("imports new files, then skips unchanged ones", async () => {
    const { store, input, db } = await openStore(backend);
    writeFiles(input, {
      "a.json": formA(3, 4, "a"),
      "b.json": formA(2, 5, "b"),
      "notes.txt": "ignored",
    });
    const first = await db.scan(input);
    expect(first.new.map((f) => f.path.endsWith(".json"))).toEqual([true, true]);
    const result = await db.processPending({ embedder });
    expect(result.failed).toEqual([]);
    expect(result.completed.map((o) => [o.clusters, o.questions, o.vectors])).toEqual([
      [3, 12, 15],
      [2, 10, 12],
    ]);
    await expectConsistent(store, db, 5, 22);
    const second = await db.scan(input);
    expect([second.new.length, second.modified.length, second.unchanged.length]).toEqual([0, 0, 2]);
    expect((await db.processPending({ embedder })).completed).toEqual([]);
    const history = await db.batchHistory(first.new[0]?.batchId as number);
    expect(history.map((h) => [h.old_status, h.new_status])).toEqual([
      [null, "pending"],
      ["pending", "importing"],
      ["importing", "embedding"],
      ["embedding", "completed"],
    ]);
    await db.close();
  });

  it("scans subfolders only with recursive", async () => {
    const { input, db } = await openStore(backend);
    writeFiles(input, { "top.json": formA(1, 2, "t") });
    writeFiles(join(input, "deeper"), { "inner.json": formA(1, 2, "i") });
    expect((await db.scan(input)).new).toHaveLength(1);
    expect((await db.scan(input, { recursive: true })).new.map((f) => f.path)).toEqual([
      join(input, "deeper", "inner.json"),
    ]);
    await db.close();
  });

  it("replaces what the older version of a modified file imported", async () => {
    const { store, input, db } = await openStore(backend);
    writeFiles(input, { "a.json": formA(3, 4, "v1"), "keep.json": formA(2, 2, "k") });
    await db.scan(input);
    await db.processPending({ embedder });
    const before = await db.listClusters();
    writeFiles(input, { "a.json": formA(2, 3, "v2") });
    const scan = await db.scan(input);
    expect(scan.modified.map((f) => f.path)).toEqual([join(input, "a.json")]);
    expect(scan.unchanged).toHaveLength(1);
    const result = await db.processPending({ embedder });
    expect(result.completed).toHaveLength(1);
    await expectConsistent(store, db, 2 + 2, 2 * 3 + 2 * 2);
    const after = await db.listClusters();
    expect(after.map((c) => c.answer_record_id).sort()).toEqual(["k-0", "k-1", "v2-0", "v2-1"]);
    // The untouched file's clusters are the same rows as before.
    const kept = before
      .filter((c) => c.answer_record_id?.startsWith("k-"))
      .map((c) => c.cluster_id);
    expect(
      after.filter((c) => c.answer_record_id?.startsWith("k-")).map((c) => c.cluster_id),
    ).toEqual(kept);
    await db.close();
  });

  it("fails a broken file with line and column, a wrong-shaped one with the field path, and completes the rest", async () => {
    const { store, input, db } = await openStore(backend);
    writeFiles(input, {
      "1-good.json": formA(2, 2, "g"),
      "2-broken.json": '{\n  "clusters": [\n    {"answer": "x",\n  ]\n}\n',
      "3-shape.json": JSON.stringify({
        clusters: [
          { answer: "a", answer_id: "1", questions: ["q"] },
          { answer: "b", answer_id: "2", questions: ["q"] },
          { answer: "c", answer_id: "3", questions: "not a list" },
        ],
      }),
      "4-good.json": formA(1, 3, "h"),
    });
    await db.scan(input);
    const result = await db.processPending({ embedder });
    expect(result.completed.map((o) => o.filePath.split("/").pop())).toEqual([
      "1-good.json",
      "4-good.json",
    ]);
    expect(result.failed.map((o) => o.filePath.split("/").pop())).toEqual([
      "2-broken.json",
      "3-shape.json",
    ]);
    const failed = await db.listBatches({ status: "failed" });
    expect(failed[0]?.error_message).toMatch(/JSON parse error at line 4, column 3/);
    expect(failed[1]?.error_message).toMatch(/clusters\[2\]\.questions: expected array/);
    await expectConsistent(store, db, 3, 7);
    await db.close();
  });

  it("catches a file that changed after the scan", async () => {
    const { store, input, db } = await openStore(backend);
    writeFiles(input, { "a.json": formA(1, 2, "a") });
    await db.scan(input);
    writeFiles(input, { "a.json": formA(1, 3, "edited") });
    const result = await db.processPending({ embedder });
    expect(result.failed[0]?.error).toBe("changed since scan; run scan again");
    await expectConsistent(store, db, 0, 0);
    await db.close();
  });

  it("keeps a failed batch's message and retries it", async () => {
    const { store, input, db } = await openStore(backend);
    writeFiles(input, { "a.json": formA(2, 2, "a") });
    await db.scan(input);
    let calls = 0;
    const flaky: Embedder = {
      ...embedder,
      name: embedder.name,
      dimensions: embedder.dimensions,
      backend: embedder.backend,
      embed: async (texts) => {
        calls++;
        if (calls === 1) throw new Error("embedding service unavailable");
        return embedder.embed(texts);
      },
      dispose: async () => {},
    };
    const first = await db.processPending({ embedder: flaky });
    expect(first.failed.map((o) => o.error)).toEqual(["embedding service unavailable"]);
    const [failed] = await db.listBatches({ status: "failed" });
    expect(failed?.error_message).toBe("embedding service unavailable");
    await expectConsistent(store, db, 0, 0); // nothing half-imported stays
    const retry = await db.retryFailed({ embedder: flaky });
    expect(retry.retried).toEqual([failed?.batch_id]);
    expect(retry.completed).toHaveLength(1);
    await expectConsistent(store, db, 2, 4);
    const [batch] = await db.listBatches();
    expect(batch?.attempts).toBe(2);
    expect((await db.batchHistory(batch?.batch_id as number)).map((h) => h.new_status)).toEqual([
      "pending",
      "importing",
      "embedding",
      "failed",
      "pending",
      "importing",
      "embedding",
      "completed",
    ]);
    await db.close();
  });

  it("refuses an embedder whose dimensions differ from the model's", async () => {
    const { input, db } = await openStore(backend);
    writeFiles(input, { "a.json": formA(1, 1, "a") });
    await db.getOrCreateModel(embedder.name, { dimensions: 16 });
    await db.scan(input);
    const result = await db.processPending({ embedder });
    expect(result.failed[0]?.error).toMatch(
      /recorded with 16 dimensions, but the embedder gives 32/,
    );
    await db.close();
  });

  it("embeds a form (b) answer as the normalized mean of its default and the model's variant", async () => {
    const { input, db } = await openStore(backend);
    const file = {
      clusters: [
        {
          id: "c1",
          answer_source: "manual",
          answers: {
            default: "Water the fern every week.",
            [embedder.name]: "Ferns want water weekly.",
          },
          queries: { short: ["fern water?"], long: ["How often should I water a fern in a flat?"] },
        },
      ],
    };
    writeFileSync(join(input, "..", "b.json"), JSON.stringify(file));
    writeFiles(input, { "b.json": JSON.stringify(file) });
    await db.scan(input);
    await db.processPending({ embedder });
    const [cluster] = await db.listClusters();
    expect(cluster?.answer_text).toBe("Water the fern every week.");
    expect(cluster?.answer_source).toBe("manual");
    const model = await db.getModel(embedder.name);
    const stored = (await db.getEmbedding(
      "answer",
      cluster?.cluster_id as number,
      model?.model_id as number,
    )) as Float32Array;
    const [a, b] = await embedder.embed(["Water the fern every week.", "Ferns want water weekly."]);
    const mean = (a as Float32Array).map((v, i) => (v + ((b as Float32Array)[i] as number)) / 2);
    const norm = Math.hypot(...mean);
    for (let i = 0; i < mean.length; i++)
      expect(stored[i]).toBeCloseTo((mean[i] as number) / norm, 6);
    const questions = (await db.getCluster(cluster?.cluster_id as number))?.questions.map(
      (q) => q.length_type,
    );
    expect(questions).toEqual(["short", "long"]);
    await db.close();
  });
});

describe.each(backends)("a modified file after training on $name", (backend) => {
  it("retires the replaced clusters that a projection uses as heads", async () => {
    const { input, db } = await openStore(backend);
    writeFiles(input, { "a.json": formA(3, 3, "v1") });
    await db.scan(input);
    await db.processPending({ embedder });
    const model = await db.getModel(embedder.name);
    const clusters = await db.listClusters();
    await db.createProjection({
      modelId: model?.model_id as number,
      temperature: 0.1,
      centroidMethod: "mean",
      heads: clusters.map((c) => ({
        clusterId: c.cluster_id,
        centroid: new Float32Array(32).fill(0.1),
        answer: new Float32Array(32).fill(0.2),
        numQuestions: 3,
      })),
    });
    writeFiles(input, { "a.json": formA(2, 2, "v2") });
    await db.scan(input);
    const result = await db.processPending({ embedder });
    expect(result.failed).toEqual([]);
    const after = await db.listClusters();
    // The old clusters remain only as the projection's heads: no batch, no questions, no vectors.
    const old = after.filter((c) => c.answer_record_id?.startsWith("v1-"));
    expect(old.map((c) => c.batch_id)).toEqual([null, null, null]);
    for (const c of old) expect((await db.getCluster(c.cluster_id))?.questions).toEqual([]);
    expect((await db.stats()).embeddings).toBe(2 + 4);
    expect((await db.loadTrainingSet(embedder.name)).clusters.map((c) => c.answerRecordId)).toEqual(
      ["v2-0", "v2-1"],
    );
    await db.close();
  });
});
