import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { readNpy } from "@ldakit/npy";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { LDAProjectionDB } from "../src/index.js";
import { backends, type TestStore } from "./backends.js";
import { expectStoreError, sqlite3, tempDir } from "./helpers.js";

const STORE_TABLES = [
  "batch_status_history",
  "cluster_heads",
  "clusters",
  "embeddings",
  "models",
  "multi_head_projections",
  "questions",
  "training_batches",
];

/** The store's tables as the database's own client lists them. */
async function tableNames(store: TestStore): Promise<string[]> {
  const rows = await store.query<{ name: string }>(
    store.backend === "sqlite"
      ? "SELECT name FROM sqlite_master WHERE type = 'table'"
      : "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
  );
  return rows.map((r) => r.name).sort();
}

/** Each foreign key of the store's tables as `table.column -> table.column`, sorted. */
async function foreignKeys(store: TestStore): Promise<string[]> {
  if (store.backend === "sqlite") {
    const keys: string[] = [];
    for (const table of await tableNames(store)) {
      const rows = await store.query<{ from: string; table: string; to: string }>(
        `SELECT "from", "table", "to" FROM pragma_foreign_key_list('${table}')`,
      );
      for (const r of rows) keys.push(`${table}.${r.from} -> ${r.table}.${r.to}`);
    }
    return keys.sort();
  }
  const rows = await store.query<{ key: string }>(
    `SELECT kcu.table_name || '.' || kcu.column_name || ' -> ' || ccu.table_name || '.' || ccu.column_name AS key
       FROM information_schema.table_constraints tc
       JOIN information_schema.key_column_usage kcu
         ON kcu.constraint_name = tc.constraint_name AND kcu.constraint_schema = tc.constraint_schema
       JOIN information_schema.constraint_column_usage ccu
         ON ccu.constraint_name = tc.constraint_name AND ccu.constraint_schema = tc.constraint_schema
      WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema()`,
  );
  return rows.map((r) => r.key).sort();
}

describe("LDAProjectionDB: a SQLite file", () => {
  // SQLite only: the database is a file whose folders the store creates, in WAL mode, with
  // foreign keys switched on per connection (PostgreSQL has no journal mode and always enforces them).
  it("creates a migrated database in WAL mode with foreign keys on", async () => {
    const dir = tempDir();
    const db = await LDAProjectionDB.open(join(dir, "nested", "lda.db"));
    expect(db.backend).toBe("sqlite");
    expect(db.root).toBe(join(dir, "nested"));
    expect(db.sqlite.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.sqlite.pragma("foreign_keys", { simple: true })).toBe(1);
    await db.close();
    const tables = sqlite3(join(dir, "nested", "lda.db"), ".tables")
      .split(/\s+/)
      .sort();
    for (const table of STORE_TABLES) {
      expect(tables).toContain(table);
    }
  });
});

describe("LDAProjectionDB: a PostgreSQL database", () => {
  const postgres = backends.find((b) => b.name === "postgres");
  if (postgres === undefined) throw new Error("the postgres backend is missing from backends");

  it("creates the store's tables and records a store root it creates, with commits durable", async () => {
    const store = await postgres.newStore();
    const root = join(store.root, "nested", "root");
    const db = await LDAProjectionDB.open(store.location, { storeRoot: root });
    expect(db.backend).toBe("postgres");
    expect(db.root).toBe(root);
    expect(readdirSync(root)).toEqual([]);
    expect(() => db.sqlite).toThrow(/is on PostgreSQL: it has no SQLite connection/);
    // File removals follow commits, so a commit must be on disk when it returns.
    const { rows } = await sql<{ synchronous_commit: string }>`SHOW synchronous_commit`.execute(
      db.kysely,
    );
    expect(rows[0]?.synchronous_commit).toBe("on");
    await db.close();
    expect(await store.query("SELECT key, value FROM store_settings")).toEqual([
      { key: "store_root", value: root },
    ]);
    for (const table of STORE_TABLES) expect(await tableNames(store)).toContain(table);
  });
});

describe.each(backends)("LDAProjectionDB on $name", (backend) => {
  it("declares the same foreign keys on both backends", async () => {
    const store = await backend.newStore();
    await (await store.open()).close();
    expect(await foreignKeys(store)).toEqual([
      "batch_status_history.batch_id -> training_batches.batch_id",
      "cluster_heads.cluster_id -> clusters.cluster_id",
      "cluster_heads.mh_projection_id -> multi_head_projections.mh_projection_id",
      "clusters.batch_id -> training_batches.batch_id",
      "clusters.model_id -> models.model_id",
      "embeddings.model_id -> models.model_id",
      "multi_head_projections.model_id -> models.model_id",
      "projection_reservations.model_id -> models.model_id",
      "questions.cluster_id -> clusters.cluster_id",
    ]);
  });

  it("stores clusters, questions and vectors under the file convention", async () => {
    const store = await backend.newStore();
    const dir = store.root;
    const db = await store.open();
    expect(db.backend).toBe(backend.name);
    expect(db.root).toBe(dir);
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
    expect(await store.query("select vector_path from embeddings order by embedding_id")).toEqual([
      { vector_path: `embeddings/org__demo-model/q_${String(q1).padStart(3, "0")}.npy` },
      { vector_path: `embeddings/org__demo-model/a_${String(clusterId).padStart(3, "0")}.npy` },
    ]);
    if (backend.name === "sqlite") {
      // and the sqlite3 shell, a peer that reads the file itself, sees the same
      expect(
        sqlite3(store.location, "select vector_path from embeddings order by embedding_id"),
      ).toBe(
        `embeddings/org__demo-model/q_${String(q1).padStart(3, "0")}.npy\nembeddings/org__demo-model/a_${String(clusterId).padStart(3, "0")}.npy`,
      );
    }
  });

  it("refuses a model whose dimensions differ from the recorded ones, and a bad vector", async () => {
    const db = await (await backend.newStore()).open();
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
    const store = await backend.newStore();
    const dir = store.root;
    const db = await store.open();
    await expectStoreError(
      db.getOrCreateModel("bad name!", { dimensions: 4 }),
      "BAD_MODEL_NAME",
      /not allowed/,
    );
    expect(existsSync(join(dir, "embeddings"))).toBe(false);
    expect((await db.stats()).models).toEqual([]);
    await db.close();
  });

  it("refuses two models that would share a folder", async () => {
    const db = await (await backend.newStore()).open();
    await db.getOrCreateModel("org/model", { dimensions: 4 });
    await expectStoreError(
      db.getOrCreateModel("org__model", { dimensions: 4 }),
      "MODEL_FOLDER_TAKEN",
      /share the folder embeddings\/org__model/,
    );
    await db.close();
  });

  it("refuses a text with NUL or a lone surrogate as BAD_ARGUMENT, naming it, and stores nothing", async () => {
    const store = await backend.newStore();
    const db = await store.open();
    const model = await db.getOrCreateModel("m", { dimensions: 4 });
    const clusterId = await db.addCluster({
      answerText: "Oil the chain.",
      modelId: model.model_id,
    });
    await expectStoreError(
      db.addCluster({ answerText: "Oil\u0000 the chain.", modelId: model.model_id }),
      "BAD_ARGUMENT",
      /^answerText holds NUL \(U\+0000\) at position 3; ldakit refuses NUL in texts$/,
    );
    await expectStoreError(
      db.addCluster({ answerText: "ok", answerRecordId: "r\ud800", modelId: model.model_id }),
      "BAD_ARGUMENT",
      /^answerRecordId holds a lone surrogate \\ud800 at position 1: it is not Unicode text/,
    );
    await expectStoreError(
      db.addCluster({ answerText: "ok", answerSource: "\udc00x", modelId: model.model_id }),
      "BAD_ARGUMENT",
      /^answerSource holds a lone surrogate \\udc00 at position 0/,
    );
    await expectStoreError(
      db.addQuestion(clusterId, "brakes \ud800 squeal"),
      "BAD_ARGUMENT",
      /^text holds a lone surrogate \\ud800 at position 7/,
    );
    await expectStoreError(
      db.addQuestion(clusterId, "chain?", "short\u0000"),
      "BAD_ARGUMENT",
      /^lengthType holds NUL \(U\+0000\) at position 5/,
    );
    await expectStoreError(
      db.getOrCreateModel("m\u0000", { dimensions: 4 }),
      "BAD_MODEL_NAME",
      /invalid model name/,
    );
    await expectStoreError(
      db.getOrCreateModel("m", { dimensions: 4, backend: "wasm\u0000" }),
      "BAD_ARGUMENT",
      /^model "m": backend holds NUL \(U\+0000\) at position 4/,
    );
    expect(await db.getModel("m\u0000")).toBeUndefined();
    // A surrogate pair is text like any other.
    const pair = await db.addQuestion(clusterId, "chain squeaks 😀");
    expect((await db.getCluster(clusterId))?.questions.map((q) => q.question_id)).toEqual([pair]);
    expect(
      await store.query("SELECT answer_text, answer_record_id, answer_source FROM clusters"),
    ).toEqual([{ answer_text: "Oil the chain.", answer_record_id: null, answer_source: null }]);
    expect(await store.query("SELECT question_text, length_type FROM questions")).toEqual([
      { question_text: "chain squeaks 😀", length_type: null },
    ]);
    expect(await store.query("SELECT name, backend FROM models")).toEqual([
      { name: "m", backend: null },
    ]);
    await db.close();
  });

  it("names the missing cluster or model instead of breaking a foreign key", async () => {
    const db = await (await backend.newStore()).open();
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
    ).rejects.toThrow(
      backend.name === "sqlite"
        ? /FOREIGN KEY constraint failed/
        : /insert or update on table "questions" violates foreign key constraint/,
    );
    expect((await db.stats()).questions).toBe(0);
    await db.close();
  });
});
