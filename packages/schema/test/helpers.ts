import Database from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import type { Database as LdakitDatabase } from "../src/index.js";

export interface TestDb {
  raw: Database.Database;
  db: Kysely<LdakitDatabase>;
}

/** An in-memory SQLite database with foreign keys on, as the store opens it. */
export function openMemoryDb(): TestDb {
  const raw = new Database(":memory:");
  raw.pragma("foreign_keys = ON");
  const db = new Kysely<LdakitDatabase>({ dialect: new SqliteDialect({ database: raw }) });
  return { raw, db };
}
