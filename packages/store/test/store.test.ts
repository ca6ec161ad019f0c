import { existsSync } from "node:fs";
import { join } from "node:path";
import { readNpy } from "@ldakit/npy";
import { describe, expect, it } from "vitest";
import { LDAProjectionDB } from "../src/index.js";
import { expectStoreError, sqlite3, tempDir } from "./helpers.js";

describe("LDAProjectionDB", () => {
  it("creates a migrated database in WAL mode with foreign keys on", async () => {
    const dir = tempDir();
    const db = await LDAProjectionDB.open(join(dir, "nested", "lda.db"));
    expect(db.root).toBe(join(dir, "nested"));
    expect(db.sqlite.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.sqlite.pragma("foreign_keys", { simple: true })).toBe(1);
    await db.close();
    const tables = sqlite3(join(dir, "nested", "lda.db"), ".tables")
      .split(/\s+/)
      .sort();
    for (const table of [
      "batch_status_history",
      "cluster_heads",
      "clusters",
      "embeddings",
      "models",
      "multi_head_projections",
      "questions",
      "training_batches",
    ]) {
      expect(tables).toContain(table);
    }
  });

  it("stores clusters, questions and vectors under the file convention", async () => {
    const dir = tempDir();
    const db = await LDAProjectionDB.open(join(dir, "lda.db"));
    const model = await db.getOrCreateModel("org/demo-model", { dimensions: 3, backend: "test" });
    const clusterId = await db.addCluster({
      answerText: "Use the blue lever.",
      answerRecordId: "lever-1",
      modelId: model.model_id,
    });
    const q1 = await db.addQuestion(clusterId, "Which lever opens the gate?", "short");
    const q2 = await db.addQuestion(clusterId, "How do I open the gate at the north field?");

    const path = await db.storeEmbedding({
      entityType: "question",
      entityId: q1,
      modelId: model.model_id,
      vector: new Float32Array([1, 0, 0]),
    });
    expect(path).toBe(`embeddings/org__demo-model/q_${String(q1).padStart(3, "0")}.npy`);
    await db.storeEmbedding({
      entityType: "answer",
      entityId: clusterId,
      modelId: model.model_id,
      vector: new Float32Array([0, 0.6, 0.8]),
    });

    const file = await readNpy(join(dir, path));
    expect(file.dtype).toBe("<f4");
    expect(file.shape).toEqual([3]);
    expect(
      Array.from(
        await (db.getEmbedding("answer", clusterId, model.model_id) as Promise<Float32Array>),
      ),
    ).toEqual([0, Float32Array.from([0.6])[0], Float32Array.from([0.8])[0]]);
    expect(await db.getEmbedding("question", q2, model.model_id)).toBeUndefined();

    // Replacing a vector keeps one row.
    await db.storeEmbedding({
      entityType: "question",
      entityId: q1,
      modelId: model.model_id,
      vector: new Float32Array([0, 1, 0]),
    });
    expect(
      Array.from((await db.getEmbedding("question", q1, model.model_id)) as Float32Array),
    ).toEqual([0, 1, 0]);

    const cluster = await db.getCluster(clusterId);
    expect(cluster?.answer_record_id).toBe("lever-1");
    expect(cluster?.questions.map((q) => [q.question_text, q.length_type])).toEqual([
      ["Which lever opens the gate?", "short"],
      ["How do I open the gate at the north field?", null],
    ]);
    const stats = await db.stats();
    expect(stats).toMatchObject({ clusters: 1, questions: 2, embeddings: 2, projections: 0 });
    expect(stats.models).toEqual([
      {
        modelId: model.model_id,
        name: "org/demo-model",
        dimensions: 3,
        backend: "test",
        clusters: 1,
        questions: 2,
        vectors: 2,
      },
    ]);
    await db.close();
    // Stored paths are relative, so the database names files any copy of the folder has.
    expect(
      sqlite3(join(dir, "lda.db"), "select vector_path from embeddings order by embedding_id"),
    ).toBe(
      `embeddings/org__demo-model/q_${String(q1).padStart(3, "0")}.npy\nembeddings/org__demo-model/a_${String(clusterId).padStart(3, "0")}.npy`,
    );
  });

  it("refuses a model whose dimensions differ from the recorded ones, and a bad vector", async () => {
    const db = await LDAProjectionDB.open(join(tempDir(), "lda.db"));
    const model = await db.getOrCreateModel("m", { dimensions: 4 });
    await expectStoreError(
      db.getOrCreateModel("m", { dimensions: 8 }),
      "DIMENSION_MISMATCH",
      /recorded with 4 dimensions.*gives 8/,
    );
    const clusterId = await db.addCluster({ answerText: "a", modelId: model.model_id });
    await expectStoreError(
      db.storeEmbedding({
        entityType: "answer",
        entityId: clusterId,
        modelId: model.model_id,
        vector: new Float32Array(3),
      }),
      "DIMENSION_MISMATCH",
      /3 dimensions.*has 4/,
    );
    await db.close();
  });

  it("rejects a model name that cannot become a folder", async () => {
    const dir = tempDir();
    const db = await LDAProjectionDB.open(join(dir, "lda.db"));
    await expectStoreError(
      db.getOrCreateModel("bad name!", { dimensions: 4 }),
      "BAD_MODEL_NAME",
      /not allowed/,
    );
    expect(existsSync(join(dir, "embeddings"))).toBe(false);
    await db.close();
  });

  it("refuses two models that would share a folder", async () => {
    const db = await LDAProjectionDB.open(join(tempDir(), "lda.db"));
    await db.getOrCreateModel("org/model", { dimensions: 4 });
    await expectStoreError(
      db.getOrCreateModel("org__model", { dimensions: 4 }),
      "MODEL_FOLDER_TAKEN",
      /share the folder embeddings\/org__model/,
    );
    await db.close();
  });

  it("names the missing cluster or model instead of breaking a foreign key", async () => {
    const db = await LDAProjectionDB.open(join(tempDir(), "lda.db"));
    await expectStoreError(db.addQuestion(9999, "orphan?"), "CLUSTER_NOT_FOUND", /no cluster 9999/);
    await expectStoreError(
      db.addCluster({ answerText: "a", modelId: 42 }),
      "MODEL_NOT_FOUND",
      /no model with id 42/,
    );
    // The database enforces the same foreign keys itself, for writes through `kysely`.
    await expect(
      db.kysely
        .insertInto("questions")
        .values({ cluster_id: 9999, question_text: "orphan?", length_type: null })
        .execute(),
    ).rejects.toThrow(/FOREIGN KEY/);
    await db.close();
  });
});
