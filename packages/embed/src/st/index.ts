/**
 * Sentence-transformers models on TensorFlow.js: a BERT encoder read from a model's standard
 * folder (modules.json, config.json, sentence_bert_config.json, model.safetensors, tokenizer.json,
 * 1_Pooling/config.json, optional Normalize), batched, on one thread or a pool of worker threads.
 */
import os from "node:os";
import type { TfBackendRequest } from "@ldakit/tf";
import { resolveModelDir } from "../models/index.js";
import { loadLocalEmbedder, type SentenceTransformerEmbedder } from "./embedder.js";
import { loadPooledEmbedder } from "./pool.js";

export { MAX_BATCH_CELLS } from "./batching.js";
export { type BatchInput, BertEncoder } from "./bert.js";
export {
  DEFAULT_BATCH_SIZE,
  type EmbedCallOptions,
  type SentenceTransformerEmbedder,
} from "./embedder.js";
export {
  type BertConfig,
  ModelFolderError,
  type PoolingMode,
  readModelFolder,
  type StModelSpec,
} from "./folder.js";
export type { PooledSentenceTransformerEmbedder, WorkerMemory } from "./pool.js";
export {
  halfToFloat,
  parseSafetensors,
  readSafetensors,
  type SafetensorsEntry,
  SafetensorsError,
  type SafetensorsFile,
} from "./safetensors.js";
export { type Encoded, StTokenizer } from "./tokenizer.js";

export interface SentenceTransformerOptions {
  /** Texts per batch (default 32). Batches are formed after sorting by token count. */
  batchSize?: number;
  /**
   * Worker threads, each with its own TensorFlow.js engine. Default: min(2, available cores), on
   * wasm and on native TensorFlow alike (measured: see `defaultThreads`).
   * `1` or more: a pool of that many workers; `0`: run in the calling thread.
   */
  threads?: number;
  /** TensorFlow.js backend (default: `LDAKIT_TF_BACKEND`, else auto: tfjs-node → wasm → cpu). */
  backend?: TfBackendRequest;
  /** Worker entry script (default: `worker.js` beside this module). For tests. */
  workerScript?: string | URL;
}

export interface LoadSentenceTransformerOptions extends SentenceTransformerOptions {
  /** The model's name, e.g. `all-MiniLM-L6-v2`; it is resolved to a folder unless `dir` is given. */
  name: string;
  /** The model folder itself; skips resolution. */
  dir?: string;
  /** An explicit folder (`--model-dir`); default `LDAKIT_MODEL_DIR`. See `resolveModelDir`. */
  modelDir?: string;
  /** The cache (default `$LDAKIT_CACHE`, else `~/.cache/ldakit`). */
  cacheDir?: string;
}

/**
 * min(2, available cores), on every backend. Measured on two cores: two wasm engines give ~1.45×
 * one engine; with native TensorFlow two worker threads (each engine with TensorFlow's own
 * thread pools) also beat one engine in the calling thread (~1.35× at batch 32, ~1.4× at batch 1),
 * and cutting TensorFlow's pools to one thread each is slower (README, "Backends").
 */
export function defaultThreads(): number {
  const cores =
    typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(2, cores));
}

/** Load a sentence-transformers model from its folder. */
export async function loadSentenceTransformerFromDir(
  dir: string,
  options: SentenceTransformerOptions & { name?: string } = {},
): Promise<SentenceTransformerEmbedder> {
  const threads = options.threads ?? defaultThreads();
  if (!Number.isInteger(threads) || threads < 0)
    throw new RangeError(`threads must be an integer ≥ 0, got ${threads}`);
  const common = {
    ...(options.name !== undefined ? { name: options.name } : {}),
    ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
    ...(options.backend !== undefined ? { backend: options.backend } : {}),
  };
  if (threads === 0) return loadLocalEmbedder(dir, common);
  return loadPooledEmbedder(dir, {
    ...common,
    threads,
    ...(options.workerScript !== undefined ? { workerScript: options.workerScript } : {}),
  });
}

/**
 * Resolve model `name` to its folder (explicit folder, `LDAKIT_MODEL_DIR`, then the cache) and
 * load it. A model that is not there is a `ModelNotFoundError` naming `ldakit models fetch NAME`.
 */
export async function loadSentenceTransformer(
  options: LoadSentenceTransformerOptions,
): Promise<SentenceTransformerEmbedder> {
  const dir =
    options.dir ??
    (await resolveModelDir(options.name, {
      ...(options.modelDir !== undefined ? { modelDir: options.modelDir } : {}),
      ...(options.cacheDir !== undefined ? { cacheDir: options.cacheDir } : {}),
    }));
  return loadSentenceTransformerFromDir(dir, { ...options, name: options.name });
}
