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

/** The "+" columns of DESIGN §4 (and `claimed_by`, see the README). */
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
    expect(MIGRATION_NAMES).toEqual(["001_seed", "002_ldakit"]);
    expect(LATEST_MIGRATION).toBe("002_ldakit");
    const provided = Object.keys(await new LdakitMigrationProvider().getMigrations());
    expect(provided.sort()).toEqual([...MIGRATION_NAMES]);
  });
});

describe("a new database", () => {
  it("migrates to the latest version and then has nothing left to do", async () => {
    const t = open();
    expect(await appliedMigrationNames(t.db)).toEqual([]);
    expect(await migrateLdakitDatabase(t.db)).toEqual(["001_seed", "002_ldakit"]);
    expect(await appliedMigrationNames(t.db)).toEqual(["001_seed", "002_ldakit"]);
    expect(await migrateLdakitDatabase(t.db)).toEqual([]);
    expect(t.raw.inTransaction).toBe(false);
  });

  it("has every table and column of DESIGN §4", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db);
    expect([...TABLE_NAMES].sort()).toEqual(Object.keys(SEED_COLUMNS).sort());
    for (const table of TABLE_NAMES) {
      expect(columns(t, table), table).toEqual([
        ...(SEED_COLUMNS[table] ?? []),
        ...(ADDED_COLUMNS[table] ?? []),
      ]);
    }
  });

  it("has the foreign keys of DESIGN §4; clusters.batch_id restricts deletes", async () => {
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

    expect(await migrateLdakitDatabase(t.db)).toEqual(["002_ldakit"]);
    for (const table of TABLE_NAMES) {
      expect(columns(t, table), table).toEqual([
        ...(SEED_COLUMNS[table] ?? []),
        ...(ADDED_COLUMNS[table] ?? []),
      ]);
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
    expect(await migrateLdakitDatabase(t.db)).toEqual(["001_seed", "002_ldakit"]);
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
      "cannot migrate down from 002_ldakit to 001_seed: ldakit migrations are forward-only",
    );
    expect(await appliedMigrationNames(t.db)).toEqual(["001_seed", "002_ldakit"]);
  });
});

describe("a database from a newer ldakit", () => {
  it("is refused with a message that says to upgrade", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db);
    t.raw
      .prepare("INSERT INTO kysely_migration (name, timestamp) VALUES (?, ?)")
      .run("003_future", new Date().toISOString());
    await expect(migrateLdakitDatabase(t.db)).rejects.toThrow(
      /has migration 003_future, which this version of ldakit does not know; .*upgrade ldakit/,
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
