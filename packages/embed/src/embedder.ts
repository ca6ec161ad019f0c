/**
 * The contract every embedder of ldakit fulfils (see the package README).
 */

/** Options of one `embed` call. */
export interface EmbedOptions {
  /**
   * Called as work progresses with the number of texts done so far and the total (at least
   * once, when all are done). Lets a caller show progress without splitting the input, which
   * would defeat an embedder's own batching.
   */
  onProgress?: (done: number, total: number) => void;
}

/** Turns texts into fixed-size vectors. */
export interface Embedder {
  /** The model name, recorded in `models.name`, e.g. `hash-384` or `all-MiniLM-L6-v2`. */
  readonly name: string;
  /** The length of every vector. */
  readonly dimensions: number;
  /** Recorded in `models.backend`, e.g. `hash` or `tfjs-wasm`. */
  readonly backend: string;
  /**
   * One vector of `dimensions` float32 values per text, in input order. The vectors are
   * L2-normalized (a text with nothing to embed may give the zero vector).
   */
  embed(texts: string[], options?: EmbedOptions): Promise<Float32Array[]>;
  /** Releases what the embedder holds (weights, workers). It cannot be used afterwards. */
  dispose(): Promise<void>;
}

/** A model name that cannot be turned into an embedder here and now. */
export class EmbedderNotAvailableError extends Error {
  override readonly name = "EmbedderNotAvailableError";
  constructor(
    readonly modelName: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`model "${modelName}" is not available: ${reason}`, options);
  }
}
