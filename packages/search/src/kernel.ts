/**
 * The compute engines behind a projection: the WebAssembly SIMD kernel (src/kernel.wat) and a
 * pure-JavaScript fallback with the same operations. An engine owns the two head matrices and the
 * scratch buffers of the queries in flight; nothing is allocated per query.
 */
import { SearchError } from "./errors.js";
import { KERNEL_WASM_BASE64 } from "./kernel-wasm.js";

/** The kernel a projection runs on. */
export type KernelName = "wasm-simd" | "js";
/** What to run on: `auto` (WebAssembly SIMD when available, else JavaScript), `wasm` or `js`. */
export type KernelChoice = "auto" | "wasm" | "js";

/** Operations on the engine's buffers; matrix/source 0 = centroids/queries, 1 = answers/projected. */
export interface Engine {
  readonly kernel: KernelName;
  readonly heads: number;
  readonly dims: number;
  /** How many queries one call handles (the rows of the scratch buffers). */
  readonly batch: number;
  readonly centroids: Float32Array;
  readonly answers: Float32Array;
  /** batch × dims */
  readonly queries: Float32Array;
  /** batch × dims */
  readonly projected: Float32Array;
  /** batch × heads: cosines, then weights, then scores */
  readonly scores: Float32Array;
  /** scores[i*heads + r] = matrix[r,:] . source[i,:] for i < n */
  dots(matrix: 0 | 1, source: 0 | 1, n: number): void;
  /** scores row i := exp((x - max) * invTau) in place; returns the sum */
  expRow(i: number, invTau: number): number;
  /** scores row i *= s */
  scaleRow(i: number, s: number): void;
  /** projected[i,:] = sum_r scores[i*heads + r] * answers[r,:] for i < n */
  weightedSums(n: number): void;
  /**
   * Row `row` of queries (0) or projected (1): returns its sum of squares s and, when
   * 0 < s < ∞, divides it by sqrt(s) in place.
   */
  normalize(source: 0 | 1, row: number): number;
}

interface KernelExports {
  dot_rows(mat: number, rows: number, d: number, x: number, out: number): void;
  gemm_nt(q: number, nq: number, mat: number, rows: number, d: number, out: number): void;
  gemm_nn(w: number, nq: number, mat: number, rows: number, d: number, out: number): void;
  softmax_exp(x: number, n: number, invTau: number): number;
  scale(x: number, n: number, s: number): void;
  normalize(x: number, n: number): number;
}

/** At most this many queries go through the kernel at once (and their scratch is this size). */
const MAX_BATCH = 32;
/** ...and their score rows take at most this many bytes (large projections get smaller batches). */
const BATCH_SCORE_BYTES = 64 << 20;
const WASM_PAGE = 65536;
const MAX_WASM_BYTES = 65536 * WASM_PAGE; // 4 GiB

function base64Bytes(text: string): Uint8Array {
  const g = globalThis as {
    Buffer?: { from(s: string, enc: string): Uint8Array };
    atob?: (s: string) => string;
  };
  if (g.Buffer) return new Uint8Array(g.Buffer.from(text, "base64"));
  const binary = (g.atob as (s: string) => string)(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The part of the WebAssembly JS API used here (typed locally: the DOM lib is not in scope). */
interface WasmModule {
  readonly __wasmModule?: never;
}
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  compile(bytes: Uint8Array): Promise<WasmModule>;
  Module: new (bytes: Uint8Array) => WasmModule;
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Instance: new (
    module: WasmModule,
    imports: { env: { memory: WasmMemory } },
  ) => { exports: unknown };
}

function wasmApi(): WasmApi | undefined {
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  return typeof api === "object" && typeof api.Module === "function" ? api : undefined;
}

let compiled: WasmModule | null | undefined;

/** The compiled kernel, or null where WebAssembly SIMD is not available. Compiles once. */
function kernelModule(): WasmModule | null {
  if (compiled !== undefined) return compiled;
  compiled = null;
  const wasm = wasmApi();
  if (wasm) {
    try {
      const bytes = base64Bytes(KERNEL_WASM_BASE64);
      if (wasm.validate(bytes)) compiled = new wasm.Module(bytes);
    } catch {
      // e.g. a browser that refuses synchronous compilation on its main thread: see initKernel()
      compiled = undefined;
      return null;
    }
  }
  return compiled;
}

/**
 * Compiles the WebAssembly kernel ahead of time, asynchronously; resolves to whether WebAssembly
 * SIMD is available. Node.js compiles it on first use anyway: call this in browsers, whose main
 * thread may refuse to compile synchronously.
 */
export async function initKernel(): Promise<boolean> {
  if (compiled !== undefined) return compiled !== null;
  const wasm = wasmApi();
  if (!wasm) {
    compiled = null;
    return false;
  }
  const bytes = base64Bytes(KERNEL_WASM_BASE64);
  compiled = wasm.validate(bytes) ? await wasm.compile(bytes) : null;
  return compiled !== null;
}

/** Whether the WebAssembly SIMD kernel can run here. */
export function wasmKernelAvailable(): boolean {
  return kernelModule() !== null;
}

function batchSize(heads: number): number {
  return Math.max(1, Math.min(MAX_BATCH, Math.floor(BATCH_SCORE_BYTES / (4 * heads))));
}

const align = (n: number) => Math.ceil(n / 64) * 64;

/** Creates an engine for `heads` × `dims` matrices (zero-filled; the caller fills them). */
export function createEngine(heads: number, dims: number, choice: KernelChoice): Engine {
  if (choice !== "js") {
    const module = kernelModule();
    if (module) {
      const engine = createWasmEngine(module, heads, dims);
      if (engine) return engine;
    }
    if (choice === "wasm") {
      throw new SearchError(
        "KERNEL_UNAVAILABLE",
        module
          ? `a ${heads} x ${dims} projection does not fit in the 4 GiB of WebAssembly memory`
          : "WebAssembly SIMD is not available in this runtime (use kernel: 'auto' or 'js')",
      );
    }
  }
  return createJsEngine(heads, dims);
}

function createWasmEngine(module: WasmModule, heads: number, dims: number): Engine | null {
  const batch = batchSize(heads);
  const matrixBytes = heads * dims * 4;
  const cOff = 0;
  const aOff = align(cOff + matrixBytes);
  const qOff = align(aOff + matrixBytes);
  const pOff = align(qOff + batch * dims * 4);
  const sOff = align(pOff + batch * dims * 4);
  const total = align(sOff + batch * heads * 4);
  if (total > MAX_WASM_BYTES) return null;
  const wasm = wasmApi() as WasmApi;
  let memory: WasmMemory;
  try {
    memory = new wasm.Memory({ initial: Math.ceil(total / WASM_PAGE) });
  } catch {
    return null;
  }
  const k = new wasm.Instance(module, { env: { memory } }).exports as KernelExports;
  const buffer = memory.buffer;
  const rowBytes = heads * 4;
  return {
    kernel: "wasm-simd",
    heads,
    dims,
    batch,
    centroids: new Float32Array(buffer, cOff, heads * dims),
    answers: new Float32Array(buffer, aOff, heads * dims),
    queries: new Float32Array(buffer, qOff, batch * dims),
    projected: new Float32Array(buffer, pOff, batch * dims),
    scores: new Float32Array(buffer, sOff, batch * heads),
    dots(matrix, source, n) {
      const mat = matrix === 0 ? cOff : aOff;
      const src = source === 0 ? qOff : pOff;
      if (n === 1) k.dot_rows(mat, heads, dims, src, sOff);
      else k.gemm_nt(src, n, mat, heads, dims, sOff);
    },
    expRow(i, invTau) {
      return k.softmax_exp(sOff + i * rowBytes, heads, invTau);
    },
    scaleRow(i, s) {
      k.scale(sOff + i * rowBytes, heads, s);
    },
    weightedSums(n) {
      k.gemm_nn(sOff, n, aOff, heads, dims, pOff);
    },
    normalize(source, row) {
      return k.normalize((source === 0 ? qOff : pOff) + row * dims * 4, dims);
    },
  };
}

/** The pure-JavaScript engine: float64 accumulation, one query at a time. */
function createJsEngine(heads: number, dims: number): Engine {
  const batch = batchSize(heads);
  const centroids = new Float32Array(heads * dims);
  const answers = new Float32Array(heads * dims);
  const queries = new Float32Array(batch * dims);
  const projected = new Float32Array(batch * dims);
  const scores = new Float32Array(batch * heads);
  const acc = new Float64Array(dims);
  const d = dims;
  return {
    kernel: "js",
    heads,
    dims,
    batch,
    centroids,
    answers,
    queries,
    projected,
    scores,
    dots(matrix, source, n) {
      const m = matrix === 0 ? centroids : answers;
      const src = source === 0 ? queries : projected;
      for (let i = 0; i < n; i++) {
        const x = i * d;
        const o = i * heads;
        for (let r = 0, row = 0; r < heads; r++, row += d) {
          let s0 = 0;
          let s1 = 0;
          let s2 = 0;
          let s3 = 0;
          let j = 0;
          for (; j + 4 <= d; j += 4) {
            s0 += (m[row + j] as number) * (src[x + j] as number);
            s1 += (m[row + j + 1] as number) * (src[x + j + 1] as number);
            s2 += (m[row + j + 2] as number) * (src[x + j + 2] as number);
            s3 += (m[row + j + 3] as number) * (src[x + j + 3] as number);
          }
          for (; j < d; j++) s0 += (m[row + j] as number) * (src[x + j] as number);
          scores[o + r] = s0 + s1 + (s2 + s3);
        }
      }
    },
    expRow(i, invTau) {
      const o = i * heads;
      let max = Number.NEGATIVE_INFINITY;
      for (let r = 0; r < heads; r++) max = Math.max(max, scores[o + r] as number);
      let sum = 0;
      for (let r = 0; r < heads; r++) {
        const e = Math.exp(((scores[o + r] as number) - max) * invTau);
        scores[o + r] = e;
        sum += e;
      }
      return sum;
    },
    scaleRow(i, s) {
      const o = i * heads;
      for (let r = 0; r < heads; r++) scores[o + r] = (scores[o + r] as number) * s;
    },
    weightedSums(n) {
      for (let i = 0; i < n; i++) {
        acc.fill(0);
        const o = i * heads;
        for (let r = 0, row = 0; r < heads; r++, row += d) {
          const w = scores[o + r] as number;
          if (w === 0) continue;
          for (let j = 0; j < d; j++)
            acc[j] = (acc[j] as number) + w * (answers[row + j] as number);
        }
        projected.set(acc, i * d);
      }
    },
    normalize(source, row) {
      const x = source === 0 ? queries : projected;
      const o = row * d;
      let s = 0;
      for (let j = 0; j < d; j++) s += (x[o + j] as number) ** 2;
      if (s > 0 && s < Number.POSITIVE_INFINITY) {
        const inv = 1 / Math.sqrt(s);
        for (let j = 0; j < d; j++) x[o + j] = (x[o + j] as number) * inv;
      }
      return s;
    },
  };
}
