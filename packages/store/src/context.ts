import { dirname } from "node:path";
import { modelEmbeddingsDir } from "@ldakit/format";
import type { Database, Model } from "@ldakit/schema";
import type Sqlite from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { StoreError } from "./errors.js";
import { SyncSql } from "./sql.js";
import { now } from "./util.js";
import { VectorFiles } from "./vectors.js";

/**
 * What the store's parts (pipeline, projections, search, verify) need from an open store. They
 * take this rather than `LDAProjectionDB`, which builds it and delegates to them: the class is the
 * public face, these modules are the work, and neither imports the other's module.
 */
export interface StoreContext {
  /** Absolute path of the database file. */
  readonly path: string;
  /** The store root: the folder of the database and of `embeddings/`. */
  readonly root: string;
  readonly sqlite: Sqlite.Database;
  /** Builds (and, through `execute`, runs) every query; `sql` runs the same queries synchronously. */
  readonly kysely: Kysely<Database>;
  readonly sql: SyncSql;
  readonly vectors: VectorFiles;
  /**
   * The model row of `name`, created with these dimensions when new, its backend updated when
   * given. Runs statements without a transaction of its own: call it inside the caller's.
   */
  ensureModel(name: string, dimensions: number, backend: string | null): Model;
  /** The model row of an id; a `MODEL_NOT_FOUND` error when there is none. */
  modelById(modelId: number): Model;
  /** The current time as the database stores it: ISO-8601 UTC text (see docs/FORMAT.md §5). */
  now(): string;
}

/** The context of a store whose database `sqlite` has open at the absolute `path`. */
export function createStoreContext(path: string, sqlite: Sqlite.Database): StoreContext {
  const kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  const sql = new SyncSql(sqlite);
  const root = dirname(path);
  const context: StoreContext = {
    path,
    root,
    sqlite,
    kysely,
    sql,
    vectors: new VectorFiles(root),
    ensureModel: (name, dimensions, backend) => ensureModel(context, name, dimensions, backend),
    modelById(modelId) {
      const model = sql.first(
        kysely.selectFrom("models").selectAll().where("model_id", "=", modelId),
      );
      if (!model) throw new StoreError("MODEL_NOT_FOUND", `no model with id ${modelId}`);
      return model;
    },
    now,
  };
  return context;
}

function ensureModel(
  { sql, kysely, now }: StoreContext,
  name: string,
  dimensions: number,
  backend: string | null,
): Model {
  const existing = sql.first(kysely.selectFrom("models").selectAll().where("name", "=", name));
  if (existing) {
    if (existing.dimensions !== dimensions) {
      throw new StoreError(
        "DIMENSION_MISMATCH",
        `model "${name}" is recorded with ${existing.dimensions} dimensions, but the embedder gives ${dimensions}`,
      );
    }
    if (backend !== null && existing.backend !== backend) {
      sql.run(
        kysely.updateTable("models").set({ backend }).where("model_id", "=", existing.model_id),
      );
      return { ...existing, backend };
    }
    return existing;
  }
  let folder: string;
  try {
    folder = modelEmbeddingsDir(name);
  } catch (cause) {
    throw new StoreError("BAD_MODEL_NAME", (cause as Error).message, { cause });
  }
  const clash = sql
    .all(kysely.selectFrom("models").select("name"))
    .find((m) => modelEmbeddingsDir(m.name) === folder);
  if (clash) {
    throw new StoreError(
      "MODEL_FOLDER_TAKEN",
      `model "${name}" would share the folder ${folder} with model "${clash.name}"; rename one of them`,
    );
  }
  if (!Number.isInteger(dimensions) || dimensions < 1) {
    throw new StoreError(
      "BAD_ARGUMENT",
      `model "${name}": dimensions must be a positive integer, not ${dimensions}`,
    );
  }
  return sql.first(
    kysely
      .insertInto("models")
      .values({ name, dimensions, backend, created_at: now() })
      .returningAll(),
  ) as Model;
}
