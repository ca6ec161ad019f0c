export {
  type ClusterWithQuestions,
  DimensionMismatchError,
  LDAProjectionDB,
  type OpenOptions,
  type StoreStats,
} from "./db.js";
export type {
  BatchOutcome,
  BatchProgress,
  PipelineTimings,
  ProcessOptions,
  ProcessResult,
  ScanChange,
  ScannedFile,
  ScanOptions,
  ScanResult,
} from "./pipeline.js";
export { emptyTimings } from "./pipeline.js";
export type { NewProjection, TrainingSet } from "./projections.js";
export type { StoreSearchHit, StoreSearchResult } from "./search.js";
export { VectorFileError, VectorFiles } from "./vectors.js";
export {
  type VerifyOptions,
  type VerifyProblem,
  type VerifyResult,
  verifyStore,
} from "./verify.js";
