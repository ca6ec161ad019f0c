/**
 * The sentence-transformers embedder running in this thread's TensorFlow.js engine.
 */
import { backendLabel, getTf, type TfBackendRequest } from "@ldakit/tf";
import type { Embedder, EmbedOptions } from "../embedder.js";
import { type PlannedBatch, planBatches, scatterRows } from "./batching.js";
import { BertEncoder } from "./bert.js";
import { readModelFolder, type StModelSpec } from "./folder.js";
import { readSafetensors } from "./safetensors.js";
import { StTokenizer } from "./tokenizer.js";

/** An `Embedder` of `@ldakit/embed`, with what a sentence-transformers model adds. */
export interface SentenceTransformerEmbedder extends Embedder {
  /** `tfjs-wasm`, `tfjs-cpu` or `tfjs-node`. */
  readonly backend: string;
  /** The model folder. */
  readonly dir: string;
  /** Worker threads doing the work (0: this thread). */
  readonly threads: number;
  readonly batchSize: number;
  readonly maxSeqLength: number;
  /** Token counts after truncation (special tokens included), e.g. for statistics. */
  countTokens(texts: string[]): number[];
}

/** `onProgress` is called after each batch (and once with (0, 0) for no texts). */
export type EmbedCallOptions = EmbedOptions;

export interface LocalEmbedderOptions {
  /** The model's name (recorded with its vectors). Default: the folder's name. */
  name?: string;
  /** Texts per batch. Default 32. */
  batchSize?: number;
  /** TensorFlow.js backend for this thread (see `@ldakit/tf`). Default: `LDAKIT_TF_BACKEND` / auto. */
  backend?: TfBackendRequest;
}

export const DEFAULT_BATCH_SIZE = 32;

export function checkBatchSize(n: number | undefined): number {
  const b = n ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(b) || b < 1)
    throw new RangeError(`batchSize must be a positive integer, got ${n}`);
  return b;
}

export async function loadTokenizer(spec: StModelSpec): Promise<StTokenizer> {
  return StTokenizer.load({
    tokenizerFile: spec.tokenizerFile,
    tokenizerConfigFile: spec.tokenizerConfigFile,
    maxSeqLength: spec.maxSeqLength,
    doLowerCase: spec.doLowerCase,
    padTokenId: spec.config.padTokenId,
  });
}

/** Load the encoder's weights into the current thread's engine. */
export async function loadEncoder(spec: StModelSpec, backend?: TfBackendRequest, report?: boolean) {
  const rt = await getTf({
    ...(backend !== undefined ? { backend } : {}),
    ...(report !== undefined ? { report } : {}),
  });
  const st = await readSafetensors(spec.weightsFile);
  const encoder = BertEncoder.fromSafetensors(rt.tf, spec, st);
  return { rt, encoder };
}

export function defaultModelName(dir: string): string {
  const base =
    dir
      .replace(/[\\/]+$/, "")
      .split(/[\\/]/)
      .pop() ?? dir;
  return base.replaceAll("__", "/");
}

/** Load a model folder into this thread. */
export async function loadLocalEmbedder(
  dir: string,
  options: LocalEmbedderOptions = {},
): Promise<SentenceTransformerEmbedder> {
  const batchSize = checkBatchSize(options.batchSize);
  const spec = await readModelFolder(dir);
  const tokenizer = await loadTokenizer(spec);
  const { rt, encoder } = await loadEncoder(spec, options.backend);
  return new LocalEmbedder(
    options.name ?? defaultModelName(spec.dir),
    spec,
    tokenizer,
    encoder,
    backendLabel(rt.backend),
    batchSize,
  );
}

/**
 * What the in-thread and the worker-pool embedders share: one `embed` call at a time (concurrent
 * calls queue up rather than interleave on the engines), tokenization, and batch planning. A
 * subclass only runs the planned batches.
 */
export abstract class BatchingEmbedder {
  readonly dimensions: number;
  readonly dir: string;
  readonly maxSeqLength: number;
  /** The running or last `embed` call; `dispose` waits for it. */
  protected queue: Promise<unknown> = Promise.resolve();
  protected disposed = false;

  constructor(
    readonly name: string,
    spec: StModelSpec,
    protected readonly tokenizer: StTokenizer,
    readonly backend: string,
    readonly batchSize: number,
  ) {
    this.dimensions = spec.dimensions;
    this.dir = spec.dir;
    this.maxSeqLength = spec.maxSeqLength;
  }

  countTokens(texts: string[]): number[] {
    return texts.map((t) => this.tokenizer.encode(t).ids.length);
  }

  embed(texts: string[], options: EmbedCallOptions = {}): Promise<Float32Array[]> {
    const run = this.queue.then(() => this.run(texts, options));
    this.queue = run.catch(() => {});
    return run;
  }

  private async run(texts: string[], options: EmbedCallOptions): Promise<Float32Array[]> {
    if (this.disposed) throw new Error(`embedder ${this.name} was disposed`);
    const out = new Array<Float32Array>(texts.length);
    if (texts.length === 0) {
      options.onProgress?.(0, 0);
      return out;
    }
    const batches = planBatches(
      texts.map((t) => this.tokenizer.encode(t)),
      this.batchSize,
      this.tokenizer.padId,
    );
    let done = 0;
    await this.runBatches(batches, out, (rows) => {
      done += rows;
      options.onProgress?.(done, texts.length);
    });
    return out;
  }

  /** Embeds every planned batch into `out` (by input index), reporting rows as they finish. */
  protected abstract runBatches(
    batches: PlannedBatch[],
    out: Float32Array[],
    finished: (rows: number) => void,
  ): Promise<void>;
}

class LocalEmbedder extends BatchingEmbedder implements SentenceTransformerEmbedder {
  readonly threads = 0;

  constructor(
    name: string,
    spec: StModelSpec,
    tokenizer: StTokenizer,
    private readonly encoder: BertEncoder,
    backend: string,
    batchSize: number,
  ) {
    super(name, spec, tokenizer, backend, batchSize);
  }

  protected async runBatches(
    batches: PlannedBatch[],
    out: Float32Array[],
    finished: (rows: number) => void,
  ): Promise<void> {
    for (const batch of batches) {
      const t = this.encoder.forward(batch);
      let data: Float32Array;
      try {
        data = (await t.data()) as Float32Array;
      } finally {
        t.dispose();
      }
      scatterRows(data, batch, this.dimensions, out);
      finished(batch.batch);
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    await this.queue;
    this.disposed = true;
    this.encoder.dispose();
  }
}
