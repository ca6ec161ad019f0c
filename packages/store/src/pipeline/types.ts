import type { Embedder } from "@ldakit/embed";
import type { PipelineTimings } from "./timings.js";

export interface BatchProgress {
  batchId: number;
  filePath: string;
  phase: "importing" | "embedding";
  /** Texts embedded so far in this batch, and in all. */
  done: number;
  total: number;
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

export interface BatchOutcome {
  batchId: number;
  filePath: string;
  status: "completed" | "failed";
  error?: string;
  clusters: number;
  questions: number;
  vectors: number;
}

/** A pending batch that was not processed because a newer scan of the same file had been queued. */
export interface SupersededBatch {
  batchId: number;
  filePath: string;
  /** The newer batch, which holds the file's current content. */
  supersededBy: number;
}

export interface ProcessResult {
  completed: BatchOutcome[];
  failed: BatchOutcome[];
  /**
   * Pending batches the run did not process because the file changed again after their scan: each
   * is failed with "superseded by batch N", and the newer batch is processed in its place. Not an
   * error of the run.
   */
  superseded: SupersededBatch[];
}
