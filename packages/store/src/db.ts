import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { entityVectorPath } from "@ldakit/format";
import {
  type BatchStatus,
  type BatchStatusHistory,
  type Cluster,
  type Database,
  type EmbeddingEntityType,
  type Model,
  migrateLdakitDatabase,
  type Question,
  type TrainingBatch,
} from "@ldakit/schema";
import type { Projection } from "@ldakit/search";
import Sqlite from "better-sqlite3";
import type { Kysely } from "kysely";
import { createStoreContext, type StoreContext } from "./context.js";
import { upsertEmbedding } from "./embeddings.js";
import { StoreError } from "./errors.js";
import { type SweptFile, sweep } from "./lifecycle.js";
import { reclaimAbandoned } from "./pipeline/claims.js";
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
} from "./pipeline/index.js";
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
  type StoreSearchOptions,
  type StoreSearchResult,
  searchWithProjection,
} from "./search.js";
import type { VectorFiles } from "./vectors.js";
import { type VerifyOptions, type VerifyResult, verifyStore } from "./verify.js";

export interface OpenOptions {
  /** How long a write waits for another process's lock before failing, in ms (default 10 000). */
  busyTimeoutMs?: number;
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
 * The ldakit store: a SQLite database (`lda.db`) and the vector files beside it (docs/FORMAT.md
 * §1–§5). Opening creates or migrates the database; it runs in WAL mode with foreign keys on.
 *
 * Every method returns a Promise, as Kysely's do. The work itself runs synchronously on the
 * better-sqlite3 connection (see docs/ARCHITECTURE.md): a pipeline step is one `BEGIN IMMEDIATE`
 * transaction, which Kysely's asynchronous API cannot start on SQLite.
 */
export class LDAProjectionDB {
  /** The store root: the folder that holds the database and `embeddings/`. */
  readonly root: string;
  /** The vector files under the root (synchronous file access, paths relative to the root). */
  readonly vectors: VectorFiles;
  /** Typed query builder over the same connection, for reads this class does not wrap. */
  readonly kysely: Kysely<Database>;
  /** The better-sqlite3 connection itself, for statements this class does not wrap. */
  readonly sqlite: Sqlite.Database;
  private readonly context: StoreContext;
  private closed = false;

  private constructor(
    /** Absolute path of the database file. */
    readonly path: string,
    sqlite: Sqlite.Database,
  ) {
    this.context = createStoreContext(path, sqlite);
    this.root = this.context.root;
    this.vectors = this.context.vectors;
    this.kysely = this.context.kysely;
    this.sqlite = sqlite;
  }

  /**
   * Opens (creating if needed) the store whose database is at `path`, migrated to the latest
   * schema. A file that is not an ldakit database, or cannot be opened, is a `StoreError`
   * `OPEN_FAILED`.
   */
  static async open(path: string, options: OpenOptions = {}): Promise<LDAProjectionDB> {
    const absolute = resolve(path);
    let sqlite: Sqlite.Database | undefined;
    try {
      mkdirSync(dirname(absolute), { recursive: true });
      sqlite = new Sqlite(absolute, { timeout: options.busyTimeoutMs ?? 10_000 });
      sqlite.pragma("journal_mode = WAL");
      sqlite.pragma("foreign_keys = ON");
      sqlite.pragma("synchronous = NORMAL");
      const db = new LDAProjectionDB(absolute, sqlite);
      await migrateLdakitDatabase(db.kysely as Kysely<unknown>);
      return db;
    } catch (cause) {
      sqlite?.close();
      throw new StoreError(
        "OPEN_FAILED",
        `cannot open the store ${absolute}: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  /** The context the store's modules work on; a `CLOSED` error once the store is closed. */
  private get ctx(): StoreContext {
    if (this.closed) throw new StoreError("CLOSED", `the store ${this.path} is closed`);
    return this.context;
  }

  /** The model row of `name`, created with these dimensions if it does not exist. */
  async getOrCreateModel(
    name: string,
    options: { dimensions: number; backend?: string | null },
  ): Promise<Model> {
    const ctx = this.ctx;
    return ctx.sql.immediate(() =>
      ctx.ensureModel(name, options.dimensions, options.backend ?? null),
    );
  }

  async getModel(nameOrId: string | number): Promise<Model | undefined> {
    const { sql, kysely } = this.ctx;
    const column = typeof nameOrId === "number" ? "model_id" : "name";
    return sql.first(kysely.selectFrom("models").selectAll().where(column, "=", nameOrId));
  }

  async listModels(): Promise<Model[]> {
    const { sql, kysely } = this.ctx;
    return sql.all(kysely.selectFrom("models").selectAll().orderBy("model_id"));
  }

  /** Adds a cluster and returns its id. */
  async addCluster(cluster: {
    answerText: string;
    answerRecordId?: string | null;
    modelId: number;
    answerSource?: string | null;
    batchId?: number | null;
  }): Promise<number> {
    const ctx = this.ctx;
    ctx.modelById(cluster.modelId);
    return ctx.sql.run(
      ctx.kysely.insertInto("clusters").values({
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
    const { sql, kysely } = this.ctx;
    const cluster = sql.first(
      kysely.selectFrom("clusters").select("cluster_id").where("cluster_id", "=", clusterId),
    );
    if (!cluster) {
      throw new StoreError(
        "CLUSTER_NOT_FOUND",
        `no cluster ${clusterId} in the store to add a question to`,
      );
    }
    return sql.run(
      kysely
        .insertInto("questions")
        .values({ cluster_id: clusterId, question_text: text, length_type: lengthType }),
    ).lastInsertRowid;
  }

  /**
   * Writes a question's or answer's vector file (docs/FORMAT.md §2) and records it in
   * `embeddings`, replacing an earlier vector of the same entity and model. Returns the file's
   * relative path.
   */
  async storeEmbedding(embedding: {
    entityType: Exclude<EmbeddingEntityType, "centroid">;
    entityId: number;
    modelId: number;
    vector: Float32Array;
  }): Promise<string> {
    const ctx = this.ctx;
    const model = ctx.modelById(embedding.modelId);
    if (embedding.vector.length !== model.dimensions) {
      throw new StoreError(
        "DIMENSION_MISMATCH",
        `vector has ${embedding.vector.length} dimensions, model "${model.name}" has ${model.dimensions}`,
      );
    }
    const path = entityVectorPath(model.name, embedding.entityType, embedding.entityId);
    // Under the write lock: a sweep of another process must not see the file before its row.
    ctx.sql.immediate("store-embedding", () => {
      ctx.vectors.write(path, embedding.vector);
      ctx.vectors.syncFolders([path]);
      ctx.sql.run(
        upsertEmbedding(
          ctx.kysely,
          embedding.entityType,
          embedding.entityId,
          embedding.modelId,
          path,
        ),
      );
    });
    return path;
  }

  /** The stored vector of an entity for a model, or `undefined` when there is none. */
  async getEmbedding(
    entityType: EmbeddingEntityType,
    entityId: number,
    modelId: number,
  ): Promise<Float32Array | undefined> {
    const { sql, kysely, vectors } = this.ctx;
    const row = sql.first(
      kysely
        .selectFrom("embeddings")
        .innerJoin("models", "models.model_id", "embeddings.model_id")
        .select(["vector_path", "models.dimensions"])
        .where("embeddings.model_id", "=", modelId)
        .where("entity_type", "=", entityType)
        .where("entity_id", "=", entityId),
    );
    return row ? vectors.read(row.vector_path, row.dimensions) : undefined;
  }

  async listClusters(filter: { modelId?: number; batchId?: number } = {}): Promise<Cluster[]> {
    const { sql, kysely } = this.ctx;
    let query = kysely.selectFrom("clusters").selectAll().orderBy("cluster_id");
    if (filter.modelId !== undefined) query = query.where("model_id", "=", filter.modelId);
    if (filter.batchId !== undefined) query = query.where("batch_id", "=", filter.batchId);
    return sql.all(query);
  }

  async getCluster(clusterId: number): Promise<ClusterWithQuestions | undefined> {
    const { sql, kysely } = this.ctx;
    const cluster = sql.first(
      kysely.selectFrom("clusters").selectAll().where("cluster_id", "=", clusterId),
    );
    if (!cluster) return undefined;
    const questions = sql.all(
      kysely
        .selectFrom("questions")
        .selectAll()
        .where("cluster_id", "=", clusterId)
        .orderBy("question_id"),
    );
    return { ...cluster, questions };
  }

  async stats(): Promise<StoreStats> {
    const { sql, kysely } = this.ctx;
    const count = (
      table: "clusters" | "questions" | "embeddings" | "multi_head_projections",
    ): number =>
      Number(
        sql.first(kysely.selectFrom(table).select((eb) => eb.fn.countAll<number>().as("n")))?.n ??
          0,
      );
    const batches = { pending: 0, importing: 0, embedding: 0, completed: 0, failed: 0 };
    for (const row of sql.all(
      kysely
        .selectFrom("training_batches")
        .select(["status", (eb) => eb.fn.countAll<number>().as("n")])
        .groupBy("status"),
    )) {
      batches[row.status] = Number(row.n);
    }
    const models = sql
      .all(
        kysely
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

  /** Scan (docs/ARCHITECTURE.md): every `*.json` of `dir` becomes a pending batch when it is new or modified. */
  async scan(dir: string, options: ScanOptions = {}): Promise<ScanResult> {
    return scan(this.ctx, dir, options);
  }

  /** Process-pending (docs/ARCHITECTURE.md): imports and embeds every pending batch, oldest first. */
  async processPending(options: ProcessOptions): Promise<ProcessResult> {
    return processPending(this.ctx, options);
  }

  /** Moves failed batches back to pending and processes them. */
  async retryFailed(options: ProcessOptions): Promise<ProcessResult & { retried: number[] }> {
    return retryFailed(this.ctx, options);
  }

  async listBatches(filter: { status?: BatchStatus } = {}): Promise<TrainingBatch[]> {
    return listBatches(this.ctx, filter);
  }

  /** Every status change of a batch, oldest first. */
  async batchHistory(batchId: number): Promise<BatchStatusHistory[]> {
    return batchHistory(this.ctx, batchId);
  }

  /** The question and answer vectors of every cluster embedded with `model`, as contiguous matrices. */
  async loadTrainingSet(model: string): Promise<TrainingSet> {
    return loadTrainingSet(this.ctx, model);
  }

  /** Records a new multi-head projection (rows, head files, `mh_<id>.json`) and returns its id. */
  async createProjection(projection: NewProjection): Promise<number> {
    return createProjection(this.ctx, projection);
  }

  /** A stored projection, ready to search (loaded once, then kept). */
  async loadProjection(mhProjectionId: number): Promise<Projection> {
    return loadStoredProjection(this.ctx, mhProjectionId);
  }

  /** The newest projection's id (of `model`, when given), or undefined when there is none. */
  async latestProjectionId(model?: string): Promise<number | undefined> {
    return latestProjectionId(this.ctx, model);
  }

  /**
   * The `topK` answers for a query embedding moved by projection `mhProjectionId`
   * (docs/FORMAT.md §6), each `{ clusterId, answerRecordId, answerText, score }`, with the
   * strongest routing weights.
   */
  async searchWithProjection(
    queryEmbedding: ArrayLike<number>,
    mhProjectionId: number,
    options: StoreSearchOptions = {},
  ): Promise<StoreSearchResult> {
    return searchWithProjection(this.ctx, queryEmbedding, mhProjectionId, options);
  }

  /**
   * Plain cosine search against the answers of projection `mhProjectionId`, without moving the
   * query: the baseline to compare with. The result's `mhProjectionId` is `null`.
   */
  async directSearch(
    queryEmbedding: ArrayLike<number>,
    mhProjectionId: number,
    options: StoreSearchOptions = {},
  ): Promise<StoreSearchResult> {
    return directSearch(this.ctx, queryEmbedding, mhProjectionId, options);
  }

  /**
   * Checks the store folder against docs/FORMAT.md and its database, read-only: the problems
   * found, each with the path it concerns (`mhProjectionId`: only that projection).
   */
  async verify(options: VerifyOptions = {}): Promise<VerifyResult> {
    return verifyStore(this.ctx, options);
  }

  /**
   * Repairs what interrupted commands left (docs/ARCHITECTURE.md §3.1), as every writing command
   * does before it starts: batches whose worker process died go back to pending, projection
   * ids reserved by a dead process are released, recorded removals are done, and stale
   * temporary files and files no row names are deleted. Returns each file removed, with why.
   */
  async repair(): Promise<SweptFile[]> {
    return sweep(this.ctx, { reclaimBatches: reclaimAbandoned });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.context.kysely.destroy(); // closes the better-sqlite3 connection too
  }
}
