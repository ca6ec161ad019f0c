import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { StoreError } from "./errors.js";
import { machineTag } from "./machine.js";

/** One vector file to write: an absolute path and its (d,) float32 vector. */
export interface VectorFileJob {
  path: string;
  vector: Float32Array;
}

/**
 * The worker's code. It is evaluated (not loaded from a file) so the pool works the same from the
 * built package and from sources under test; it loads `@ldakit/npy` from the URL it is given.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { mkdirSync } = require("node:fs");
const { dirname } = require("node:path");
import(workerData.npyUrl).then(({ writeNpySync }) => {
  const dirs = new Set();
  parentPort.on("message", ({ id, paths, data, dimensions }) => {
    let i = 0;
    try {
      const all = new Float32Array(data);
      for (; i < paths.length; i++) {
        const dir = dirname(paths[i]);
        if (!dirs.has(dir)) {
          mkdirSync(dir, { recursive: true });
          dirs.add(dir);
        }
        writeNpySync(
          paths[i],
          { data: all.subarray(i * dimensions, (i + 1) * dimensions) },
          { fsync: true, temporaryTag: workerData.temporaryTag },
        );
      }
      parentPort.postMessage({ id });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      parentPort.postMessage({ id, error: "cannot write vector file " + paths[i] + ": " + message });
    }
  });
});
`;

function npyModuleUrl(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve("@ldakit/npy")).href;
}

/**
 * Writes vector files on worker threads, each synced to disk before its rename. Each file costs
 * a handful of system calls (create, write, fsync, close, rename); on worker threads they run beside the main thread's embedding and SQLite
 * work instead of after it.
 */
export class VectorWriterPool {
  private readonly workers: Worker[];
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private failure: Error | undefined;

  constructor(threads: number) {
    const npyUrl = npyModuleUrl();
    const temporaryTag = machineTag();
    this.workers = Array.from({ length: threads }, () => {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { npyUrl, temporaryTag },
      });
      worker.on("message", (message: { id: number; error?: string }) => {
        const waiter = this.waiting.get(message.id);
        this.waiting.delete(message.id);
        if (message.error === undefined) waiter?.resolve();
        else waiter?.reject(new StoreError("WRITE_FAILED", message.error));
      });
      worker.on("error", (error) => this.failAll(error));
      return worker;
    });
  }

  private failAll(error: Error): void {
    this.failure = error;
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }

  /** Writes the files, spread over the workers; resolves when every one of them is in place. */
  write(jobs: VectorFileJob[]): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (jobs.length === 0) return Promise.resolve();
    const share = Math.ceil(jobs.length / this.workers.length);
    const parts: Promise<void>[] = [];
    for (let w = 0; w < this.workers.length && w * share < jobs.length; w++) {
      const part = jobs.slice(w * share, (w + 1) * share);
      const dimensions = part[0]?.vector.length ?? 0;
      const data = new Float32Array(part.length * dimensions);
      for (const [i, job] of part.entries()) data.set(job.vector, i * dimensions);
      const id = this.nextId++;
      parts.push(
        new Promise<void>((resolve, reject) => {
          this.waiting.set(id, { resolve, reject });
          (this.workers[w] as Worker).postMessage(
            { id, paths: part.map((j) => j.path), data: data.buffer, dimensions },
            [data.buffer],
          );
        }),
      );
    }
    return Promise.all(parts).then(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
