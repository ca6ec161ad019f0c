import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import {
  type BatchStatus,
  type BatchStatusHistory,
  type Cluster,
  type Database,
  type EmbeddingEntityType,
  type Model,
  migrateLdakitDatabase,
  modelEmbeddingsDir,
  type Question,
  type TrainingBatch,
} from "@ldakit/schema";
import type { Projection } from "@ldakit/search";
import Sqlite from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import {
  batchHistory,
  listBatches,
  type ProcessOptions,
  type ProcessResult,
  processPending,
  retryFailed,
  type ScanOptions,
  type ScanResult,
  scan,
} from "./pipeline.js";
import {
  createProjection,
  loadTrainingSet,
  type NewProjection,
  type TrainingSet,
} from "./projections.js";
import {
  directSearch,
  latestProjectionId,
  loadStoredProjection,
  type StoreSearchResult,
  searchWithProjection,
} from "./search.js";
import { SyncSql } from "./sql.js";
import { now, vectorPath } from "./util.js";
import { VectorFiles } from "./vectors.js";

export interface OpenOptions {
  /** How long a write waits for another process's lock before failing, in ms (default 10 000). */
  busyTimeoutMs?: number;
}

/** A model's recorded dimensions differ from what an embedder or vector provides. */
export class DimensionMismatchError extends Error {
  override readonly name = "DimensionMismatchError";
}

/** A cluster, with its questions. */
export interface ClusterWithQuestions extends Cluster {
  questions: Question[];
}

export interface StoreStats {
  models: Array<{
    modelId: number;
    name: string;
    dimensions: number;
    backend: string | null;
    clusters: number;
    questions: number;
    vectors: number;
  }>;
  clusters: number;
  questions: number;
  embeddings: number;
  projections: number;
  batches: Record<"pending" | "importing" | "embedding" | "completed" | "failed", number>;
}

/**
 * The ldakit store: a SQLite database (`lda.db`) and the vector files beside it (DESIGN §3–§4).
 * Opening creates or migrates the database; it runs in WAL mode with foreign keys on.
 */
export class LDAProjectionDB {
  /** The store root: the folder that holds the database and `embeddings/`. */
  readonly root: string;
  readonly vectors: VectorFiles;
  /** Typed query builder over the same connection, for reads this class does not wrap. */
  readonly kysely: Kysely<Database>;
  /** @internal synchronous execution of Kysely-built queries */
  readonly sql: SyncSql;
  private closed = false;

  private constructor(
    readonly path: string,
    readonly sqlite: Sqlite.Database,
  ) {
    this.root = dirname(path);
    this.vectors = new VectorFiles(this.root);
    this.kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
    this.sql = new SyncSql(sqlite);
  }

  /** Opens (creating if needed) the store whose database is at `path`, migrated to the latest schema. */
  static async open(path: string, options: OpenOptions = {}): Promise<LDAProjectionDB> {
    const absolute = resolve(path);
    mkdirSync(dirname(absolute), { recursive: true });
    const sqlite = new Sqlite(absolute, { timeout: options.busyTimeoutMs ?? 10_000 });
    try {
      sqlite.pragma("journal_mode = WAL");
      sqlite.pragma("foreign_keys = ON");
      sqlite.pragma("synchronous = NORMAL");
      const db = new LDAProjectionDB(absolute, sqlite);
      await migrateLdakitDatabase(db.kysely as Kysely<unknown>);
      return db;
    } catch (error) {
      sqlite.close();
      throw error;
    }
  }

  /** The model row of `name`, created with these dimensions if it does not exist. */
  async getOrCreateModel(
    name: string,
    options: { dimensions: number; backend?: string | null },
  ): Promise<Model> {
    return this.sql.immediate(() =>
      this.ensureModel(name, options.dimensions, options.backend ?? null),
    );
  }

  /** @internal inside a transaction */
  ensureModel(name: string, dimensions: number, backend: string | null): Model {
    const existing = this.sql.first(
      this.kysely.selectFrom("models").selectAll().where("name", "=", name),
    );
    if (existing) {
      if (existing.dimensions !== dimensions) {
        throw new DimensionMismatchError(
          `model "${name}" is recorded with ${existing.dimensions} dimensions, but the embedder gives ${dimensions}`,
        );
      }
      if (backend !== null && existing.backend !== backend) {
        this.sql.run(
          this.kysely
            .updateTable("models")
            .set({ backend })
            .where("model_id", "=", existing.model_id),
        );
        return { ...existing, backend };
      }
      return existing;
    }
    const folder = modelEmbeddingsDir(name);
    const clash = this.sql
      .all(this.kysely.selectFrom("models").select("name"))
      .find((m) => modelEmbeddingsDir(m.name) === folder);
    if (clash) {
      throw new Error(
        `model "${name}" would share the folder ${folder} with model "${clash.name}"; rename one of them`,
      );
    }
    return this.sql.first(
      this.kysely
        .insertInto("models")
        .values({ name, dimensions, backend, created_at: now() })
        .returningAll(),
    ) as Model;
  }

  async getModel(nameOrId: string | number): Promise<Model | undefined> {
    const column = typeof nameOrId === "number" ? "model_id" : "name";
    return this.sql.first(
      this.kysely.selectFrom("models").selectAll().where(column, "=", nameOrId),
    );
  }

  async listModels(): Promise<Model[]> {
    return this.sql.all(this.kysely.selectFrom("models").selectAll().orderBy("model_id"));
  }

  /** Adds a cluster and returns its id. */
  async addCluster(cluster: {
    answerText: string;
    answerRecordId?: string | null;
    modelId: number;
    answerSource?: string | null;
    batchId?: number | null;
  }): Promise<number> {
    return this.sql.run(
      this.kysely.insertInto("clusters").values({
        answer_text: cluster.answerText,
        answer_record_id: cluster.answerRecordId ?? null,
        model_id: cluster.modelId,
        answer_source: cluster.answerSource ?? null,
        batch_id: cluster.batchId ?? null,
      }),
    ).lastInsertRowid;
  }

  /** Adds a question to a cluster and returns its id. */
  async addQuestion(
    clusterId: number,
    text: string,
    lengthType: string | null = null,
  ): Promise<number> {
    return this.sql.run(
      this.kysely
        .insertInto("questions")
        .values({ cluster_id: clusterId, question_text: text, length_type: lengthType }),
    ).lastInsertRowid;
  }

  /**
   * Writes a question's or answer's vector file (DESIGN §3) and records it in `embeddings`,
   * replacing an earlier vector of the same entity and model. Returns the file's relative path.
   */
  async storeEmbedding(embedding: {
    entityType: Exclude<EmbeddingEntityType, "centroid">;
    entityId: number;
    modelId: number;
    vector: Float32Array;
  }): Promise<string> {
    const model = this.modelById(embedding.modelId);
    if (embedding.vector.length !== model.dimensions) {
      throw new DimensionMismatchError(
        `vector has ${embedding.vector.length} dimensions, model "${model.name}" has ${model.dimensions}`,
      );
    }
    const path = vectorPath(
      modelEmbeddingsDir(model.name),
      embedding.entityType,
      embedding.entityId,
    );
    this.vectors.write(path, embedding.vector);
    this.sql.run(
      this.upsertEmbedding(embedding.entityType, embedding.entityId, embedding.modelId, path),
    );
    return path;
  }

  /** @internal */
  upsertEmbedding(
    entityType: EmbeddingEntityType,
    entityId: number,
    modelId: number,
    vectorPath: string,
  ) {
    return this.kysely
      .insertInto("embeddings")
      .values({
        entity_type: entityType,
        entity_id: entityId,
        model_id: modelId,
        vector_path: vectorPath,
      })
      .onConflict((oc) =>
        oc
          .columns(["model_id", "entity_type", "entity_id"])
          .doUpdateSet({ vector_path: vectorPath }),
      );
  }

  /** The stored vector of an entity for a model, or `undefined` when there is none. */
  async getEmbedding(
    entityType: EmbeddingEntityType,
    entityId: number,
    modelId: number,
  ): Promise<Float32Array | undefined> {
    const row = this.sql.first(
      this.kysely
        .selectFrom("embeddings")
        .innerJoin("models", "models.model_id", "embeddings.model_id")
        .select(["vector_path", "models.dimensions"])
        .where("embeddings.model_id", "=", modelId)
        .where("entity_type", "=", entityType)
        .where("entity_id", "=", entityId),
    );
    return row ? this.vectors.read(row.vector_path, row.dimensions) : undefined;
  }

  async listClusters(filter: { modelId?: number; batchId?: number } = {}): Promise<Cluster[]> {
    let query = this.kysely.selectFrom("clusters").selectAll().orderBy("cluster_id");
    if (filter.modelId !== undefined) query = query.where("model_id", "=", filter.modelId);
    if (filter.batchId !== undefined) query = query.where("batch_id", "=", filter.batchId);
    return this.sql.all(query);
  }

  async getCluster(clusterId: number): Promise<ClusterWithQuestions | undefined> {
    const cluster = this.sql.first(
      this.kysely.selectFrom("clusters").selectAll().where("cluster_id", "=", clusterId),
    );
    if (!cluster) return undefined;
    const questions = this.sql.all(
      this.kysely
        .selectFrom("questions")
        .selectAll()
        .where("cluster_id", "=", clusterId)
        .orderBy("question_id"),
    );
    return { ...cluster, questions };
  }

  async stats(): Promise<StoreStats> {
    const count = (
      table: "clusters" | "questions" | "embeddings" | "multi_head_projections",
    ): number =>
      Number(
        this.sql.first(
          this.kysely.selectFrom(table).select((eb) => eb.fn.countAll<number>().as("n")),
        )?.n ?? 0,
      );
    const batches = { pending: 0, importing: 0, embedding: 0, completed: 0, failed: 0 };
    for (const row of this.sql.all(
      this.kysely
        .selectFrom("training_batches")
        .select(["status", (eb) => eb.fn.countAll<number>().as("n")])
        .groupBy("status"),
    )) {
      batches[row.status] = Number(row.n);
    }
    const models = this.sql
      .all(
        this.kysely
          .selectFrom("models")
          .select((eb) => [
            "models.model_id as modelId",
            "models.name",
            "models.dimensions",
            "models.backend",
            eb
              .selectFrom("clusters")
              .whereRef("clusters.model_id", "=", "models.model_id")
              .select(eb.fn.countAll<number>().as("n"))
              .as("clusters"),
            eb
              .selectFrom("questions")
              .innerJoin("clusters", "clusters.cluster_id", "questions.cluster_id")
              .whereRef("clusters.model_id", "=", "models.model_id")
              .select(eb.fn.countAll<number>().as("n"))
              .as("questions"),
            eb
              .selectFrom("embeddings")
              .whereRef("embeddings.model_id", "=", "models.model_id")
              .select(eb.fn.countAll<number>().as("n"))
              .as("vectors"),
          ])
          .orderBy("models.model_id"),
      )
      .map((m) => ({
        ...m,
        clusters: Number(m.clusters ?? 0),
        questions: Number(m.questions ?? 0),
        vectors: Number(m.vectors ?? 0),
      }));
    return {
      models,
      clusters: count("clusters"),
      questions: count("questions"),
      embeddings: count("embeddings"),
      projections: count("multi_head_projections"),
      batches,
    };
  }

  /** DESIGN §5 scan: every `*.json` of `dir` becomes a pending batch when it is new or modified. */
  scan(dir: string, options: ScanOptions = {}): Promise<ScanResult> {
    return scan(this, dir, options);
  }

  /** DESIGN §5 process-pending: imports and embeds every pending batch, oldest first. */
  processPending(options: ProcessOptions): Promise<ProcessResult> {
    return processPending(this, options);
  }

  /** Moves failed batches back to pending and processes them. */
  retryFailed(options: ProcessOptions): Promise<ProcessResult & { retried: number[] }> {
    return retryFailed(this, options);
  }

  listBatches(filter: { status?: BatchStatus } = {}): Promise<TrainingBatch[]> {
    return listBatches(this, filter);
  }

  /** Every status change of a batch, oldest first. */
  batchHistory(batchId: number): Promise<BatchStatusHistory[]> {
    return batchHistory(this, batchId);
  }

  /** The question and answer vectors of every cluster embedded with `model`, as contiguous matrices. */
  loadTrainingSet(model: string): TrainingSet {
    return loadTrainingSet(this, model);
  }

  /** Records a new multi-head projection (rows, head files, `mh_<id>.json`) and returns its id. */
  async createProjection(projection: NewProjection): Promise<number> {
    return createProjection(this, projection);
  }

  /** A stored projection, ready to search (loaded once, then kept). */
  loadProjection(mhProjectionId: number): Projection {
    return loadStoredProjection(this, mhProjectionId);
  }

  /** The newest projection (of `model`, when given), or undefined. */
  latestProjectionId(model?: string): number | undefined {
    return latestProjectionId(this, model);
  }

  /**
   * DESIGN §8: the `topK` answers for a query embedding projected by projection `mhProjectionId`,
   * each `{ cluster_id, answer_record_id, answer_text, score }`, with the strongest routing weights.
   */
  async searchWithProjection(
    queryEmbedding: ArrayLike<number>,
    mhProjectionId: number,
    topK = 5,
  ): Promise<StoreSearchResult> {
    return searchWithProjection(this, queryEmbedding, mhProjectionId, topK);
  }

  /** Direct cosine search against the projection's answers (no projection), for comparison. */
  async directSearch(
    queryEmbedding: ArrayLike<number>,
    mhProjectionId: number,
    topK = 5,
  ): Promise<StoreSearchResult> {
    return directSearch(this, queryEmbedding, mhProjectionId, topK);
  }

  /** @internal */
  modelById(modelId: number): Model {
    const model = this.sql.first(
      this.kysely.selectFrom("models").selectAll().where("model_id", "=", modelId),
    );
    if (!model) throw new Error(`no model with id ${modelId}`);
    return model;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.kysely.destroy(); // closes the better-sqlite3 connection too
  }
}
