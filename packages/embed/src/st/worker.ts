/**
 * Worker-thread entry of the sentence-transformers pool: one TensorFlow.js engine (its own
 * backend) holding the encoder's weights. The main thread tokenizes and sends padded batches;
 * this thread runs the encoder and sends the pooled vectors back.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { TfBackendRequest } from "@ldakit/tf";
import type { BatchInput } from "./bert.js";
import { loadEncoder } from "./embedder.js";
import { readModelFolder } from "./folder.js";

export interface WorkerInit {
  readonly dir: string;
  readonly backend?: TfBackendRequest;
}

export type ToWorker =
  | { readonly type: "run"; readonly id: number; readonly input: BatchInput }
  | { readonly type: "memory"; readonly id: number }
  | { readonly type: "close" };

export type FromWorker =
  | {
      readonly type: "ready";
      readonly backend: string;
      readonly description: string;
      readonly dimensions: number;
    }
  | {
      readonly type: "init-error";
      readonly message: string;
      readonly name: string;
      readonly file?: string;
    }
  | { readonly type: "result"; readonly id: number; readonly data: Float32Array }
  | {
      readonly type: "memory";
      readonly id: number;
      readonly numTensors: number;
      readonly numBytes: number;
    }
  | { readonly type: "error"; readonly id: number; readonly message: string }
  | { readonly type: "closed" };

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error("st/worker.js must run in a worker thread");
  const post = (m: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);
  const init = workerData as WorkerInit;
  let loaded: Awaited<ReturnType<typeof loadEncoder>>;
  try {
    const spec = await readModelFolder(init.dir);
    loaded = await loadEncoder(spec, init.backend, false);
  } catch (e) {
    const err = e as Error & { file?: string };
    post({
      type: "init-error",
      message: err.message ?? String(e),
      name: err.name ?? "Error",
      ...(err.file ? { file: err.file } : {}),
    });
    return;
  }
  const { rt, encoder } = loaded;
  post({
    type: "ready",
    backend: rt.backend,
    description: rt.description,
    dimensions: encoder.config.hiddenSize,
  });

  port.on("message", async (msg: ToWorker) => {
    if (msg.type === "run") {
      try {
        const t = encoder.forward(msg.input);
        let data: Float32Array;
        try {
          data = (await t.data()) as Float32Array;
        } finally {
          t.dispose();
        }
        // Send a buffer of its own (a backend may hand out a view of a larger one).
        const own =
          data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
        post({ type: "result", id: msg.id, data: own }, [own.buffer as ArrayBuffer]);
      } catch (e) {
        post({ type: "error", id: msg.id, message: (e as Error).message ?? String(e) });
      }
    } else if (msg.type === "memory") {
      const m = rt.tf.memory();
      post({ type: "memory", id: msg.id, numTensors: m.numTensors, numBytes: m.numBytes });
    } else if (msg.type === "close") {
      encoder.dispose();
      post({ type: "closed" });
      port.close();
    }
  });
}

void main();
