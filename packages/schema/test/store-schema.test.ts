/// <reference path="../../../tools/postgres-global-setup.d.mts" />
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect, sql } from "kysely";
import pg from "pg";
import { afterAll, afterEach, describe, expect, inject, it } from "vitest";
import {
  createDatabase,
  createReadOnlyRole,
  dropDatabase,
} from "../../../tools/postgres-databases.mjs";
import {
  type Database as LdakitDatabase,
  MIGRATION_NAMES,
  migrateLdakitDatabase,
  readStoreSchema,
} from "../src/index.js";
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

describe("readStoreSchema on PostgreSQL", () => {
  const pools: Array<Kysely<LdakitDatabase>> = [];
  const databases: string[] = [];
  afterEach(async () => {
    for (const db of pools.splice(0)) await db.destroy();
  });
  afterAll(async () => {
    for (const url of databases.splice(0)) await dropDatabase(url);
  });

  async function newDatabase(): Promise<string> {
    const url = await createDatabase(inject("ldakitPostgresUrl"));
    databases.push(url);
    return url;
  }

  /** A Kysely over `url`; `options` are server settings for every session (`-c name=value`). */
  function connect(url: string, options?: { sessions?: number; settings?: string }) {
    const db = new Kysely<LdakitDatabase>({
      dialect: new PostgresDialect({
        pool: new pg.Pool({
          connectionString: url,
          max: options?.sessions ?? 2,
          ...(options?.settings === undefined ? {} : { options: options.settings }),
        }),
      }),
    });
    pools.push(db);
    return db;
  }

  async function exec(url: string, text: string): Promise<void> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  }

  it("calls a new database empty", async () => {
    const db = connect(await newDatabase());
    expect(await readStoreSchema(db)).toEqual({
      kind: "empty",
      status: "none",
      applied: [],
      version: undefined,
      missing: [],
      unknown: [],
      tables: [],
    });
  });

  it("calls a database empty whose schema holds only what extensions installed", async () => {
    const url = await newDatabase();
    // citext: a type and functions; pg_buffercache: a view and functions — all the extensions'.
    await exec(url, "CREATE EXTENSION citext; CREATE EXTENSION pg_buffercache");
    expect(await readStoreSchema(connect(url))).toMatchObject({ kind: "empty", tables: [] });
  });

  it("calls a migrated store current, with its version and tables", async () => {
    const db = connect(await newDatabase());
    await migrateLdakitDatabase(db);
    const state = await readStoreSchema(db);
    expect(state).toMatchObject({
      kind: "ldakit",
      status: "current",
      applied: [...MIGRATION_NAMES],
      version: MIGRATION_NAMES[MIGRATION_NAMES.length - 1],
      missing: [],
      unknown: [],
    });
    expect(state.tables).toEqual(
      expect.arrayContaining(["clusters", "kysely_migration", "store_settings"]),
    );
    // Tables only: the view answers is not one.
    expect(state.tables).not.toContain("answers");
  });

  it("calls a store of an older ldakit older and lists what it lacks", async () => {
    const db = connect(await newDatabase());
    await migrateLdakitDatabase(db, "003_upstream");
    expect(await readStoreSchema(db)).toMatchObject({
      kind: "ldakit",
      status: "older",
      version: "003_upstream",
      missing: MIGRATION_NAMES.slice(3),
      unknown: [],
    });
  });

  it("calls a store with a migration it does not know newer", async () => {
    const db = connect(await newDatabase());
    await migrateLdakitDatabase(db);
    await sql`INSERT INTO kysely_migration (name, timestamp) VALUES ('999_x', '2030-01-01T00:00:00.000Z')`.execute(
      db,
    );
    expect(await readStoreSchema(db)).toMatchObject({
      kind: "ldakit",
      status: "newer",
      version: "999_x",
      unknown: ["999_x"],
      missing: [],
    });
  });

  it("calls the original Python tool's tables a seed database, older than every migration", async () => {
    const url = await newDatabase();
    await exec(
      url,
      `CREATE TABLE models (model_id integer PRIMARY KEY, name text NOT NULL UNIQUE, dimensions integer NOT NULL, created_at text);
       CREATE TABLE clusters (cluster_id integer PRIMARY KEY, answer_text text NOT NULL, answer_record_id text, model_id integer NOT NULL);
       CREATE TABLE questions (question_id integer PRIMARY KEY, cluster_id integer NOT NULL, question_text text NOT NULL);
       CREATE TABLE embeddings (embedding_id integer PRIMARY KEY, entity_type text NOT NULL, entity_id integer NOT NULL, model_id integer NOT NULL, vector_path text NOT NULL);`,
    );
    expect(await readStoreSchema(connect(url))).toMatchObject({
      kind: "seed",
      status: "older",
      version: undefined,
      missing: [...MIGRATION_NAMES],
      tables: ["clusters", "embeddings", "models", "questions"],
    });
  });

  it("calls a database with someone else's table foreign, naming its tables", async () => {
    const url = await newDatabase();
    await exec(url, "CREATE TABLE notes (body text); CREATE TABLE models (x integer)");
    expect(await readStoreSchema(connect(url))).toMatchObject({
      kind: "foreign",
      status: "none",
      tables: ["models", "notes"],
    });
  });

  it("calls another Kysely application's database foreign, whatever its migrations", async () => {
    const url = await newDatabase();
    await exec(
      url,
      `CREATE TABLE kysely_migration (name varchar(255) PRIMARY KEY, timestamp varchar(255) NOT NULL);
       INSERT INTO kysely_migration VALUES ('2024_01_users', '2024-01-01T00:00:00.000Z');
       CREATE TABLE users (id integer PRIMARY KEY);`,
    );
    expect(await readStoreSchema(connect(url))).toMatchObject({
      kind: "foreign",
      status: "none",
      applied: ["2024_01_users"],
    });
  });

  it("calls a schema foreign that holds no table but a sequence, a function or a type", async () => {
    for (const statement of [
      "CREATE SEQUENCE counter",
      "CREATE FUNCTION answer() RETURNS integer LANGUAGE sql AS 'SELECT 42'",
      "CREATE TYPE mood AS ENUM ('sad', 'happy')",
      "CREATE DOMAIN positive AS integer CHECK (VALUE > 0)",
    ]) {
      const url = await newDatabase();
      await exec(url, statement);
      expect(await readStoreSchema(connect(url)), statement).toMatchObject({
        kind: "foreign",
        status: "none",
        tables: [],
      });
    }
  });

  it("reads the connection's current schema, not a temporary table or another schema", async () => {
    const url = await newDatabase();
    await exec(url, "CREATE SCHEMA ldakit");
    const inLdakit = connect(url, { settings: "-c search_path=ldakit" });
    await migrateLdakitDatabase(inLdakit);
    expect(await readStoreSchema(inLdakit)).toMatchObject({ kind: "ldakit", status: "current" });
    // public, the default, still holds nothing.
    expect(await readStoreSchema(connect(url))).toMatchObject({ kind: "empty" });
    // One session, so that its temporary table (searched before any schema) is in the way.
    const one = connect(url, { sessions: 1, settings: "-c search_path=ldakit" });
    await sql`CREATE TEMPORARY TABLE kysely_migration (name text, timestamp text)`.execute(one);
    await sql`INSERT INTO kysely_migration VALUES ('999_x', 'x')`.execute(one);
    expect(await readStoreSchema(one)).toMatchObject({
      kind: "ldakit",
      status: "current",
      unknown: [],
    });
  });

  it("refuses a connection whose search_path names no schema that exists", async () => {
    const db = connect(await newDatabase(), { settings: "-c search_path=nowhere,elsewhere" });
    await expect(readStoreSchema(db)).rejects.toThrow(
      "the PostgreSQL connection has no current schema: none of the schemas on its search_path (nowhere,elsewhere) exists; create the schema or set search_path to one that exists",
    );
  });

  it("only reads: works for a role that may only SELECT, in read-only transactions", async () => {
    const url = await newDatabase();
    const admin = connect(url);
    await migrateLdakitDatabase(admin, "005_selection");
    const reader = await createReadOnlyRole(url);
    const readOnly = connect(reader, { settings: "-c default_transaction_read_only=on" });
    expect(await readStoreSchema(readOnly)).toMatchObject({
      kind: "ldakit",
      status: "older",
      version: "005_selection",
      missing: ["006_lifecycle", "007_scale_out"],
    });
    // The role really cannot write: the state was read, not made.
    await expect(
      sql`INSERT INTO kysely_migration (name, timestamp) VALUES ('x', 'y')`.execute(readOnly),
    ).rejects.toThrow(/read-only transaction|permission denied/);
    expect(await readStoreSchema(admin)).toMatchObject({ version: "005_selection" });

    const foreign = await newDatabase();
    await exec(foreign, "CREATE TABLE notes (body text)");
    const foreignReader = connect(await createReadOnlyRole(foreign));
    expect(await readStoreSchema(foreignReader)).toMatchObject({
      kind: "foreign",
      tables: ["notes"],
    });
  });
});
