/**
 * Migrations of the ldakit SQLite database, for Kysely's `Migrator` (docs/FORMAT.md §5).
 *
 * - `001_seed` creates the seed chapter's tables exactly as the original Python tool had them
 *   (no "+" columns). It uses `IF NOT EXISTS`, so it also adopts a database that tool made.
 * - `002_ldakit` adds the "+" columns with `ALTER TABLE … ADD COLUMN` (SQLite cannot add
 *   foreign keys or table CHECK constraints any other way without rebuilding the table; a
 *   `REFERENCES` clause on an added column is allowed because its default is NULL) and an
 *   index for every lookup the store does.
 * - `003_upstream` lets upstream's Python `LDAProjectionDB` (UnifyWeaver) read a store: the
 *   nullable `cluster_heads.W_path` it selects (ldakit's heads have no per-head matrix, so
 *   always NULL) and the read-only `answers` view over `clusters` it ranks answers from
 *   (docs/FORMAT.md §7).
 * - `004_adapter` records a projection's learned query adapter and blend (docs/FORMAT.md §4,
 *   §6): `multi_head_projections.adapter_path`, the store-relative path of `mh_<id>_W.npy`
 *   (NULL: no adapter), and `multi_head_projections.blend`, β in [0, 1] (NULL: 1, no blend), so
 *   every row written before it reads as the projection it was.
 * - `005_selection` records how training chose a projection's setting on held-out questions:
 *   `multi_head_projections.selection`, a JSON object (adapter, λ, target, steps, τ, β, the
 *   held-out figures beside direct search); NULL for projections not chosen that way.
 * - `006_lifecycle` adds the two journals of the crash-safe file lifecycle
 *   (docs/ARCHITECTURE.md §3.1): `file_removals`, the files to delete that the transaction which
 *   dropped their rows recorded, and `projection_reservations`, the projection ids whose files a
 *   process is writing before it commits the projection's rows.
 *
 * Migrations are forward-only (SQLite cannot drop a column that has a foreign key).
 * Foreign keys never cascade: deleting a parent that still has children fails, so the store
 * deletes children first — and can delete the vector files of the rows it deletes.
 */

import type { MigrationResultSet } from "kysely";
import {
  DEFAULT_MIGRATION_TABLE,
  type Kysely,
  type Migration,
  type MigrationProvider,
  Migrator,
  sql,
} from "kysely";
import { BATCH_STATUSES } from "./batch-status.js";
import { CENTROID_METHODS, EMBEDDING_ENTITY_TYPES } from "./database.js";

/** SQL default for ISO-8601 UTC timestamps, same text as `new Date().toISOString()`. */
export const SQL_NOW_ISO = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

const nowIso = sql`(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`;

function inList(values: readonly string[]) {
  return sql.join(values.map((v) => sql.lit(v)));
}

const migration001Seed: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable("models")
      .ifNotExists()
      .addColumn("model_id", "integer", (c) => c.primaryKey())
      .addColumn("name", "text", (c) => c.notNull().unique())
      .addColumn("dimensions", "integer", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull().defaultTo(nowIso))
      .execute();

    await db.schema
      .createTable("training_batches")
      .ifNotExists()
      .addColumn("batch_id", "integer", (c) => c.primaryKey())
      .addColumn("file_path", "text", (c) => c.notNull())
      .addColumn("file_hash", "text", (c) => c.notNull())
      .addColumn("status", "text", (c) =>
        c
          .notNull()
          .defaultTo("pending")
          .check(sql`status IN (${inList(BATCH_STATUSES)})`),
      )
      .addColumn("error_message", "text")
      .addColumn("created_at", "text", (c) => c.notNull().defaultTo(nowIso))
      .addColumn("updated_at", "text", (c) => c.notNull().defaultTo(nowIso))
      .execute();

    await db.schema
      .createTable("batch_status_history")
      .ifNotExists()
      .addColumn("history_id", "integer", (c) => c.primaryKey())
      .addColumn("batch_id", "integer", (c) => c.notNull().references("training_batches.batch_id"))
      .addColumn("old_status", "text", (c) =>
        c.check(sql`old_status IS NULL OR old_status IN (${inList(BATCH_STATUSES)})`),
      )
      .addColumn("new_status", "text", (c) =>
        c.notNull().check(sql`new_status IN (${inList(BATCH_STATUSES)})`),
      )
      .addColumn("changed_at", "text", (c) => c.notNull().defaultTo(nowIso))
      .execute();

    await db.schema
      .createTable("clusters")
      .ifNotExists()
      .addColumn("cluster_id", "integer", (c) => c.primaryKey())
      .addColumn("answer_text", "text", (c) => c.notNull())
      .addColumn("answer_record_id", "text")
      .addColumn("model_id", "integer", (c) => c.notNull().references("models.model_id"))
      .execute();

    await db.schema
      .createTable("questions")
      .ifNotExists()
      .addColumn("question_id", "integer", (c) => c.primaryKey())
      .addColumn("cluster_id", "integer", (c) => c.notNull().references("clusters.cluster_id"))
      .addColumn("question_text", "text", (c) => c.notNull())
      .execute();

    await db.schema
      .createTable("embeddings")
      .ifNotExists()
      .addColumn("embedding_id", "integer", (c) => c.primaryKey())
      .addColumn("entity_type", "text", (c) =>
        c.notNull().check(sql`entity_type IN (${inList(EMBEDDING_ENTITY_TYPES)})`),
      )
      .addColumn("entity_id", "integer", (c) => c.notNull())
      .addColumn("model_id", "integer", (c) => c.notNull().references("models.model_id"))
      .addColumn("vector_path", "text", (c) => c.notNull())
      .addUniqueConstraint("embeddings_model_entity_unique", [
        "model_id",
        "entity_type",
        "entity_id",
      ])
      .execute();

    await db.schema
      .createTable("multi_head_projections")
      .ifNotExists()
      .addColumn("mh_projection_id", "integer", (c) => c.primaryKey())
      .addColumn("model_id", "integer", (c) => c.notNull().references("models.model_id"))
      .addColumn("num_heads", "integer", (c) => c.notNull())
      .addColumn("temperature", "real", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull().defaultTo(nowIso))
      .execute();

    await db.schema
      .createTable("cluster_heads")
      .ifNotExists()
      .addColumn("head_id", "integer", (c) => c.primaryKey())
      .addColumn("mh_projection_id", "integer", (c) =>
        c.notNull().references("multi_head_projections.mh_projection_id"),
      )
      .addColumn("cluster_id", "integer", (c) => c.notNull().references("clusters.cluster_id"))
      .addColumn("centroid_path", "text", (c) => c.notNull())
      .addColumn("answer_emb_path", "text", (c) => c.notNull())
      .addUniqueConstraint("cluster_heads_mh_cluster_unique", ["mh_projection_id", "cluster_id"])
      .execute();
  },
};

const migration002Ldakit: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const s = db.schema;

    // models
    await s.alterTable("models").addColumn("backend", "text").execute();

    // clusters: the batch that imported a cluster. RESTRICT: a batch row that still owns
    // clusters cannot be deleted — the store removes (or replaces) the clusters first.
    await s
      .alterTable("clusters")
      .addColumn("batch_id", "integer", (c) =>
        c.references("training_batches.batch_id").onDelete("restrict"),
      )
      .execute();
    await s.alterTable("clusters").addColumn("answer_source", "text").execute();

    // questions
    await s.alterTable("questions").addColumn("length_type", "text").execute();

    // multi_head_projections
    await s.alterTable("multi_head_projections").addColumn("name", "text").execute();
    await s
      .alterTable("multi_head_projections")
      .addColumn("recall_at_1", "real", (c) => c.check(sql`recall_at_1 BETWEEN 0 AND 1`))
      .execute();
    await s
      .alterTable("multi_head_projections")
      .addColumn("mrr", "real", (c) => c.check(sql`mrr BETWEEN 0 AND 1`))
      .execute();
    await s
      .alterTable("multi_head_projections")
      .addColumn("centroid_method", "text", (c) =>
        c.check(sql`centroid_method IN (${inList(CENTROID_METHODS)})`),
      )
      .execute();

    // cluster_heads
    await s
      .alterTable("cluster_heads")
      .addColumn("num_questions", "integer", (c) => c.check(sql`num_questions >= 0`))
      .execute();

    // training_batches
    await s.alterTable("training_batches").addColumn("model_name", "text").execute();
    await s
      .alterTable("training_batches")
      .addColumn("num_clusters", "integer", (c) => c.check(sql`num_clusters >= 0`))
      .execute();
    await s
      .alterTable("training_batches")
      .addColumn("num_questions", "integer", (c) => c.check(sql`num_questions >= 0`))
      .execute();
    await s
      .alterTable("training_batches")
      .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0).check(sql`attempts >= 0`))
      .execute();
    await s.alterTable("training_batches").addColumn("claimed_by", "text").execute();

    // batch_status_history
    await s.alterTable("batch_status_history").addColumn("message", "text").execute();

    // Indexes: every lookup the store does, and every foreign-key child column (so that
    // deleting a parent does not scan the child table). Lookups already served by a UNIQUE
    // index's leading columns (embeddings by model_id[, entity_type[, entity_id]],
    // cluster_heads by mh_projection_id) get no extra index.
    const indexes: Array<[name: string, table: string, columns: string[]]> = [
      ["clusters_model_id_idx", "clusters", ["model_id"]],
      ["clusters_batch_id_idx", "clusters", ["batch_id"]],
      ["clusters_answer_record_id_idx", "clusters", ["answer_record_id"]],
      ["questions_cluster_id_idx", "questions", ["cluster_id"]],
      ["embeddings_entity_idx", "embeddings", ["entity_type", "entity_id"]],
      ["multi_head_projections_model_id_idx", "multi_head_projections", ["model_id"]],
      ["cluster_heads_cluster_id_idx", "cluster_heads", ["cluster_id"]],
      ["training_batches_status_idx", "training_batches", ["status", "batch_id"]],
      ["training_batches_file_path_idx", "training_batches", ["file_path", "batch_id"]],
      ["batch_status_history_batch_id_idx", "batch_status_history", ["batch_id", "history_id"]],
    ];
    for (const [name, table, columns] of indexes) {
      await s.createIndex(name).ifNotExists().on(table).columns(columns).execute();
    }
  },
};

const migration003Upstream: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable("cluster_heads").addColumn("W_path", "text").execute();
    await dropEmptyAnswersTable(db);
    // The columns of upstream's `answers` table, in its order. An answer is a cluster (the
    // answer vectors' `embeddings.entity_id` is the cluster id). Upstream's answers can be
    // chunks or variants of a parent, ldakit's never are; clusters record no creation time;
    // ldakit's displayed answer is form (b)'s `answers.default`, hence the variant's name.
    await db.schema
      .createView("answers")
      .as(sql`
        SELECT
          clusters.cluster_id AS answer_id,
          NULL AS parent_id,
          training_batches.file_path AS source_file,
          clusters.answer_record_id AS record_id,
          clusters.answer_text AS text,
          'default' AS text_variant,
          NULL AS chunk_index,
          NULL AS created_at
        FROM clusters
        LEFT JOIN training_batches ON training_batches.batch_id = clusters.batch_id
      `)
      .execute();
  },
};

const migration004Adapter: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .alterTable("multi_head_projections")
      .addColumn("adapter_path", "text")
      .execute();
    await db.schema
      .alterTable("multi_head_projections")
      .addColumn("blend", "real", (c) => c.check(sql`blend BETWEEN 0 AND 1`))
      .execute();
  },
};

const migration005Selection: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .alterTable("multi_head_projections")
      .addColumn("selection", "text", (c) =>
        c.check(sql`selection IS NULL OR json_valid(selection)`),
      )
      .execute();
  },
};

const migration006Lifecycle: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable("file_removals")
      .addColumn("path", "text", (c) => c.primaryKey())
      .addColumn("reason", "text", (c) => c.notNull())
      .addColumn("recorded_at", "text", (c) => c.notNull().defaultTo(nowIso))
      .execute();
    await db.schema
      .createTable("projection_reservations")
      .addColumn("mh_projection_id", "integer", (c) => c.primaryKey())
      .addColumn("model_id", "integer", (c) => c.notNull().references("models.model_id"))
      .addColumn("owner", "text")
      .addColumn("reserved_at", "text", (c) => c.notNull().defaultTo(nowIso))
      .execute();
  },
};

/**
 * Upstream's `LDAProjectionDB` creates its own (empty) `answers` table in a database that has
 * none, so a store it opened before `003_upstream` has one. That table holds nothing and the
 * view replaces it; an `answers` that holds rows is someone's data: the migration stops.
 */
async function dropEmptyAnswersTable(db: Kysely<unknown>): Promise<void> {
  const found = await sql<{ type: string }>`
    SELECT type FROM sqlite_master WHERE name = 'answers'
  `.execute(db);
  const type = found.rows[0]?.type;
  if (type === undefined) return;
  if (type !== "table") {
    throw new Error(
      `the database already has a ${type} named "answers", where ldakit creates its view of the clusters for upstream's LDAProjectionDB; rename or drop that ${type} and open the store again`,
    );
  }
  const rows = await sql<{ n: number }>`SELECT count(*) AS n FROM answers`.execute(db);
  const n = rows.rows[0]?.n ?? 0;
  if (n > 0) {
    throw new Error(
      `the database has a table "answers" with ${n} row(s), not made by ldakit; ldakit replaces it with a view of the clusters for upstream's LDAProjectionDB — move those rows elsewhere and drop the table, then open the store again`,
    );
  }
  await db.schema.dropTable("answers").execute();
}

/** Names of all migrations, oldest first. */
export const MIGRATION_NAMES = [
  "001_seed",
  "002_ldakit",
  "003_upstream",
  "004_adapter",
  "005_selection",
  "006_lifecycle",
] as const;
export type MigrationName = (typeof MIGRATION_NAMES)[number];

/** The name of the newest migration. */
export const LATEST_MIGRATION: MigrationName = "006_lifecycle";

/** Every migration by name, for a `MigrationProvider`. */
export const ldakitMigrations: Readonly<Record<MigrationName, Migration>> = Object.freeze({
  "001_seed": migration001Seed,
  "002_ldakit": migration002Ldakit,
  "003_upstream": migration003Upstream,
  "004_adapter": migration004Adapter,
  "005_selection": migration005Selection,
  "006_lifecycle": migration006Lifecycle,
});

/** A `MigrationProvider` for Kysely's `Migrator` that serves {@link ldakitMigrations}. */
export class LdakitMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return { ...ldakitMigrations };
  }
}

/** Thrown when migrating fails; `cause` holds the underlying error. */
export class MigrationError extends Error {
  override readonly name = "MigrationError";
  constructor(
    message: string,
    readonly results: MigrationResultSet["results"],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Migrates an ldakit SQLite database to `target` (default: the latest migration) and returns
 * the names of the migrations that ran.
 *
 * Kysely does not run SQLite migrations in a transaction, so this wraps the whole run in
 * `BEGIN IMMEDIATE … COMMIT`: a failing migration leaves the database as it was, and two
 * processes opening one database at the same time migrate it once (the second waits for the
 * first, within the connection's busy timeout, then finds nothing to do).
 *
 * `db` must be a Kysely instance over SQLite (one connection, e.g. `SqliteDialect` with
 * better-sqlite3) that nothing else uses while this runs.
 */
export async function migrateLdakitDatabase<DB>(
  db: Kysely<DB>,
  target: MigrationName | "latest" = "latest",
): Promise<string[]> {
  // Already up to date (the usual case): no write lock taken.
  if (target === "latest") {
    const applied = await appliedMigrationNames(db);
    if (
      applied.length === MIGRATION_NAMES.length &&
      applied.every((n, i) => n === MIGRATION_NAMES[i])
    ) {
      return [];
    }
  }
  const migrator = new Migrator({ db, provider: new LdakitMigrationProvider() });
  await sql`BEGIN IMMEDIATE`.execute(db);
  let resultSet: MigrationResultSet;
  try {
    const applied = await appliedMigrationNames(db);
    const unknown = applied.filter(
      (name) => !(MIGRATION_NAMES as readonly string[]).includes(name),
    );
    if (unknown.length > 0) {
      throw new Error(
        `the database has migration ${unknown.join(", ")}, which this version of ldakit does not know; it was written by a newer ldakit — upgrade ldakit to open it`,
      );
    }
    if (target !== "latest") {
      const last = applied[applied.length - 1];
      if (last !== undefined && last > target) {
        throw new Error(
          `cannot migrate down from ${last} to ${target}: ldakit migrations are forward-only`,
        );
      }
    }
    resultSet =
      target === "latest" ? await migrator.migrateToLatest() : await migrator.migrateTo(target);
  } catch (error) {
    await rollbackQuietly(db);
    throw new MigrationError(`database migration failed: ${errorMessage(error)}`, [], {
      cause: error,
    });
  }
  if (resultSet.error !== undefined) {
    await rollbackQuietly(db);
    const failed = resultSet.results?.find((r) => r.status === "Error")?.migrationName;
    const which = failed === undefined ? "database migration" : `database migration ${failed}`;
    throw new MigrationError(
      `${which} failed: ${errorMessage(resultSet.error)}`,
      resultSet.results ?? [],
      { cause: resultSet.error },
    );
  }
  await sql`COMMIT`.execute(db);
  return (resultSet.results ?? [])
    .filter((r) => r.status === "Success")
    .map((r) => r.migrationName);
}

/**
 * Names of the migrations applied to the database, oldest first (empty for a new database).
 * Read-only; works with or without a transaction.
 */
export async function appliedMigrationNames<DB>(db: Kysely<DB>): Promise<string[]> {
  const table = await sql<{ n: number }>`
    SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ${DEFAULT_MIGRATION_TABLE}
  `.execute(db);
  if ((table.rows[0]?.n ?? 0) === 0) return [];
  const rows = await sql<{ name: string }>`
    SELECT name FROM ${sql.table(DEFAULT_MIGRATION_TABLE)} ORDER BY name
  `.execute(db);
  return rows.rows.map((r) => r.name);
}

/** ROLLBACK, ignoring "no transaction is active" (SQLite may have rolled back already). */
async function rollbackQuietly<DB>(db: Kysely<DB>): Promise<void> {
  try {
    await sql`ROLLBACK`.execute(db);
  } catch {
    // nothing to roll back
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
