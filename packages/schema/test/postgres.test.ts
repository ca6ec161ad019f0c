/// <reference path="../../../tools/postgres-global-setup.d.mts" />
// The migrations on a real PostgreSQL server (the run's, started from the npm registry's binaries
// by tools/postgres-global-setup.mjs), compared with the same migrations on SQLite: what a store
// keeps must not depend on the backend it was given.
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { afterAll, afterEach, describe, expect, inject, it } from "vitest";
import { createDatabase, dropDatabase } from "../../../tools/postgres-databases.mjs";
import {
  appliedMigrationNames,
  type Database,
  ldakitDialectOf,
  MIGRATION_NAMES,
  MigrationError,
  migrateLdakitDatabase,
} from "../src/index.js";
import { openMemoryDb, type TestDb } from "./helpers.js";

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const opened: Array<Kysely<Database>> = [];
const sqlites: TestDb[] = [];
const databases: string[] = [];

afterEach(async () => {
  for (const db of opened.splice(0)) await db.destroy();
  for (const t of sqlites.splice(0)) await t.db.destroy();
});

afterAll(async () => {
  for (const url of databases.splice(0)) await dropDatabase(url);
});

/** A Kysely over a new, empty PostgreSQL database of its own (a pool, as a store would use). */
async function freshPostgres(): Promise<Kysely<Database>> {
  const url = await createDatabase(inject("ldakitPostgresUrl"));
  databases.push(url);
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 4 }) }),
  });
  opened.push(db);
  return db;
}

function freshSqlite(): TestDb {
  const t = openMemoryDb();
  sqlites.push(t);
  return t;
}

/** A column as both backends must agree on it, whatever each spells. */
interface ColumnShape {
  name: string;
  /** `float4` only for PostgreSQL's 4-byte `real`, which would lose digits SQLite keeps. */
  type: "integer" | "text" | "float" | "float4" | "untyped";
  notNull: boolean;
  /** `auto` for an auto-numbered key, `now` for the ISO-8601 timestamp default. */
  default: string | null;
}

interface Shape {
  tables: Record<string, ColumnShape[]>;
  primaryKeys: Record<string, string[]>;
  foreignKeys: string[];
  uniques: string[];
  indexes: string[];
  views: Record<string, string[]>;
  migrations: string[];
}

function typeClass(declared: string, postgres = false): ColumnShape["type"] {
  const t = declared.toLowerCase();
  if (postgres && t === "real") return "float4";
  if (t === "") return "untyped";
  if (t === "integer" || t === "bigint") return "integer";
  if (t === "real" || t === "double precision") return "float";
  if (t === "text" || t.startsWith("varchar") || t === "character varying") return "text";
  throw new Error(`unexpected column type ${declared}`);
}

function sqliteDefault(value: string | null, pkAuto: boolean): string | null {
  if (pkAuto) return "auto";
  if (value === null) return null;
  if (value.includes("strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")) return "now";
  return value;
}

function postgresDefault(value: string | null, identity: boolean): string | null {
  if (identity) return "auto";
  if (value === null) return null;
  if (value.includes("clock_timestamp()")) return "now";
  // 'pending'::text → 'pending', as SQLite writes the literal.
  return value.replace(/::[a-z ]+$/, "");
}

function emptyShape(): Shape {
  return {
    tables: {},
    primaryKeys: {},
    foreignKeys: [],
    uniques: [],
    indexes: [],
    views: {},
    migrations: [],
  };
}

async function sqliteShape(t: TestDb): Promise<Shape> {
  const raw = t.raw;
  const objects = raw
    .prepare(
      "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .all() as Array<{ type: string; name: string }>;
  const shape = emptyShape();
  for (const { type, name } of objects) {
    const columns = raw
      .prepare("SELECT * FROM pragma_table_info(?) ORDER BY cid")
      .all(name) as Array<{
      name: string;
      type: string;
      notnull: number;
      dflt_value: string | null;
      pk: number;
    }>;
    if (type === "view") {
      shape.views[name] = columns.map((c) => c.name);
      continue;
    }
    const keys = columns.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
    shape.primaryKeys[name] = keys.map((c) => c.name);
    shape.tables[name] = columns.map((c) => {
      // An INTEGER PRIMARY KEY aliases the rowid: never NULL, numbered when not given.
      const rowid = keys.length === 1 && c.pk === 1 && c.type.toLowerCase() === "integer";
      return {
        name: c.name,
        type: typeClass(c.type),
        notNull: c.notnull === 1 || c.pk > 0,
        default: sqliteDefault(c.dflt_value, rowid),
      };
    });
    const fks = raw.prepare("SELECT * FROM pragma_foreign_key_list(?)").all(name) as Array<{
      from: string;
      table: string;
      to: string;
      on_delete: string;
    }>;
    for (const fk of fks) {
      shape.foreignKeys.push(
        `${name}.${fk.from} -> ${fk.table}.${fk.to} on delete ${fk.on_delete}`,
      );
    }
    const indexList = raw.prepare("SELECT * FROM pragma_index_list(?)").all(name) as Array<{
      name: string;
      origin: string;
    }>;
    for (const index of indexList) {
      const cols = (
        raw
          .prepare("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
          .all(index.name) as Array<{
          name: string;
        }>
      ).map((c) => c.name);
      if (index.origin === "u") shape.uniques.push(`${name}(${cols.join(",")})`);
      if (index.origin === "c") shape.indexes.push(`${index.name} on ${name}(${cols.join(",")})`);
    }
  }
  shape.foreignKeys.sort();
  shape.uniques.sort();
  shape.indexes.sort();
  shape.migrations = await appliedMigrationNames(t.db);
  return shape;
}

async function postgresShape(db: Kysely<Database>): Promise<Shape> {
  const q = async <R>(query: ReturnType<typeof sql<R>>) => (await query.execute(db)).rows;
  const shape = emptyShape();
  const objects = await q(sql<{ name: string; type: string }>`
    SELECT table_name AS name, table_type AS type FROM information_schema.tables
    WHERE table_schema = current_schema() ORDER BY table_name`);
  for (const { name, type } of objects) {
    const columns = await q(sql<{
      name: string;
      type: string;
      nullable: string;
      dflt: string | null;
      identity: string;
    }>`
      SELECT column_name AS name, data_type AS type, is_nullable AS nullable,
             column_default AS dflt, is_identity AS identity
      FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = ${name} ORDER BY ordinal_position`);
    if (type === "VIEW") {
      shape.views[name] = columns.map((c) => c.name);
      continue;
    }
    shape.tables[name] = columns.map((c) => ({
      name: c.name,
      type: typeClass(c.type, true),
      notNull: c.nullable === "NO",
      default: postgresDefault(c.dflt, c.identity === "YES"),
    }));
    const constraints = await q(sql<{ kind: string; constraint: string; column: string }>`
      SELECT tc.constraint_type AS kind, tc.constraint_name AS constraint, k.column_name AS column
      FROM information_schema.table_constraints tc
      JOIN information_schema.key_column_usage k
        ON k.constraint_name = tc.constraint_name AND k.table_schema = tc.table_schema
      WHERE tc.table_schema = current_schema() AND tc.table_name = ${name}
        AND tc.constraint_type IN ('PRIMARY KEY', 'UNIQUE')
      ORDER BY tc.constraint_name, k.ordinal_position`);
    shape.primaryKeys[name] = constraints
      .filter((c) => c.kind === "PRIMARY KEY")
      .map((c) => c.column);
    const uniques = new Map<string, string[]>();
    for (const c of constraints.filter((c) => c.kind === "UNIQUE")) {
      uniques.set(c.constraint, [...(uniques.get(c.constraint) ?? []), c.column]);
    }
    for (const cols of uniques.values()) shape.uniques.push(`${name}(${cols.join(",")})`);
    const fks = await q(sql<{ from: string; table: string; to: string; rule: string }>`
      SELECT k.column_name AS from, u.table_name AS table, u.column_name AS to, r.delete_rule AS rule
      FROM information_schema.referential_constraints r
      JOIN information_schema.key_column_usage k
        ON k.constraint_name = r.constraint_name AND k.constraint_schema = r.constraint_schema
      JOIN information_schema.constraint_column_usage u
        ON u.constraint_name = r.constraint_name AND u.constraint_schema = r.constraint_schema
      WHERE r.constraint_schema = current_schema() AND k.table_name = ${name}`);
    for (const fk of fks) {
      shape.foreignKeys.push(`${name}.${fk.from} -> ${fk.table}.${fk.to} on delete ${fk.rule}`);
    }
  }
  // Indexes made by CREATE INDEX, not those behind a PRIMARY KEY or UNIQUE constraint.
  const indexes = await q(sql<{ index: string; table: string; column: string }>`
    SELECT i.relname AS index, t.relname AS table, a.attname AS column
    FROM pg_catalog.pg_index x
    JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
    JOIN pg_catalog.pg_class t ON t.oid = x.indrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
    CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, position)
    JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
    WHERE n.nspname = current_schema()
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c WHERE c.conindid = x.indexrelid)
    ORDER BY i.relname, k.position`);
  const byIndex = new Map<string, { table: string; columns: string[] }>();
  for (const row of indexes) {
    const entry = byIndex.get(row.index) ?? { table: row.table, columns: [] };
    entry.columns.push(row.column);
    byIndex.set(row.index, entry);
  }
  for (const [index, { table, columns }] of byIndex) {
    shape.indexes.push(`${index} on ${table}(${columns.join(",")})`);
  }
  shape.foreignKeys.sort();
  shape.uniques.sort();
  shape.indexes.sort();
  shape.migrations = await appliedMigrationNames(db);
  return shape;
}

/** One row in every table, through Kysely only, as the store writes them. */
async function insertSampleRows(db: Kysely<Database>): Promise<void> {
  const model = await db
    .insertInto("models")
    .values({ name: "hash-384", dimensions: 384, backend: "hash" })
    .returning("model_id")
    .executeTakeFirstOrThrow();
  const batch = await db
    .insertInto("training_batches")
    .values({ file_path: "qa/a.json", file_hash: "ab12", model_name: "hash-384" })
    .returning("batch_id")
    .executeTakeFirstOrThrow();
  await db
    .insertInto("batch_status_history")
    .values({
      batch_id: batch.batch_id,
      old_status: null,
      new_status: "pending",
      message: "queued",
    })
    .execute();
  const cluster = await db
    .insertInto("clusters")
    .values({
      answer_text: "Use `git stash` — ünïcode ✓",
      answer_record_id: "r1",
      model_id: model.model_id,
      batch_id: batch.batch_id,
      answer_source: "a.json",
    })
    .returning("cluster_id")
    .executeTakeFirstOrThrow();
  await db
    .insertInto("questions")
    .values([
      { cluster_id: cluster.cluster_id, question_text: "How do I stash?", length_type: "short" },
      {
        cluster_id: cluster.cluster_id,
        question_text: "What saves work aside?",
        length_type: null,
      },
    ])
    .execute();
  await db
    .insertInto("embeddings")
    .values({
      entity_type: "answer",
      entity_id: cluster.cluster_id,
      model_id: model.model_id,
      vector_path: "embeddings/1/answer_1.npy",
    })
    .execute();
  const projection = await db
    .insertInto("multi_head_projections")
    .values({
      model_id: model.model_id,
      num_heads: 1,
      // Not representable in 4 bytes: a float4 column would give back 0.1234567910432816.
      temperature: 0.123456789012345,
      name: "p1",
      recall_at_1: 1 / 3,
      mrr: 0.5,
      centroid_method: "mean",
      adapter_path: "mh_1_W.npy",
      blend: 0.75,
      selection: JSON.stringify({ adapter: true, lambda: 0.01 }),
    })
    .returning("mh_projection_id")
    .executeTakeFirstOrThrow();
  await db
    .insertInto("cluster_heads")
    .values({
      mh_projection_id: projection.mh_projection_id,
      cluster_id: cluster.cluster_id,
      centroid_path: "mh_1/c_1.npy",
      answer_emb_path: "mh_1/a_1.npy",
      num_questions: 2,
    })
    .execute();
  await db.insertInto("file_removals").values({ path: "old.npy", reason: "superseded" }).execute();
  await db
    .insertInto("projection_reservations")
    .values({
      mh_projection_id: 7,
      model_id: model.model_id,
      owner: "pid 1",
      lease_expires_at: "2025-01-02T03:05:05.678Z",
    })
    .execute();
  await db
    .insertInto("store_settings")
    .values({ key: "store_root", value: "/srv/ldakit" })
    .execute();
  // A timestamp written by the caller comes back as written.
  await db
    .updateTable("training_batches")
    .set({
      status: "importing",
      updated_at: "2025-01-02T03:04:05.678Z",
      lease_expires_at: "2025-01-02T03:05:05.678Z",
    })
    .where("batch_id", "=", batch.batch_id)
    .execute();
}

const TIMESTAMP_COLUMNS = new Set([
  "created_at",
  "updated_at",
  "changed_at",
  "recorded_at",
  "reserved_at",
  "lease_expires_at",
]);

/** Every row of every table and of the view, keyed rows in key order; default timestamps checked and masked. */
async function readAll(db: Kysely<Database>): Promise<Record<string, unknown[]>> {
  const order: Record<string, string> = {
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
    answers: "answer_id",
  };
  const out: Record<string, unknown[]> = {};
  for (const [table, key] of Object.entries(order)) {
    const rows = (
      await sql<
        Record<string, unknown>
      >`SELECT * FROM ${sql.table(table)} ORDER BY ${sql.ref(key)}`.execute(db)
    ).rows;
    out[table] = rows.map((row) => {
      const copy: Record<string, unknown> = { ...row };
      for (const column of Object.keys(copy)) {
        const value = copy[column];
        if (!TIMESTAMP_COLUMNS.has(column) || typeof value !== "string") continue;
        expect(value, `${table}.${column}`).toMatch(ISO_UTC);
        if (!value.startsWith("2025-01-02T03:0")) {
          expect(Math.abs(Date.parse(value) - Date.now()), `${table}.${column}`).toBeLessThan(
            600_000,
          );
          copy[column] = "<now>";
        }
      }
      return copy;
    });
  }
  return out;
}

/** A fresh PostgreSQL database and a fresh SQLite one, both migrated and given the sample rows. */
async function bothWithSampleRows() {
  const db = await freshPostgres();
  await migrateLdakitDatabase(db);
  const t = freshSqlite();
  await migrateLdakitDatabase(t.db);
  await insertSampleRows(db);
  await insertSampleRows(t.db);
  return { db, t };
}

describe("the migrations on PostgreSQL", () => {
  it("see a PostgresDialect as PostgreSQL and better-sqlite3 as SQLite", async () => {
    expect(ldakitDialectOf(await freshPostgres())).toBe("postgres");
    expect(ldakitDialectOf(freshSqlite().db)).toBe("sqlite");
  });

  it("migrate a new database to the latest version, then have nothing left to do", async () => {
    const db = await freshPostgres();
    expect(await appliedMigrationNames(db)).toEqual([]);
    expect(await migrateLdakitDatabase(db)).toEqual([...MIGRATION_NAMES]);
    expect(await appliedMigrationNames(db)).toEqual([...MIGRATION_NAMES]);
    expect(await migrateLdakitDatabase(db)).toEqual([]);
  });

  it("create the tables, columns, types, nullability, defaults, keys, indexes and view SQLite has", async () => {
    const db = await freshPostgres();
    await migrateLdakitDatabase(db);
    const t = freshSqlite();
    await migrateLdakitDatabase(t.db);
    const onSqlite = await sqliteShape(t);
    const onPostgres = await postgresShape(db);
    // The description is not empty by mistake: every ldakit table and the view are in it.
    expect(Object.keys(onSqlite.tables)).toEqual(
      expect.arrayContaining(["models", "training_batches", "file_removals", "kysely_migration"]),
    );
    expect(onSqlite.views.answers).toHaveLength(8);
    expect(onSqlite.indexes.length).toBeGreaterThanOrEqual(10);
    expect(onSqlite.tables.models?.find((c) => c.name === "created_at")?.default).toBe("now");
    // SQLite's view columns have no type; PostgreSQL's do (and are compared by name here).
    expect(onPostgres).toEqual(onSqlite);
  });

  it("store and give back the same rows as SQLite, timestamps in the same ISO-8601 UTC form", async () => {
    const { db, t } = await bothWithSampleRows();
    const fromSqlite = await readAll(t.db);
    const fromPostgres = await readAll(db);
    expect(fromSqlite.multi_head_projections?.[0]).toMatchObject({
      temperature: 0.123456789012345,
    });
    expect(fromSqlite.answers).toHaveLength(1);
    expect(fromPostgres).toEqual(fromSqlite);
  });

  it("enforce the same CHECK, foreign-key and UNIQUE constraints as SQLite", async () => {
    const { db, t } = await bothWithSampleRows();
    const violations: Array<[string, (d: Kysely<Database>) => Promise<unknown>]> = [
      [
        "status not a batch status",
        (d) => sql`UPDATE training_batches SET status = 'bogus'`.execute(d),
      ],
      ["attempts < 0", (d) => sql`UPDATE training_batches SET attempts = -1`.execute(d)],
      ["num_clusters < 0", (d) => sql`UPDATE training_batches SET num_clusters = -1`.execute(d)],
      [
        "new_status not a batch status",
        (d) => sql`UPDATE batch_status_history SET new_status = 'x'`.execute(d),
      ],
      [
        "entity_type not answer/question",
        (d) => sql`UPDATE embeddings SET entity_type = 'x'`.execute(d),
      ],
      [
        "recall_at_1 > 1",
        (d) => sql`UPDATE multi_head_projections SET recall_at_1 = 1.5`.execute(d),
      ],
      ["mrr < 0", (d) => sql`UPDATE multi_head_projections SET mrr = -0.1`.execute(d)],
      ["blend > 1", (d) => sql`UPDATE multi_head_projections SET blend = 2`.execute(d)],
      [
        "centroid_method unknown",
        (d) => sql`UPDATE multi_head_projections SET centroid_method = 'x'`.execute(d),
      ],
      [
        "selection not JSON",
        (d) => sql`UPDATE multi_head_projections SET selection = '{not json'`.execute(d),
      ],
      ["num_questions < 0", (d) => sql`UPDATE cluster_heads SET num_questions = -1`.execute(d)],
      ["clusters.model_id dangling", (d) => sql`UPDATE clusters SET model_id = 999`.execute(d)],
      ["a batch that owns clusters deleted", (d) => sql`DELETE FROM training_batches`.execute(d)],
      [
        "models.name twice",
        (d) => sql`INSERT INTO models (name, dimensions) VALUES ('hash-384', 1)`.execute(d),
      ],
      [
        "file_removals.path twice",
        (d) => sql`INSERT INTO file_removals (path, reason) VALUES ('old.npy', 'x')`.execute(d),
      ],
      ["name NULL", (d) => sql`INSERT INTO models (name, dimensions) VALUES (NULL, 1)`.execute(d)],
      [
        "store_settings.key twice",
        (d) =>
          sql`INSERT INTO store_settings (key, value) VALUES ('store_root', '/elsewhere')`.execute(
            d,
          ),
      ],
      [
        "store_settings.value NULL",
        (d) => sql`INSERT INTO store_settings (key, value) VALUES ('other', NULL)`.execute(d),
      ],
    ];
    for (const [what, violate] of violations) {
      await expect(violate(t.db), `SQLite: ${what}`).rejects.toThrow();
      await expect(violate(db), `PostgreSQL: ${what}`).rejects.toThrow();
    }
    // Valid JSON and the bounds themselves are accepted on both.
    for (const d of [t.db, db]) {
      await sql`UPDATE multi_head_projections SET selection = '[1, {"a": null}]', recall_at_1 = 1, blend = 0`.execute(
        d,
      );
    }
    expect(await readAll(db)).toEqual(await readAll(t.db));
  });

  it("migrate a database at 003_upstream in place to the latest, keeping its rows", async () => {
    const db = await freshPostgres();
    expect(await migrateLdakitDatabase(db, "003_upstream")).toEqual([
      "001_seed",
      "002_ldakit",
      "003_upstream",
    ]);
    const model = await db
      .insertInto("models")
      .values({ name: "old", dimensions: 8 })
      .returning(["model_id", "created_at"])
      .executeTakeFirstOrThrow();
    await sql`INSERT INTO multi_head_projections (model_id, num_heads, temperature) VALUES (${model.model_id}, 2, 0.25)`.execute(
      db,
    );
    expect(await migrateLdakitDatabase(db)).toEqual([
      "004_adapter",
      "005_selection",
      "006_lifecycle",
      "007_scale_out",
    ]);
    expect(await db.selectFrom("models").selectAll().execute()).toEqual([
      {
        model_id: model.model_id,
        name: "old",
        dimensions: 8,
        created_at: model.created_at,
        backend: null,
      },
    ]);
    expect(
      await db.selectFrom("multi_head_projections").selectAll().executeTakeFirst(),
    ).toMatchObject({
      num_heads: 2,
      temperature: 0.25,
      adapter_path: null,
      blend: null,
      selection: null,
    });
    // The migrated database has exactly the shape of one created at the latest version.
    const fresh = await freshPostgres();
    await migrateLdakitDatabase(fresh);
    expect(await postgresShape(db)).toEqual(await postgresShape(fresh));
  });

  it("leave a database exactly as it was when a migration fails part-way", async () => {
    const db = await freshPostgres();
    await migrateLdakitDatabase(db, "003_upstream");
    // 005_selection will find its column taken, after 004_adapter has run in the same transaction.
    await sql`ALTER TABLE multi_head_projections ADD COLUMN selection text`.execute(db);
    const before = await postgresShape(db);
    const failure = await migrateLdakitDatabase(db).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(MigrationError);
    expect((failure as Error).message).toMatch(/005_selection/);
    expect(await postgresShape(db)).toEqual(before);
    expect(await appliedMigrationNames(db)).toEqual(["001_seed", "002_ldakit", "003_upstream"]);
  });

  it("refuse a database a newer ldakit migrated, and migrating down", async () => {
    const db = await freshPostgres();
    await migrateLdakitDatabase(db);
    await expect(migrateLdakitDatabase(db, "003_upstream")).rejects.toThrow(/forward-only/);
    await sql`INSERT INTO kysely_migration (name, timestamp) VALUES ('999_future', '2030-01-01T00:00:00.000Z')`.execute(
      db,
    );
    await expect(migrateLdakitDatabase(db)).rejects.toThrow(/999_future.*upgrade ldakit/);
  });
});
