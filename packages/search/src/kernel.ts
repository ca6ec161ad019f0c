/**
 * The compute engines behind a projection: the WebAssembly SIMD kernel (src/kernel.wat) and a
 * pure-JavaScript fallback with the same operations. An engine owns the two head matrices and the
 * scratch buffers of the queries in flight; nothing is allocated per query.
 */
import { SearchError } from "./errors.js";
import { KERNEL_WASM_BASE64, KERNEL_WASM_SHARED_BASE64 } from "./kernel-wasm.js";
import { TOP_BLOCK } from "./topk.js";

/** The kernel a projection runs on. */
export type KernelName = "wasm-simd" | "js";
/** What to run on: `auto` (WebAssembly SIMD when available, else JavaScript), `wasm` or `js`. */
export type KernelChoice = "auto" | "wasm" | "js";
/**
 * How many threads one call may use: `auto` (default: the machine's cores, at most 8, where helper
 * threads exist — the Node.js entry of this package) or a number (1 = the caller's thread only).
 */
export type ThreadsChoice = number | "auto";

/**
 * Operations on the engine's buffers; matrix/source 0 = centroids/queries, 1 = answers/projected,
 * source 2 = the routed queries W q̂ (engines made with an adapter only).
 */
export interface Engine {
  readonly kernel: KernelName;
  readonly heads: number;
  readonly dims: number;
  /** How many queries one call handles (the rows of the scratch buffers). */
  readonly batch: number;
  /** How many threads a large call is split between (1: the caller's only). */
  readonly threads: number;
  readonly centroids: Float32Array;
  readonly answers: Float32Array;
  /** batch × dims */
  readonly queries: Float32Array;
  /** batch × dims */
  readonly projected: Float32Array;
  /** dims × dims, row-major (adapter[i*dims + j] = W[i, j]); null without an adapter. */
  readonly adapter: Float32Array | null;
  /** batch × dims: the routing vectors W q̂ of the queries; null without an adapter. */
  readonly routed: Float32Array | null;
  /** batch × heads: cosines, then weights, then scores */
  readonly scores: Float32Array;
  /** scores[i*heads + r] = matrix[r,:] . source[i,:] for i < n */
  dots(matrix: 0 | 1, source: 0 | 1 | 2, n: number): void;
  /**
   * routed[i, r] = adapter[r,:] . queries[i,:] for i < n: the same row dots as {@link dots}, with
   * W's d rows in place of the heads (split between threads the same way).
   */
  adapt(n: number): void;
  /** scores row i := exp((x - max) * invTau) in place; returns the sum */
  expRow(i: number, invTau: number): number;
  /** scores row i *= s */
  scaleRow(i: number, s: number): void;
  /** Rows 0..n-1 of scores: cosines → softmax weights (expRow, then scaleRow by 1/sum). */
  softmaxRows(n: number, invTau: number): void;
  /**
   * The maxima of scores row i in blocks of TOP_BLOCK values (for topIndices), or undefined where
   * they would not pay off. The array is reused by the next call.
   */
  blockMax(i: number): Float32Array | undefined;
  /** projected[i,:] = sum_r scores[i*heads + r] * answers[r,:] for i < n */
  weightedSums(n: number): void;
  /**
   * Row `row` of queries (0), projected (1) or routed (2): returns its sum of squares s and,
   * when 0 < s < ∞, divides it by sqrt(s) in place.
   */
  normalize(source: 0 | 1 | 2, row: number): number;
}

interface KernelExports {
  dot_rows(mat: number, rows: number, d: number, x: number, out: number): void;
  gemm_nt(
    q: number,
    nq: number,
    mat: number,
    rows: number,
    d: number,
    out: number,
    ldo: number,
  ): void;
  gemm_nn(
    w: number,
    nq: number,
    ldw: number,
    mat: number,
    rows: number,
    d: number,
    out: number,
  ): void;
  softmax_exp(x: number, n: number, invTau: number): number;
  scale(x: number, n: number, s: number): void;
  softmax_rows(x: number, rows: number, n: number, invTauBits: number): void;
  block_max(x: number, n: number, out: number): void;
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
/** @internal */
export interface WasmModule {
  readonly __wasmModule?: never;
}
/** @internal */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  compile(bytes: Uint8Array): Promise<WasmModule>;
  Module: new (bytes: Uint8Array) => WasmModule;
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
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
let compiledShared: WasmModule | null | undefined;

/**
 * Compiles a kernel binary synchronously: null where WebAssembly (SIMD) is missing, undefined where
 * the runtime refuses (e.g. a browser's main thread: see initKernel()).
 */
function compileNow(base64: string): WasmModule | null | undefined {
  const wasm = wasmApi();
  if (!wasm) return null;
  try {
    const bytes = base64Bytes(base64);
    return wasm.validate(bytes) ? new wasm.Module(bytes) : null;
  } catch {
    return undefined;
  }
}

/** The compiled kernel, or null where WebAssembly SIMD is not available. Compiles once. */
function kernelModule(): WasmModule | null {
  if (compiled === undefined) compiled = compileNow(KERNEL_WASM_BASE64);
  return compiled ?? null;
}

/** The kernel on a shared memory, or null where shared WebAssembly memory is not available. */
function sharedKernelModule(): WasmModule | null {
  if (compiledShared === undefined) {
    compiledShared =
      typeof SharedArrayBuffer === "function"
        ? (compileNow(KERNEL_WASM_SHARED_BASE64) ?? null)
        : null;
  }
  return compiledShared;
}

/**
 * Compiles the WebAssembly kernel ahead of time, asynchronously; resolves to whether WebAssembly
 * SIMD is available. In Node.js it also starts the helper threads and waits until they run, so
 * the first large query is already split between threads. Node.js compiles the kernel on first
 * use anyway: call this in browsers, whose main thread may refuse to compile synchronously.
 */
export async function initKernel(): Promise<boolean> {
  await kernelThreads?.()?.started();
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

/**
 * The kernel calls a helper thread can run, by number (the index into KERNEL_OP_EXPORTS); every
 * argument of these calls is an i32. @internal
 */
export enum KernelOp {
  DotRows = 0,
  GemmNT = 1,
  GemmNN = 2,
  SoftmaxRows = 3,
}

/** The kernel export each KernelOp calls: the caller's thread and the helpers use this one table. */
export const KERNEL_OP_EXPORTS = ["dot_rows", "gemm_nt", "gemm_nn", "softmax_rows"] as const;

const f32Bits = new Int32Array(1);
const f32View = new Float32Array(f32Bits.buffer);
/** The bits of x rounded to float32, as an int32 (how 1/τ reaches softmax_rows). */
function float32Bits(x: number): number {
  f32View[0] = x;
  return f32Bits[0] as number;
}

/**
 * Helper threads that run kernel calls on shared memories (installed by the Node.js entry).
 * @internal
 */
export interface KernelThreadPool {
  /** How many helper threads there are (the caller's thread not counted). */
  readonly size: number;
  /** Resolves once every helper thread runs. */
  started(): Promise<void>;
  /** Whether helper `helper` runs yet (calls handed to it before that would wait). */
  ready(helper: number): boolean;
  /** Lets the helpers run calls on `memory`; the returned id names it in start(). */
  attach(module: WasmModule, memory: WasmMemory, owner: object): number;
  /** Starts `op(...args)` on helper `helper` against memory `id`; returns at once. */
  start(helper: number, id: number, op: KernelOp, args: number[]): void;
  /** Waits for every call started; returns the helpers whose call failed (to redo them). */
  finish(): number[];
}

let kernelThreads: (() => KernelThreadPool | undefined) | undefined;

/** Called once by the Node.js entry: where helper threads come from. @internal */
export function installKernelThreads(pool: () => KernelThreadPool | undefined): void {
  kernelThreads = pool;
}

/** Whether the WebAssembly SIMD kernel can run here. */
export function wasmKernelAvailable(): boolean {
  return kernelModule() !== null;
}

function batchSize(heads: number): number {
  return Math.max(1, Math.min(MAX_BATCH, Math.floor(BATCH_SCORE_BYTES / (4 * heads))));
}

const align = (n: number) => Math.ceil(n / 64) * 64;

/**
 * Below this many multiply-adds per thread a call stays on one thread: handing work to a helper
 * costs a few microseconds, and a sleeping helper takes tens to wake.
 */
const MIN_WORK_PER_THREAD = 1 << 17;
/** `auto` uses at most this many threads. */
const MAX_AUTO_THREADS = 8;
/**
 * Weighted sums over many heads are cut into row chunks (1, 2, 4 or 8, of at least this many rows),
 * summed separately and added in chunk order, so that threads can share them. The chunks depend on
 * the number of heads only: any number of threads gives the same bits.
 */
const CHUNK_MIN_ROWS = 128;
const MAX_CHUNKS = 8;

export interface EngineOptions {
  /** Threads one call may use (default `auto`). */
  threads?: ThreadsChoice;
  /** Tests only: the smallest call split between threads, in multiply-adds per thread. */
  minWorkPerThread?: number;
  /** Whether the projection has a query adapter W (room for a d×d matrix and the routed queries). */
  adapter?: boolean;
}

/** Creates an engine for `heads` × `dims` matrices (zero-filled; the caller fills them). */
export function createEngine(
  heads: number,
  dims: number,
  choice: KernelChoice,
  options: EngineOptions = {},
): Engine {
  const threads = options.threads ?? "auto";
  if (threads !== "auto" && !(Number.isSafeInteger(threads) && threads >= 1)) {
    throw new SearchError(
      "BAD_ARGUMENT",
      `threads must be "auto" or an integer of at least 1, got ${String(threads)}`,
    );
  }
  const adapter = options.adapter === true;
  if (choice !== "js") {
    const module = kernelModule();
    if (module) {
      const engine = createWasmEngine(module, heads, dims, threads, options, adapter);
      if (engine) return engine;
    }
    if (choice === "wasm") {
      throw new SearchError(
        "KERNEL_UNAVAILABLE",
        module
          ? `a ${heads} x ${dims} projection${adapter ? " with an adapter" : ""} does not fit in the 4 GiB of WebAssembly memory`
          : "WebAssembly SIMD is not available in this runtime (use kernel: 'auto' or 'js')",
      );
    }
  }
  return createJsEngine(heads, dims, adapter);
}

/** The helper threads an engine of this size may use, with the shared kernel they need. */
function helpersFor(
  rows: number,
  dims: number,
  threads: ThreadsChoice,
  minWork: number,
): { pool: KernelThreadPool; module: WasmModule; count: number } | undefined {
  const wanted = threads === "auto" ? MAX_AUTO_THREADS : threads;
  // a batch of MAX_BATCH queries against the largest matrix is the most work one call does
  if (wanted < 2 || rows * dims * MAX_BATCH < 2 * minWork) return undefined;
  const pool = kernelThreads?.();
  if (!pool || pool.size === 0) return undefined;
  const module = sharedKernelModule();
  if (!module) return undefined;
  return { pool, module, count: Math.min(pool.size, wanted - 1) };
}

function createWasmEngine(
  module: WasmModule,
  heads: number,
  dims: number,
  threads: ThreadsChoice,
  options: EngineOptions,
  withAdapter: boolean,
): Engine | null {
  const batch = batchSize(heads);
  const matrixBytes = heads * dims * 4;
  // a power of two, so that two or four threads share the chunks evenly
  let chunks = 1;
  while (chunks * 2 <= MAX_CHUNKS && chunks * 2 * CHUNK_MIN_ROWS <= heads) chunks *= 2;
  const chunkRows = Math.ceil(heads / chunks / 8) * 8;
  const partBytes = align(batch * dims * 4);
  const cOff = 0;
  const aOff = align(cOff + matrixBytes);
  const qOff = align(aOff + matrixBytes);
  const pOff = align(qOff + batch * dims * 4);
  const sOff = align(pOff + batch * dims * 4);
  const blocks = Math.ceil(heads / TOP_BLOCK);
  const bOff = align(sOff + batch * heads * 4);
  const partOff = align(bOff + blocks * 4);
  const wOff = align(partOff + (chunks > 1 ? chunks * partBytes : 0));
  const rOff = align(wOff + (withAdapter ? dims * dims * 4 : 0));
  const total = rOff + (withAdapter ? batch * dims * 4 : 0);
  if (total > MAX_WASM_BYTES) return null;
  const wasm = wasmApi() as WasmApi;
  const minWork = options.minWorkPerThread ?? MIN_WORK_PER_THREAD;
  let helpers = helpersFor(withAdapter ? Math.max(heads, dims) : heads, dims, threads, minWork);
  const pages = Math.ceil(total / WASM_PAGE);
  let memory: WasmMemory;
  try {
    memory = helpers
      ? new wasm.Memory({ initial: pages, maximum: pages, shared: true })
      : new wasm.Memory({ initial: pages });
  } catch {
    if (!helpers) return null;
    helpers = undefined;
    try {
      memory = new wasm.Memory({ initial: pages });
    } catch {
      return null;
    }
  }
  const k = new wasm.Instance(helpers ? helpers.module : module, { env: { memory } })
    .exports as KernelExports;
  const buffer = memory.buffer;
  const rowBytes = heads * 4;
  const call = (op: KernelOp, args: number[]): void => {
    (k[KERNEL_OP_EXPORTS[op]] as (...a: number[]) => void)(...args);
  };
  let id = -1;
  const maxima = new Float32Array(buffer, bOff, blocks);
  const engine: Engine = {
    kernel: "wasm-simd",
    heads,
    dims,
    batch,
    threads: helpers ? helpers.count + 1 : 1,
    centroids: new Float32Array(buffer, cOff, heads * dims),
    answers: new Float32Array(buffer, aOff, heads * dims),
    queries: new Float32Array(buffer, qOff, batch * dims),
    projected: new Float32Array(buffer, pOff, batch * dims),
    scores: new Float32Array(buffer, sOff, batch * heads),
    adapter: withAdapter ? new Float32Array(buffer, wOff, dims * dims) : null,
    routed: withAdapter ? new Float32Array(buffer, rOff, batch * dims) : null,
    dots(matrix, source, n) {
      rowDots(matrix === 0 ? cOff : aOff, heads, sourceOffset(source), n, sOff);
    },
    adapt(n) {
      if (!withAdapter) throw new Error("adapt() on an engine made without an adapter");
      rowDots(wOff, dims, qOff, n, rOff);
    },
    expRow(i, invTau) {
      return k.softmax_exp(sOff + i * rowBytes, heads, invTau);
    },
    scaleRow(i, s) {
      k.scale(sOff + i * rowBytes, heads, s);
    },
    softmaxRows(n, invTau) {
      // an exp costs about as much as sixteen multiply-adds
      const parts = partsFor(16 * heads * n, n);
      const calls: number[][] = [];
      const step = Math.ceil(n / parts);
      for (let i0 = 0; i0 < n; i0 += step) {
        calls.push([sOff + i0 * rowBytes, Math.min(step, n - i0), heads, float32Bits(invTau)]);
      }
      runSplit(KernelOp.SoftmaxRows, calls, parts);
    },
    blockMax(i) {
      if (heads < 4 * TOP_BLOCK) return undefined;
      k.block_max(sOff + i * rowBytes, heads, bOff);
      return maxima;
    },
    weightedSums(n) {
      if (chunks === 1) {
        k.gemm_nn(sOff, n, heads, aOff, heads, dims, pOff);
        return;
      }
      const calls: number[][] = [];
      for (let r0 = 0, c = 0; r0 < heads; r0 += chunkRows, c++) {
        const rows = Math.min(chunkRows, heads - r0);
        calls.push([
          sOff + r0 * 4,
          n,
          heads,
          aOff + r0 * dims * 4,
          rows,
          dims,
          partOff + c * partBytes,
        ]);
      }
      runSplit(KernelOp.GemmNN, calls, partsFor(heads * dims * n, calls.length));
      // the chunk sums, added in chunk order
      const size = n * dims;
      const out = new Float32Array(buffer, pOff, size);
      out.set(new Float32Array(buffer, partOff, size));
      for (let c = 1; c < calls.length; c++) {
        const part = new Float32Array(buffer, partOff + c * partBytes, size);
        for (let x = 0; x < size; x++) out[x] = (out[x] as number) + (part[x] as number);
      }
    },
    normalize(source, row) {
      return k.normalize(sourceOffset(source) + row * dims * 4, dims);
    },
  };

  function sourceOffset(source: 0 | 1 | 2): number {
    if (source === 2 && !withAdapter) throw new Error("no routed queries without an adapter");
    return source === 0 ? qOff : source === 1 ? pOff : rOff;
  }

  /**
   * out[i*rows + r] = (matrix row r) . (source row i) for i < n, r < rows. Rows are split between
   * threads: every value is computed alone, so the bits do not depend on the number of threads.
   */
  function rowDots(mat: number, rows: number, src: number, n: number, out: number): void {
    const parts = partsFor(rows * dims * n, Math.ceil(rows / 8));
    if (parts === 1) {
      if (n === 1) k.dot_rows(mat, rows, dims, src, out);
      else k.gemm_nt(src, n, mat, rows, dims, out, rows);
      return;
    }
    const calls: number[][] = [];
    const step = Math.ceil(rows / parts / 8) * 8;
    for (let r0 = 0; r0 < rows; r0 += step) {
      const part = Math.min(step, rows - r0);
      const m = mat + r0 * dims * 4;
      const o = out + r0 * 4;
      calls.push(n === 1 ? [m, part, dims, src, o] : [src, n, m, part, dims, o, rows]);
    }
    runSplit(n === 1 ? KernelOp.DotRows : KernelOp.GemmNT, calls, parts);
  }

  /** Into how many parts (threads) to split `work` multiply-adds with at most `maxParts` parts. */
  function partsFor(work: number, maxParts: number): number {
    if (!helpers) return 1;
    let ready = 0;
    while (ready < helpers.count && helpers.pool.ready(ready)) ready++;
    return Math.max(1, Math.min(ready + 1, maxParts, Math.floor(work / minWork)));
  }

  /**
   * Runs the calls `parts` at a time: the first of each group here, the others on helpers 0, 1,
   * ...; redoes here what a helper failed.
   */
  function runSplit(op: KernelOp, calls: number[][], parts: number): void {
    if (parts <= 1 || !helpers) {
      for (const a of calls) call(op, a);
      return;
    }
    const pool = helpers.pool;
    if (id < 0) id = pool.attach(helpers.module, memory, engine);
    for (let g = 0; g < calls.length; g += parts) {
      const group = calls.slice(g, g + parts);
      for (let t = 1; t < group.length; t++) pool.start(t - 1, id, op, group[t] as number[]);
      call(op, group[0] as number[]);
      for (const failed of pool.finish()) call(op, group[failed + 1] as number[]);
    }
  }

  return engine;
}

/** The pure-JavaScript engine: float64 accumulation, one query at a time. */
function createJsEngine(heads: number, dims: number, withAdapter: boolean): Engine {
  const batch = batchSize(heads);
  const centroids = new Float32Array(heads * dims);
  const answers = new Float32Array(heads * dims);
  const queries = new Float32Array(batch * dims);
  const projected = new Float32Array(batch * dims);
  const scores = new Float32Array(batch * heads);
  const adapter = withAdapter ? new Float32Array(dims * dims) : null;
  const routed = withAdapter ? new Float32Array(batch * dims) : null;
  const acc = new Float64Array(dims);
  const d = dims;
  const sourceRows = (source: 0 | 1 | 2): Float32Array => {
    if (source === 0) return queries;
    if (source === 1) return projected;
    if (!routed) throw new Error("no routed queries without an adapter");
    return routed;
  };
  /** out[i*rows + r] = m[r,:] . src[i,:] for i < n, r < rows */
  const rowDots = (
    m: Float32Array,
    rows: number,
    src: Float32Array,
    n: number,
    out: Float32Array,
  ) => {
    for (let i = 0; i < n; i++) {
      const x = i * d;
      const o = i * rows;
      for (let r = 0, row = 0; r < rows; r++, row += d) {
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
        out[o + r] = s0 + s1 + (s2 + s3);
      }
    }
  };
  return {
    kernel: "js",
    heads,
    dims,
    batch,
    threads: 1,
    centroids,
    answers,
    queries,
    projected,
    scores,
    adapter,
    routed,
    dots(matrix, source, n) {
      rowDots(matrix === 0 ? centroids : answers, heads, sourceRows(source), n, scores);
    },
    adapt(n) {
      if (!adapter || !routed) throw new Error("adapt() on an engine made without an adapter");
      rowDots(adapter, d, queries, n, routed);
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
    softmaxRows(n, invTau) {
      for (let i = 0; i < n; i++) this.scaleRow(i, 1 / this.expRow(i, invTau));
    },
    blockMax() {
      return undefined;
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
      const x = sourceRows(source);
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
