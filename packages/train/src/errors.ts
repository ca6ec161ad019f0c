/** Stable error codes of {@link TrainError}; each names one way training or evaluating can be asked wrongly. */
export type TrainErrorCode =
  /** The store has no embedded clusters at all: nothing to train on. */
  | "NO_CLUSTERS"
  /** The store has vectors of several models and no `model` option says which to use. */
  | "AMBIGUOUS_MODEL"
  /** Fewer than two clusters of the model have an answer vector and question vectors. */
  | "TOO_FEW_CLUSTERS"
  /**
   * An option out of range: a temperature outside `TEMPERATURE_RANGE`, `folds`,
   * `maxEvalQueries`, `seed`, `centroid`, an empty grid.
   */
  | "BAD_ARGUMENT"
  /**
   * A score, a loss or a vector about to be stored is NaN or infinite (e.g. adapter training
   * diverged at a too large learning rate): nothing was stored.
   */
  | "NOT_FINITE"
  /** Queries embedded with another model than the one the projection was trained on. */
  | "MODEL_MISMATCH"
  /** No labelled query's record id is the answer of a head of the projection. */
  | "NO_MATCHING_QUERIES";

/**
 * Every failure this package detects is a `TrainError`: switch on `code`, show `message`. Errors
 * of the store (`StoreError` of `@ldakit/store`, e.g. `MODEL_NOT_FOUND` for a model nothing was
 * embedded with, `PROJECTION_NOT_FOUND`) pass through as they are.
 */
export class TrainError extends Error {
  readonly code: TrainErrorCode;

  constructor(code: TrainErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TrainError";
    this.code = code;
  }
}
