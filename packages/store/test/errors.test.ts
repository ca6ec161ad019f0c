import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHashEmbedder } from "@ldakit/embed";
import { writeNpySync } from "@ldakit/npy";
import type { Database } from "@ldakit/schema";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { createStoreContext } from "../src/context.js";
import { PostgresStoreDb, SqliteStoreDb, type StoreDb } from "../src/db/store-db.js";
import { LDAProjectionDB, StoreError } from "../src/index.js";
import { transition } from "../src/pipeline/batches.js";
import { backends, type TestBackend } from "./backends.js";
import { expectStoreError, formA, tempDir, writeFiles } from "./helpers.js";

/** A store with one model `toy` (3 dimensions) and one projection over two clusters. */
async function storeWithProjection(backend: TestBackend) {
  const store = await backend.newStore();
  const { root } = store;
  const db = await store.open();
  const model = await db.getOrCreateModel("toy", { dimensions: 3 });
  const clusterIds = [
    await db.addCluster({ answerText: "one", modelId: model.model_id }),
    await db.addCluster({ answerText: "two", modelId: model.model_id }),
  ];
  const mhProjectionId = await db.createProjection({
    modelId: model.model_id,
    temperature: 0.1,
    centroidMethod: "mean",
    heads: clusterIds.map((clusterId, i) => ({
      clusterId,
      centroid: new Float32Array([i, 1 - i, 0]),
      answer: new Float32Array([0, i, 1 - i]),
      numQuestions: 1,
    })),
  });
  return { root, db, model, clusterIds, mhProjectionId };
}

/** The store's database on a connection of its own, bypassing `LDAProjectionDB.open`. */
async function rawStoreDb(location: string): Promise<{ storeDb: StoreDb; close(): Promise<void> }> {
  if (location.startsWith("postgres")) {
    const pool = new pg.Pool({ connectionString: location, max: 1 });
    const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { storeDb: new PostgresStoreDb(kysely, location), close: () => kysely.destroy() };
  }
  const Sqlite = (await import("better-sqlite3")).default;
  const sqlite = new Sqlite(location);
  return {
    storeDb: new SqliteStoreDb(sqlite),
    close: async () => {
      sqlite.close();
    },
  };
}

describe("StoreError", () => {
  it("is an Error with a name, a code and a cause", () => {
    const cause = new Error("inner");
    const error = new StoreError("CLOSED", "the store x is closed", { cause });
    expect(error).toBeInstanceOf(Error);
    expect([error.name, error.code, error.message, error.cause]).toEqual([
      "StoreError",
      "CLOSED",
      "the store x is closed",
      cause,
    ]);
  });

  it("NOT_A_STORE: a SQLite path whose file is not a database, left as it was", async () => {
    const path = join(tempDir(), "lda.db");
    const text = "this is not SQLite, just text long enough to be read as a header........";
    writeFileSync(path, text);
    const error = await expectStoreError(
      LDAProjectionDB.open(path),
      "NOT_A_STORE",
      /lda\.db is not a SQLite database, so no ldakit store/,
    );
    expect(error.cause).toBeInstanceOf(Error);
    expect(readFileSync(path, "utf8")).toBe(text);
  });

  // A file that is not a database exists only on SQLite; a PostgreSQL database always is one,
  // and what is not a store there is a database of other tables.
  it("NOT_A_STORE: a PostgreSQL database of other tables, left as it was", async () => {
    const postgres = backends.find((b) => b.name === "postgres") as TestBackend;
    const store = await postgres.newStore();
    await store.query("CREATE TABLE orders (order_id integer PRIMARY KEY, item text NOT NULL)");
    await store.query("INSERT INTO orders VALUES (1, 'kettle')");
    for (const mode of ["create", "write", "read"] as const) {
      await expectStoreError(
        store.open({ mode }),
        "NOT_A_STORE",
        /^postgres:\/\/.* is a PostgreSQL database but not an ldakit store \(its tables: orders\); ldakit leaves it untouched$/,
      );
    }
    expect(await store.query("SELECT * FROM orders")).toEqual([{ order_id: 1, item: "kettle" }]);
    expect(
      await store.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()",
      ),
    ).toEqual([{ table_name: "orders" }]);
  });
});

describe.each(backends)("StoreError on $name", (backend) => {
  it("CLOSED: any method after close", async () => {
    const db = await (await backend.newStore()).open();
    await db.close();
    await db.close(); // closing twice is fine
    const named =
      backend.name === "sqlite"
        ? /the store \/.*\/lda\.db is closed/
        : /the store postgres:\/\/\S+ is closed/;
    await expectStoreError(db.stats(), "CLOSED", named);
    await expectStoreError(db.latestProjectionId(), "CLOSED", /is closed/);
    await expectStoreError(db.verify(), "CLOSED", /is closed/);
  });

  it("INPUT_UNREADABLE: scanning a folder that does not exist", async () => {
    const store = await backend.newStore();
    const { root } = store;
    const db = await store.open();
    await expectStoreError(
      db.scan(join(root, "no-such-folder")),
      "INPUT_UNREADABLE",
      /cannot scan .*no-such-folder: ENOENT/,
    );
    await db.close();
  });

  it("BAD_ARGUMENT: process options out of range, checked before any batch moves", async () => {
    const db = await (await backend.newStore()).open();
    const embedder = createHashEmbedder(16);
    const input = tempDir();
    writeFiles(input, { "a.json": formA(1, 1) });
    await db.scan(input);
    await expectStoreError(
      db.processPending({ embedder, chunkSize: 0 }),
      "BAD_ARGUMENT",
      /chunkSize must be a positive integer, not 0/,
    );
    await expectStoreError(
      db.processPending({ embedder, leaseMs: -1 }),
      "BAD_ARGUMENT",
      /leaseMs must be a positive number, not -1/,
    );
    await expectStoreError(
      db.processPending({ embedder, writerThreads: 1.5 }),
      "BAD_ARGUMENT",
      /writerThreads must be 0 or a positive integer, not 1.5/,
    );
    await expectStoreError(db.processPending({} as never), "BAD_ARGUMENT", /needs an embedder/);
    expect((await db.listBatches()).map((b) => b.status)).toEqual(["pending"]);
    // A failed batch stays failed when retry-failed is called with bad options.
    const wrong = {
      name: embedder.name,
      dimensions: 8,
      backend: embedder.backend,
      embed: (texts: string[]) => embedder.embed(texts),
      dispose: async () => {},
    };
    await db.processPending({ embedder: wrong, writerThreads: 0 });
    expect((await db.listBatches()).map((b) => b.status)).toEqual(["failed"]);
    await expectStoreError(
      db.retryFailed({ embedder, chunkSize: -3 }),
      "BAD_ARGUMENT",
      /chunkSize/,
    );
    expect((await db.listBatches()).map((b) => b.status)).toEqual(["failed"]);
    await db.close();
  });

  it("BAD_ARGUMENT and DIMENSION_MISMATCH: a projection that cannot be searched", async () => {
    const { db, model, clusterIds } = await storeWithProjection(backend);
    const head = {
      clusterId: clusterIds[0] as number,
      centroid: new Float32Array([1, 0, 0]),
      answer: new Float32Array([0, 1, 0]),
      numQuestions: 1,
    };
    const base = { modelId: model.model_id, centroidMethod: "mean" as const };
    await expectStoreError(
      db.createProjection({ ...base, temperature: 0, heads: [head] }),
      "BAD_ARGUMENT",
      /temperature must be a positive number, not 0/,
    );
    await expectStoreError(
      db.createProjection({ ...base, temperature: 0.1, heads: [] }),
      "BAD_ARGUMENT",
      /at least one head/,
    );
    await expectStoreError(
      db.createProjection({
        ...base,
        temperature: 0.1,
        heads: [{ ...head, centroid: new Float32Array(4) }],
      }),
      "DIMENSION_MISMATCH",
      /head of cluster \d+ is not 3-dimensional/,
    );
    await expectStoreError(
      db.getOrCreateModel("flat", { dimensions: 0 }),
      "BAD_ARGUMENT",
      /dimensions must be a positive integer, not 0/,
    );
    expect((await db.stats()).projections).toBe(1);
    await db.close();
  });

  it("MODEL_NOT_FOUND: training data of a model the store does not have", async () => {
    const { db } = await storeWithProjection(backend);
    await expectStoreError(
      db.loadTrainingSet("other"),
      "MODEL_NOT_FOUND",
      /no vectors for model "other" in this store \(it has: toy\)/,
    );
    await db.close();
  });

  it("VECTOR_FILE_MISSING and BAD_VECTOR_FILE: a projection's head files", async () => {
    const { root, db, mhProjectionId, clusterIds } = await storeWithProjection(backend);
    const centroid = `embeddings/toy/mh_${mhProjectionId}_cluster_${clusterIds[0]}_centroid.npy`;
    rmSync(join(root, centroid));
    await expectStoreError(
      db.loadProjection(mhProjectionId),
      "VECTOR_FILE_MISSING",
      new RegExp(`cannot read vector file ${centroid}`),
    );
    writeNpySync(join(root, centroid), { data: new Float32Array(5) });
    await expectStoreError(
      db.loadProjection(mhProjectionId),
      "BAD_VECTOR_FILE",
      /vector has 5 dimensions, the model has 3/,
    );
    writeFileSync(join(root, centroid), "not npy");
    await expectStoreError(db.loadProjection(mhProjectionId), "BAD_VECTOR_FILE", /cannot read/);
    await db.close();
  });

  it("WRITE_FAILED: a vector file where a folder is in the way", async () => {
    const store = await backend.newStore();
    const { root } = store;
    const db = await store.open();
    const model = await db.getOrCreateModel("blocked", { dimensions: 2 });
    const cluster = await db.addCluster({ answerText: "a", modelId: model.model_id });
    mkdirSync(join(root, "embeddings"));
    writeFileSync(join(root, "embeddings", "blocked"), "a file, not a folder");
    await expectStoreError(
      db.storeEmbedding({
        entityType: "answer",
        entityId: cluster,
        modelId: model.model_id,
        vector: new Float32Array([1, 0]),
      }),
      "WRITE_FAILED",
      /cannot write vector file .*a_001\.npy/,
    );
    expect(await db.getEmbedding("answer", cluster, model.model_id)).toBeUndefined();
    await db.close();
  });

  it("BATCH_CONFLICT: a status change from a status the batch no longer has", async () => {
    const store = await backend.newStore();
    const input = tempDir();
    const db = await store.open();
    writeFiles(input, { "a.json": formA(1, 1) });
    const [file] = (await db.scan(input)).new;
    await db.close();
    // The pipeline changes statuses only inside transactions that hold the write lock (SQLite)
    // or the batch's row (PostgreSQL), so this cannot happen through the public API; the check
    // guards against writers that ignore them.
    const { storeDb, close } = await rawStoreDb(store.location);
    try {
      const ctx = createStoreContext(store.location, store.root, storeDb);
      const id = file?.batchId as number;
      await expect(transition(ctx, ctx.kysely, id, "importing", "embedding")).rejects.toMatchObject(
        {
          code: "BATCH_CONFLICT",
          message: `batch ${id} is no longer importing`,
        },
      );
    } finally {
      await close();
    }
  });
});

describe("the README", () => {
  it("lists every StoreError code in its Errors section, and no other", () => {
    const source = readFileSync(join(import.meta.dirname, "..", "src", "errors.ts"), "utf8");
    const union = source.slice(
      source.indexOf("export type StoreErrorCode"),
      source.indexOf(";", source.indexOf("export type StoreErrorCode")),
    );
    const codes = [...union.matchAll(/\|\s*"([A-Z_]+)"/g)].map((m) => m[1]);
    expect(codes.length).toBeGreaterThan(10);
    const readme = readFileSync(join(import.meta.dirname, "..", "README.md"), "utf8");
    const start = readme.indexOf("\n## Errors");
    const end = readme.indexOf("\n## ", start + 1);
    const section = readme.slice(start, end === -1 ? undefined : end);
    expect(section.length, "README.md has an Errors section").toBeGreaterThan(20);
    const listed = [...section.matchAll(/^\|\s*`([A-Z_]+)`/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual([...codes].sort());
  });
});
