/**
 * What a database — SQLite, or the current schema of a PostgreSQL database — holds, read without
 * changing it: whether it is an ldakit store at all, and how its schema version compares with the
 * migrations this ldakit knows (docs/FORMAT.md §5.2). Opening a store asks this before it
 * migrates anything, so that a reader never writes, a store from a newer ldakit is refused, and
 * someone else's database is left untouched.
 */

import { DEFAULT_MIGRATION_TABLE, type Kysely, type RawBuilder, sql } from "kysely";
import { ldakitDialectOf, MIGRATION_NAMES, type MigrationName } from "./migrations.js";

/**
 * - `empty`: no tables, views or indexes at all (a new or zero-length file; on PostgreSQL, a
 *   current schema without tables, views, indexes, sequences, functions or types of its own —
 *   what an extension installed there does not count).
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
  /**
   * The database's own tables, by name, for messages: not SQLite's `sqlite_*` ones; on
   * PostgreSQL those of the current schema (ordinary, partitioned and foreign tables).
   */
  tables: string[];
}

/** Tables of the original Python tool's database that identify it as one (docs/FORMAT.md §7.4). */
export const SEED_CORE_TABLES = ["models", "clusters", "questions", "embeddings"] as const;

/**
 * Reads what the database holds and how its schema compares with {@link MIGRATION_NAMES}. Only
 * SELECTs — on `sqlite_master`, or on PostgreSQL's catalog (`pg_catalog`, which shows every
 * object whatever the connection's rights, where `information_schema` hides what it may not
 * use) — and on `kysely_migration`: it works on a read-only connection and changes nothing.
 * `db` is a Kysely instance over SQLite or over PostgreSQL (`PostgresDialect`); on PostgreSQL
 * the store is the connection's current schema (the first existing schema of its `search_path`),
 * and a connection with none is refused.
 */
export async function readStoreSchema<DB>(db: Kysely<DB>): Promise<StoreSchemaState> {
  const { objects, tables, migrationTable } =
    ldakitDialectOf(db) === "postgres" ? await postgresObjects(db) : await sqliteObjects(db);
  const known = MIGRATION_NAMES as readonly string[];
  const base = { applied: [], version: undefined, missing: [], unknown: [], tables };
  if (objects === 0) return { kind: "empty", status: "none", ...base };
  if (!tables.includes(DEFAULT_MIGRATION_TABLE)) {
    const seed = SEED_CORE_TABLES.every((t) => tables.includes(t));
    return seed
      ? { kind: "seed", status: "older", ...base, missing: [...MIGRATION_NAMES] }
      : { kind: "foreign", status: "none", ...base };
  }
  const rows = await sql<{ name: string }>`
    SELECT name FROM ${migrationTable} ORDER BY name
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

interface DatabaseObjects {
  /** How many objects of its own the database holds (tables, views, indexes, …). */
  objects: number;
  tables: string[];
  /** `kysely_migration`, qualified where the dialect needs it. */
  migrationTable: RawBuilder<unknown>;
}

async function sqliteObjects<DB>(db: Kysely<DB>): Promise<DatabaseObjects> {
  const objects = await sql<{ type: string; name: string }>`
    SELECT type, name FROM sqlite_master WHERE substr(name, 1, 7) <> 'sqlite_' ORDER BY name
  `.execute(db);
  return {
    objects: objects.rows.length,
    tables: objects.rows.filter((o) => o.type === "table").map((o) => o.name),
    migrationTable: sql.table(DEFAULT_MIGRATION_TABLE),
  };
}

async function postgresObjects<DB>(db: Kysely<DB>): Promise<DatabaseObjects> {
  const current = await sql<{ schema: string | null; search_path: string }>`
    SELECT current_schema() AS schema, current_setting('search_path') AS search_path
  `.execute(db);
  const schema = current.rows[0]?.schema ?? null;
  if (schema === null) {
    throw new Error(
      `the PostgreSQL connection has no current schema: none of the schemas on its search_path (${current.rows[0]?.search_path ?? "?"}) exists; create the schema or set search_path to one that exists`,
    );
  }
  // Relations (tables, views, indexes, sequences, composite types), functions and the types a
  // user creates (enums, domains, ranges): anything there means the schema is someone's. Members
  // of an extension (pg_depend 'e') are the extension's, not the database's.
  const objects = await sql<{ type: string; name: string }>`
    SELECT CASE WHEN c.relkind IN ('r', 'p', 'f') THEN 'table' ELSE 'relation' END AS type,
           c.relname AS name
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ${schema}
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_class'::regclass
                        AND d.objid = c.oid AND d.deptype = 'e')
    UNION ALL
    SELECT 'function', p.proname
    FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = ${schema}
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_proc'::regclass
                        AND d.objid = p.oid AND d.deptype = 'e')
    UNION ALL
    SELECT 'type', t.typname
    FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = ${schema} AND t.typtype IN ('e', 'd', 'r', 'm')
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_type'::regclass
                        AND d.objid = t.oid AND d.deptype = 'e')
    ORDER BY name
  `.execute(db);
  return {
    objects: objects.rows.length,
    tables: objects.rows.filter((o) => o.type === "table").map((o) => o.name),
    // Qualified: an unqualified name would find a temporary table of that name first.
    migrationTable: sql.id(schema, DEFAULT_MIGRATION_TABLE),
  };
}
