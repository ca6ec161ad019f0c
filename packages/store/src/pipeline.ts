import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism, hostname } from "node:os";
import { join, resolve } from "node:path";
import type { Embedder } from "@ldakit/embed";
import {
  assertTransition,
  type BatchStatus,
  type BatchStatusHistory,
  modelEmbeddingsDir,
  type NormalizedCluster,
  parseRawJson,
  type TrainingBatch,
} from "@ldakit/schema";
import type { LDAProjectionDB } from "./db.js";
import { now, vectorPath } from "./util.js";
import { type VectorFileJob, VectorWriterPool } from "./writer-pool.js";

export type ScanChange = "new" | "modified" | "unchanged";

export interface ScannedFile {
  path: string;
  hash: string;
  change: ScanChange;
  /** The pending batch created for a new or modified file; the latest batch of an unchanged one. */
  batchId: number;
}

export interface ScanResult {
  new: ScannedFile[];
  modified: ScannedFile[];
  unchanged: ScannedFile[];
}

export interface BatchProgress {
  batchId: number;
  filePath: string;
  phase: "importing" | "embedding";
  /** Texts embedded so far in this batch, and in all. */
  done: number;
  total: number;
}

/** Milliseconds spent per kind of work, added up across a run (for profiling; see the benchmark). */
export interface PipelineTimings {
  /** SHA-256 of input files (scan, and the re-check before import). */
  hashing: number;
  /** JSON parsing and validation. */
  parsing: number;
  /** SQLite statements and transactions. */
  sqlite: number;
  /** The embedder's `embed` calls. */
  embedding: number;
  /** Writing and removing vector files. */
  files: number;
}

export function emptyTimings(): PipelineTimings {
  return { hashing: 0, parsing: 0, sqlite: 0, embedding: 0, files: 0 };
}

function timed<T>(
  timings: PipelineTimings | undefined,
  key: keyof PipelineTimings,
  fn: () => T,
): T {
  if (!timings) return fn();
  const start = performance.now();
  try {
    return fn();
  } finally {
    timings[key] += performance.now() - start;
  }
}

async function timedAsync<T>(
  timings: PipelineTimings | undefined,
  key: keyof PipelineTimings,
  fn: () => Promise<T>,
): Promise<T> {
  if (!timings) return fn();
  const start = performance.now();
  try {
    return await fn();
  } finally {
    timings[key] += performance.now() - start;
  }
}

export interface ProcessOptions {
  embedder: Embedder;
  onProgress?: (progress: BatchProgress) => void;
  /** Texts embedded per call (default 512): the unit of progress and of a lease renewal. */
  chunkSize?: number;
  /** A batch whose worker has not renewed its lease for this long is taken over (default 5 min). */
  leaseMs?: number;
  /** When given, time spent per kind of work is added to it. */
  timings?: PipelineTimings;
  /**
   * Worker threads that write vector files beside the embedding (default: 2 on a machine with
   * two or more cores); 0 writes them on the calling thread.
   */
  writerThreads?: number;
}

export interface ScanOptions {
  /** Also scan subfolders. */
  recursive?: boolean;
  /** When given, time spent per kind of work is added to it. */
  timings?: PipelineTimings;
}

export interface BatchOutcome {
  batchId: number;
  filePath: string;
  status: "completed" | "failed";
  error?: string;
  clusters: number;
  questions: number;
  vectors: number;
}

export interface ProcessResult {
  completed: BatchOutcome[];
  failed: BatchOutcome[];
}

/** A batch we could not complete; the message is what a person needs to fix it. */
class BatchFailure extends Error {}

const HOST = hostname();

/** Identifies this process as a batch's worker: `host:pid:nonce`. */
function workerId(): string {
  return `${HOST}:${process.pid}:${randomBytes(4).toString("hex")}`;
}

/** True when the worker is a process on this host that no longer exists. */
function workerIsDead(claimedBy: string | null): boolean {
  if (!claimedBy) return true;
  const [host, pid] = claimedBy.split(":");
  if (host !== HOST) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

export function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** Every `*.json` file in `dir` (and below it when recursive), sorted, as absolute paths. */
function listJsonFiles(dir: string, recursive: boolean): string[] {
  const root = resolve(dir);
  const entries = readdirSync(root, { withFileTypes: true, recursive });
  return entries
    .filter((e) => e.isFile() && e.name.toLowerCase().endsWith(".json"))
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
    .sort();
}

function appendHistory(
  db: LDAProjectionDB,
  batchId: number,
  from: BatchStatus | null,
  to: BatchStatus,
  message: string | null,
): void {
  db.sql.run(
    db.kysely
      .insertInto("batch_status_history")
      .values({ batch_id: batchId, old_status: from, new_status: to, changed_at: now(), message }),
  );
}

/** Moves a batch from one status to another, with its history row, in the caller's transaction. */
function transition(
  db: LDAProjectionDB,
  batchId: number,
  from: BatchStatus,
  to: BatchStatus,
  fields: {
    error_message?: string | null;
    claimed_by?: string | null;
    model_name?: string;
    num_clusters?: number;
    num_questions?: number;
  } = {},
  message: string | null = null,
): void {
  assertTransition(from, to, batchId);
  const { changes } = db.sql.run(
    db.kysely
      .updateTable("training_batches")
      .set({ status: to, updated_at: now(), ...fields })
      .where("batch_id", "=", batchId)
      .where("status", "=", from),
  );
  if (changes !== 1) throw new Error(`batch ${batchId} is no longer ${from}`);
  appendHistory(db, batchId, from, to, message ?? fields.error_message ?? null);
}

/** DESIGN §5 scan: new and modified files get a pending batch; unchanged files are left alone. */
export async function scan(
  db: LDAProjectionDB,
  dir: string,
  options: ScanOptions = {},
): Promise<ScanResult> {
  const result: ScanResult = { new: [], modified: [], unchanged: [] };
  const { timings } = options;
  for (const path of listJsonFiles(dir, options.recursive ?? false)) {
    const hash = timed(timings, "hashing", () => sha256File(path));
    timed(timings, "sqlite", () =>
      db.sql.immediate(() => {
        const latest = db.sql.first(
          db.kysely
            .selectFrom("training_batches")
            .select(["batch_id", "file_hash"])
            .where("file_path", "=", path)
            .orderBy("batch_id", "desc")
            .limit(1),
        );
        if (latest && latest.file_hash === hash) {
          result.unchanged.push({ path, hash, change: "unchanged", batchId: latest.batch_id });
          return;
        }
        const change: ScanChange = latest ? "modified" : "new";
        const stamp = now();
        const { lastInsertRowid: batchId } = db.sql.run(
          db.kysely.insertInto("training_batches").values({
            file_path: path,
            file_hash: hash,
            status: "pending",
            created_at: stamp,
            updated_at: stamp,
          }),
        );
        appendHistory(db, batchId, null, "pending", change);
        result[change].push({ path, hash, change, batchId });
      }),
    );
  }
  return result;
}

/**
 * Takes the next batch to work on, atomically: first puts batches whose worker died back to
 * `pending` (removing what they half did), then claims the oldest pending batch.
 */
function claimNext(db: LDAProjectionDB, me: string, leaseMs: number): TrainingBatch | undefined {
  return db.sql.immediate(() => {
    const leaseCutoff = new Date(Date.now() - leaseMs).toISOString();
    const inProgress = db.sql.all(
      db.kysely
        .selectFrom("training_batches")
        .selectAll()
        .where("status", "in", ["importing", "embedding"])
        .orderBy("batch_id"),
    );
    for (const batch of inProgress) {
      const dead = workerIsDead(batch.claimed_by);
      if (dead || batch.updated_at < leaseCutoff) {
        const files = discardBatchData(db, batch.batch_id);
        const pid = Number(batch.claimed_by?.split(":")[1]);
        if (dead && batch.model_name && Number.isInteger(pid)) {
          db.vectors.removeTemporaryFiles(modelEmbeddingsDir(batch.model_name), pid);
        }
        transition(
          db,
          batch.batch_id,
          batch.status,
          "pending",
          { claimed_by: null },
          `reclaimed from ${batch.claimed_by ?? "no worker"}, which stopped while ${batch.status}`,
        );
        removeFilesLater(db, files);
      }
    }
    for (;;) {
      const next = db.sql.first(
        db.kysely
          .selectFrom("training_batches")
          .selectAll()
          .where("status", "=", "pending")
          .orderBy("batch_id")
          .limit(1),
      );
      if (!next) return undefined;
      const newer = db.sql.first(
        db.kysely
          .selectFrom("training_batches")
          .select("batch_id")
          .where("file_path", "=", next.file_path)
          .where("batch_id", ">", next.batch_id)
          .orderBy("batch_id")
          .limit(1),
      );
      transition(db, next.batch_id, "pending", "importing", { claimed_by: me });
      db.sql.run(
        db.kysely
          .updateTable("training_batches")
          .set((eb) => ({ attempts: eb("attempts", "+", 1) }))
          .where("batch_id", "=", next.batch_id),
      );
      if (newer) {
        // The file changed again after this scan; the newer batch has the current content.
        transition(db, next.batch_id, "importing", "failed", {
          claimed_by: null,
          error_message: `superseded by batch ${newer.batch_id}: the file changed again before this batch was processed`,
        });
        continue;
      }
      return { ...next, status: "importing" as const, claimed_by: me };
    }
  });
}

/** Files to delete once the transaction that dropped their rows has committed. */
const pendingRemovals = new WeakMap<LDAProjectionDB, string[]>();
function removeFilesLater(db: LDAProjectionDB, files: string[]): void {
  const list = pendingRemovals.get(db) ?? [];
  list.push(...files);
  pendingRemovals.set(db, list);
}
function flushRemovals(db: LDAProjectionDB): void {
  const list = pendingRemovals.get(db);
  if (!list) return;
  pendingRemovals.delete(db);
  for (const path of list) db.vectors.remove(path);
}

/** SQLite binds at most 32 766 parameters per statement; stay well below. */
const ID_CHUNK = 5000;
function chunks<T>(items: T[], size = ID_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Deletes the clusters a batch imported, their questions and vector rows (in the caller's
 * transaction) and returns the vector files to delete after it commits. Files the batch may have
 * written before recording them are found by their names, which follow from the ids.
 */
function discardBatchData(db: LDAProjectionDB, batchId: number): string[] {
  const ids = db.sql
    .all(db.kysely.selectFrom("clusters").select("cluster_id").where("batch_id", "=", batchId))
    .map((c) => c.cluster_id);
  return discardClusters(db, ids);
}

function discardClusters(db: LDAProjectionDB, clusterIds: number[]): string[] {
  const files: string[] = [];
  for (const ids of chunks(clusterIds)) {
    const clusters = db.sql.all(
      db.kysely
        .selectFrom("clusters")
        .innerJoin("models", "models.model_id", "clusters.model_id")
        .select(["clusters.cluster_id", "models.name"])
        .where("clusters.cluster_id", "in", ids),
    );
    const dirOfCluster = new Map<number, string>();
    const dirOfModel = new Map<string, string>();
    for (const { cluster_id, name } of clusters) {
      let dir = dirOfModel.get(name);
      if (dir === undefined) {
        dir = modelEmbeddingsDir(name);
        dirOfModel.set(name, dir);
      }
      dirOfCluster.set(cluster_id, dir);
      files.push(vectorPath(dir, "answer", cluster_id));
    }
    const questions = db.sql.all(
      db.kysely
        .selectFrom("questions")
        .select(["question_id", "cluster_id"])
        .where("cluster_id", "in", ids),
    );
    for (const q of questions)
      files.push(vectorPath(dirOfCluster.get(q.cluster_id) as string, "question", q.question_id));
    for (const qids of chunks(questions.map((q) => q.question_id))) {
      db.sql.run(
        db.kysely
          .deleteFrom("embeddings")
          .where("entity_type", "=", "question")
          .where("entity_id", "in", qids),
      );
    }
    db.sql.run(
      db.kysely
        .deleteFrom("embeddings")
        .where("entity_type", "=", "answer")
        .where("entity_id", "in", ids),
    );
    db.sql.run(db.kysely.deleteFrom("questions").where("cluster_id", "in", ids));
    // A cluster that is a head of a trained projection stays as that projection's answer (its
    // head files are the projection's own); it loses its questions and batch, so it is retired.
    const heads = new Set(
      db.sql
        .all(
          db.kysely
            .selectFrom("cluster_heads")
            .select("cluster_id")
            .distinct()
            .where("cluster_id", "in", ids),
        )
        .map((h) => h.cluster_id),
    );
    const retired = ids.filter((id) => heads.has(id));
    const deleted = ids.filter((id) => !heads.has(id));
    if (retired.length > 0) {
      db.sql.run(
        db.kysely
          .updateTable("clusters")
          .set({ batch_id: null })
          .where("cluster_id", "in", retired),
      );
    }
    if (deleted.length > 0)
      db.sql.run(db.kysely.deleteFrom("clusters").where("cluster_id", "in", deleted));
  }
  return files;
}

/** Lost the claim on a batch: another process took it over, believing this one dead. */
class LostClaim extends Error {}

function assertOwner(db: LDAProjectionDB, batchId: number, me: string): BatchStatus {
  const row = db.sql.first(
    db.kysely
      .selectFrom("training_batches")
      .select(["status", "claimed_by"])
      .where("batch_id", "=", batchId),
  );
  if (!row || row.claimed_by !== me)
    throw new LostClaim(`batch ${batchId} was taken over by another process`);
  return row.status;
}

interface ImportedBatch {
  modelId: number;
  modelDir: string;
  /** Every imported question, in file order. */
  questions: Array<{ id: number; text: string }>;
  /** Every imported cluster with its answer text and the answer variant for the embedding model. */
  clusters: Array<{ id: number; answer: string; variant: string | undefined }>;
}

function failureMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function normalizedMean(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    const v = ((a[i] as number) + (b[i] as number)) / 2;
    out[i] = v;
    norm += v * v;
  }
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / norm;
  return out;
}

/** Parses and inserts a claimed batch's file in one transaction, moving it to `embedding`. */
function importBatch(
  db: LDAProjectionDB,
  batch: TrainingBatch,
  me: string,
  embedder: Embedder,
  timings?: PipelineTimings,
): ImportedBatch {
  let bytes: Buffer;
  try {
    bytes = readFileSync(batch.file_path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BatchFailure(
      code === "ENOENT"
        ? "file not found; run scan again"
        : `cannot read the file: ${failureMessage(error)}`,
    );
  }
  if (
    timed(timings, "hashing", () => createHash("sha256").update(bytes).digest("hex")) !==
    batch.file_hash
  ) {
    throw new BatchFailure("changed since scan; run scan again");
  }
  let clusters: NormalizedCluster[];
  try {
    clusters = timed(timings, "parsing", () => parseRawJson(bytes.toString("utf8")).clusters);
  } catch (error) {
    throw new BatchFailure(failureMessage(error));
  }
  const insertCluster = db.sql.statement(
    db.kysely.insertInto("clusters").values({
      answer_text: "",
      answer_record_id: "",
      model_id: 0,
      batch_id: 0,
      answer_source: null,
    }),
  );
  const insertQuestion = db.sql.statement(
    db.kysely
      .insertInto("questions")
      .values({ cluster_id: 0, question_text: "", length_type: null }),
  );
  return timed(timings, "sqlite", () =>
    db.sql.immediate(() => {
      assertOwner(db, batch.batch_id, me);
      let model: { model_id: number };
      try {
        model = db.ensureModel(embedder.name, embedder.dimensions, embedder.backend);
      } catch (error) {
        throw new BatchFailure(failureMessage(error));
      }
      const imported: ImportedBatch = {
        modelId: model.model_id,
        modelDir: modelEmbeddingsDir(embedder.name),
        questions: [],
        clusters: [],
      };
      for (const cluster of clusters) {
        const clusterId = Number(
          insertCluster.run(
            cluster.answerText,
            cluster.recordId,
            model.model_id,
            batch.batch_id,
            cluster.answerSource,
          ).lastInsertRowid,
        );
        imported.clusters.push({
          id: clusterId,
          answer: cluster.answerText,
          variant: cluster.answerVariants[embedder.name],
        });
        for (const question of cluster.questions) {
          const id = Number(
            insertQuestion.run(clusterId, question.text, question.lengthType).lastInsertRowid,
          );
          imported.questions.push({ id, text: question.text });
        }
      }
      transition(db, batch.batch_id, "importing", "embedding", {
        model_name: embedder.name,
        num_clusters: imported.clusters.length,
        num_questions: imported.questions.length,
      });
      return imported;
    }),
  );
}

/** Embeds `texts` in chunks, checking every vector, and hands each chunk to `onChunk`. */
async function embedInChunks(
  texts: string[],
  embedder: Embedder,
  chunkSize: number,
  timings: PipelineTimings | undefined,
  onChunk: (start: number, vectors: Float32Array[]) => Promise<void>,
): Promise<void> {
  for (let start = 0; start < texts.length; start += chunkSize) {
    const chunk = texts.slice(start, start + chunkSize);
    const vectors = await timedAsync(timings, "embedding", () => embedder.embed(chunk));
    if (vectors.length !== chunk.length) {
      throw new BatchFailure(
        `embedder ${embedder.name} returned ${vectors.length} vectors for ${chunk.length} texts`,
      );
    }
    for (const [i, vector] of vectors.entries()) {
      if (vector.length !== embedder.dimensions) {
        throw new BatchFailure(
          `embedder ${embedder.name} returned a ${vector.length}-dimensional vector for a ${embedder.dimensions}-dimensional model`,
        );
      }
      if (!vector.every(Number.isFinite)) {
        throw new BatchFailure(
          `embedder ${embedder.name} returned a vector with NaN or infinite values for text ${start + i + 1} of the batch`,
        );
      }
    }
    await onChunk(start, vectors);
  }
}

type EmbeddingRow = [entityType: "question" | "answer", id: number, path: string];

/**
 * Embeds an imported batch: writes its vector files and records them, renewing the claim as it
 * goes. Files of chunk k are written (on the writer threads) while chunk k+1 is embedded; a
 * chunk's rows are recorded only once its files are in place, so no row names a missing file.
 */
async function embedBatch(
  db: LDAProjectionDB,
  batch: TrainingBatch,
  me: string,
  imported: ImportedBatch,
  options: ProcessOptions,
  writeFiles: (jobs: VectorFileJob[]) => Promise<void>,
): Promise<number> {
  const { embedder, onProgress, timings } = options;
  const chunkSize = options.chunkSize ?? 512;
  const upsert = db.sql.statement(db.upsertEmbedding("question", 0, 0, ""));
  const renew = db.kysely.updateTable("training_batches").where("batch_id", "=", batch.batch_id);
  const answerTexts: string[] = [];
  for (const cluster of imported.clusters) {
    answerTexts.push(cluster.answer);
    if (cluster.variant !== undefined) answerTexts.push(cluster.variant);
  }
  const total = imported.questions.length + answerTexts.length;
  let done = 0;
  const record = (rows: EmbeddingRow[], texts: number): void => {
    timed(timings, "sqlite", () =>
      db.sql.immediate(() => {
        assertOwner(db, batch.batch_id, me);
        for (const [entityType, id, path] of rows)
          upsert.run(entityType, id, imported.modelId, path, path);
        db.sql.run(renew.set({ updated_at: now() }));
      }),
    );
    done += texts;
    onProgress?.({
      batchId: batch.batch_id,
      filePath: batch.file_path,
      phase: "embedding",
      done,
      total,
    });
  };

  const inFlight: Array<Promise<void>> = [];
  let previous: { writing: Promise<void>; rows: EmbeddingRow[]; texts: number } | undefined;
  const recordPrevious = async (): Promise<void> => {
    if (!previous) return;
    const { writing, rows, texts } = previous;
    previous = undefined;
    await timedAsync(timings, "files", () => writing);
    record(rows, texts);
  };
  const write = async (
    rows: EmbeddingRow[],
    vectors: Float32Array[],
    texts: number,
  ): Promise<void> => {
    const writing = writeFiles(
      rows.map(([, , path], i) => ({
        path: db.vectors.absolute(path),
        vector: vectors[i] as Float32Array,
      })),
    );
    inFlight.push(writing);
    await recordPrevious();
    previous = { writing, rows, texts };
  };

  try {
    await embedInChunks(
      imported.questions.map((q) => q.text),
      embedder,
      chunkSize,
      timings,
      (start, vectors) => {
        const rows = vectors.map((_, i): EmbeddingRow => {
          const id = (imported.questions[start + i] as { id: number }).id;
          return ["question", id, vectorPath(imported.modelDir, "question", id)];
        });
        return write(rows, vectors, vectors.length);
      },
    );

    const answerVectors: Float32Array[] = [];
    await embedInChunks(answerTexts, embedder, chunkSize, timings, async (_start, vectors) => {
      answerVectors.push(...vectors);
    });
    const rows: EmbeddingRow[] = [];
    const vectors: Float32Array[] = [];
    let next = 0;
    for (const cluster of imported.clusters) {
      const base = answerVectors[next++] as Float32Array;
      // DESIGN §5: with a variant for this model, the answer vector is the normalized mean of both.
      vectors.push(
        cluster.variant === undefined
          ? base
          : normalizedMean(base, answerVectors[next++] as Float32Array),
      );
      rows.push(["answer", cluster.id, vectorPath(imported.modelDir, "answer", cluster.id)]);
    }
    await write(rows, vectors, answerTexts.length);
    await recordPrevious();
  } finally {
    // On failure, let every write land before the caller removes the batch's files.
    await Promise.allSettled(inFlight);
  }
  return imported.questions.length + imported.clusters.length;
}

/**
 * Completes an embedded batch. When it is a newer version of a file imported before, the older
 * version's clusters, questions, vector rows and files go in the same step: no duplicates, no orphans.
 */
function completeBatch(
  db: LDAProjectionDB,
  batch: TrainingBatch,
  me: string,
  timings?: PipelineTimings,
): void {
  const obsolete = timed(timings, "sqlite", () =>
    db.sql.immediate(() => {
      assertOwner(db, batch.batch_id, me);
      const older = db.sql
        .all(
          db.kysely
            .selectFrom("clusters")
            .innerJoin("training_batches", "training_batches.batch_id", "clusters.batch_id")
            .select("clusters.cluster_id")
            .where("training_batches.file_path", "=", batch.file_path)
            .where("training_batches.batch_id", "<", batch.batch_id),
        )
        .map((c) => c.cluster_id);
      const files = discardClusters(db, older);
      transition(db, batch.batch_id, "embedding", "completed", { claimed_by: null });
      return files;
    }),
  );
  timed(timings, "files", () => {
    for (const path of obsolete) db.vectors.remove(path);
  });
}

/** Records a batch's failure: what it imported goes, the message stays. */
function failBatch(db: LDAProjectionDB, batchId: number, me: string, message: string): void {
  const files = db.sql.immediate(() => {
    const status = assertOwner(db, batchId, me);
    const discarded = discardBatchData(db, batchId);
    transition(db, batchId, status, "failed", { claimed_by: null, error_message: message });
    return discarded;
  });
  for (const path of files) db.vectors.remove(path);
}

/**
 * DESIGN §5 process-pending: claims pending batches oldest first (and batches a killed process
 * left behind) and takes each through importing → embedding → completed. A failing batch ends
 * `failed` with its message and does not stop the others.
 */
export async function processPending(
  db: LDAProjectionDB,
  options: ProcessOptions,
): Promise<ProcessResult> {
  const me = workerId();
  const leaseMs = options.leaseMs ?? 5 * 60_000;
  const result: ProcessResult = { completed: [], failed: [] };
  const threads = options.writerThreads ?? Math.min(2, availableParallelism() > 1 ? 2 : 0);
  let pool: VectorWriterPool | undefined;
  const writeFiles = (jobs: VectorFileJob[]): Promise<void> => {
    if (threads === 0) {
      for (const job of jobs) db.vectors.writeAbsolute(job.path, job.vector);
      return Promise.resolve();
    }
    pool ??= new VectorWriterPool(threads);
    return pool.write(jobs);
  };
  try {
    return await processAll(db, me, leaseMs, options, writeFiles, result);
  } finally {
    await pool?.close();
  }
}

async function processAll(
  db: LDAProjectionDB,
  me: string,
  leaseMs: number,
  options: ProcessOptions,
  writeFiles: (jobs: VectorFileJob[]) => Promise<void>,
  result: ProcessResult,
): Promise<ProcessResult> {
  for (;;) {
    const batch = timed(options.timings, "sqlite", () => claimNext(db, me, leaseMs));
    flushRemovals(db);
    if (!batch) return result;
    const outcome: BatchOutcome = {
      batchId: batch.batch_id,
      filePath: batch.file_path,
      status: "completed",
      clusters: 0,
      questions: 0,
      vectors: 0,
    };
    try {
      options.onProgress?.({
        batchId: batch.batch_id,
        filePath: batch.file_path,
        phase: "importing",
        done: 0,
        total: 0,
      });
      const imported = importBatch(db, batch, me, options.embedder, options.timings);
      outcome.clusters = imported.clusters.length;
      outcome.questions = imported.questions.length;
      outcome.vectors = await embedBatch(db, batch, me, imported, options, writeFiles);
      completeBatch(db, batch, me, options.timings);
      result.completed.push(outcome);
    } catch (error) {
      if (error instanceof LostClaim) continue;
      const message = failureMessage(error);
      try {
        failBatch(db, batch.batch_id, me, message);
      } catch (inner) {
        if (!(inner instanceof LostClaim)) throw inner;
        continue;
      }
      result.failed.push({
        ...outcome,
        status: "failed",
        error: message,
        clusters: 0,
        questions: 0,
        vectors: 0,
      });
    }
  }
}

/** DESIGN §5 retry-failed: failed batches go back to pending and are processed again. */
export async function retryFailed(
  db: LDAProjectionDB,
  options: ProcessOptions,
): Promise<ProcessResult & { retried: number[] }> {
  const retried = db.sql.immediate(() => {
    const failed = db.sql.all(
      db.kysely
        .selectFrom("training_batches")
        .select("batch_id")
        .where("status", "=", "failed")
        .orderBy("batch_id"),
    );
    for (const { batch_id } of failed)
      transition(db, batch_id, "failed", "pending", { error_message: null }, "retry");
    return failed.map((b) => b.batch_id);
  });
  return { ...(await processPending(db, options)), retried };
}

export async function listBatches(
  db: LDAProjectionDB,
  filter: { status?: BatchStatus } = {},
): Promise<TrainingBatch[]> {
  let query = db.kysely.selectFrom("training_batches").selectAll().orderBy("batch_id");
  if (filter.status) query = query.where("status", "=", filter.status);
  return db.sql.all(query);
}

export async function batchHistory(
  db: LDAProjectionDB,
  batchId: number,
): Promise<BatchStatusHistory[]> {
  return db.sql.all(
    db.kysely
      .selectFrom("batch_status_history")
      .selectAll()
      .where("batch_id", "=", batchId)
      .orderBy("history_id"),
  );
}
