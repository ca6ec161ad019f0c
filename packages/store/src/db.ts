import {
  accessSync,
  closeSync,
  existsSync,
  constants as fsConstants,
  mkdirSync,
  openSync,
  readSync,
  type Stats,
  statSync,
} from "node:fs";
import { dirname, resolve } from "node:path";
import { entityVectorPath } from "@ldakit/format";
import {
  type BatchStatus,
  type BatchStatusHistory,
  type Cluster,
  type Database,
  type EmbeddingEntityType,
  LATEST_MIGRATION,
  type Model,
  migrateLdakitDatabase,
  type Question,
  readStoreSchema,
  type StoreSchemaState,
  type TrainingBatch,
} from "@ldakit/schema";
import type { Projection } from "@ldakit/search";
import Sqlite from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { createStoreContext, type StoreContext } from "./context.js";
import { isPostgresUrl, openPostgresStore } from "./db/postgres.js";
import { SqliteStoreDb, type StoreBackend } from "./db/store-db.js";
import { upsertEmbeddings } from "./embeddings.js";
import { StoreError } from "./errors.js";
import { holdLifecycle, type SweptFile, sweep } from "./lifecycle.js";
import { reclaimAbandoned } from "./pipeline/claims.js";
import {
  batchHistory,
  listBatches,
  type ProcessOptions,
  type ProcessResult,
  processPending,
  type RetryResult,
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
import { unstorableText } from "./util.js";
import type { VectorFiles } from "./vectors.js";
import { type VerifyOptions, type VerifyResult, verifyStore } from "./verify.js";

/**
 * How `LDAProjectionDB.open` treats the path (docs/ARCHITECTURE.md §2.4):
 *
 * - `create`: creates the folder and the database when missing, initializes an empty database and
 *   migrates an older store (what `ldakit migrate` does; the default, for library users).
 * - `write`: the store must exist; an older schema is migrated, nothing is created.
 * - `read`: the store must exist and have exactly this ldakit's schema; the connection is
 *   read-only, so nothing is created, migrated or written, and a store the user cannot write
 *   opens all the same.
 *
 * In every mode, a file that is not an ldakit store is refused (`NOT_A_STORE`) before anything is
 * written to it, and a store from a newer ldakit is refused (`SCHEMA_TOO_NEW`).
 */
export type OpenMode = "create" | "write" | "read";

/** The busy timeout used when none is given, in ms. */
export const DEFAULT_BUSY_TIMEOUT_MS = 10_000;

/** The longest busy timeout accepted: SQLite takes it as a 32-bit signed int of ms. */
export const MAX_BUSY_TIMEOUT_MS = 2_147_483_647;

export interface OpenOptions {
  /** What opening may do: `create` (default), `write` or `read` — see {@link OpenMode}. */
  mode?: OpenMode;
  /**
   * How long a statement waits for another connection's lock before failing with `LOCKED`, in ms
   * (default 10 000; 0 fails at once).
   */
  busyTimeoutMs?: number;
  /**
   * The store root: the folder of `embeddings/` and the projection files. A SQLite store's root
   * is its database's folder (given, it must be that folder). A PostgreSQL store records its
   * root when it is created (required then) — shared storage every worker mounts at the same
   * path — and refuses a different one later (`STORE_ROOT_MISMATCH`).
   */
  storeRoot?: string;
}

/** True for an error that means another connection held a lock past the busy timeout. */
export function isLockedError(error: unknown): boolean {
  if (error instanceof StoreError) return error.code === "LOCKED";
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_BUSY");
}

/** The `LOCKED` error for a store whose lock stayed taken longer than `busyTimeoutMs`. */
export function lockedStoreError(path: string, busyTimeoutMs: number, cause?: unknown): StoreError {
  return new StoreError(
    "LOCKED",
    `the store ${path} is locked: another process (another ldakit command, or a program with the database open) held its write lock longer than the busy timeout of ${busyTimeoutMs} ms; run this again when that process has finished, or wait longer with a larger busy timeout`,
    { cause },
  );
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
 * The ldakit store: a database — a SQLite file (`lda.db`), or a PostgreSQL database many workers
 * share — and the vector files under the store root (docs/FORMAT.md §1–§5). Opening checks the
 * database is an ldakit store, then (by mode) creates or migrates it.
 *
 * Every method returns a Promise; the store's steps run as Kysely transactions on either backend
 * (docs/ARCHITECTURE.md §3): `BEGIN IMMEDIATE` on SQLite, row and advisory locks on PostgreSQL.
 */
export class LDAProjectionDB {
  /** The store root: the folder that holds `embeddings/` (a SQLite store's database folder). */
  readonly root: string;
  /** The vector files under the root (synchronous file access, paths relative to the root). */
  readonly vectors: VectorFiles;
  /** Typed query builder over the store's connection, for reads this class does not wrap. */
  readonly kysely: Kysely<Database>;
  /** Which database holds the store. */
  readonly backend: StoreBackend;
  private readonly context: StoreContext;
  private readonly sqliteConnection: Sqlite.Database | undefined;
  private closed = false;
  private migrated: readonly string[] = [];

  private constructor(
    /** The database: the absolute path of a SQLite file, or a PostgreSQL URL without its password. */
    readonly path: string,
    context: StoreContext,
    sqlite: Sqlite.Database | undefined,
    /** What the store was opened for; a `read` store has a read-only connection. */
    readonly mode: OpenMode,
    /** How long a statement waits for another connection's lock, in ms. */
    readonly busyTimeoutMs: number,
  ) {
    this.context = context;
    this.root = context.root;
    this.vectors = context.vectors;
    this.kysely = context.kysely;
    this.backend = context.backend;
    this.sqliteConnection = sqlite;
  }

  /**
   * The better-sqlite3 connection of a SQLite store, for statements this class does not wrap; a
   * `BAD_ARGUMENT` error on a PostgreSQL store (use {@link kysely}).
   */
  get sqlite(): Sqlite.Database {
    if (this.sqliteConnection === undefined) {
      throw new StoreError(
        "BAD_ARGUMENT",
        `the store ${this.path} is on PostgreSQL: it has no SQLite connection; use its kysely`,
      );
    }
    return this.sqliteConnection;
  }

  /**
   * Opens the store whose database is `location` — a SQLite file's path, or a `postgres://` /
   * `postgresql://` URL — as `options.mode` allows (default `create`: creating it if needed,
   * migrated to the latest schema). Refusals are `StoreError`s: `STORE_NOT_FOUND`,
   * `NOT_A_STORE`, `SCHEMA_TOO_NEW`, `SCHEMA_TOO_OLD`, `READ_ONLY`, `LOCKED`, `BAD_ARGUMENT`,
   * `CONNECTION_FAILED`, `STORE_ROOT_REQUIRED`, `STORE_ROOT_MISMATCH`, `STORE_ROOT_MISSING`, and
   * `OPEN_FAILED` for anything else, each naming the database.
   */
  static async open(location: string, options: OpenOptions = {}): Promise<LDAProjectionDB> {
    const mode = options.mode ?? "create";
    if (mode !== "create" && mode !== "write" && mode !== "read") {
      throw new StoreError(
        "BAD_ARGUMENT",
        `mode must be create, write or read, not ${String(mode)}`,
      );
    }
    const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    if (
      !Number.isInteger(busyTimeoutMs) ||
      busyTimeoutMs < 0 ||
      busyTimeoutMs > MAX_BUSY_TIMEOUT_MS
    ) {
      throw new StoreError(
        "BAD_ARGUMENT",
        `busyTimeoutMs must be an integer from 0 to ${MAX_BUSY_TIMEOUT_MS}, not ${busyTimeoutMs}`,
      );
    }
    if (isPostgresUrl(location)) {
      const opened = await openPostgresStore(location, {
        mode,
        busyTimeoutMs,
        storeRoot: options.storeRoot,
        refuseUnlessOpenable,
      });
      const db = new LDAProjectionDB(
        opened.location,
        opened.context,
        undefined,
        mode,
        busyTimeoutMs,
      );
      db.migrated = opened.migrated;
      return db;
    }
    const absolute = resolve(location);
    if (options.storeRoot !== undefined && resolve(options.storeRoot) !== dirname(absolute)) {
      throw new StoreError(
        "STORE_ROOT_MISMATCH",
        `a SQLite store's root is its database's folder ${dirname(absolute)}, not ${resolve(options.storeRoot)}`,
      );
    }
    const exists = databaseFileExists(absolute);
    if (!exists && mode !== "create") {
      throw new StoreError(
        "STORE_NOT_FOUND",
        `no store at ${absolute}: the file does not exist (only mode "create" makes a store)`,
      );
    }
    let sqlite: Sqlite.Database | undefined;
    let db: LDAProjectionDB | undefined;
    try {
      if (mode === "read" && walWithoutLog(absolute)) {
        // A read-only connection to a WAL database makes -wal/-shm files it leaves behind; look
        // first through one that leaves none, so a file that is no store stays as it was.
        await probeLeavingNoFiles(absolute, mode);
      }
      if (!exists) mkdirSync(dirname(absolute), { recursive: true });
      sqlite = new Sqlite(absolute, {
        timeout: busyTimeoutMs,
        readonly: mode === "read",
        fileMustExist: mode !== "create",
      });
      if (mode !== "read" && sqlite.readonly) {
        throw new StoreError(
          "READ_ONLY",
          `the store ${absolute} is not writable by this user; a command that only reads it can still open it`,
        );
      }
      const context = createStoreContext(absolute, dirname(absolute), new SqliteStoreDb(sqlite));
      db = new LDAProjectionDB(absolute, context, sqlite, mode, busyTimeoutMs);
      // Nothing is written before this says the file is an ldakit store (or an empty one to create).
      refuseUnlessOpenable(absolute, mode, await readSchemaOf(db.kysely, mode, absolute), "SQLite");
      sqlite.pragma("foreign_keys = ON");
      if (mode !== "read") {
        enterWal(sqlite, busyTimeoutMs);
        sqlite.pragma("synchronous = NORMAL");
        db.migrated = await migrateLdakitDatabase(db.kysely as Kysely<unknown>);
      }
      return db;
    } catch (cause) {
      if (db) db.sqlite.close();
      else sqlite?.close();
      if (cause instanceof StoreError) throw cause;
      if (isLockedError(cause)) throw lockedStoreError(absolute, busyTimeoutMs, cause);
      const code = (cause as { code?: unknown }).code;
      if (code === "SQLITE_READONLY" || code === "SQLITE_READONLY_DIRECTORY") {
        throw new StoreError(
          "READ_ONLY",
          `the store ${absolute} is not writable by this user; a command that only reads it can still open it`,
          { cause },
        );
      }
      throw new StoreError(
        "OPEN_FAILED",
        `cannot open the store ${absolute}: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  /** The migrations opening ran, oldest first: empty when the schema was already the latest. */
  get migratedOnOpen(): readonly string[] {
    return this.migrated;
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
    return ctx.db.transaction("ensure-model", (q) =>
      ctx.ensureModel(q, name, options.dimensions, options.backend ?? null),
    );
  }

  async getModel(nameOrId: string | number): Promise<Model | undefined> {
    const { kysely } = this.ctx;
    // No model can have such a name, and PostgreSQL would refuse NUL in the query itself.
    if (typeof nameOrId === "string" && unstorableText(nameOrId) !== undefined) return undefined;
    const column = typeof nameOrId === "number" ? "model_id" : "name";
    return kysely.selectFrom("models").selectAll().where(column, "=", nameOrId).executeTakeFirst();
  }

  async listModels(): Promise<Model[]> {
    const { kysely } = this.ctx;
    return kysely.selectFrom("models").selectAll().orderBy("model_id").execute();
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
    checkTexts({
      answerText: cluster.answerText,
      answerRecordId: cluster.answerRecordId,
      answerSource: cluster.answerSource,
    });
    await ctx.modelById(cluster.modelId);
    const row = await ctx.kysely
      .insertInto("clusters")
      .values({
        answer_text: cluster.answerText,
        answer_record_id: cluster.answerRecordId ?? null,
        model_id: cluster.modelId,
        answer_source: cluster.answerSource ?? null,
        batch_id: cluster.batchId ?? null,
      })
      .returning("cluster_id")
      .executeTakeFirstOrThrow();
    return row.cluster_id;
  }

  /** Adds a question to a cluster and returns its id. */
  async addQuestion(
    clusterId: number,
    text: string,
    lengthType: string | null = null,
  ): Promise<number> {
    const { kysely } = this.ctx;
    checkTexts({ text, lengthType });
    const cluster = await kysely
      .selectFrom("clusters")
      .select("cluster_id")
      .where("cluster_id", "=", clusterId)
      .executeTakeFirst();
    if (!cluster) {
      throw new StoreError(
        "CLUSTER_NOT_FOUND",
        `no cluster ${clusterId} in the store to add a question to`,
      );
    }
    const row = await kysely
      .insertInto("questions")
      .values({ cluster_id: clusterId, question_text: text, length_type: lengthType })
      .returning("question_id")
      .executeTakeFirstOrThrow();
    return row.question_id;
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
    const model = await ctx.modelById(embedding.modelId);
    if (embedding.vector.length !== model.dimensions) {
      throw new StoreError(
        "DIMENSION_MISMATCH",
        `vector has ${embedding.vector.length} dimensions, model "${model.name}" has ${model.dimensions}`,
      );
    }
    const path = entityVectorPath(model.name, embedding.entityType, embedding.entityId);
    // Under the lifecycle lock: a sweep of another process must not see the file before its row.
    await ctx.db.transaction("store-embedding", async (q) => {
      await holdLifecycle(ctx, q);
      ctx.vectors.write(path, embedding.vector);
      ctx.vectors.syncFolders([path]);
      await upsertEmbeddings(q, embedding.modelId, [
        { entityType: embedding.entityType, entityId: embedding.entityId, vectorPath: path },
      ]);
    });
    return path;
  }

  /** The stored vector of an entity for a model, or `undefined` when there is none. */
  async getEmbedding(
    entityType: EmbeddingEntityType,
    entityId: number,
    modelId: number,
  ): Promise<Float32Array | undefined> {
    const { kysely, vectors } = this.ctx;
    const row = await kysely
      .selectFrom("embeddings")
      .innerJoin("models", "models.model_id", "embeddings.model_id")
      .select(["vector_path", "models.dimensions"])
      .where("embeddings.model_id", "=", modelId)
      .where("entity_type", "=", entityType)
      .where("entity_id", "=", entityId)
      .executeTakeFirst();
    return row ? vectors.read(row.vector_path, row.dimensions) : undefined;
  }

  async listClusters(filter: { modelId?: number; batchId?: number } = {}): Promise<Cluster[]> {
    const { kysely } = this.ctx;
    let query = kysely.selectFrom("clusters").selectAll().orderBy("cluster_id");
    if (filter.modelId !== undefined) query = query.where("model_id", "=", filter.modelId);
    if (filter.batchId !== undefined) query = query.where("batch_id", "=", filter.batchId);
    return query.execute();
  }

  async getCluster(clusterId: number): Promise<ClusterWithQuestions | undefined> {
    const { kysely } = this.ctx;
    const cluster = await kysely
      .selectFrom("clusters")
      .selectAll()
      .where("cluster_id", "=", clusterId)
      .executeTakeFirst();
    if (!cluster) return undefined;
    const questions = await kysely
      .selectFrom("questions")
      .selectAll()
      .where("cluster_id", "=", clusterId)
      .orderBy("question_id")
      .execute();
    return { ...cluster, questions };
  }

  async stats(): Promise<StoreStats> {
    const { kysely } = this.ctx;
    const count = async (
      table: "clusters" | "questions" | "embeddings" | "multi_head_projections",
    ): Promise<number> =>
      Number(
        (
          await kysely
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<number>().as("n"))
            .executeTakeFirst()
        )?.n ?? 0,
      );
    const batches = { pending: 0, importing: 0, embedding: 0, completed: 0, failed: 0 };
    for (const row of await kysely
      .selectFrom("training_batches")
      .select(["status", (eb) => eb.fn.countAll<number>().as("n")])
      .groupBy("status")
      .execute()) {
      batches[row.status] = Number(row.n);
    }
    const models = (
      await kysely
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
        .orderBy("models.model_id")
        .execute()
    ).map((m) => ({
      ...m,
      clusters: Number(m.clusters ?? 0),
      questions: Number(m.questions ?? 0),
      vectors: Number(m.vectors ?? 0),
    }));
    return {
      models,
      clusters: await count("clusters"),
      questions: await count("questions"),
      embeddings: await count("embeddings"),
      projections: await count("multi_head_projections"),
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

  /**
   * Moves failed batches back to pending and processes them; a failed batch a newer batch of the
   * same file supersedes stays failed. `retries` says what happened to each failed batch.
   */
  async retryFailed(options: ProcessOptions): Promise<RetryResult> {
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
    const sqlite = this.sqliteConnection;
    if (sqlite === undefined) {
      await this.context.kysely.destroy(); // ends the PostgreSQL pool
      return;
    }
    if (this.mode !== "read") leaveReadable(sqlite);
    sqlite.close();
  }
}

/** Whether a database file is at `path`; a path that is there but no file is `NOT_A_STORE`. */
function databaseFileExists(path: string): boolean {
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return false;
    throw new StoreError(
      "OPEN_FAILED",
      `cannot open the store ${path}: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  if (!stats.isFile()) {
    throw new StoreError(
      "NOT_A_STORE",
      `${path} is ${stats.isDirectory() ? "a folder" : "not a regular file"}, not an ldakit store's database file`,
    );
  }
  return true;
}

/** The database's schema state, with SQLite's own refusals turned into store errors. */
async function readSchemaOf(
  kysely: Kysely<Database>,
  mode: OpenMode,
  path: string,
): Promise<StoreSchemaState> {
  try {
    return await readStoreSchema(kysely);
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    if (code === "SQLITE_NOTADB") {
      throw new StoreError("NOT_A_STORE", `${path} is not a SQLite database, so no ldakit store`, {
        cause,
      });
    }
    if (mode === "read" && (code === "SQLITE_READONLY_DIRECTORY" || code === "SQLITE_CANTOPEN")) {
      // SQLite reads a WAL database only through its -shm/-wal files, which a reader that cannot
      // write the folder cannot create. ldakit's writers leave a store in rollback mode on close,
      // so only a store last written by an older ldakit (or a killed writer's cleanup) gets here.
      throw new StoreError(
        "READ_ONLY",
        `cannot read the store ${path}: it is in WAL mode without its ${path}-wal file, and this user cannot write its folder for SQLite to create it; run a command that writes the store once (e.g. ldakit migrate) as a user who can write the folder, which leaves it readable`,
        { cause },
      );
    }
    throw cause;
  }
}

/** Whether `path` is a SQLite database in WAL mode with no `-wal` file beside it. */
function walWithoutLog(path: string): boolean {
  const header = Buffer.alloc(20);
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    if (readSync(fd, header, 0, 20, 0) < 20) return false;
  } catch {
    return false; // the real open reports what is wrong
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  // Bytes 18 and 19 of the header are the read and write versions: 2 means WAL.
  const wal = header.toString("latin1", 0, 16) === "SQLite format 3\0" && header[18] === 2;
  return wal && !existsSync(`${path}-wal`);
}

/**
 * Refuses what `mode` may not open, judged through a connection that leaves no file behind: a
 * read-write one, used for SELECTs only. SQLite removes the -wal/-shm files it makes for it when
 * it closes as the last connection, which a read-only connection cannot do. Where this user cannot
 * write the file or its folder, the read-only connection cannot make those files either, so no
 * probe is needed.
 */
async function probeLeavingNoFiles(path: string, mode: OpenMode): Promise<void> {
  try {
    accessSync(path, fsConstants.W_OK);
    accessSync(dirname(path), fsConstants.W_OK);
  } catch {
    return;
  }
  const probe = new Sqlite(path, { fileMustExist: true, timeout: 0 });
  const kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: probe }) });
  try {
    refuseUnlessOpenable(path, mode, await readSchemaOf(kysely, mode, path), "SQLite");
  } finally {
    await kysely.destroy();
  }
}

/** Refuses a database that `mode` may not open, naming the path and what to do. */
export function refuseUnlessOpenable(
  path: string,
  mode: OpenMode,
  schema: StoreSchemaState,
  engine: "SQLite" | "PostgreSQL",
): void {
  if (schema.kind === "foreign") {
    const tables = schema.tables.slice(0, 5).join(", ");
    const more = schema.tables.length > 5 ? `, … (${schema.tables.length} tables)` : "";
    throw new StoreError(
      "NOT_A_STORE",
      `${path} is a ${engine} database but not an ldakit store (its tables: ${tables || "none"}${more}); ldakit leaves it untouched`,
    );
  }
  if (schema.kind === "empty" && mode !== "create") {
    throw new StoreError(
      "NOT_A_STORE",
      `${path} is an empty ${engine} database, not an ldakit store yet (only mode "create" makes one)`,
    );
  }
  if (schema.status === "newer") {
    throw new StoreError(
      "SCHEMA_TOO_NEW",
      `the store ${path} was written by a newer ldakit (schema ${schema.version}; migration${schema.unknown.length === 1 ? "" : "s"} ${schema.unknown.join(", ")} unknown to this one); upgrade ldakit to open it`,
    );
  }
  if (schema.status === "older" && mode === "read") {
    const from =
      schema.kind === "seed" ? "the original Python tool's schema" : `schema ${schema.version}`;
    throw new StoreError(
      "SCHEMA_TOO_OLD",
      `the store ${path} has ${from}, older than this ldakit's ${LATEST_MIGRATION}; a command that only reads does not migrate it — run ldakit migrate on it first`,
    );
  }
}

/**
 * Puts the database in WAL mode, waiting up to `busyTimeoutMs` for the lock that takes. SQLite
 * does not wait on its own here: when another connection holds a write lock in rollback mode (or
 * another ldakit process is making the same switch) it fails at once rather than risk a deadlock,
 * so the switch is tried again until the other connection is done.
 */
function enterWal(sqlite: Sqlite.Database, busyTimeoutMs: number): void {
  const deadline = Date.now() + busyTimeoutMs;
  for (;;) {
    try {
      sqlite.pragma("journal_mode = WAL");
      return;
    } catch (error) {
      const left = deadline - Date.now();
      if (!isLockedError(error) || left <= 0) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.min(20, left));
    }
  }
}

/**
 * Moves the database out of WAL mode when this is its last connection, so a user who cannot
 * write the store's folder can read it: SQLite needs to create `-shm`/`-wal` files to read a WAL
 * database that has none. While another connection has the database open the switch fails at once
 * (no busy wait) and the database stays in WAL mode; the last writer to close switches it.
 */
function leaveReadable(sqlite: Sqlite.Database): void {
  try {
    sqlite.pragma("busy_timeout = 0");
    sqlite.pragma("journal_mode = DELETE");
  } catch {
    // another connection has the database open: it stays in WAL mode
  }
}

/** Refuses, as BAD_ARGUMENT naming the argument, a text neither backend can store as it is. */
function checkTexts(texts: Record<string, string | null | undefined>): void {
  for (const [name, text] of Object.entries(texts)) {
    if (typeof text !== "string") continue;
    const why = unstorableText(text);
    if (why !== undefined) throw new StoreError("BAD_ARGUMENT", `${name} holds ${why}`);
  }
}
