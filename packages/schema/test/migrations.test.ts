import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Kysely, Migrator, SqliteDialect } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import {
  appliedMigrationNames,
  LATEST_MIGRATION,
  LdakitMigrationProvider,
  MIGRATION_NAMES,
  MigrationError,
  migrateLdakitDatabase,
  TABLE_NAMES,
} from "../src/index.js";
import { openMemoryDb, type TestDb } from "./helpers.js";

const SEED_COLUMNS: Record<string, string[]> = {
  models: ["model_id", "name", "dimensions", "created_at"],
  clusters: ["cluster_id", "answer_text", "answer_record_id", "model_id"],
  questions: ["question_id", "cluster_id", "question_text"],
  embeddings: ["embedding_id", "entity_type", "entity_id", "model_id", "vector_path"],
  multi_head_projections: [
    "mh_projection_id",
    "model_id",
    "num_heads",
    "temperature",
    "created_at",
  ],
  cluster_heads: ["head_id", "mh_projection_id", "cluster_id", "centroid_path", "answer_emb_path"],
  training_batches: [
    "batch_id",
    "file_path",
    "file_hash",
    "status",
    "error_message",
    "created_at",
    "updated_at",
  ],
  batch_status_history: ["history_id", "batch_id", "old_status", "new_status", "changed_at"],
};

/** The columns `002_ldakit` adds to the seed tables (and `claimed_by`, see the README). */
const ADDED_COLUMNS: Record<string, string[]> = {
  models: ["backend"],
  clusters: ["batch_id", "answer_source"],
  questions: ["length_type"],
  embeddings: [],
  multi_head_projections: ["name", "recall_at_1", "mrr", "centroid_method"],
  cluster_heads: ["num_questions"],
  training_batches: ["model_name", "num_clusters", "num_questions", "attempts", "claimed_by"],
  batch_status_history: ["message"],
};

/** What `003_upstream` adds for upstream's Python `LDAProjectionDB`. */
const UPSTREAM_COLUMNS: Record<string, string[]> = { cluster_heads: ["W_path"] };

/** What `004_adapter` adds: a projection's query adapter and blend. */
const ADAPTER_COLUMNS: Record<string, string[]> = {
  multi_head_projections: ["adapter_path", "blend"],
};

/** What `005_selection` adds: how training chose a projection. */
const SELECTION_COLUMNS: Record<string, string[]> = {
  multi_head_projections: ["selection"],
};

/** The tables `006_lifecycle` adds: the journals of the file lifecycle. */
const LIFECYCLE_TABLES: Record<string, string[]> = {
  file_removals: ["path", "reason", "recorded_at"],
  projection_reservations: ["mh_projection_id", "model_id", "owner", "reserved_at"],
};

/** The columns `007_scale_out` adds: when an owner's claim lapses unless renewed. */
const LEASE_COLUMNS: Record<string, string[]> = {
  training_batches: ["lease_expires_at"],
  projection_reservations: ["lease_expires_at"],
};

/** The table `007_scale_out` adds: settings every worker of a shared store must agree on. */
const SCALE_OUT_TABLES: Record<string, string[]> = {
  store_settings: ["key", "value"],
};

/** The column names of upstream's own `answers` table, in its order. */
const UPSTREAM_ANSWER_COLUMNS = [
  "answer_id",
  "parent_id",
  "source_file",
  "record_id",
  "text",
  "text_variant",
  "chunk_index",
  "created_at",
];

/** A table's columns in a database migrated to the latest version. */
function latestColumns(table: string): string[] {
  return [
    ...(SEED_COLUMNS[table] ?? []),
    ...(ADDED_COLUMNS[table] ?? []),
    ...(UPSTREAM_COLUMNS[table] ?? []),
    ...(ADAPTER_COLUMNS[table] ?? []),
    ...(SELECTION_COLUMNS[table] ?? []),
    ...(LIFECYCLE_TABLES[table] ?? []),
    ...(SCALE_OUT_TABLES[table] ?? []),
    ...(LEASE_COLUMNS[table] ?? []),
  ];
}

const ALL_MIGRATIONS = [
  "001_seed",
  "002_ldakit",
  "003_upstream",
  "004_adapter",
  "005_selection",
  "006_lifecycle",
  "007_scale_out",
];

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function columns(t: TestDb, table: string): string[] {
  return (t.raw.pragma(`table_info(${table})`) as Array<{ name: string }>).map((c) => c.name);
}

interface ForeignKey {
  table: string;
  from: string;
  to: string;
  on_delete: string;
}

function foreignKeys(t: TestDb, table: string): ForeignKey[] {
  return (t.raw.pragma(`foreign_key_list(${table})`) as ForeignKey[])
    .map(({ table: parent, from, to, on_delete }) => ({ table: parent, from, to, on_delete }))
    .sort((a, b) => a.from.localeCompare(b.from));
}

function queryPlan(t: TestDb, query: string): string {
  return (t.raw.prepare(`EXPLAIN QUERY PLAN ${query}`).all() as Array<{ detail: string }>)
    .map((r) => r.detail)
    .join("\n");
}

/** Rows a database created by the seed tool (001 only) could hold. */
function insertSeedRows(t: TestDb): void {
  t.raw.exec(`
    INSERT INTO models (model_id, name, dimensions) VALUES (1, 'all-MiniLM-L6-v2', 384);
    INSERT INTO training_batches (batch_id, file_path, file_hash, status)
      VALUES (1, 'data/qa.json', 'abc', 'completed');
    INSERT INTO batch_status_history (batch_id, old_status, new_status) VALUES (1, 'pending', 'importing');
    INSERT INTO clusters (cluster_id, answer_text, answer_record_id, model_id)
      VALUES (1, 'An answer', 'rec-1', 1);
    INSERT INTO questions (question_id, cluster_id, question_text) VALUES (1, 1, 'A question?');
    INSERT INTO embeddings (entity_type, entity_id, model_id, vector_path)
      VALUES ('question', 1, 1, 'embeddings/all-MiniLM-L6-v2/q_001.npy');
    INSERT INTO multi_head_projections (mh_projection_id, model_id, num_heads, temperature)
      VALUES (1, 1, 1, 1.0);
    INSERT INTO cluster_heads (mh_projection_id, cluster_id, centroid_path, answer_emb_path)
      VALUES (1, 1, 'c.npy', 'a.npy');
  `);
}

let current: TestDb | undefined;
function open(): TestDb {
  current = openMemoryDb();
  return current;
}
afterEach(async () => {
  await current?.db.destroy();
  current = undefined;
});

describe("migration names", () => {
  it("are exported in order, the last one being the latest", async () => {
    expect(MIGRATION_NAMES).toEqual(ALL_MIGRATIONS);
    expect(LATEST_MIGRATION).toBe("007_scale_out");
    const provided = Object.keys(await new LdakitMigrationProvider().getMigrations());
    expect(provided.sort()).toEqual([...MIGRATION_NAMES]);
  });
});

describe("a new database", () => {
  it("migrates to the latest version and then has nothing left to do", async () => {
    const t = open();
    expect(await appliedMigrationNames(t.db)).toEqual([]);
    expect(await migrateLdakitDatabase(t.db)).toEqual(ALL_MIGRATIONS);
    expect(await appliedMigrationNames(t.db)).toEqual(ALL_MIGRATIONS);
    expect(await migrateLdakitDatabase(t.db)).toEqual([]);
    expect(t.raw.inTransaction).toBe(false);
  });

  it("has every table and column of docs/FORMAT.md §5.3", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db);
    expect([...TABLE_NAMES].sort()).toEqual(
      [
        ...Object.keys(SEED_COLUMNS),
        ...Object.keys(LIFECYCLE_TABLES),
        ...Object.keys(SCALE_OUT_TABLES),
      ].sort(),
    );
    for (const table of TABLE_NAMES) {
      expect(columns(t, table), table).toEqual(latestColumns(table));
    }
  });

  it("has the foreign keys of docs/FORMAT.md §5.3; clusters.batch_id restricts deletes", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db);
    const fk = (table: string, from: string, to: string, on_delete = "NO ACTION") => ({
      table,
      from,
      to,
      on_delete,
    });
    expect(foreignKeys(t, "clusters")).toEqual([
      fk("training_batches", "batch_id", "batch_id", "RESTRICT"),
      fk("models", "model_id", "model_id"),
    ]);
    expect(foreignKeys(t, "questions")).toEqual([fk("clusters", "cluster_id", "cluster_id")]);
    expect(foreignKeys(t, "embeddings")).toEqual([fk("models", "model_id", "model_id")]);
    expect(foreignKeys(t, "multi_head_projections")).toEqual([
      fk("models", "model_id", "model_id"),
    ]);
    expect(foreignKeys(t, "cluster_heads")).toEqual([
      fk("clusters", "cluster_id", "cluster_id"),
      fk("multi_head_projections", "mh_projection_id", "mh_projection_id"),
    ]);
    expect(foreignKeys(t, "batch_status_history")).toEqual([
      fk("training_batches", "batch_id", "batch_id"),
    ]);
    expect(foreignKeys(t, "models")).toEqual([]);
    expect(foreignKeys(t, "training_batches")).toEqual([]);
    expect(t.raw.pragma("foreign_key_check")).toEqual([]);
  });

  it("enforces foreign keys, CHECK and UNIQUE constraints", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db);
    insertSeedRows(t);
    const fails = (statement: string, message: RegExp) =>
      expect(() => t.raw.exec(statement), statement).toThrow(message);
    fails("INSERT INTO clusters (answer_text, model_id) VALUES ('x', 99)", /FOREIGN KEY/);
    fails(
      "INSERT INTO clusters (answer_text, model_id, batch_id) VALUES ('x', 1, 99)",
      /FOREIGN KEY/,
    );
    fails("UPDATE clusters SET batch_id = 1; DELETE FROM training_batches", /FOREIGN KEY/);
    fails("DELETE FROM models", /FOREIGN KEY/);
    fails("UPDATE training_batches SET status = 'done'", /CHECK/);
    fails("UPDATE training_batches SET attempts = -1", /CHECK/);
    fails("UPDATE training_batches SET attempts = NULL", /NOT NULL/);
    fails("INSERT INTO batch_status_history (batch_id, new_status) VALUES (1, 'x')", /CHECK/);
    fails("UPDATE embeddings SET entity_type = 'vector'", /CHECK/);
    fails("UPDATE multi_head_projections SET centroid_method = 'median'", /CHECK/);
    fails("UPDATE multi_head_projections SET recall_at_1 = 1.5", /CHECK/);
    fails("UPDATE multi_head_projections SET blend = 1.5", /CHECK/);
    fails("UPDATE multi_head_projections SET blend = -0.25", /CHECK/);
    fails("INSERT INTO models (name, dimensions) VALUES ('all-MiniLM-L6-v2', 384)", /UNIQUE/);
    fails(
      "INSERT INTO embeddings (entity_type, entity_id, model_id, vector_path) VALUES ('question', 1, 1, 'x')",
      /UNIQUE/,
    );
    fails(
      "INSERT INTO cluster_heads (mh_projection_id, cluster_id, centroid_path, answer_emb_path) VALUES (1, 1, 'c', 'a')",
      /UNIQUE/,
    );
  });

  it("fills defaults: ISO-8601 UTC timestamps, status pending, attempts 0", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db);
    const model = await t.db
      .insertInto("models")
      .values({ name: "hash-384", dimensions: 384, backend: "hash" })
      .returningAll()
      .executeTakeFirstOrThrow();
    expect(model.created_at).toMatch(ISO_UTC);
    expect(Math.abs(Date.parse(model.created_at) - Date.now())).toBeLessThan(60_000);
    const batch = await t.db
      .insertInto("training_batches")
      .values({ file_path: "a.json", file_hash: "00" })
      .returningAll()
      .executeTakeFirstOrThrow();
    expect(batch).toMatchObject({
      status: "pending",
      attempts: 0,
      error_message: null,
      claimed_by: null,
    });
    expect(batch.created_at).toMatch(ISO_UTC);
    expect(batch.updated_at).toMatch(ISO_UTC);
    const history = await t.db
      .insertInto("batch_status_history")
      .values({ batch_id: batch.batch_id, old_status: null, new_status: "pending", message: "new" })
      .returningAll()
      .executeTakeFirstOrThrow();
    expect(history.changed_at).toMatch(ISO_UTC);
  });

  it("has an index for every lookup the store does", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db);
    const lookups: Array<[string, RegExp]> = [
      ["SELECT * FROM clusters WHERE model_id = 1", /USING INDEX clusters_model_id_idx/],
      ["SELECT * FROM clusters WHERE batch_id = 1", /USING INDEX clusters_batch_id_idx/],
      [
        "SELECT * FROM clusters WHERE answer_record_id = 'x'",
        /USING INDEX clusters_answer_record_id_idx/,
      ],
      ["SELECT * FROM questions WHERE cluster_id = 1", /USING INDEX questions_cluster_id_idx/],
      [
        "SELECT * FROM embeddings WHERE model_id = 1 AND entity_type = 'question' AND entity_id = 3",
        /USING INDEX sqlite_autoindex_embeddings_1/,
      ],
      [
        "SELECT * FROM embeddings WHERE entity_type = 'question' AND entity_id = 3",
        /USING INDEX embeddings_entity_idx/,
      ],
      [
        "SELECT * FROM cluster_heads WHERE mh_projection_id = 1",
        /USING INDEX sqlite_autoindex_cluster_heads_1/,
      ],
      [
        "SELECT * FROM cluster_heads WHERE cluster_id = 1",
        /USING INDEX cluster_heads_cluster_id_idx/,
      ],
      [
        "SELECT * FROM multi_head_projections WHERE model_id = 1",
        /USING INDEX multi_head_projections_model_id_idx/,
      ],
      [
        "SELECT * FROM training_batches WHERE status = 'pending' ORDER BY batch_id",
        /USING INDEX training_batches_status_idx/,
      ],
      [
        "SELECT * FROM training_batches WHERE file_path = 'a' ORDER BY batch_id DESC LIMIT 1",
        /USING INDEX training_batches_file_path_idx/,
      ],
      [
        "SELECT * FROM batch_status_history WHERE batch_id = 1 ORDER BY history_id",
        /USING INDEX batch_status_history_batch_id_idx/,
      ],
      ["SELECT * FROM models WHERE name = 'x'", /USING INDEX sqlite_autoindex_models_1/],
    ];
    for (const [query, plan] of lookups) {
      const detail = queryPlan(t, query);
      expect(detail, query).toMatch(plan);
      expect(detail, query).not.toMatch(/USE TEMP B-TREE/);
    }
  });
});

describe("an older database", () => {
  it("with only 001_seed applied (through Kysely's Migrator) migrates to latest, keeping its rows", async () => {
    const t = open();
    const migrator = new Migrator({ db: t.db, provider: new LdakitMigrationProvider() });
    const first = await migrator.migrateTo("001_seed");
    expect(first.error).toBeUndefined();
    expect(first.results?.map((r) => r.migrationName)).toEqual(["001_seed"]);
    for (const [table, seed] of Object.entries(SEED_COLUMNS)) {
      expect(columns(t, table), table).toEqual(seed);
    }
    expect(foreignKeys(t, "clusters")).toEqual([
      { table: "models", from: "model_id", to: "model_id", on_delete: "NO ACTION" },
    ]);
    insertSeedRows(t);

    expect(await migrateLdakitDatabase(t.db)).toEqual([
      "002_ldakit",
      "003_upstream",
      "004_adapter",
      "005_selection",
      "006_lifecycle",
      "007_scale_out",
    ]);
    for (const table of TABLE_NAMES) {
      expect(columns(t, table), table).toEqual(latestColumns(table));
    }
    const batch = await t.db.selectFrom("training_batches").selectAll().executeTakeFirstOrThrow();
    expect(batch).toMatchObject({
      batch_id: 1,
      status: "completed",
      attempts: 0,
      num_clusters: null,
    });
    const cluster = await t.db.selectFrom("clusters").selectAll().executeTakeFirstOrThrow();
    expect(cluster).toMatchObject({
      answer_record_id: "rec-1",
      batch_id: null,
      answer_source: null,
    });
    expect(t.raw.pragma("foreign_key_check")).toEqual([]);
    expect(await migrator.migrateToLatest()).toEqual({ results: [] });
  });

  it("created by the seed tool itself (tables, no migration records) is adopted", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db, "001_seed");
    t.raw.exec("DROP TABLE kysely_migration; DROP TABLE kysely_migration_lock;");
    insertSeedRows(t);
    expect(await migrateLdakitDatabase(t.db)).toEqual(ALL_MIGRATIONS);
    expect(columns(t, "clusters")).toContain("batch_id");
    expect((t.raw.prepare("SELECT count(*) AS n FROM questions").get() as { n: number }).n).toBe(1);
  });

  it("whose migration fails is left exactly as it was", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db, "001_seed");
    // make the last ALTER of 002 fail
    t.raw.exec("ALTER TABLE batch_status_history ADD COLUMN message TEXT");
    const before = t.raw.prepare("SELECT sql FROM sqlite_master ORDER BY name").all();
    const error = await migrateLdakitDatabase(t.db).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toMatch(
      /^database migration 002_ldakit failed: .*duplicate column name: message/,
    );
    expect(t.raw.prepare("SELECT sql FROM sqlite_master ORDER BY name").all()).toEqual(before);
    expect(columns(t, "models")).toEqual(SEED_COLUMNS.models);
    expect(await appliedMigrationNames(t.db)).toEqual(["001_seed"]);
    expect(t.raw.inTransaction).toBe(false);
  });

  it("is not migrated down", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db);
    await expect(migrateLdakitDatabase(t.db, "001_seed")).rejects.toThrow(
      "cannot migrate down from 007_scale_out to 001_seed: ldakit migrations are forward-only",
    );
    expect(await appliedMigrationNames(t.db)).toEqual(ALL_MIGRATIONS);
  });
});

describe("a database from a newer ldakit", () => {
  it("is refused with a message that says to upgrade", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db);
    t.raw
      .prepare("INSERT INTO kysely_migration (name, timestamp) VALUES (?, ?)")
      .run("999_future", new Date().toISOString());
    await expect(migrateLdakitDatabase(t.db)).rejects.toThrow(
      /has migration 999_future, which this version of ldakit does not know; .*upgrade ldakit/,
    );
    expect(t.raw.inTransaction).toBe(false);
  });
});

describe("an up-to-date database", () => {
  it("is opened without taking the write lock (another process may be writing)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ldakit-schema-"));
    const file = join(dir, "lda.db");
    const first = new Kysely<unknown>({
      dialect: new SqliteDialect({ database: new Database(file) }),
    });
    const writer = new Database(file);
    const secondRaw = new Database(file);
    secondRaw.pragma("busy_timeout = 0");
    const second = new Kysely<unknown>({ dialect: new SqliteDialect({ database: secondRaw }) });
    try {
      await migrateLdakitDatabase(first);
      writer.exec("BEGIN IMMEDIATE");
      expect(await migrateLdakitDatabase(second)).toEqual([]);
      // migrating down needs the lock, and says so
      await expect(migrateLdakitDatabase(second, "001_seed")).rejects.toThrow(/database is locked/);
      writer.exec("ROLLBACK");
    } finally {
      writer.close();
      await first.destroy();
      await second.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Clusters of two batches and one added through the API (no batch), with a projection. */
function insertUpstreamRows(t: TestDb): void {
  t.raw.exec(`
    INSERT INTO models (model_id, name, dimensions) VALUES (1, 'hash-384', 384);
    INSERT INTO training_batches (batch_id, file_path, file_hash, status)
      VALUES (1, 'raw/gear.json', 'aa', 'completed'), (2, '/data/riding.json', 'bb', 'completed');
    INSERT INTO clusters (cluster_id, answer_text, answer_record_id, model_id, batch_id)
      VALUES (3, 'Oil the chain.', 'chain-oil', 1, 1), (5, 'Signal early.', NULL, 1, 2),
             (8, 'Added by hand.', 'api-1', 1, NULL);
    INSERT INTO multi_head_projections (mh_projection_id, model_id, num_heads, temperature)
      VALUES (1, 1, 1, 0.1);
    INSERT INTO cluster_heads (mh_projection_id, cluster_id, centroid_path, answer_emb_path)
      VALUES (1, 3, 'c.npy', 'a.npy');
  `);
}

/** The rows the `answers` view must give for {@link insertUpstreamRows}, by answer_id. */
const UPSTREAM_ANSWERS = [
  {
    answer_id: 3,
    parent_id: null,
    source_file: "raw/gear.json",
    record_id: "chain-oil",
    text: "Oil the chain.",
    text_variant: "default",
    chunk_index: null,
    created_at: null,
  },
  {
    answer_id: 5,
    parent_id: null,
    source_file: "/data/riding.json",
    record_id: null,
    text: "Signal early.",
    text_variant: "default",
    chunk_index: null,
    created_at: null,
  },
  {
    answer_id: 8,
    parent_id: null,
    source_file: null,
    record_id: "api-1",
    text: "Added by hand.",
    text_variant: "default",
    chunk_index: null,
    created_at: null,
  },
];

interface ColumnInfo {
  name: string;
  type: string;
  notnull: number;
  dflt_value: unknown;
}

/**
 * What upstream's constructor leaves in a database that lacks its tables: among others an
 * empty `answers` table, and tables whose foreign keys point at it.
 */
function openedByUpstream(t: TestDb): void {
  t.raw.exec(`
    CREATE TABLE IF NOT EXISTS answers (answer_id INTEGER PRIMARY KEY, text TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS cluster_answers (
      cluster_id INTEGER, answer_id INTEGER REFERENCES answers(answer_id),
      PRIMARY KEY (cluster_id, answer_id));
    CREATE TABLE IF NOT EXISTS qa_clusters (cluster_id INTEGER PRIMARY KEY, name TEXT);
  `);
}

describe("what upstream's LDAProjectionDB reads (003_upstream)", () => {
  it("cluster_heads.W_path: nullable text, null for heads inserted as the store inserts them", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db);
    const info = (t.raw.pragma("table_info(cluster_heads)") as ColumnInfo[]).find(
      (c) => c.name === "W_path",
    );
    expect(info).toMatchObject({ type: "TEXT", notnull: 0, dflt_value: null });
    insertUpstreamRows(t);
    await t.db
      .insertInto("cluster_heads")
      .values({
        mh_projection_id: 1,
        cluster_id: 5,
        centroid_path: "c5.npy",
        answer_emb_path: "a5.npy",
        num_questions: 4,
      })
      .execute();
    const heads = await t.db
      .selectFrom("cluster_heads")
      .select(["cluster_id", "W_path"])
      .orderBy("cluster_id")
      .execute();
    expect(heads).toEqual([
      { cluster_id: 3, W_path: null },
      { cluster_id: 5, W_path: null },
    ]);
  });

  it("the answers view has upstream's columns and one row per cluster, kept current", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db);
    expect(t.raw.prepare("SELECT type FROM sqlite_master WHERE name = 'answers'").get()).toEqual({
      type: "view",
    });
    expect(columns(t, "answers")).toEqual(UPSTREAM_ANSWER_COLUMNS);
    expect(await t.db.selectFrom("answers").selectAll().execute()).toEqual([]);

    insertUpstreamRows(t);
    const rows = await t.db.selectFrom("answers").selectAll().orderBy("answer_id").execute();
    expect(rows).toEqual(UPSTREAM_ANSWERS);
    // upstream looks answers up one at a time by id
    expect(t.raw.prepare("SELECT * FROM answers WHERE answer_id = ?").get(5)).toEqual(
      UPSTREAM_ANSWERS[1],
    );
    expect(t.raw.prepare("SELECT * FROM answers WHERE answer_id = ?").get(4)).toBeUndefined();

    t.raw.exec(`
      UPDATE clusters SET answer_text = 'Oil the chain lightly.' WHERE cluster_id = 3;
      DELETE FROM clusters WHERE cluster_id = 8;
    `);
    expect(t.raw.prepare("SELECT answer_id, text FROM answers ORDER BY answer_id").all()).toEqual([
      { answer_id: 3, text: "Oil the chain lightly." },
      { answer_id: 5, text: "Signal early." },
    ]);
  });

  it("the answers view is read-only", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db);
    insertUpstreamRows(t);
    for (const statement of [
      "INSERT INTO answers (source_file, text) VALUES ('x.json', 'x')",
      "UPDATE answers SET text = 'x'",
      "DELETE FROM answers",
    ]) {
      expect(() => t.raw.exec(statement), statement).toThrow(
        /cannot modify answers because it is a view/,
      );
    }
  });

  it("reads the same through the sqlite3 shell", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ldakit-schema-"));
    const file = join(dir, "lda.db");
    const raw = new Database(file);
    raw.pragma("foreign_keys = ON");
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: raw }) });
    try {
      await migrateLdakitDatabase(db);
      insertUpstreamRows({ raw, db: db as TestDb["db"] });
      await db.destroy();
      const shell = (query: string) => {
        const run = spawnSync("sqlite3", ["-json", file, query], { encoding: "utf8" });
        if (run.error)
          throw new Error(
            `sqlite3 is needed for this test (apt-get install sqlite3): ${run.error.message}`,
          );
        if (run.status !== 0) throw new Error(`sqlite3 failed: ${run.stderr}`);
        return JSON.parse(run.stdout || "[]") as unknown[];
      };
      expect(shell("SELECT * FROM answers ORDER BY answer_id")).toEqual(UPSTREAM_ANSWERS);
      expect(shell("SELECT name FROM pragma_table_info('answers')")).toEqual(
        UPSTREAM_ANSWER_COLUMNS.map((name) => ({ name })),
      );
      expect(shell("SELECT cluster_id, W_path FROM cluster_heads WHERE W_path IS NULL")).toEqual([
        { cluster_id: 3, W_path: null },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a database at 002_ldakit is migrated in place, keeping its rows", async () => {
    const t = open();
    expect(await migrateLdakitDatabase(t.db, "002_ldakit")).toEqual(["001_seed", "002_ldakit"]);
    expect(columns(t, "cluster_heads")).not.toContain("W_path");
    insertSeedRows(t);
    const before = {
      clusters: t.raw.prepare("SELECT * FROM clusters").all(),
      heads: t.raw.prepare("SELECT * FROM cluster_heads").all(),
      embeddings: t.raw.prepare("SELECT * FROM embeddings").all(),
    };

    expect(await migrateLdakitDatabase(t.db, "003_upstream")).toEqual(["003_upstream"]);
    expect(t.raw.prepare("SELECT * FROM clusters").all()).toEqual(before.clusters);
    expect(t.raw.prepare("SELECT * FROM embeddings").all()).toEqual(before.embeddings);
    expect(t.raw.prepare("SELECT * FROM cluster_heads").all()).toEqual(
      before.heads.map((h) => ({ ...(h as object), W_path: null })),
    );
    expect(
      t.raw.prepare("SELECT answer_id, source_file, record_id, text FROM answers").all(),
    ).toEqual([{ answer_id: 1, source_file: null, record_id: "rec-1", text: "An answer" }]);
    expect(t.raw.pragma("foreign_key_check")).toEqual([]);
  });

  it("an empty answers table that upstream's constructor made in a 002_ldakit store gives way to the view", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db, "002_ldakit");
    insertUpstreamRows(t);
    openedByUpstream(t);
    expect(await migrateLdakitDatabase(t.db, "003_upstream")).toEqual(["003_upstream"]);
    expect(t.raw.prepare("SELECT type FROM sqlite_master WHERE name = 'answers'").get()).toEqual({
      type: "view",
    });
    expect(await t.db.selectFrom("answers").selectAll().orderBy("answer_id").execute()).toEqual(
      UPSTREAM_ANSWERS,
    );
    // upstream's own tables stay as they were
    expect(columns(t, "qa_clusters")).toEqual(["cluster_id", "name"]);
  });

  it("an answers table that holds rows stops the migration, which changes nothing", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db, "002_ldakit");
    insertUpstreamRows(t);
    openedByUpstream(t);
    t.raw.exec("INSERT INTO answers (answer_id, text) VALUES (1, 'kept'), (2, 'kept too')");
    const before = t.raw.prepare("SELECT sql FROM sqlite_master ORDER BY name").all();
    const error = await migrateLdakitDatabase(t.db).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toBe(
      `database migration 003_upstream failed: the database has a table "answers" with 2 row(s), not made by ldakit; ldakit replaces it with a view of the clusters for upstream's LDAProjectionDB — move those rows elsewhere and drop the table, then open the store again`,
    );
    expect(t.raw.prepare("SELECT sql FROM sqlite_master ORDER BY name").all()).toEqual(before);
    expect(t.raw.prepare("SELECT text FROM answers ORDER BY answer_id").all()).toEqual([
      { text: "kept" },
      { text: "kept too" },
    ]);
    expect(await appliedMigrationNames(t.db)).toEqual(["001_seed", "002_ldakit"]);
    expect(t.raw.inTransaction).toBe(false);
  });

  it("another object named answers stops the migration with its kind in the message", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db, "002_ldakit");
    t.raw.exec("CREATE VIEW answers AS SELECT 1 AS one");
    await expect(migrateLdakitDatabase(t.db)).rejects.toThrow(
      /^database migration 003_upstream failed: the database already has a view named "answers"/,
    );
    expect(await appliedMigrationNames(t.db)).toEqual(["001_seed", "002_ldakit"]);
  });
});

describe("a projection's query adapter and blend (004_adapter)", () => {
  const adapterColumns = (t: TestDb) =>
    (t.raw.pragma("table_info(multi_head_projections)") as ColumnInfo[])
      .filter((c) => c.name === "adapter_path" || c.name === "blend")
      .map(({ name, type, notnull, dflt_value }) => ({ name, type, notnull, dflt_value }));

  it("adds adapter_path (nullable text) and blend (nullable real in [0, 1])", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db);
    expect(adapterColumns(t)).toEqual([
      { name: "adapter_path", type: "TEXT", notnull: 0, dflt_value: null },
      { name: "blend", type: "REAL", notnull: 0, dflt_value: null },
    ]);
    insertSeedRows(t);
    // A row written without them is a projection with no adapter and no blend.
    expect(t.raw.prepare("SELECT adapter_path, blend FROM multi_head_projections").get()).toEqual({
      adapter_path: null,
      blend: null,
    });
    for (const blend of [0, 0.25, 1]) {
      t.raw.prepare("UPDATE multi_head_projections SET blend = ?").run(blend);
      expect(t.raw.prepare("SELECT blend FROM multi_head_projections").get()).toEqual({ blend });
    }
    for (const blend of [1.0000001, -1e-9, 2]) {
      expect(() => t.raw.prepare("UPDATE multi_head_projections SET blend = ?").run(blend)).toThrow(
        /CHECK constraint failed: blend BETWEEN 0 AND 1/,
      );
    }
    const inserted = await t.db
      .insertInto("multi_head_projections")
      .values({
        model_id: 1,
        num_heads: 1,
        temperature: 0.1,
        adapter_path: "embeddings/all-MiniLM-L6-v2/mh_002_W.npy",
        blend: 0.375,
      })
      .returning(["mh_projection_id", "adapter_path", "blend"])
      .executeTakeFirstOrThrow();
    expect(inserted).toEqual({
      mh_projection_id: 2,
      adapter_path: "embeddings/all-MiniLM-L6-v2/mh_002_W.npy",
      blend: 0.375,
    });
  });

  it("a database at 003_upstream is migrated in place, its projections keeping their rows", async () => {
    const t = open();
    expect(await migrateLdakitDatabase(t.db, "003_upstream")).toEqual([
      "001_seed",
      "002_ldakit",
      "003_upstream",
    ]);
    expect(columns(t, "multi_head_projections")).not.toContain("adapter_path");
    insertSeedRows(t);
    t.raw.exec(
      "UPDATE multi_head_projections SET name = 'p1', recall_at_1 = 0.5, mrr = 0.625, centroid_method = 'mean'",
    );
    const before = {
      projections: t.raw.prepare("SELECT * FROM multi_head_projections").all(),
      heads: t.raw.prepare("SELECT * FROM cluster_heads").all(),
      answers: t.raw.prepare("SELECT * FROM answers").all(),
    };

    expect(await migrateLdakitDatabase(t.db)).toEqual([
      "004_adapter",
      "005_selection",
      "006_lifecycle",
      "007_scale_out",
    ]);
    expect(await appliedMigrationNames(t.db)).toEqual(ALL_MIGRATIONS);
    expect(columns(t, "multi_head_projections")).toEqual(latestColumns("multi_head_projections"));
    expect(t.raw.prepare("SELECT * FROM multi_head_projections").all()).toEqual(
      before.projections.map((p) => ({
        ...(p as object),
        adapter_path: null,
        blend: null,
        selection: null,
      })),
    );
    expect(t.raw.prepare("SELECT * FROM cluster_heads").all()).toEqual(before.heads);
    expect(t.raw.prepare("SELECT * FROM answers").all()).toEqual(before.answers);
    expect(t.raw.pragma("foreign_key_check")).toEqual([]);
    expect(await migrateLdakitDatabase(t.db)).toEqual([]);
  });

  it("a failing 004_adapter leaves a 003_upstream database as it was", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db, "003_upstream");
    // make the second ALTER of 004 fail, after the first has run
    t.raw.exec("ALTER TABLE multi_head_projections ADD COLUMN blend REAL");
    const before = t.raw.prepare("SELECT sql FROM sqlite_master ORDER BY name").all();
    const error = await migrateLdakitDatabase(t.db).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toMatch(
      /^database migration 004_adapter failed: .*duplicate column name: blend/,
    );
    expect(t.raw.prepare("SELECT sql FROM sqlite_master ORDER BY name").all()).toEqual(before);
    expect(columns(t, "multi_head_projections")).not.toContain("adapter_path");
    expect(await appliedMigrationNames(t.db)).toEqual(["001_seed", "002_ldakit", "003_upstream"]);
  });

  it("reads the same through the sqlite3 shell", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ldakit-schema-"));
    const file = join(dir, "lda.db");
    const raw = new Database(file);
    raw.pragma("foreign_keys = ON");
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: raw }) });
    try {
      await migrateLdakitDatabase(db, "003_upstream");
      insertUpstreamRows({ raw, db: db as TestDb["db"] });
      await migrateLdakitDatabase(db);
      raw.exec(`
        INSERT INTO multi_head_projections (mh_projection_id, model_id, num_heads, temperature, adapter_path, blend)
          VALUES (2, 1, 1, 0.1, 'embeddings/hash-384/mh_002_W.npy', 0.625);
      `);
      await db.destroy();
      const run = spawnSync(
        "sqlite3",
        [
          "-json",
          file,
          `SELECT mh_projection_id, adapter_path, blend, typeof(blend) AS blend_type
             FROM multi_head_projections ORDER BY mh_projection_id`,
        ],
        { encoding: "utf8" },
      );
      if (run.error)
        throw new Error(
          `sqlite3 is needed for this test (apt-get install sqlite3): ${run.error.message}`,
        );
      expect(run.status, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toEqual([
        { mh_projection_id: 1, adapter_path: null, blend: null, blend_type: "null" },
        {
          mh_projection_id: 2,
          adapter_path: "embeddings/hash-384/mh_002_W.npy",
          blend: 0.625,
          blend_type: "real",
        },
      ]);
      const shellColumns = spawnSync(
        "sqlite3",
        [
          "-json",
          file,
          "SELECT name, type, \"notnull\" FROM pragma_table_info('multi_head_projections') WHERE name IN ('adapter_path', 'blend')",
        ],
        { encoding: "utf8" },
      );
      expect(JSON.parse(shellColumns.stdout)).toEqual([
        { name: "adapter_path", type: "TEXT", notnull: 0 },
        { name: "blend", type: "REAL", notnull: 0 },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("how training chose a projection (005_selection)", () => {
  it("adds a nullable JSON column that older rows read as NULL and that refuses text that is not JSON", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db, "004_adapter");
    insertSeedRows(t);
    expect(await migrateLdakitDatabase(t.db)).toEqual([
      "005_selection",
      "006_lifecycle",
      "007_scale_out",
    ]);
    expect(t.raw.prepare("SELECT selection FROM multi_head_projections").all()).toEqual([
      { selection: null },
    ]);
    t.raw.exec(`UPDATE multi_head_projections SET selection = '{"adapter":"none","blend":1}'`);
    expect(
      t.raw.prepare("SELECT selection ->> '$.adapter' AS a FROM multi_head_projections").get(),
    ).toEqual({ a: "none" });
    expect(() =>
      t.raw.exec("UPDATE multi_head_projections SET selection = 'adapter: none'"),
    ).toThrow(/CHECK constraint failed/);
  });
});

describe("the file lifecycle journals (006_lifecycle)", () => {
  it("adds file_removals and projection_reservations to a 005 store, keeping its rows", async () => {
    const t = open();
    expect(await migrateLdakitDatabase(t.db, "005_selection")).toEqual(ALL_MIGRATIONS.slice(0, 5));
    insertSeedRows(t);
    expect(await migrateLdakitDatabase(t.db, "006_lifecycle")).toEqual(["006_lifecycle"]);
    for (const [table, names] of Object.entries(LIFECYCLE_TABLES)) {
      expect(columns(t, table), table).toEqual(names);
    }
    expect(foreignKeys(t, "projection_reservations")).toEqual([
      { table: "models", from: "model_id", to: "model_id", on_delete: "NO ACTION" },
    ]);
    t.raw.exec(
      "INSERT INTO file_removals (path, reason) VALUES ('embeddings/m/q_001.npy', 'test')",
    );
    const removal = t.raw.prepare("SELECT recorded_at FROM file_removals").get() as {
      recorded_at: string;
    };
    expect(removal.recorded_at).toMatch(ISO_UTC);
    // A path is recorded once: a second removal of the same file is a conflict, not a duplicate.
    expect(() =>
      t.raw.exec("INSERT INTO file_removals (path, reason) VALUES ('embeddings/m/q_001.npy', 'x')"),
    ).toThrow(/UNIQUE constraint failed: file_removals.path/);
    expect(await t.db.selectFrom("multi_head_projections").selectAll().execute()).toHaveLength(1);
  });
});

describe("the scale-out settings and leases (007_scale_out)", () => {
  it("adds store_settings and the lease columns to a 006 store, keeping its rows", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db, "006_lifecycle");
    insertSeedRows(t);
    t.raw.exec(
      "INSERT INTO projection_reservations (mh_projection_id, model_id, owner) VALUES (5, 1, 'h:1:n')",
    );
    const batchesBefore = t.raw.prepare("SELECT * FROM training_batches").all();
    const reservationsBefore = t.raw.prepare("SELECT * FROM projection_reservations").all();
    expect(await migrateLdakitDatabase(t.db)).toEqual(["007_scale_out"]);
    expect(columns(t, "store_settings")).toEqual(SCALE_OUT_TABLES.store_settings);
    expect(columns(t, "training_batches").at(-1)).toBe("lease_expires_at");
    expect(columns(t, "projection_reservations").at(-1)).toBe("lease_expires_at");
    // Rows written before the migration own no lease.
    expect(t.raw.prepare("SELECT * FROM training_batches").all()).toEqual(
      batchesBefore.map((b) => ({ ...(b as object), lease_expires_at: null })),
    );
    expect(t.raw.prepare("SELECT * FROM projection_reservations").all()).toEqual(
      reservationsBefore.map((r) => ({ ...(r as object), lease_expires_at: null })),
    );
    await t.db
      .updateTable("training_batches")
      .set({ lease_expires_at: "2025-01-02T03:04:05.678Z" })
      .execute();
    expect(
      await t.db.selectFrom("training_batches").select("lease_expires_at").executeTakeFirst(),
    ).toEqual({ lease_expires_at: "2025-01-02T03:04:05.678Z" });
    await t.db
      .insertInto("store_settings")
      .values({ key: "store_root", value: "/srv/a" })
      .execute();
    // One value per key, and never none.
    expect(() =>
      t.raw.exec("INSERT INTO store_settings (key, value) VALUES ('store_root', '/srv/b')"),
    ).toThrow(/UNIQUE constraint failed: store_settings.key/);
    expect(() =>
      t.raw.exec("INSERT INTO store_settings (key, value) VALUES ('other', NULL)"),
    ).toThrow(/NOT NULL constraint failed: store_settings.value/);
    expect(await t.db.selectFrom("store_settings").selectAll().execute()).toEqual([
      { key: "store_root", value: "/srv/a" },
    ]);
  });

  it("leaves the SQL of every table 001–006 made as 006 left it, but for the added columns", async () => {
    const at006 = open();
    await migrateLdakitDatabase(at006.db, "006_lifecycle");
    const before = new Map(
      (
        at006.raw
          .prepare("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")
          .all() as Array<{ name: string; sql: string }>
      ).map((r) => [r.name, r.sql]),
    );
    await at006.db.destroy();
    const t = open();
    await migrateLdakitDatabase(t.db);
    const after = t.raw
      .prepare("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")
      .all() as Array<{ name: string; sql: string }>;
    for (const { name, sql } of after) {
      if (name === "store_settings" || name.startsWith("sqlite_autoindex_store_settings")) continue;
      const old = before.get(name);
      expect(old, name).toBeDefined();
      // SQLite appends an added column to the table's CREATE statement.
      expect(sql.replace(/, "lease_expires_at" text\)$/, ")"), name).toBe(old);
    }
    expect(after.map((r) => r.name).sort()).toEqual([...before.keys(), "store_settings"].sort());
  });
});
