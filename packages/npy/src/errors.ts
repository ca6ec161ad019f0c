/** Stable error codes of {@link NpyError}; each names one way an NPY file or array can be wrong. */
export type NpyErrorCode =
  | "BAD_MAGIC"
  | "UNSUPPORTED_VERSION"
  | "BAD_HEADER"
  | "HEADER_TOO_LARGE"
  | "UNSUPPORTED_DTYPE"
  | "BAD_SHAPE"
  | "TRUNCATED"
  | "TRAILING_DATA"
  | "BAD_ARRAY"
  | "TOO_LARGE"
  | "NOT_A_FILE";

/** Every failure of this package is an `NpyError`; switch on `code`, show `message`. */
export class NpyError extends Error {
  readonly code: NpyErrorCode;

  constructor(code: NpyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NpyError";
    this.code = code;
  }
}
