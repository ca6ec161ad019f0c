import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { MIGRATION_NAMES, migrateLdakitDatabase, readStoreSchema } from "../src/index.js";
import { openMemoryDb, type TestDb } from "./helpers.js";

const opened: TestDb[] = [];
afterEach(async () => {
  for (const t of opened.splice(0)) await t.db.destroy();
});
function open(): TestDb {
  const t = openMemoryDb();
  opened.push(t);
  return t;
}

describe("readStoreSchema", () => {
  it("calls a database with nothing in it empty", async () => {
    const t = open();
    expect(await readStoreSchema(t.db)).toEqual({
      kind: "empty",
      status: "none",
      applied: [],
      version: undefined,
      missing: [],
      unknown: [],
      tables: [],
    });
  });

  it("calls a migrated store current, with its version", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db);
    const state = await readStoreSchema(t.db);
    expect(state).toMatchObject({
      kind: "ldakit",
      status: "current",
      applied: [...MIGRATION_NAMES],
      version: MIGRATION_NAMES[MIGRATION_NAMES.length - 1],
      missing: [],
      unknown: [],
    });
    expect(state.tables).toContain("clusters");
  });

  it("calls a store of an older ldakit older and lists what it lacks", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db, "003_upstream");
    expect(await readStoreSchema(t.db)).toMatchObject({
      kind: "ldakit",
      status: "older",
      version: "003_upstream",
      missing: MIGRATION_NAMES.slice(3),
      unknown: [],
    });
  });

  it("calls a store with a migration it does not know newer", async () => {
    const t = open();
    await migrateLdakitDatabase(t.db);
    t.raw
      .prepare("INSERT INTO kysely_migration (name, timestamp) VALUES (?, ?)")
      .run("999_future", new Date().toISOString());
    expect(await readStoreSchema(t.db)).toMatchObject({
      kind: "ldakit",
      status: "newer",
      version: "999_future",
      unknown: ["999_future"],
    });
  });

  it("calls the original Python tool's database a seed database, older than every migration", async () => {
    const t = open();
    t.raw.exec(`
      CREATE TABLE models (model_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, dimensions INTEGER NOT NULL, created_at TEXT);
      CREATE TABLE clusters (cluster_id INTEGER PRIMARY KEY, answer_text TEXT NOT NULL, answer_record_id TEXT, model_id INTEGER NOT NULL);
      CREATE TABLE questions (question_id INTEGER PRIMARY KEY, cluster_id INTEGER NOT NULL, question_text TEXT NOT NULL);
      CREATE TABLE embeddings (embedding_id INTEGER PRIMARY KEY, entity_type TEXT NOT NULL, entity_id INTEGER NOT NULL, model_id INTEGER NOT NULL, vector_path TEXT NOT NULL);
    `);
    expect(await readStoreSchema(t.db)).toMatchObject({
      kind: "seed",
      status: "older",
      version: undefined,
      missing: [...MIGRATION_NAMES],
    });
  });

  it("calls any other database foreign, naming its tables", async () => {
    const t = open();
    t.raw.exec("CREATE TABLE notes (body TEXT); CREATE TABLE models (x)");
    expect(await readStoreSchema(t.db)).toMatchObject({
      kind: "foreign",
      status: "none",
      tables: ["models", "notes"],
    });
  });

  it("calls another Kysely application's database foreign, whatever its migrations", async () => {
    const t = open();
    t.raw.exec(`
      CREATE TABLE kysely_migration (name TEXT PRIMARY KEY, timestamp TEXT NOT NULL);
      INSERT INTO kysely_migration VALUES ('2024_01_users', '2024-01-01T00:00:00.000Z');
      CREATE TABLE users (id INTEGER PRIMARY KEY);
    `);
    expect(await readStoreSchema(t.db)).toMatchObject({
      kind: "foreign",
      status: "none",
      applied: ["2024_01_users"],
    });
  });

  it("only reads: works on a read-only connection and leaves the file as it was", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ldakit-schema-"));
    try {
      const file = join(dir, "other.db");
      const writer = new Database(file);
      writer.exec("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me')");
      writer.close();
      const before = readFileSync(file);
      const reader = new Kysely<unknown>({
        dialect: new SqliteDialect({ database: new Database(file, { readonly: true }) }),
      });
      expect((await readStoreSchema(reader)).kind).toBe("foreign");
      await reader.destroy();
      expect(readFileSync(file).equals(before)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
