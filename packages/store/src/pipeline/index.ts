/**
 * The incremental batch pipeline of docs/ARCHITECTURE.md, one concern per module: `scan` queues
 * files, `claims` hands batches to workers under a lease, `import` parses and inserts a batch,
 * `embed` writes and records its vectors, `finish` completes or fails it, `process` runs the loop.
 */
export { batchHistory, listBatches } from "./batches.js";
export { processPending, type RetryOutcome, type RetryResult, retryFailed } from "./process.js";
export {
  type ScanChange,
  type ScannedFile,
  type ScanOptions,
  type ScanResult,
  type SkippedInput,
  scan,
} from "./scan.js";
export { emptyTimings, type PipelineTimings } from "./timings.js";
export type {
  BatchOutcome,
  BatchProgress,
  ProcessOptions,
  ProcessResult,
  SupersededBatch,
} from "./types.js";
