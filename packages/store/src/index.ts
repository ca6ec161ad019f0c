export {
  copyStoreContents,
  type StoreCopyEnd,
  StoreCopyError,
  type StoreCopyErrorCode,
  type StoreCopyOptions,
  type StoreCopySummary,
} from "./copy.js";
export { isPostgresUrl, redactUrl } from "./db/postgres.js";
export {
  type ClusterWithQuestions,
  DEFAULT_BUSY_TIMEOUT_MS,
  isLockedError,
  LDAProjectionDB,
  lockedStoreError,
  MAX_BUSY_TIMEOUT_MS,
  type OpenMode,
  type OpenOptions,
  type StoreStats,
} from "./db.js";
export { StoreError, type StoreErrorCode } from "./errors.js";
export type { SweptFile } from "./lifecycle.js";
export {
  type BatchOutcome,
  type BatchProgress,
  emptyTimings,
  type PipelineTimings,
  type ProcessOptions,
  type ProcessResult,
  type RetryOutcome,
  type RetryResult,
  type ScanChange,
  type ScannedFile,
  type ScanOptions,
  type ScanResult,
  type SkippedInput,
  type SupersededBatch,
} from "./pipeline/index.js";
export type { NewProjection, TrainingSet } from "./projections.js";
export type {
  StoreRoutingWeight,
  StoreSearchHit,
  StoreSearchOptions,
  StoreSearchResult,
} from "./search.js";
export { VectorFiles } from "./vectors.js";
export type { VerifyOptions, VerifyProblem, VerifyResult } from "./verify.js";
