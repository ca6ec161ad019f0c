// `copyStoreContents`: a store built through the public API on SQLite, copied to a real
// PostgreSQL server and back to SQLite, must come back equal row by row, bit by bit and file by
// file — and the copy must refuse, without writing anything, whatever would make it wrong.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHashEmbedder } from "@ldakit/embed";
import {
  type Database,
  ldakitDialectOf,
  MIGRATION_NAMES,
  migrateLdakitDatabase,
  TABLE_NAMES,
  type TableName,
} from "@ldakit/schema";
import SqliteDatabase from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect, sql } from "kysely";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startPostgres, type TestPostgres } from "../../../tools/postgres.mjs";
import {
  copyStoreContents,
  type StoreCopyEnd,
  StoreCopyError,
  type StoreCopyErrorCode,
} from "../src/copy.js";
import { LDAProjectionDB } from "../src/index.js";
import { formA, NOT_QA, tempDir, vectorFilesOnDisk, writeFiles } from "./helpers.js";

const MODEL = "hash-32";
const embedder = createHashEmbedder(32);

/** The primary key of every table, to read rows in a stable order. */
const KEYS: Record<TableName, string> = {
  models: "model_id",
  training_batches: "batch_id",
  batch_status_history: "history_id",
  clusters: "cluster_id",
  questions: "question_id",
  embeddings: "embedding_id",
  multi_head_projections: "mh_projection_id",
  cluster_heads: "head_id",
  file_removals: "path",
  projection_reservations: "mh_projection_id",
  store_settings: "key",
};

let server: TestPostgres;
let admin: pg.Client;
let databases = 0;
const opened: Array<Kysely<Database>> = [];

beforeAll(async () => {
  server = await startPostgres();
  admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
});

afterEach(async () => {
  for (const db of opened.splice(0)) await db.destroy();
});

afterAll(async () => {
  await admin?.end();
  await server?.stop();
});

/**
 * A new PostgreSQL database of its own, migrated unless told otherwise, over a pool.
 * `extraFloatDigits`: the database's `extra_float_digits` setting, as a server may have it.
 */
async function postgresEnd(
  options: { migrate?: boolean; extraFloatDigits?: number } = {},
): Promise<StoreCopyEnd> {
  databases += 1;
  const name = `ldakit_copy_${databases}`;
  await admin.query(`CREATE DATABASE ${name}`);
  if (options.extraFloatDigits !== undefined) {
    await admin.query(
      `ALTER DATABASE ${name} SET extra_float_digits = ${options.extraFloatDigits}`,
    );
  }
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  const kysely = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url.href, max: 4 }) }),
  });
  opened.push(kysely);
  if (options.migrate ?? true) await migrateLdakitDatabase(kysely);
  return { kysely, root: tempDir("ldakit-copy-pg-"), label: `postgres database ${name}` };
}

/** A Kysely over a SQLite store file, with foreign keys checked as the store has them. */
function sqliteKysely(path: string): Kysely<Database> {
  const raw = new SqliteDatabase(path);
  raw.pragma("foreign_keys = ON");
  const kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: raw }) });
  opened.push(kysely);
  return kysely;
}

/** A new SQLite store file `lda.db` in a folder of its own (its root), migrated to `target`. */
async function sqliteEnd(
  target: (typeof MIGRATION_NAMES)[number] | "latest" = "latest",
): Promise<StoreCopyEnd & { path: string }> {
  const root = tempDir("ldakit-copy-sqlite-");
  const path = join(root, "lda.db");
  const kysely = sqliteKysely(path);
  await migrateLdakitDatabase(kysely, target);
  return { kysely, root, path, label: path };
}

interface SourceStore {
  root: string;
  path: string;
  projections: number[];
}

/**
 * A store built through the public API: two files imported, one of them modified and imported
 * again (superseding the first version), a file that is not Q-A data (a failed batch), and two
 * projections — one with a query adapter, a blend, metrics and a selection.
 */
async function buildSourceStore(): Promise<SourceStore> {
  const root = tempDir("ldakit-copy-source-");
  const input = join(root, "raw");
  writeFiles(input, { "a.json": formA(4, 3, "a"), "b.json": formA(3, 2, "b") });
  writeFileSync(join(input, "not-qa.json"), readFileSync(join(NOT_QA, "topics.json")));
  const path = join(root, "lda.db");
  const db = await LDAProjectionDB.open(path, { mode: "create" });
  await db.scan(input);
  const first = await db.processPending({ embedder, writerThreads: 0 });
  expect(first.failed).toHaveLength(1);
  writeFiles(input, { "a.json": formA(5, 3, "a2") });
  await db.scan(input);
  const second = await db.processPending({ embedder, writerThreads: 0 });
  expect(second.completed).toHaveLength(1);

  const set = await db.loadTrainingSet(MODEL);
  const d = set.dimensions;
  const heads = set.clusters.map((cluster, k) => {
    const centroid = new Float32Array(d);
    set.questionCluster.forEach((c, i) => {
      if (c !== k) return;
      for (let j = 0; j < d; j++) {
        centroid[j] =
          (centroid[j] as number) + (set.questions[i * d + j] as number) / cluster.numQuestions;
      }
    });
    return {
      clusterId: cluster.clusterId,
      centroid,
      answer: set.answers.slice(k * d, (k + 1) * d),
      numQuestions: cluster.numQuestions,
    };
  });
  const adapter = new Float32Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) adapter[i * d + j] = (i === j ? 1 : 0) + (i - 2 * j) / (8 * d);
  }
  const plain = await db.createProjection({
    modelId: set.modelId,
    temperature: 0.1,
    centroidMethod: "mean",
    heads,
  });
  // Doubles that print with 17 digits, so any rounding on the way shows.
  const tuned = await db.createProjection({
    modelId: set.modelId,
    name: "tuned",
    temperature: 1 / 3,
    centroidMethod: "weighted",
    recallAt1: 0.1 + 0.2,
    mrr: Math.PI / 4,
    heads,
    adapter,
    blend: 2 / 3,
    selection: JSON.stringify({ adapter: true, lambda: 0.001, note: "ünïcödé ✓ 🚲" }),
  });
  expect((await db.verify()).problems).toEqual([]);
  await db.close();
  return { root, path, projections: [plain, tuned] };
}

/** A number as the bits of its double, so that equality is bit equality (−0 ≠ 0). */
function bits(value: number): string {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  return `f64:${view.getBigUint64(0).toString(16).padStart(16, "0")}`;
}

/**
 * Every row of every ldakit table in key order, each number as its bits. PostgreSQL is asked for
 * every digit of its doubles, whatever the database's `extra_float_digits`.
 */
async function dump(db: Kysely<Database>): Promise<Record<string, Array<Record<string, unknown>>>> {
  return db.transaction().execute(async (tx) => {
    if (ldakitDialectOf(db) === "postgres") {
      await sql`SET LOCAL extra_float_digits = 3`.execute(tx);
    }
    const tables: Record<string, Array<Record<string, unknown>>> = {};
    for (const table of TABLE_NAMES) {
      const { rows } = await sql<Record<string, unknown>>`
        SELECT * FROM ${sql.table(table)} ORDER BY ${sql.ref(KEYS[table])}
      `.execute(tx);
      tables[table] = rows.map((row) =>
        Object.fromEntries(
          Object.entries(row).map(([k, v]) => [k, typeof v === "number" ? bits(v) : v]),
        ),
      );
    }
    return tables;
  });
}

/** Every file under a store's `embeddings/`, with its bytes. */
function filesOf(root: string): Map<string, Buffer> {
  return new Map(vectorFilesOnDisk(root).map((p) => [p, readFileSync(join(root, p))]));
}

async function expectCopyError(
  promise: Promise<unknown>,
  code: StoreCopyErrorCode,
  message: RegExp,
): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, "expected the copy to be refused").toBeInstanceOf(StoreCopyError);
  expect((error as StoreCopyError).code, (error as Error).message).toBe(code);
  expect((error as Error).message).toMatch(message);
}

/** The target has no row in any table and no file under its root. */
async function expectUntouched(end: StoreCopyEnd): Promise<void> {
  const tables = await dump(end.kysely);
  for (const table of TABLE_NAMES) expect(tables[table], table).toEqual([]);
  expect(vectorFilesOnDisk(end.root)).toEqual([]);
}

describe("copyStoreContents", () => {
  it("copies a store SQLite → PostgreSQL → SQLite: rows, ids, floats, files and search results come back equal", async () => {
    const store = await buildSourceStore();
    const source: StoreCopyEnd = { kysely: sqliteKysely(store.path), root: store.root };
    const original = await dump(source.kysely);
    const originalFiles = filesOf(store.root);
    // 4+3 clusters, then 5 of the new version: answers and questions of the live ones (3+5
    // clusters), 2 projections × 8 heads × 2 files, one adapter, two mh_<id>.json.
    expect(original.clusters).toHaveLength(8);
    expect(originalFiles.size).toBe(8 + 3 * 2 + 5 * 3 + 2 * 8 * 2 + 1 + 2);
    expect(original.batch_status_history?.length).toBeGreaterThan(8);

    const postgres = await postgresEnd();
    // A PostgreSQL store records its own root when opened: that row describes the target's
    // database, so it is neither "rows in the target" nor replaced by the copy.
    const ownRoot = { key: "store_root", value: postgres.root };
    await postgres.kysely.insertInto("store_settings").values(ownRoot).execute();
    const toPostgres = await copyStoreContents(source, postgres);
    expect(toPostgres.tables).toEqual(
      Object.fromEntries(
        TABLE_NAMES.filter((t) => t !== "store_settings").map((t) => [t, original[t]?.length]),
      ),
    );
    expect(toPostgres.files).toBe(originalFiles.size);
    expect(toPostgres.bytes).toBe([...originalFiles.values()].reduce((n, b) => n + b.length, 0));
    expect(await dump(postgres.kysely)).toEqual({ ...original, store_settings: [ownRoot] });
    expect(filesOf(postgres.root)).toEqual(originalFiles);

    // New rows on PostgreSQL get ids past the copied ones.
    for (const table of TABLE_NAMES) {
      const rows = original[table]?.length ?? 0;
      if (rows === 0 || table === "file_removals") continue;
      const { rows: next } = await sql<{ id: number }>`
        SELECT nextval(pg_get_serial_sequence(${table}, ${KEYS[table]}))::integer AS id
      `.execute(postgres.kysely);
      const { rows: max } = await sql<{ id: number }>`
        SELECT max(${sql.ref(KEYS[table])}) AS id FROM ${sql.table(table)}
      `.execute(postgres.kysely);
      expect(next[0]?.id, table).toBe((max[0]?.id as number) + 1);
    }

    // Back, in pages and statements smaller than the tables, so every boundary is crossed.
    const back = await sqliteEnd();
    const toSqlite = await copyStoreContents(postgres, back, {
      pageSize: 7,
      rowsPerInsert: 3,
      fileConcurrency: 3,
    });
    expect(toSqlite).toEqual(toPostgres);
    expect(await dump(back.kysely)).toEqual(original);
    expect(filesOf(back.root)).toEqual(originalFiles);
    await back.kysely.destroy();
    await source.kysely.destroy();

    const copy = await LDAProjectionDB.open(back.path, { mode: "read" });
    const before = await LDAProjectionDB.open(store.path, { mode: "read" });
    try {
      expect((await copy.verify()).problems).toEqual([]);
      const queries = await embedder.embed([
        "How do I set up widget 2 variant 1 (a2)?",
        "configure the widget number 1",
        "something else entirely",
      ]);
      for (const mhId of store.projections) {
        for (const query of queries) {
          const expected = await before.searchWithProjection(query, mhId, { topK: 5 });
          expect(expected.results.length).toBeGreaterThan(0);
          expect(await copy.searchWithProjection(query, mhId, { topK: 5 })).toEqual(expected);
          expect(await copy.directSearch(query, mhId, { topK: 5 })).toEqual(
            await before.directSearch(query, mhId, { topK: 5 }),
          );
        }
      }
    } finally {
      await copy.close();
      await before.close();
    }
  });

  it("keeps values PostgreSQL and SQLite print differently: extreme doubles, −0, Unicode, NULLs", async () => {
    const source = await sqliteEnd();
    const db = source.kysely;
    const model = await db
      .insertInto("models")
      .values({ name: "hash-8", dimensions: 8, backend: null })
      .returning("model_id")
      .executeTakeFirstOrThrow();
    const texts = [
      "line one\nline two\r\n\ttabbed",
      "quotes ' \" \\ and `backticks`",
      "🚲 émoji, 中文, עברית, combining e\u0301",
      "a".repeat(70_000),
      "",
    ];
    for (const [i, text] of texts.entries()) {
      await db
        .insertInto("clusters")
        .values({
          answer_text: text,
          answer_record_id: i % 2 ? null : `r${i}`,
          model_id: model.model_id,
        })
        .execute();
    }
    const doubles = [
      5e-324,
      2.2250738585072014e-308,
      Number.MAX_VALUE,
      0.1 + 0.2,
      1 / 3,
      123456789.12345679,
      1e21,
    ];
    for (const [i, t] of doubles.entries()) {
      await db
        .insertInto("multi_head_projections")
        .values({
          model_id: model.model_id,
          num_heads: 0,
          temperature: t,
          recall_at_1: i % 2 ? null : 1 / (i + 3),
          mrr: i % 3 ? 5e-324 : null,
          blend: i === 0 ? 0 : 1 - Number.EPSILON / 2,
        })
        .execute();
    }
    const ids = (
      await db.selectFrom("multi_head_projections").select("mh_projection_id").execute()
    ).map((r) => r.mh_projection_id);
    for (const id of ids) {
      writeFiles(join(source.root, "embeddings", "hash-8"), { [`mh_${id}.json`]: `{"id":${id}}` });
    }
    const original = await dump(db);

    // A server that prints doubles with 15 digits must not round what the copy reads.
    const postgres = await postgresEnd({ extraFloatDigits: 0 });
    await copyStoreContents(source, postgres);
    expect(await dump(postgres.kysely)).toEqual(original);
    const back = await sqliteEnd();
    await copyStoreContents(postgres, back);
    expect(await dump(back.kysely)).toEqual(original);

    // SQLite stores −0 as 0; between PostgreSQL databases its sign must survive too.
    const signed = await postgresEnd();
    const m = await signed.kysely
      .insertInto("models")
      .values({ name: "m", dimensions: 2, backend: null })
      .returning("model_id")
      .executeTakeFirstOrThrow();
    // node-postgres sends the number −0 as "0", so the source row is written as text.
    const p = await signed.kysely
      .insertInto("multi_head_projections")
      .values({
        model_id: m.model_id,
        num_heads: 0,
        temperature: sql<number>`CAST('-0' AS double precision)`,
        blend: sql<number>`CAST('-0' AS double precision)`,
      })
      .returning(["mh_projection_id", "temperature"])
      .executeTakeFirstOrThrow();
    expect(Object.is(p.temperature, -0)).toBe(true);
    writeFiles(join(signed.root, "embeddings", "m"), { [`mh_${p.mh_projection_id}.json`]: "{}" });
    const signedCopy = await postgresEnd();
    await copyStoreContents(signed, signedCopy);
    const row = await signedCopy.kysely
      .selectFrom("multi_head_projections")
      .select(["temperature", "blend"])
      .executeTakeFirstOrThrow();
    expect(Object.is(row.temperature, -0)).toBe(true);
    expect(Object.is(row.blend, -0)).toBe(true);
  });

  it("refuses a target that has rows, naming the first table, and writes nothing", async () => {
    const store = await buildSourceStore();
    const source: StoreCopyEnd = { kysely: sqliteKysely(store.path), root: store.root };
    const target = await postgresEnd();
    await target.kysely
      .insertInto("models")
      .values({ name: "someone-else", dimensions: 4, backend: null })
      .execute();
    await expectCopyError(
      copyStoreContents(source, target),
      "NOT_EMPTY",
      /postgres database ldakit_copy_\d+ already has rows in table models/,
    );
    expect(vectorFilesOnDisk(target.root)).toEqual([]);
    expect(await target.kysely.selectFrom("models").select("name").execute()).toEqual([
      { name: "someone-else" },
    ]);

    // A copied store is a store with rows: copying again is refused the same way.
    const empty = await postgresEnd();
    await copyStoreContents(source, empty);
    await expectCopyError(copyStoreContents(source, empty), "NOT_EMPTY", /table models/);
  });

  it("refuses a source a writer is at work on, or left work in, and writes nothing", async () => {
    const store = await buildSourceStore();
    const source: StoreCopyEnd = { kysely: sqliteKysely(store.path), root: store.root };
    const target = await postgresEnd();
    const db = source.kysely;

    // What a worker killed while importing leaves.
    await db
      .updateTable("training_batches")
      .set({ status: "importing", claimed_by: "elsewhere:123:abc" })
      .where("batch_id", "=", 1)
      .execute();
    await expectCopyError(
      copyStoreContents(source, target),
      "SOURCE_BUSY",
      /the source database has batches being processed — batch 1 \(importing, claimed by elsewhere:123:abc\).*ldakit verify --repair/,
    );
    await expectUntouched(target);
    await db
      .updateTable("training_batches")
      .set({ status: "completed", claimed_by: null })
      .where("batch_id", "=", 1)
      .execute();

    // What a process killed while writing a projection's files leaves.
    await db
      .insertInto("projection_reservations")
      .values({ mh_projection_id: 99, model_id: 1, owner: null })
      .execute();
    await expectCopyError(
      copyStoreContents(source, target),
      "SOURCE_BUSY",
      /projection id 99 reserved by a process that died.*ldakit verify --repair/,
    );
    await expectUntouched(target);
    await db.deleteFrom("projection_reservations").execute();

    // What a process killed between its commit and its file removals leaves.
    await db
      .insertInto("file_removals")
      .values({ path: "embeddings/hash-32/q_001.npy", reason: "superseded by batch 9" })
      .execute();
    await expectCopyError(
      copyStoreContents(source, target),
      "SOURCE_BUSY",
      /recorded file removals not yet done \(embeddings\/hash-32\/q_001\.npy.*ldakit verify --repair/,
    );
    await expectUntouched(target);
    await db.deleteFrom("file_removals").execute();

    const copied = await copyStoreContents(source, target);
    expect(copied.tables.models).toBe(1);
  });

  it("names a file a row names that is missing, before it writes anything", async () => {
    const store = await buildSourceStore();
    const source: StoreCopyEnd = { kysely: sqliteKysely(store.path), root: store.root };
    const row = await source.kysely
      .selectFrom("embeddings")
      .select(["embedding_id", "vector_path"])
      .orderBy("embedding_id", "desc")
      .executeTakeFirstOrThrow();
    rmSync(join(store.root, ...row.vector_path.split("/")));
    const target = await postgresEnd();
    await expectCopyError(
      copyStoreContents(source, target),
      "FILE_MISSING",
      new RegExp(
        `embeddings row ${row.embedding_id} \\(vector_path\\) of the source database names ${row.vector_path}, which is not a file in the source store root`,
      ),
    );
    await expectUntouched(target);

    // A projection's mh_<id>.json is named by its row too, though no column holds its path.
    writeFileSync(join(store.root, ...row.vector_path.split("/")), "restored later");
    rmSync(join(store.root, "embeddings", MODEL, `mh_${store.projections[1]}.json`));
    await expectCopyError(
      copyStoreContents(source, target),
      "FILE_MISSING",
      new RegExp(`multi_head_projections row ${store.projections[1]} \\(its mh_\\d+\\.json\\)`),
    );
    await expectUntouched(target);
  });

  it("refuses a value PostgreSQL cannot hold, naming its row and column, and leaves no file behind", async () => {
    const source = await sqliteEnd();
    const model = await source.kysely
      .insertInto("models")
      .values({ name: "m", dimensions: 2, backend: null })
      .returning("model_id")
      .executeTakeFirstOrThrow();
    await source.kysely
      .insertInto("clusters")
      .values({ answer_text: "fine", model_id: model.model_id })
      .execute();
    await source.kysely
      .insertInto("clusters")
      .values({ answer_text: "nul \0 inside", model_id: model.model_id })
      .execute();
    const answer = join(source.root, "embeddings", "m", "a_001.npy");
    writeFiles(join(source.root, "embeddings", "m"), { "a_001.npy": "not read by the copy" });
    await source.kysely
      .insertInto("embeddings")
      .values({
        entity_type: "answer",
        entity_id: 1,
        model_id: model.model_id,
        vector_path: "embeddings/m/a_001.npy",
      })
      .execute();
    expect(existsSync(answer)).toBe(true);
    const target = await postgresEnd();
    await expectCopyError(
      copyStoreContents(source, target),
      "BAD_VALUE",
      /clusters row cluster_id = 2, column answer_text holds a NUL character/,
    );
    await expectUntouched(target);
  });

  it("rolls the target's rows back when a file cannot be written, naming it", async () => {
    const store = await buildSourceStore();
    const source: StoreCopyEnd = { kysely: sqliteKysely(store.path), root: store.root };
    const target = await postgresEnd();
    // A file where the model's folder must go: no file of that model can be written.
    writeFiles(join(target.root, "embeddings"), { [MODEL]: "in the way" });
    await expectCopyError(
      copyStoreContents(source, target),
      "WRITE_FAILED",
      new RegExp(`cannot copy embeddings/${MODEL}/\\S+ to ${target.root}/embeddings/${MODEL}/`),
    );
    const tables = await dump(target.kysely);
    for (const table of TABLE_NAMES) expect(tables[table], table).toEqual([]);
  });

  it("refuses databases not migrated to this ldakit's schema, saying which", async () => {
    const older = await sqliteEnd("005_selection");
    const target = await postgresEnd();
    await expectCopyError(
      copyStoreContents(older, target),
      "SCHEMA_TOO_OLD",
      new RegExp(
        `${older.path} is not migrated to this ldakit's schema \\(it lacks 006_lifecycle, 007_scale_out\\): run \`ldakit migrate\``,
      ),
    );
    const source = await sqliteEnd();
    const bare = await postgresEnd({ migrate: false });
    await expectCopyError(
      copyStoreContents(source, bare),
      "SCHEMA_TOO_OLD",
      /postgres database ldakit_copy_\d+ has no ldakit schema/,
    );
    expect(MIGRATION_NAMES.at(-1)).toBe("007_scale_out");
  });

  it("refuses a source table it does not know rather than leaving it behind", async () => {
    const source = await sqliteEnd();
    await sql`CREATE TABLE notes (id integer primary key, body text)`.execute(source.kysely);
    const target = await postgresEnd();
    await expectCopyError(
      copyStoreContents(source, target),
      "SCHEMA_MISMATCH",
      /has table notes, which is not one of ldakit's tables/,
    );
  });

  it("copies no file when both ends share one store root", async () => {
    const store = await buildSourceStore();
    const source: StoreCopyEnd = { kysely: sqliteKysely(store.path), root: store.root };
    const before = filesOf(store.root);
    const target = { ...(await postgresEnd()), root: join(store.root, "embeddings", "..") };
    const summary = await copyStoreContents(source, target);
    expect(summary.files).toBe(0);
    expect(summary.bytes).toBe(0);
    expect(summary.tables.embeddings).toBeGreaterThan(0);
    expect(filesOf(store.root)).toEqual(before);
  });

  it("refuses bad options and a root that does not exist", async () => {
    const source = await sqliteEnd();
    const target = await postgresEnd();
    await expectCopyError(
      copyStoreContents(source, target, { rowsPerInsert: 501 }),
      "BAD_ARGUMENT",
      /rowsPerInsert must be at most 500, got 501/,
    );
    await expectCopyError(
      copyStoreContents(source, target, { pageSize: 0 }),
      "BAD_ARGUMENT",
      /pageSize must be a positive integer, got 0/,
    );
    await expectCopyError(
      copyStoreContents(source, { ...target, root: join(target.root, "not-mounted") }),
      "BAD_ARGUMENT",
      /the target store root .*not-mounted is not an existing folder/,
    );
    await expectCopyError(
      copyStoreContents(source, source),
      "BAD_ARGUMENT",
      /the source and the target are the same database/,
    );
  });
});

describe("the README", () => {
  it("lists every StoreCopyError code in its section on copying, and no other", () => {
    const source = readFileSync(join(import.meta.dirname, "..", "src", "copy.ts"), "utf8");
    const start = source.indexOf("export type StoreCopyErrorCode");
    const codes = [
      ...source.slice(start, source.indexOf("\n\n", start)).matchAll(/\|\s*"([A-Z_]+)"/g),
    ].map((m) => m[1]);
    expect(codes.length).toBeGreaterThan(5);
    const readme = readFileSync(join(import.meta.dirname, "..", "README.md"), "utf8");
    const from = readme.indexOf("\n## Copying a store between databases");
    expect(from, "README.md has a section on copying").toBeGreaterThan(0);
    const to = readme.indexOf("\n## ", from + 1);
    const section = readme.slice(from, to === -1 ? undefined : to);
    const listed = [...section.matchAll(/^\|\s*`([A-Z_]+)`/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual([...codes].sort());
  });
});
