/**
 * What a SQLite database holds, read without changing it: whether it is an ldakit store at all,
 * and how its schema version compares with the migrations this ldakit knows (docs/FORMAT.md
 * §5.2). Opening a store asks this before it migrates anything, so that a reader never writes, a
 * store from a newer ldakit is refused, and someone else's database is left untouched.
 */

import { DEFAULT_MIGRATION_TABLE, type Kysely, sql } from "kysely";
import { MIGRATION_NAMES, type MigrationName } from "./migrations.js";

/**
 * - `empty`: no tables, views or indexes at all (a new or zero-length file).
 * - `ldakit`: `kysely_migration` records ldakit's first migration.
 * - `seed`: no migration table, but the core tables of the original Python tool, which
 *   `001_seed` adopts (docs/FORMAT.md §7.4).
 * - `foreign`: anything else — someone else's database, which ldakit must not touch.
 */
export type StoreSchemaKind = "empty" | "ldakit" | "seed" | "foreign";

/**
 * How the database's schema compares with this ldakit: `current` (every known migration and no
 * other), `older` (known migrations missing, e.g. a store of an older ldakit or a seed database),
 * `newer` (a migration this ldakit does not know), `none` (empty or foreign).
 */
export type StoreSchemaStatus = "current" | "older" | "newer" | "none";

export interface StoreSchemaState {
  kind: StoreSchemaKind;
  status: StoreSchemaStatus;
  /** Migrations recorded in `kysely_migration`, in name order (empty without that table). */
  applied: string[];
  /** The schema version: the greatest applied migration, or undefined when none is applied. */
  version: string | undefined;
  /** Migrations this ldakit knows that the database lacks, oldest first. */
  missing: MigrationName[];
  /** Applied migrations this ldakit does not know (a newer ldakit wrote them). */
  unknown: string[];
  /** The database's own tables, by name (not SQLite's `sqlite_*` ones), for messages. */
  tables: string[];
}

/** Tables of the original Python tool's database that identify it as one (docs/FORMAT.md §7.4). */
export const SEED_CORE_TABLES = ["models", "clusters", "questions", "embeddings"] as const;

/**
 * Reads what the database holds and how its schema compares with {@link MIGRATION_NAMES}. Only
 * SELECTs on `sqlite_master` and `kysely_migration`: it works on a read-only connection and
 * changes nothing. `db` is a Kysely instance over SQLite.
 */
export async function readStoreSchema<DB>(db: Kysely<DB>): Promise<StoreSchemaState> {
  const objects = await sql<{ type: string; name: string }>`
    SELECT type, name FROM sqlite_master WHERE substr(name, 1, 7) <> 'sqlite_' ORDER BY name
  `.execute(db);
  const tables = objects.rows.filter((o) => o.type === "table").map((o) => o.name);
  const known = MIGRATION_NAMES as readonly string[];
  const base = { applied: [], version: undefined, missing: [], unknown: [], tables };
  if (objects.rows.length === 0) return { kind: "empty", status: "none", ...base };
  if (!tables.includes(DEFAULT_MIGRATION_TABLE)) {
    const seed = SEED_CORE_TABLES.every((t) => tables.includes(t));
    return seed
      ? { kind: "seed", status: "older", ...base, missing: [...MIGRATION_NAMES] }
      : { kind: "foreign", status: "none", ...base };
  }
  const rows = await sql<{ name: string }>`
    SELECT name FROM ${sql.table(DEFAULT_MIGRATION_TABLE)} ORDER BY name
  `.execute(db);
  const applied = rows.rows.map((r) => r.name);
  // Another Kysely application keeps its migrations in a table of the same name.
  if (!applied.includes(MIGRATION_NAMES[0])) {
    return { kind: "foreign", status: "none", ...base, applied };
  }
  const missing = MIGRATION_NAMES.filter((name) => !applied.includes(name));
  const unknown = applied.filter((name) => !known.includes(name));
  const status: StoreSchemaStatus =
    unknown.length > 0 ? "newer" : missing.length > 0 ? "older" : "current";
  return {
    kind: "ldakit",
    status,
    applied,
    version: applied[applied.length - 1],
    missing,
    unknown,
    tables,
  };
}
