/**
 * The sentence-transformers embedder on a pool of worker threads, each with its own TensorFlow.js
 * engine and copy of the weights (the wasm backend runs one thread per engine in Node, so this is
 * how a second core gets used). The calling thread tokenizes, sorts by length and batches; the
 * workers take batches as they become free.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { backendLabel, reportBackend, type TfBackendName } from "@ldakit/tf";
import { type PlannedBatch, scatterRows } from "./batching.js";
import {
  BatchingEmbedder,
  checkBatchSize,
  defaultModelName,
  type LocalEmbedderOptions,
  loadTokenizer,
  type SentenceTransformerEmbedder,
} from "./embedder.js";
import { ModelFolderError, readModelFolder, type StModelSpec } from "./folder.js";
import type { StTokenizer } from "./tokenizer.js";
import type { FromWorker, ToWorker, WorkerInit } from "./worker.js";

export interface PooledEmbedderOptions extends LocalEmbedderOptions {
  /** Number of worker threads (≥ 1). */
  threads: number;
  /** The worker entry (default: `worker.js` beside this module). */
  workerScript?: string | URL;
}

export interface WorkerMemory {
  readonly numTensors: number;
  readonly numBytes: number;
}

/** A pooled embedder also reports its workers' TensorFlow.js memory (for leak checks). */
export interface PooledSentenceTransformerEmbedder extends SentenceTransformerEmbedder {
  workerMemory(): Promise<WorkerMemory[]>;
}

interface Slot {
  readonly worker: Worker;
  ready: boolean;
  busy: boolean;
  dead: boolean;
  /** The request in flight, when busy. */
  current?: { id: number; resolve: (m: FromWorker) => void; reject: (e: Error) => void };
}

export function defaultWorkerScript(): URL {
  return new URL("./worker.js", import.meta.url);
}

export async function loadPooledEmbedder(
  dir: string,
  options: PooledEmbedderOptions,
): Promise<PooledSentenceTransformerEmbedder> {
  const batchSize = checkBatchSize(options.batchSize);
  if (!Number.isInteger(options.threads) || options.threads < 1) {
    throw new RangeError(`threads must be a positive integer, got ${options.threads}`);
  }
  const spec = await readModelFolder(dir);
  const script = options.workerScript ?? defaultWorkerScript();
  const scriptPath = script instanceof URL ? fileURLToPath(script) : script;
  if (!existsSync(scriptPath)) {
    throw new Error(
      `worker script ${scriptPath} not found: run the compiled package (build @ldakit/embed), or use threads: 1`,
    );
  }
  const init: WorkerInit = {
    dir: spec.dir,
    ...(options.backend !== undefined ? { backend: options.backend } : {}),
  };
  const pool = new WorkerPool(scriptPath, init, options.threads);
  let first: { backend: string; description: string };
  let tokenizer: StTokenizer;
  try {
    // The tokenizer loads here while the first worker loads the weights.
    tokenizer = await loadTokenizer(spec);
    first = await pool.firstReady();
  } catch (e) {
    await pool.terminate();
    throw e;
  }
  reportBackend(
    `${first.description}, ${options.threads} worker thread${options.threads === 1 ? "" : "s"}`,
  );
  return new PooledEmbedder(
    options.name ?? defaultModelName(spec.dir),
    spec,
    tokenizer,
    pool,
    backendLabel(first.backend as TfBackendName),
    batchSize,
    options.threads,
  );
}

class WorkerPool {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private readonly readyWaiters: Array<{
    resolve: (r: { backend: string; description: string }) => void;
    reject: (e: Error) => void;
  }> = [];
  private readyInfo: { backend: string; description: string } | undefined;
  private initError: Error | undefined;
  private idleWaiters: Array<() => void> = [];

  private terminated = false;

  /**
   * One worker starts at once; the others when it is ready, so that the first vector of a cold
   * start does not wait for several engines loading side by side on the same cores.
   */
  constructor(
    private readonly script: string,
    private readonly init: WorkerInit,
    private readonly threads: number,
  ) {
    this.spawn();
  }

  private spawn(): void {
    const worker = new Worker(this.script, { workerData: this.init });
    const slot: Slot = { worker, ready: false, busy: false, dead: false };
    this.slots.push(slot);
    worker.on("message", (m: FromWorker) => this.onMessage(slot, m));
    worker.on("error", (e) => this.onDeath(slot, e));
    worker.on("exit", (code) =>
      this.onDeath(slot, new Error(`worker thread exited with code ${code}`)),
    );
  }

  firstReady(): Promise<{ backend: string; description: string }> {
    if (this.readyInfo) return Promise.resolve(this.readyInfo);
    if (this.initError) return Promise.reject(this.initError);
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  private onMessage(slot: Slot, m: FromWorker): void {
    if (m.type === "ready") {
      slot.ready = true;
      slot.worker.unref();
      if (this.readyInfo === undefined && !this.terminated) {
        for (let i = 1; i < this.threads; i++) this.spawn();
      }
      this.readyInfo ??= { backend: m.backend, description: m.description };
      for (const w of this.readyWaiters.splice(0)) w.resolve(this.readyInfo);
      this.wakeIdle();
    } else if (m.type === "init-error") {
      const err =
        m.name === "ModelFolderError" && m.file !== undefined
          ? new ModelFolderError(m.message, m.file)
          : new Error(m.message);
      this.initError ??= err;
      slot.dead = true;
      void slot.worker.terminate();
      for (const w of this.readyWaiters.splice(0)) w.reject(err);
      this.wakeIdle();
    } else if (m.type === "closed") {
      // nothing: terminate() follows
    } else {
      const cur = slot.current;
      if (cur === undefined || cur.id !== m.id) return;
      slot.current = undefined;
      slot.busy = false;
      slot.worker.unref();
      if (m.type === "error") cur.reject(new Error(m.message));
      else cur.resolve(m);
      this.wakeIdle();
    }
  }

  private onDeath(slot: Slot, e: Error): void {
    if (slot.dead) return;
    slot.dead = true;
    slot.ready = false;
    const cur = slot.current;
    slot.current = undefined;
    if (cur) cur.reject(new Error(`embedding worker failed: ${e.message}`));
    if (!this.readyInfo && this.slots.every((s) => s.dead)) {
      this.initError ??= new Error(`embedding workers failed to start: ${e.message}`);
      for (const w of this.readyWaiters.splice(0)) w.reject(this.initError);
    }
    this.wakeIdle();
  }

  private wakeIdle(): void {
    for (const w of this.idleWaiters.splice(0)) w();
  }

  get alive(): number {
    return this.slots.filter((s) => !s.dead).length;
  }

  /** Claim a ready, idle worker (marked busy at once); waits for one. Rejects when none is left. */
  private async acquire(): Promise<Slot> {
    for (;;) {
      const free = this.slots.find((s) => s.ready && !s.busy && !s.dead);
      if (free) {
        free.busy = true;
        return free;
      }
      if (this.alive === 0) throw this.initError ?? new Error("no embedding worker is left");
      // Keep the process alive while we wait on workers that are still loading.
      for (const s of this.slots) if (!s.dead) s.worker.ref();
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
  }

  async request(
    build: (id: number) => ToWorker,
    transfer: ArrayBuffer[] = [],
  ): Promise<FromWorker> {
    const slot = await this.acquire();
    return this.send(slot, build, transfer);
  }

  /** Send to a slot the caller has claimed (busy). */
  private send(
    slot: Slot,
    build: (id: number) => ToWorker,
    transfer: ArrayBuffer[],
  ): Promise<FromWorker> {
    const id = this.nextId++;
    slot.worker.ref();
    return new Promise<FromWorker>((resolve, reject) => {
      slot.current = { id, resolve, reject };
      slot.worker.postMessage(build(id), transfer);
    });
  }

  /** Ask every live worker (waiting for each to be ready and idle). */
  async each(build: (id: number) => ToWorker): Promise<FromWorker[]> {
    const out: FromWorker[] = [];
    for (const slot of this.slots) {
      for (;;) {
        if (slot.dead) break;
        if (slot.ready && !slot.busy) {
          slot.busy = true;
          out.push(await this.send(slot, build, []));
          break;
        }
        slot.worker.ref();
        await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      }
    }
    return out;
  }

  async terminate(): Promise<void> {
    this.terminated = true;
    await Promise.all(
      this.slots.map(async (s) => {
        s.dead = true;
        await s.worker.terminate();
      }),
    );
    this.wakeIdle();
  }
}

class PooledEmbedder extends BatchingEmbedder implements PooledSentenceTransformerEmbedder {
  constructor(
    name: string,
    spec: StModelSpec,
    tokenizer: StTokenizer,
    private readonly pool: WorkerPool,
    backend: string,
    batchSize: number,
    readonly threads: number,
  ) {
    super(name, spec, tokenizer, backend, batchSize);
  }

  protected async runBatches(
    planned: PlannedBatch[],
    out: Float32Array[],
    finished: (rows: number) => void,
  ): Promise<void> {
    // Longest batches first: the short ones then fill the workers' idle time at the end.
    const batches = [...planned].reverse();
    let next = 0;
    let failure: Error | undefined;
    // One loop per worker thread: each takes the next batch when it is free.
    const lane = async () => {
      while (failure === undefined && next < batches.length) {
        const batch = batches[next++] as PlannedBatch;
        const { indices: _indices, ...input } = batch;
        try {
          const m = await this.pool.request(
            (id) => ({ type: "run", id, input }),
            [
              input.ids.buffer as ArrayBuffer,
              input.typeIds.buffer as ArrayBuffer,
              input.lengths.buffer as ArrayBuffer,
            ],
          );
          if (m.type !== "result")
            throw new Error(`unexpected reply ${m.type} from an embedding worker`);
          scatterRows(m.data, batch, this.dimensions, out);
        } catch (e) {
          failure ??= e as Error;
          return;
        }
        finished(batch.batch);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.threads, batches.length) }, lane));
    if (failure !== undefined) throw failure;
  }

  async workerMemory(): Promise<WorkerMemory[]> {
    const replies = await this.pool.each((id) => ({ type: "memory", id }));
    return replies.flatMap((m) =>
      m.type === "memory" ? [{ numTensors: m.numTensors, numBytes: m.numBytes }] : [],
    );
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue;
    await this.pool.terminate();
  }
}
