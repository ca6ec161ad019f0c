/**
 * @ldakit/tf — the TensorFlow.js runtime shared by ldakit's packages.
 *
 * `getTf()` picks a backend once per thread (the main thread and every worker thread each have
 * their own TensorFlow.js engine): `@tensorflow/tfjs-node` when its native part loads, else
 * `@tensorflow/tfjs-backend-wasm` (SIMD when the engine supports it, its `.wasm` files read from
 * `node_modules`, never fetched), else the pure-JavaScript cpu backend. The choice is printed once
 * on stderr by the main thread: `ldakit: TensorFlow.js backend: wasm (SIMD)`.
 *
 * `LDAKIT_TF_BACKEND=node|wasm|cpu` forces one backend; a forced backend that cannot load is an
 * error, never a silent fallback.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { isMainThread } from "node:worker_threads";
import { resolveTfjsNodeDir, tfjsNodeNapiVersion } from "./native.js";

export type TfCore = typeof import("@tensorflow/tfjs-core");

/** The backend names as TensorFlow.js knows them. */
export type TfBackendName = "tensorflow" | "wasm" | "cpu";

/** What `LDAKIT_TF_BACKEND` (or the `backend` option) accepts. */
export type TfBackendRequest = "auto" | "node" | "wasm" | "cpu";

export interface TfRuntime {
  /** The `@tensorflow/tfjs-core` namespace, with the chosen backend active. */
  readonly tf: TfCore;
  /** The backend in use: `tensorflow` (tfjs-node), `wasm` or `cpu`. */
  readonly backend: TfBackendName;
  /** For the wasm backend: whether the SIMD build was loaded. */
  readonly simd: boolean;
  /** A short human description, e.g. `wasm (SIMD)`. */
  readonly description: string;
  /** Why faster backends were skipped (empty when the first choice loaded). */
  readonly skipped: readonly string[];
}

export interface GetTfOptions {
  /**
   * Which backend to use. Default: `LDAKIT_TF_BACKEND`, else `auto`. Only the first call in a
   * thread decides; a later call that asks for another backend is an error.
   */
  backend?: TfBackendRequest;
  /**
   * Print the choice on stderr. Default: true on the main thread, false in worker threads.
   * It is printed at most once per thread in any case.
   */
  report?: boolean;
}

/** Raised when a backend cannot be used (a forced backend failing to load, a bad request). */
export class TfBackendError extends Error {
  override readonly name = "TfBackendError";
}

const require = createRequire(import.meta.url);

// TensorFlow logs its CPU features and oneDNN notes to stderr when it loads; ldakit says which
// backend it chose itself. Set here, on import in the main thread, because a worker thread's
// process.env is its own copy: TensorFlow, loading in a worker, reads the process's environment.
// A user's own setting wins.
if (isMainThread) process.env.TF_CPP_MIN_LOG_LEVEL ??= "2";

let pending: Promise<TfRuntime> | undefined;
let decidedRequest: TfBackendRequest | undefined;
let reported = false;

/** Parse a backend request (`auto`, `node`/`tensorflow`, `wasm`, `cpu`); throws on anything else. */
export function parseBackendRequest(
  value: string | undefined,
  source = "LDAKIT_TF_BACKEND",
): TfBackendRequest {
  const v = (value ?? "").trim().toLowerCase();
  if (v === "" || v === "auto") return "auto";
  if (v === "node" || v === "tensorflow" || v === "tfjs-node") return "node";
  if (v === "wasm") return "wasm";
  if (v === "cpu") return "cpu";
  throw new TfBackendError(
    `${source}=${JSON.stringify(value)} is not a TensorFlow.js backend; use node, wasm, cpu or auto`,
  );
}

/**
 * The TensorFlow.js runtime of this thread, choosing and initialising the backend on the first
 * call. Safe to call from anywhere, any number of times.
 */
export function getTf(options: GetTfOptions = {}): Promise<TfRuntime> {
  const request =
    options.backend !== undefined
      ? parseBackendRequest(options.backend, "backend")
      : parseBackendRequest(process.env.LDAKIT_TF_BACKEND);
  if (pending === undefined) {
    decidedRequest = request;
    const report = options.report ?? isMainThread;
    pending = choose(request).then((rt) => {
      if (report) reportBackend(rt.description);
      return rt;
    });
    // A failed choice is not cached: the caller sees the error, a later call may try again.
    pending.catch(() => {
      pending = undefined;
      decidedRequest = undefined;
    });
  } else if (request !== "auto" && decidedRequest !== request) {
    const already = decidedRequest;
    return pending.then((rt) => {
      if (requestMatches(request, rt.backend)) return rt;
      throw new TfBackendError(
        `TensorFlow.js backend ${rt.backend} was already chosen in this thread (request: ${already}); ` +
          `cannot switch to ${request}`,
      );
    });
  }
  return pending;
}

function requestMatches(request: TfBackendRequest, backend: TfBackendName): boolean {
  return (
    request === "auto" ||
    (request === "node" && backend === "tensorflow") ||
    (request === "wasm" && backend === "wasm") ||
    (request === "cpu" && backend === "cpu")
  );
}

async function choose(request: TfBackendRequest): Promise<TfRuntime> {
  const tf: TfCore = await import("@tensorflow/tfjs-core");
  // Production mode: no per-op debug checks, and no "install tfjs-node" banner from the cpu backend.
  tf.enableProdMode();
  const skipped: string[] = [];
  const attempts: Array<"node" | "wasm" | "cpu"> =
    request === "auto" ? ["node", "wasm", "cpu"] : [request];
  for (const attempt of attempts) {
    try {
      if (attempt === "node") return await loadNode(tf, skipped);
      if (attempt === "wasm") return await loadWasm(tf, skipped);
      return await loadCpu(tf, skipped);
    } catch (e) {
      const why = errorText(e);
      if (request !== "auto") {
        throw new TfBackendError(
          `TensorFlow.js backend ${attempt} (forced by LDAKIT_TF_BACKEND or the backend option) failed to load: ${why}`,
        );
      }
      skipped.push(`${attempt}: ${why}`);
    }
  }
  throw new TfBackendError(`no TensorFlow.js backend could be loaded:\n  ${skipped.join("\n  ")}`);
}

function errorText(e: unknown): string {
  const msg =
    e instanceof Error
      ? e.message
      : typeof e === "object" && e !== null && "message" in e
        ? String((e as { message: unknown }).message)
        : String(e);
  return msg.split("\n")[0] ?? msg;
}

async function loadNode(tf: TfCore, skipped: string[]): Promise<TfRuntime> {
  // The package is optional and its native part is not built by its own install (that downloads
  // libtensorflow from Google's storage). Look for the addon first: importing the package without
  // it costs a few hundred milliseconds (it loads all of @tensorflow/tfjs) before it throws.
  const moduleName = "@tensorflow/tfjs-node";
  const dir = resolveTfjsNodeDir();
  if (dir === undefined) throw new Error(`${moduleName} is not installed`);
  const addon = path.join(dir, "lib", `napi-v${tfjsNodeNapiVersion(dir)}`, "tfjs_binding.node");
  if (!existsSync(addon)) {
    throw new Error(
      `${moduleName}'s native addon is not built (install it with: ldakit backend install tensorflow)`,
    );
  }
  // Imported dynamically, and its failure caught by the caller.
  await import(moduleName);
  if (!(await tf.setBackend("tensorflow")))
    throw new Error("setBackend('tensorflow') returned false");
  await tf.ready();
  return { tf, backend: "tensorflow", simd: false, description: "tensorflow (tfjs-node)", skipped };
}

async function loadWasm(tf: TfCore, skipped: string[]): Promise<TfRuntime> {
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  // The .wasm binaries ship in the package's dist folder; in Node emscripten reads them with fs,
  // so a plain file-system prefix keeps loading offline.
  const dist = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm"));
  wasm.setWasmPaths(`${dist}${path.sep}`);
  if (!(await tf.setBackend("wasm"))) throw new Error("setBackend('wasm') returned false");
  await tf.ready();
  const simd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
  return {
    tf,
    backend: "wasm",
    simd,
    description: simd ? "wasm (SIMD)" : "wasm (no SIMD)",
    skipped,
  };
}

async function loadCpu(tf: TfCore, skipped: string[]): Promise<TfRuntime> {
  await import("@tensorflow/tfjs-backend-cpu");
  if (!(await tf.setBackend("cpu"))) throw new Error("setBackend('cpu') returned false");
  await tf.ready();
  return { tf, backend: "cpu", simd: false, description: "cpu", skipped };
}

/**
 * Print `ldakit: TensorFlow.js backend: <description>` on stderr unless this thread already
 * printed it (for code that runs TensorFlow.js in worker threads and reports for them).
 */
export function reportBackend(description: string): void {
  if (reported) return;
  reported = true;
  process.stderr.write(`ldakit: TensorFlow.js backend: ${description}\n`);
}

/** The backend label ldakit records (e.g. in the `models` table): `tfjs-node`, `tfjs-wasm`, `tfjs-cpu`. */
export function backendLabel(backend: TfBackendName): string {
  return backend === "tensorflow" ? "tfjs-node" : `tfjs-${backend}`;
}

/** What `listTfBackends` finds about one backend. */
export interface TfBackendStatus {
  readonly name: TfBackendName;
  readonly available: boolean;
  /** Why it is not available. */
  readonly reason?: string;
  /** The package version, and for `tensorflow` the native TensorFlow version. */
  readonly version?: string;
  /** How many threads one engine of this backend computes on. */
  readonly threads?: number;
  /** A short description, e.g. `wasm (SIMD)`. */
  readonly description?: string;
}

/**
 * Try each backend in turn in this thread — tensorflow, wasm, cpu — and say which load, with
 * their versions and threads. Leaves the last available backend active; `getTf` still decides
 * afresh. Meant for `ldakit backend list`, not for code that then computes.
 */
export async function listTfBackends(): Promise<TfBackendStatus[]> {
  const tf: TfCore = await import("@tensorflow/tfjs-core");
  tf.enableProdMode();
  const out: TfBackendStatus[] = [];
  const tfjsVersion = tf.version_core;
  for (const [name, load] of [
    ["tensorflow", loadNode],
    ["wasm", loadWasm],
    ["cpu", loadCpu],
  ] as const) {
    try {
      const rt = await load(tf, []);
      // A tiny product proves the backend computes, not only that it registered.
      const y = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
      const value = (await y.data())[0];
      y.dispose();
      if (value !== 11) throw new Error(`[1 2]·[3 4] gave ${value}, not 11`);
      out.push({
        name,
        available: true,
        version:
          name === "tensorflow"
            ? `tfjs-node ${tfjsVersion}, TensorFlow ${nativeTensorflowVersion(tf)}`
            : `tfjs-backend-${name} ${tfjsVersion}`,
        threads: name === "tensorflow" ? tensorflowIntraOpThreads() : 1,
        description: rt.description,
      });
    } catch (e) {
      out.push({ name, available: false, reason: errorText(e) });
    }
  }
  return out;
}

function nativeTensorflowVersion(tf: TfCore): string {
  const backend = tf.findBackend("tensorflow") as unknown as { binding?: { TF_Version?: string } };
  return backend?.binding?.TF_Version ?? "unknown";
}

/** TensorFlow's intra-op pool: `TF_NUM_INTRAOP_THREADS` when set, else one thread per core. */
function tensorflowIntraOpThreads(): number {
  const fromEnv = Number(process.env.TF_NUM_INTRAOP_THREADS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : os.availableParallelism();
}

/** Tensor types of `@tensorflow/tfjs-core`, for packages that do not depend on it directly. */
export type { Rank, Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D } from "@tensorflow/tfjs-core";
export {
  defaultTfCacheDir,
  INSTALL_RECORD_FILE,
  installTensorflowBackend,
  readTensorflowInstallRecord,
  removeTensorflowBackend,
  resolveTfjsNodeDir,
  TENSORFLOW_WHEEL,
  type TensorflowInstallOptions,
  type TensorflowInstallRecord,
  type TensorflowInstallResult,
  type TensorflowRemoveOptions,
  TfInstallError,
  type TfInstallErrorCode,
  type TfInstallProgress,
} from "./native.js";
export { type ExtractFromWheelOptions, extractFromWheel, type WheelRule } from "./wheel.js";
