/**
 * Kysely table types for the ldakit database, SQLite or PostgreSQL (docs/FORMAT.md §5).
 *
 * Conventions:
 * - Primary keys are `INTEGER PRIMARY KEY` (SQLite rowid aliases): `Generated<number>`.
 * - Timestamps are ISO-8601 UTC text (`2025-01-31T12:00:00.000Z`, the format of
 *   `Date.prototype.toISOString()`); columns with a database default are optional on insert.
 * - Columns added by migration `002_ldakit` are nullable (older rows have no value)
 *   unless they have a constant default.
 * - Migration `003_upstream` adds what upstream's Python `LDAProjectionDB` reads and ldakit
 *   does not use: `cluster_heads.W_path` and the view `answers` (docs/FORMAT.md §7).
 * - Migration `004_adapter` adds a projection's query adapter and blend, both nullable: a row
 *   without them is a projection without an adapter and with β = 1 (docs/FORMAT.md §6).
 * - Migration `007_scale_out` adds `store_settings` and the leases of claimed batches and
 *   reserved projection ids, for a store shared by workers on several machines.
 */
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from "kysely";
import type { BatchStatus } from "./batch-status.js";

/** ISO-8601 UTC timestamp text, e.g. `2025-01-31T12:00:00.000Z`. */
export type IsoTimestamp = string;

/** A creation timestamp: filled by the database default, never updated. */
export type CreatedAt = ColumnType<IsoTimestamp, IsoTimestamp | undefined, never>;

/** The kinds of entity a row of `embeddings` points at. */
export const EMBEDDING_ENTITY_TYPES = ["question", "answer", "centroid"] as const;
export type EmbeddingEntityType = (typeof EMBEDDING_ENTITY_TYPES)[number];

/** How a head's centroid was computed (docs/ARCHITECTURE.md §2.2). */
export const CENTROID_METHODS = ["weighted", "mean"] as const;
export type CentroidMethod = (typeof CENTROID_METHODS)[number];

export interface ModelsTable {
  model_id: Generated<number>;
  /** Unique model name, e.g. `hash-384` or `all-MiniLM-L6-v2`. */
  name: string;
  dimensions: number;
  created_at: CreatedAt;
  /** + The embedder backend that produced the vectors, e.g. `hash`, `tfjs-wasm`. */
  backend: string | null;
}

export interface ClustersTable {
  cluster_id: Generated<number>;
  /** The displayed answer (form (b): `answers.default`). */
  answer_text: string;
  /** The record id of the raw data (form (a) `answer_id`, form (b) `id`). */
  answer_record_id: string | null;
  model_id: number;
  /**
   * + The batch that imported this cluster; `null` for clusters added through the API.
   * `ON DELETE RESTRICT`: a batch that still owns clusters cannot be deleted.
   */
  batch_id: number | null;
  /** + Form (b) `answer_source` (where the answer comes from). */
  answer_source: string | null;
}

export interface QuestionsTable {
  question_id: Generated<number>;
  cluster_id: number;
  question_text: string;
  /** + Form (b) query length key (`short`, `medium`, `long`, or another key); `null` in form (a). */
  length_type: string | null;
}

export interface EmbeddingsTable {
  embedding_id: Generated<number>;
  entity_type: EmbeddingEntityType;
  entity_id: number;
  model_id: number;
  /** POSIX path relative to the store root (docs/FORMAT.md §1.2). */
  vector_path: string;
}

export interface MultiHeadProjectionsTable {
  mh_projection_id: Generated<number>;
  model_id: number;
  num_heads: number;
  temperature: number;
  created_at: CreatedAt;
  /** + */
  name: string | null;
  /** + Recall@1 on held-out questions, in [0, 1]. */
  recall_at_1: number | null;
  /** + Mean reciprocal rank on held-out questions, in [0, 1]. */
  mrr: number | null;
  /** + */
  centroid_method: CentroidMethod | null;
  /**
   * + POSIX path relative to the store root of the query adapter `W` (`mh_<id>_W.npy`, a
   * (d, d) matrix, routing with `normalize(W q)`); `null` when the projection has none.
   */
  adapter_path: string | null;
  /**
   * + The blend β in [0, 1] of the projected vector with the query (1: the projected vector
   * alone, 0: direct search); `null` means 1.
   */
  blend: number | null;
  /**
   * + How training chose this projection on held-out questions, a JSON object (adapter, lambda,
   * target, steps, temperature, blend, folds, held_out, direct, adapter_fallback); `null` when
   * it was not chosen that way (migration `005_selection`).
   */
  selection: string | null;
}

export interface ClusterHeadsTable {
  head_id: Generated<number>;
  mh_projection_id: number;
  cluster_id: number;
  /** POSIX path relative to the store root. */
  centroid_path: string;
  /** POSIX path relative to the store root. */
  answer_emb_path: string;
  /** + Number of questions the centroid was built from. */
  num_questions: number | null;
  /**
   * For upstream's `LDAProjectionDB`, which reads a per-head projection matrix from here when
   * set. ldakit's heads have none: always `null`.
   */
  W_path: string | null;
}

export interface TrainingBatchesTable {
  batch_id: Generated<number>;
  /** The scanned file (as given to `scan`; absolute or relative to the working folder). */
  file_path: string;
  /** SHA-256 of the file's bytes, lowercase hex. */
  file_hash: string;
  status: ColumnType<BatchStatus, BatchStatus | undefined, BatchStatus>;
  error_message: string | null;
  created_at: CreatedAt;
  updated_at: Generated<IsoTimestamp>;
  /** + The model the batch was (or is being) embedded with. */
  model_name: string | null;
  /** + Clusters imported by this batch. */
  num_clusters: number | null;
  /** + Questions imported by this batch. */
  num_questions: number | null;
  /** + How many times processing was started (`pending → importing`); 0 for a new batch. */
  attempts: Generated<number>;
  /**
   * + Which process is working on the batch while it is `importing`/`embedding`
   * (an opaque owner token, e.g. `host:pid:nonce`); `null` otherwise. Lets a run tell a
   * batch left behind by a killed process from one another live process is working on.
   */
  claimed_by: string | null;
  /**
   * + When the claim of `claimed_by` lapses unless its process renews it (migration
   * `007_scale_out`); `null` when nothing owns the batch, and in rows older than the migration.
   * Another worker may take over a batch whose lease has passed.
   */
  lease_expires_at: IsoTimestamp | null;
}

export interface BatchStatusHistoryTable {
  history_id: Generated<number>;
  batch_id: number;
  /** `null` for the row that records the creation of the batch. */
  old_status: BatchStatus | null;
  new_status: BatchStatus;
  changed_at: CreatedAt;
  /** + Why the status changed (e.g. the error message, "new", "modified", "reclaimed"). */
  message: string | null;
}

/**
 * + A file to delete (migration `006_lifecycle`): recorded in the transaction that drops the rows
 * naming it, removed after that transaction commits, then its row deleted. A process killed in
 * between leaves the row, and the next writing command removes the file (docs/ARCHITECTURE.md §3.1).
 */
export interface FileRemovalsTable {
  /** The store path (docs/FORMAT.md §1.2) of the file. */
  path: string;
  /** Why it goes, e.g. `superseded by batch 7`, `batch 3 failed`. */
  reason: string;
  recorded_at: CreatedAt;
}

/**
 * + A projection id taken by a process that is writing the projection's files before it commits
 * its rows (migration `006_lifecycle`). The commit of the projection deletes the row; a row whose
 * process died is kept with `owner` NULL, so the id is never handed out again, and the files of
 * that id are swept as orphans.
 */
export interface ProjectionReservationsTable {
  mh_projection_id: number;
  model_id: number;
  /** `host:pid:nonce` of the writing process; `null` once that process is known dead. */
  owner: string | null;
  reserved_at: CreatedAt;
  /**
   * + When the reservation of `owner` lapses unless its process renews it (migration
   * `007_scale_out`); `null` without an owner, and in rows older than the migration.
   */
  lease_expires_at: IsoTimestamp | null;
}

/**
 * + A setting of the whole store that every process opening it must agree on (migration
 * `007_scale_out`), one row per key. `store_root`: on PostgreSQL, the absolute path of the folder
 * that holds `embeddings/` (docs/FORMAT.md §1.1), which every worker mounts at the same path.
 */
export interface StoreSettingsTable {
  key: string;
  value: string;
}

/** A column of a view: selectable only. */
type ViewColumn<T> = ColumnType<T, never, never>;

/**
 * The view `answers` (migration `003_upstream`): one row per cluster, under the column names
 * of upstream's `answers` table, so that upstream's `LDAProjectionDB` finds the answers it
 * ranks. `answer_id` is the cluster id, which is what the answer vectors' `embeddings.entity_id`
 * holds.
 */
export interface AnswersView {
  answer_id: ViewColumn<number>;
  /** Always `null`: ldakit's answers are not chunks or variants of another. */
  parent_id: ViewColumn<null>;
  /** The raw file of the cluster's batch (`training_batches.file_path`); `null` without one. */
  source_file: ViewColumn<string | null>;
  /** `clusters.answer_record_id`. */
  record_id: ViewColumn<string | null>;
  /** `clusters.answer_text`. */
  text: ViewColumn<string>;
  /** Always `default`. */
  text_variant: ViewColumn<string>;
  /** Always `null`. */
  chunk_index: ViewColumn<null>;
  /** Always `null`: clusters record no creation time. */
  created_at: ViewColumn<null>;
}

/** The whole database, for `new Kysely<Database>(…)`. */
export interface Database {
  models: ModelsTable;
  clusters: ClustersTable;
  questions: QuestionsTable;
  embeddings: EmbeddingsTable;
  multi_head_projections: MultiHeadProjectionsTable;
  cluster_heads: ClusterHeadsTable;
  training_batches: TrainingBatchesTable;
  batch_status_history: BatchStatusHistoryTable;
  file_removals: FileRemovalsTable;
  projection_reservations: ProjectionReservationsTable;
  store_settings: StoreSettingsTable;
  /** A read-only view, for upstream's Python reader. */
  answers: AnswersView;
}

/** The tables of {@link Database} (its views are not tables). */
export type TableName = Exclude<keyof Database, "answers">;

/** Every table of the database, in creation (foreign-key) order. */
export const TABLE_NAMES = [
  "models",
  "training_batches",
  "batch_status_history",
  "clusters",
  "questions",
  "embeddings",
  "multi_head_projections",
  "cluster_heads",
  "file_removals",
  "projection_reservations",
  "store_settings",
] as const satisfies readonly TableName[];

export type Model = Selectable<ModelsTable>;
export type NewModel = Insertable<ModelsTable>;
export type ModelUpdate = Updateable<ModelsTable>;
export type Cluster = Selectable<ClustersTable>;
export type NewCluster = Insertable<ClustersTable>;
export type ClusterUpdate = Updateable<ClustersTable>;
export type Question = Selectable<QuestionsTable>;
export type NewQuestion = Insertable<QuestionsTable>;
export type Embedding = Selectable<EmbeddingsTable>;
export type NewEmbedding = Insertable<EmbeddingsTable>;
export type MultiHeadProjection = Selectable<MultiHeadProjectionsTable>;
export type NewMultiHeadProjection = Insertable<MultiHeadProjectionsTable>;
export type ClusterHead = Selectable<ClusterHeadsTable>;
export type NewClusterHead = Insertable<ClusterHeadsTable>;
export type TrainingBatch = Selectable<TrainingBatchesTable>;
export type NewTrainingBatch = Insertable<TrainingBatchesTable>;
export type TrainingBatchUpdate = Updateable<TrainingBatchesTable>;
export type BatchStatusHistory = Selectable<BatchStatusHistoryTable>;
export type FileRemoval = Selectable<FileRemovalsTable>;
export type ProjectionReservation = Selectable<ProjectionReservationsTable>;
export type StoreSetting = Selectable<StoreSettingsTable>;
export type NewBatchStatusHistory = Insertable<BatchStatusHistoryTable>;
