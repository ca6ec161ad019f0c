/** Stable error codes of {@link SearchError}; each names one way a projection or a query can be wrong. */
export type SearchErrorCode =
  /** A folder or an `mh_<id>.json` file does not exist. */
  | "NOT_FOUND"
  /** `mh_<id>.json` is not JSON, or does not match the `ldakit.mh/1` or `ldakit.mh/2` format. */
  | "BAD_META"
  /** A head file that `mh_<id>.json` lists does not exist. */
  | "HEAD_FILE_MISSING"
  /** A head file is not a readable float `.npy` file of shape `(d,)`. */
  | "BAD_HEAD_FILE"
  /** The adapter file `mh_<id>_W.npy` that `mh_<id>.json` names does not exist. */
  | "ADAPTER_FILE_MISSING"
  /** The adapter file is not a readable float `.npy` file of shape `(d, d)`. */
  | "BAD_ADAPTER_FILE"
  /**
   * In strict loading: a head file whose cluster `mh_<id>.json` does not list, or an adapter file
   * `mh_<id>_W.npy` that it does not name.
   */
  | "EXTRA_HEAD_FILE"
  /** A vector's length is not the projection's dimensions. */
  | "DIMENSION_MISMATCH"
  /** A vector holds NaN or an infinity. */
  | "NOT_FINITE"
  /** A vector has length zero, so it has no direction. */
  | "ZERO_VECTOR"
  /** An argument out of range: topK, temperature, cluster ids, matrix sizes, ... */
  | "BAD_ARGUMENT"
  /** `kernel: "wasm"` was asked for where WebAssembly SIMD is not available. */
  | "KERNEL_UNAVAILABLE";

/** Every failure of this package is a `SearchError`: switch on `code`, show `message`. */
export class SearchError extends Error {
  readonly code: SearchErrorCode;

  constructor(code: SearchErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SearchError";
    this.code = code;
  }
}
