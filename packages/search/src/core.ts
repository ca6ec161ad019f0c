/**
 * The browser-safe part of `@ldakit/search` (no Node.js APIs): projections from arrays in memory,
 * the search math, the metadata format. Import it as `@ldakit/search/core`.
 */
export { SearchError, type SearchErrorCode } from "./errors.js";
export {
  initKernel,
  type KernelChoice,
  type KernelName,
  type ThreadsChoice,
  wasmKernelAvailable,
} from "./kernel.js";
export {
  headFileName,
  PROJECTION_META_FORMAT,
  type ProjectionFileName,
  type ProjectionMeta,
  parseProjectionFileName,
  projectionMetaFileName,
  validateProjectionMeta,
} from "./meta.js";
export {
  type DirectSearchOptions,
  type DirectSearchResult,
  type MatrixInput,
  Projection,
  type ProjectionArrays,
  type ProjectResult,
  type QueryBatch,
  type RoutingWeight,
  type SearchHit,
  type SearchOptions,
  type SearchResult,
} from "./projection.js";
