/**
 * @ldakit/embed — embedders: the `Embedder` contract, the built-in `hash-<d>` embedders, and
 * `resolveEmbedder`, which turns a model name into an embedder.
 */
import { type Embedder, EmbedderNotAvailableError } from "./embedder.js";
import {
  createHashEmbedder,
  DEFAULT_HASH_DIMENSIONS,
  MAX_HASH_DIMENSIONS,
  MIN_HASH_DIMENSIONS,
  parseHashModelName,
} from "./hash.js";
import { ModelNotFoundError } from "./models/index.js";
import { loadSentenceTransformer } from "./st/index.js";

export { type Embedder, EmbedderNotAvailableError, type EmbedOptions } from "./embedder.js";
export {
  createHashEmbedder,
  DEFAULT_HASH_DIMENSIONS,
  HASH_BACKEND,
  HashEmbedder,
  hashWords,
  MAX_HASH_DIMENSIONS,
  MIN_HASH_DIMENSIONS,
  normalizeForHashing,
  parseHashModelName,
} from "./hash.js";
export {
  type CachedModel,
  defaultCacheDir,
  type FetchModelOptions,
  type FetchModelResult,
  type FetchProgress,
  fetchModel,
  KNOWN_MODELS,
  type KnownModel,
  listModels,
  ModelFetchError,
  ModelNotFoundError,
  modelCachePath,
  type ResolveModelOptions,
  resolveModelDir,
} from "./models/index.js";
export {
  type BertConfig,
  DEFAULT_BATCH_SIZE,
  defaultThreads,
  type LoadSentenceTransformerOptions,
  loadSentenceTransformer,
  loadSentenceTransformerFromDir,
  ModelFolderError,
  type PooledSentenceTransformerEmbedder,
  type PoolingMode,
  parseSafetensors,
  readModelFolder,
  readSafetensors,
  SafetensorsError,
  type SentenceTransformerEmbedder,
  type SentenceTransformerOptions,
  type StModelSpec,
  type WorkerMemory,
} from "./st/index.js";

/** The model used when none is named. */
export const DEFAULT_EMBEDDER_NAME = `hash-${DEFAULT_HASH_DIMENSIONS}`;

export interface ResolveEmbedderOptions {
  /** An explicit model folder (`--model-dir`); default `LDAKIT_MODEL_DIR`. */
  modelDir?: string;
  /** The cache folder (default `$LDAKIT_CACHE`, else `~/.cache/ldakit`). */
  cacheDir?: string;
  /** Texts per inference batch, for sentence-transformers models. */
  batchSize?: number;
  /** Worker threads for sentence-transformers models (default: up to 2; 0 = the calling thread). */
  threads?: number;
}

/**
 * The embedder for a model name. Never falls back to another model: a name that cannot be
 * served throws {@link EmbedderNotAvailableError} (`model "<name>" is not available: …`).
 *
 * Resolution, in order:
 * 1. `hash-<d>` (8 ≤ d ≤ 65536): the built-in hash embedder.
 * 2. sentence-transformers models (BERT family) on TensorFlow.js, from a model folder:
 *    `options.modelDir`, then `LDAKIT_MODEL_DIR`, then the cache (`ldakit models fetch NAME`).
 */
export async function resolveEmbedder(
  name: string,
  options: ResolveEmbedderOptions = {},
): Promise<Embedder> {
  const hashDimensions = parseHashModelName(name);
  if (hashDimensions !== null) return createHashEmbedder(hashDimensions);
  if (/^hash-/i.test(name)) {
    throw new EmbedderNotAvailableError(
      name,
      `a hash embedder is named hash-<d> with an integer d from ${MIN_HASH_DIMENSIONS} to ${MAX_HASH_DIMENSIONS} and no leading zeros, e.g. ${DEFAULT_EMBEDDER_NAME}`,
    );
  }
  return resolveModelEmbedder(name, options);
}

/** Models other than the built-in ones: sentence-transformers folders. */
async function resolveModelEmbedder(
  name: string,
  options: ResolveEmbedderOptions,
): Promise<Embedder> {
  try {
    return await loadSentenceTransformer({
      name,
      modelDir: options.modelDir,
      cacheDir: options.cacheDir,
    });
  } catch (error) {
    if (error instanceof ModelNotFoundError) {
      throw new EmbedderNotAvailableError(name, error.message, { cause: error });
    }
    throw error;
  }
}
