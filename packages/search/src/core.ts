/**
 * The browser-safe part of `@ldakit/search` (no Node.js APIs): projections from arrays in memory
 * and the search math. Import it as `@ldakit/search/core`. The file names and `mh_<id>.json`
 * are `@ldakit/format` (also browser-safe).
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
