/**
 * A multi-head projection in memory and the search math of docs/FORMAT.md §6:
 *
 *   r = normalize(W q̂)                 the routing vector (r = q̂ without an adapter W)
 *   w = softmax(cos(r, c_k) / τ)        routing weights over the heads (max subtracted first)
 *   p = normalize(Σ_k w_k a_k)          the query projected into answer space
 *   b = normalize(β p + (1 − β) q̂)      the blend (b = p when β = 1, the edition-1 math)
 *   score_j = cos(b, a_j)               projected search      (direct search: cos(q, a_j))
 */
import { SearchError } from "./errors.js";
import {
  createEngine,
  type Engine,
  type KernelChoice,
  type KernelName,
  type ThreadsChoice,
} from "./kernel.js";
import { topIndices } from "./topk.js";

/** A matrix given to {@link Projection.fromArrays}: H×d row-major values, or H rows of d values. */
export type MatrixInput = Float32Array | Float64Array | ArrayLike<number>[];

/** Queries for the batch methods: n rows of d values, or n×d row-major values. */
export type QueryBatch = Float32Array | Float64Array | ArrayLike<number>[];

/** What {@link Projection.fromArrays} takes: this is what the store passes after reading its database. */
export interface ProjectionArrays {
  mhProjectionId: number;
  model: string;
  /** Softmax temperature τ > 0. */
  temperature: number;
  /** Cluster id of each head, in head order (row k of the matrices is cluster `clusterIds[k]`). */
  clusterIds: ArrayLike<number>;
  /** Head centroids c_k (any length; normalized on load). */
  centroids: MatrixInput;
  /** Head answer vectors a_k (any length; normalized on load). */
  answers: MatrixInput;
  /** Optional check: the vectors' length d (a mismatch is a DIMENSION_MISMATCH error). */
  dimensions?: number;
  /**
   * The query adapter W, d×d: `adapter[i][j]` (or `adapter[i*d + j]`) = W[i, j], so that the
   * routing vector is r = W q̂. Kept as given (rounded to float32), not normalized. Absent or
   * null: routing uses q̂ itself.
   */
  adapter?: MatrixInput | null;
  /** The blend β, 0 ≤ β ≤ 1 (default 1: the projected vector alone; 0: direct search). */
  blend?: number;
  /** The compute kernel: `auto` (default) picks WebAssembly SIMD when the runtime has it. */
  kernel?: KernelChoice;
  /** Threads one large call may use (default `auto`; see {@link ThreadsChoice}). */
  threads?: ThreadsChoice;
}

export interface SearchOptions {
  /** How many answers to return (default 5; more than the number of heads returns them all). */
  topK?: number;
  /** How many of the strongest routing weights to report (default 3). */
  routingTop?: number;
}

export interface DirectSearchOptions {
  /** How many answers to return (default 5). */
  topK?: number;
}

/** One ranked answer: the head's cluster, its index in head order, and cos(p, a_j) (or cos(q, a_j)). */
export interface SearchHit {
  clusterId: number;
  headIndex: number;
  score: number;
}

/** The routing weight w_k of one head. */
export interface RoutingWeight {
  clusterId: number;
  headIndex: number;
  weight: number;
}

export interface SearchResult {
  /** Best first; ties broken by the smaller cluster id. */
  results: SearchHit[];
  /** The strongest routing weights, largest first (ties by the smaller cluster id). */
  routing: RoutingWeight[];
}

export interface DirectSearchResult {
  /** Best first; ties broken by the smaller cluster id. */
  results: SearchHit[];
}

export interface ProjectResult {
  /** w: one routing weight per head, in head order; sums to 1 (routed by W q̂ with an adapter). */
  weights: Float32Array;
  /**
   * The vector answers are ranked against (length d): the normalized projected query p, blended
   * with the query when β < 1 — normalize(β p + (1 − β) q̂) — and all zeros when that cancels out.
   */
  projected: Float32Array;
}

/** The pieces a projection is made of, once its vectors are in the engine. @internal */
export interface ProjectionParts {
  mhProjectionId: number;
  model: string;
  temperature: number;
  clusterIds: number[];
  /** The engine holds W when it was made with an adapter. */
  engine: Engine;
  /** β (default 1). */
  blend?: number;
  warnings?: string[];
}

const DEFAULT_TOP_K = 5;
const DEFAULT_ROUTING_TOP = 3;

/** Checks a blend β: a finite number from 0 to 1; `undefined` is 1. @internal */
export function checkBlend(blend: unknown): number {
  if (blend === undefined) return 1;
  if (typeof blend !== "number" || !Number.isFinite(blend) || blend < 0 || blend > 1) {
    throw new SearchError(
      "BAD_ARGUMENT",
      `blend must be a finite number from 0 to 1, got ${String(blend)}`,
    );
  }
  return blend;
}

/** Checks the scalar fields shared by every way of making a projection. @internal */
export function checkProjectionFields(fields: {
  mhProjectionId: unknown;
  model: unknown;
  temperature: unknown;
  clusterIds: ArrayLike<unknown>;
}): void {
  const { mhProjectionId, model, temperature, clusterIds } = fields;
  if (
    typeof mhProjectionId !== "number" ||
    !Number.isSafeInteger(mhProjectionId) ||
    mhProjectionId < 0
  ) {
    throw new SearchError(
      "BAD_ARGUMENT",
      `mhProjectionId must be a non-negative integer, got ${String(mhProjectionId)}`,
    );
  }
  if (typeof model !== "string" || model.length === 0) {
    throw new SearchError("BAD_ARGUMENT", `model must be a non-empty string, got ${String(model)}`);
  }
  if (typeof temperature !== "number" || !(temperature > 0) || !Number.isFinite(temperature)) {
    throw new SearchError(
      "BAD_ARGUMENT",
      `temperature must be a positive number, got ${String(temperature)}`,
    );
  }
  if (!Number.isFinite(Math.fround(1 / temperature))) {
    throw new SearchError(
      "BAD_ARGUMENT",
      `temperature ${temperature} is too small: 1/τ overflows float32`,
    );
  }
  if (clusterIds.length === 0) {
    throw new SearchError(
      "BAD_ARGUMENT",
      "a projection needs at least one head (clusterIds is empty)",
    );
  }
  const seen = new Set<number>();
  for (let k = 0; k < clusterIds.length; k++) {
    const id = clusterIds[k];
    if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) {
      throw new SearchError(
        "BAD_ARGUMENT",
        `clusterIds[${k}] must be a non-negative integer, got ${String(id)}`,
      );
    }
    if (seen.has(id)) throw new SearchError("BAD_ARGUMENT", `clusterIds lists cluster ${id} twice`);
    seen.add(id);
  }
}

/**
 * Writes `src[srcOffset .. srcOffset + d)` divided by its L2 norm into `target` at `offset`
 * (computed in float64, rounded once to float32). Throws NOT_FINITE or ZERO_VECTOR naming `label()`.
 * @internal
 */
export function writeNormalized(
  target: Float32Array,
  offset: number,
  src: ArrayLike<number>,
  srcOffset: number,
  d: number,
  label: () => string,
): void {
  let sumsq = 0;
  for (let j = 0; j < d; j++) {
    const v = src[srcOffset + j] as number;
    sumsq += v * v;
  }
  let scale = 1;
  if (!Number.isFinite(sumsq)) {
    let maxAbs = 0;
    for (let j = 0; j < d; j++) {
      const v = src[srcOffset + j] as number;
      if (typeof v !== "number" || !Number.isFinite(v)) {
        throw new SearchError("NOT_FINITE", `${label()}: value [${j}] is ${String(v)}`);
      }
      maxAbs = Math.max(maxAbs, Math.abs(v));
    }
    // finite values whose squares overflow float64: normalize v / maxAbs instead
    scale = 1 / maxAbs;
    sumsq = 0;
    for (let j = 0; j < d; j++) {
      const v = (src[srcOffset + j] as number) * scale;
      sumsq += v * v;
    }
  }
  if (sumsq === 0) {
    throw new SearchError(
      "ZERO_VECTOR",
      `${label()}: the vector is all zeros, so it has no direction`,
    );
  }
  const inv = scale / Math.sqrt(sumsq);
  for (let j = 0; j < d; j++) target[offset + j] = (src[srcOffset + j] as number) * inv;
}

function positiveInteger(value: unknown, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new SearchError(
      "BAD_ARGUMENT",
      `${name} must be an integer of at least ${min}, got ${String(value)}`,
    );
  }
  return value;
}

/**
 * A loaded multi-head projection. Make one with {@link Projection.fromArrays} or `loadProjection`.
 *
 * `centroids` and `answers` are the L2-normalized head vectors as contiguous row-major float32
 * matrices (H×d, head order); with the WebAssembly kernel they are views of its memory. Treat them
 * as read-only. Every method returns fresh arrays and objects; scratch space is reused, so a
 * projection serves one call at a time (JavaScript is single-threaded: that is always the case).
 */
export class Projection {
  readonly mhProjectionId: number;
  readonly model: string;
  readonly temperature: number;
  /** d */
  readonly dimensions: number;
  /** H */
  readonly numHeads: number;
  /** Cluster id of each head, in head order. */
  readonly clusterIds: readonly number[];
  /** H×d, row k = normalized c_k. */
  readonly centroids: Float32Array;
  /** H×d, row k = normalized a_k. */
  readonly answers: Float32Array;
  /** The query adapter W, d×d row-major (`adapter[i*d + j]` = W[i, j], as given); null: none. */
  readonly adapter: Float32Array | null;
  /** The blend β: answers are ranked against normalize(β p + (1 − β) q̂); 1 = p alone. */
  readonly blend: number;
  /** The kernel the math runs on. */
  readonly kernel: KernelName;
  /** How many threads a large call is split between (1: only the caller's). */
  readonly threads: number;
  /** Problems found while loading that did not stop it (e.g. head files mh_<id>.json does not list). */
  readonly warnings: readonly string[];

  readonly #engine: Engine;
  readonly #ids: Float64Array;
  readonly #invTau: number;
  #headOf: Map<number, number> | undefined;

  /**
   * Made by {@link Projection.fromArrays} or `loadProjection` only. Private rather than
   * `@internal`: a stripped constructor would leave `new Projection()` type-checking for users.
   */
  private constructor(parts: ProjectionParts) {
    const { engine } = parts;
    this.mhProjectionId = parts.mhProjectionId;
    this.model = parts.model;
    this.temperature = parts.temperature;
    this.dimensions = engine.dims;
    this.numHeads = engine.heads;
    this.clusterIds = Object.freeze([...parts.clusterIds]);
    this.centroids = engine.centroids;
    this.answers = engine.answers;
    this.adapter = engine.adapter;
    this.blend = checkBlend(parts.blend);
    this.kernel = engine.kernel;
    this.threads = engine.threads;
    this.warnings = Object.freeze([...(parts.warnings ?? [])]);
    this.#engine = engine;
    this.#ids = Float64Array.from(parts.clusterIds);
    this.#invTau = Math.fround(1 / parts.temperature);
  }

  /** The loaders' way in, once the vectors are in an engine. @internal */
  static fromParts(parts: ProjectionParts): Projection {
    return new Projection(parts);
  }

  /**
   * Builds a projection from vectors in memory (e.g. read from the database by the store). The
   * vectors are copied, normalized, into contiguous float32 matrices.
   */
  static fromArrays(init: ProjectionArrays): Projection {
    checkProjectionFields(init);
    const heads = init.clusterIds.length;
    const dc = matrixDims(init.centroids, heads, "centroids", init.dimensions);
    const da = matrixDims(init.answers, heads, "answers", init.dimensions);
    if (dc !== da) {
      throw new SearchError(
        "DIMENSION_MISMATCH",
        `centroids have ${dc} dimensions but answers have ${da}`,
      );
    }
    const blend = checkBlend(init.blend);
    const hasAdapter = init.adapter !== undefined && init.adapter !== null;
    if (hasAdapter) checkAdapterShape(init.adapter as MatrixInput, dc);
    const clusterIds = Array.from(init.clusterIds);
    const engine = createEngine(heads, dc, init.kernel ?? "auto", {
      threads: init.threads,
      adapter: hasAdapter,
    });
    fillMatrix(engine.centroids, init.centroids, heads, dc, "centroids", clusterIds);
    fillMatrix(engine.answers, init.answers, heads, dc, "answers", clusterIds);
    if (hasAdapter) {
      fillAdapter(engine.adapter as Float32Array, init.adapter as MatrixInput, dc, "adapter");
    }
    return new Projection({
      mhProjectionId: init.mhProjectionId,
      model: init.model,
      temperature: init.temperature,
      clusterIds,
      engine,
      blend,
    });
  }

  /** The head index of a cluster id, or undefined. */
  headIndex(clusterId: number): number | undefined {
    if (!this.#headOf) {
      this.#headOf = new Map(this.clusterIds.map((id, k) => [id, k]));
    }
    return this.#headOf.get(clusterId);
  }

  /**
   * Routes and projects one query: `{ weights (H), projected (d) }`, fresh arrays; `projected`
   * is the vector answers are ranked against, blended with the query when β < 1.
   */
  project(query: ArrayLike<number>): ProjectResult {
    const e = this.#engine;
    this.#writeQuery(0, query, "query");
    this.#route(1, () => "query");
    e.softmaxRows(1, this.#invTau);
    const weights = e.scores.slice(0, e.heads);
    e.weightedSums(1);
    this.#normalizeProjected(0);
    return { weights, projected: e.projected.slice(0, e.dims) };
  }

  /** Projected search: ranks every head's answer by cos(p, a_j). */
  search(query: ArrayLike<number>, options: SearchOptions = {}): SearchResult {
    const topK = positiveInteger(options.topK, "topK", DEFAULT_TOP_K, 1);
    const routingTop = positiveInteger(options.routingTop, "routingTop", DEFAULT_ROUTING_TOP, 0);
    const e = this.#engine;
    this.#writeQuery(0, query, "query");
    this.#route(1, () => "query");
    e.softmaxRows(1, this.#invTau);
    const routing = this.#routing(0, routingTop);
    e.weightedSums(1);
    this.#normalizeProjected(0);
    e.dots(1, 1, 1);
    return { results: this.#hits(0, topK), routing };
  }

  /** {@link search} for many queries (n×d values or n rows), computed as blocked matrix products. */
  searchBatch(queries: QueryBatch, options: SearchOptions = {}): SearchResult[] {
    const topK = positiveInteger(options.topK, "topK", DEFAULT_TOP_K, 1);
    const routingTop = positiveInteger(options.routingTop, "routingTop", DEFAULT_ROUTING_TOP, 0);
    const e = this.#engine;
    const out: SearchResult[] = [];
    this.#eachChunk(queries, (m, start) => {
      this.#route(m, (i) => `queries[${start + i}]`);
      e.softmaxRows(m, this.#invTau);
      const routings: RoutingWeight[][] = [];
      for (let i = 0; i < m; i++) routings.push(this.#routing(i, routingTop));
      e.weightedSums(m);
      for (let i = 0; i < m; i++) this.#normalizeProjected(i);
      e.dots(1, 1, m);
      for (let i = 0; i < m; i++) {
        out.push({ results: this.#hits(i, topK), routing: routings[i] as RoutingWeight[] });
      }
    });
    return out;
  }

  /** Direct search, no projection: ranks every head's answer by cos(q, a_j). */
  directSearch(query: ArrayLike<number>, options: DirectSearchOptions = {}): DirectSearchResult {
    const topK = positiveInteger(options.topK, "topK", DEFAULT_TOP_K, 1);
    this.#writeQuery(0, query, "query");
    this.#engine.dots(1, 0, 1);
    return { results: this.#hits(0, topK) };
  }

  /** {@link directSearch} for many queries. */
  directSearchBatch(queries: QueryBatch, options: DirectSearchOptions = {}): DirectSearchResult[] {
    const topK = positiveInteger(options.topK, "topK", DEFAULT_TOP_K, 1);
    const out: DirectSearchResult[] = [];
    this.#eachChunk(queries, (m) => {
      this.#engine.dots(1, 0, m);
      for (let i = 0; i < m; i++) out.push({ results: this.#hits(i, topK) });
    });
    return out;
  }

  /** Writes the queries into the engine a chunk at a time and calls `run(m)` for each chunk. */
  #eachChunk(queries: QueryBatch, run: (m: number, start: number) => void): void {
    const d = this.dimensions;
    const batch = this.#engine.batch;
    let n: number;
    let row: (i: number) => { src: ArrayLike<number>; offset: number };
    if (ArrayBuffer.isView(queries)) {
      const flat = queries as Float32Array | Float64Array;
      if (flat.length % d !== 0) {
        throw new SearchError(
          "DIMENSION_MISMATCH",
          `a flat batch of queries must hold n × ${d} values, got ${flat.length} (not a multiple of ${d})`,
        );
      }
      n = flat.length / d;
      row = (i) => ({ src: flat, offset: i * d });
    } else if (Array.isArray(queries)) {
      n = queries.length;
      row = (i) => {
        const q = queries[i] as ArrayLike<number>;
        if (q === null || typeof q !== "object" || typeof q.length !== "number") {
          throw new SearchError("BAD_ARGUMENT", `queries[${i}] is not an array of numbers`);
        }
        if (q.length !== d) {
          throw new SearchError(
            "DIMENSION_MISMATCH",
            `queries[${i}] has ${q.length} values but the projection has ${d} dimensions`,
          );
        }
        return { src: q, offset: 0 };
      };
    } else {
      throw new SearchError(
        "BAD_ARGUMENT",
        "queries must be an array of vectors or one flat typed array",
      );
    }
    for (let start = 0; start < n; start += batch) {
      const m = Math.min(batch, n - start);
      for (let i = 0; i < m; i++) {
        const { src, offset } = row(start + i);
        this.#setQuery(i, src, offset, () => `queries[${start + i}]`);
      }
      run(m, start);
    }
  }

  #writeQuery(row: number, query: ArrayLike<number>, label: string): void {
    const d = this.dimensions;
    if (query === null || typeof query !== "object" || typeof query.length !== "number") {
      throw new SearchError("BAD_ARGUMENT", `${label} must be an array of ${d} numbers`);
    }
    if (query.length !== d) {
      throw new SearchError(
        "DIMENSION_MISMATCH",
        `${label} has ${query.length} values but the projection has ${d} dimensions`,
      );
    }
    this.#setQuery(row, query, 0, () => label);
  }

  /** Copies a query into row `row` of the engine and normalizes it there. */
  #setQuery(row: number, src: ArrayLike<number>, offset: number, label: () => string): void {
    const d = this.dimensions;
    const e = this.#engine;
    const o = row * d;
    if (src instanceof Float32Array) {
      e.queries.set(offset === 0 && src.length === d ? src : src.subarray(offset, offset + d), o);
    } else {
      for (let j = 0; j < d; j++) e.queries[o + j] = src[offset + j] as number;
    }
    const s = e.normalize(0, row);
    if (!(s > 0 && s < Number.POSITIVE_INFINITY)) {
      // NaN, ±∞, all zeros, or values float32 cannot hold: the careful path throws or copes
      writeNormalized(e.queries, o, src, offset, d, label);
    }
  }

  /**
   * The routing cosines of query rows 0..m-1 into the score rows: against q̂, or with an adapter
   * against r̂ = normalize(W q̂), refused (naming `label(i)`) where W maps a query to nothing.
   */
  #route(m: number, label: (i: number) => string): void {
    const e = this.#engine;
    if (e.routed === null) {
      e.dots(0, 0, m);
      return;
    }
    e.adapt(m);
    const d = this.dimensions;
    for (let i = 0; i < m; i++) {
      const s = e.normalize(2, i);
      if (s > 0 && s < Number.POSITIVE_INFINITY) continue;
      // zero, not finite, or squares past float32's range: the careful path scales or refuses
      try {
        writeNormalized(e.routed, i * d, e.routed, i * d, d, () => label(i));
      } catch (error) {
        if (!(error instanceof SearchError)) throw error;
        const what =
          error.code === "ZERO_VECTOR"
            ? "the zero vector (W q̂ = 0), so it has no direction to route by"
            : "a vector that is not finite (W q̂ overflows float32)";
        throw new SearchError(error.code, `${label(i)}: the adapter W maps it to ${what}`, {
          cause: error,
        });
      }
    }
    e.dots(0, 2, m);
  }

  /**
   * Projected row i := projected row i / its norm (left at zero when the sum cancelled out), then,
   * when β < 1, blended with the query row and normalized again (zero when that cancels out).
   */
  #normalizeProjected(i: number): void {
    const e = this.#engine;
    e.normalize(1, i);
    const beta = this.blend;
    if (beta === 1) return;
    const d = this.dimensions;
    const p = e.projected;
    const q = e.queries;
    const o = i * d;
    const alpha = 1 - beta;
    for (let j = 0; j < d; j++)
      p[o + j] = beta * (p[o + j] as number) + alpha * (q[o + j] as number);
    e.normalize(1, i);
  }

  #routing(i: number, k: number): RoutingWeight[] {
    return this.#best(i, k, (clusterId, headIndex, weight) => ({ clusterId, headIndex, weight }));
  }

  #hits(i: number, k: number): SearchHit[] {
    return this.#best(i, k, (clusterId, headIndex, score) => ({ clusterId, headIndex, score }));
  }

  /** The k best values of scores row i (weights or scores), best first, each made into a T. */
  #best<T>(i: number, k: number, make: (clusterId: number, head: number, value: number) => T): T[] {
    const h = this.numHeads;
    const s = this.#engine.scores;
    const idx = topIndices(s, i * h, h, k, this.#ids, this.#engine.blockMax(i));
    const out: T[] = new Array(idx.length);
    for (let n = 0; n < idx.length; n++) {
      const head = idx[n] as number;
      out[n] = make(this.#ids[head] as number, head, s[i * h + head] as number);
    }
    return out;
  }
}

function matrixDims(m: MatrixInput, heads: number, name: string, dimensions?: number): number {
  let d: number;
  if (m instanceof Float32Array || m instanceof Float64Array) {
    if (m.length % heads !== 0 || m.length === 0) {
      throw new SearchError(
        "DIMENSION_MISMATCH",
        `${name} holds ${m.length} values, which is not ${heads} heads × d dimensions`,
      );
    }
    d = m.length / heads;
  } else if (Array.isArray(m)) {
    if (m.length !== heads) {
      throw new SearchError(
        "DIMENSION_MISMATCH",
        `${name} has ${m.length} rows but clusterIds lists ${heads} heads`,
      );
    }
    const first = m[0] as ArrayLike<number> | undefined;
    d = first && typeof first.length === "number" ? first.length : 0;
    for (let k = 0; k < heads; k++) {
      const row = m[k] as ArrayLike<number> | undefined;
      if (!row || typeof row.length !== "number") {
        throw new SearchError("BAD_ARGUMENT", `${name}[${k}] is not an array of numbers`);
      }
      if (row.length !== d) {
        throw new SearchError(
          "DIMENSION_MISMATCH",
          `${name}[${k}] has ${row.length} values but ${name}[0] has ${d}`,
        );
      }
    }
  } else {
    throw new SearchError(
      "BAD_ARGUMENT",
      `${name} must be a Float32Array/Float64Array (H×d) or an array of H rows`,
    );
  }
  if (d === 0) throw new SearchError("DIMENSION_MISMATCH", `${name} rows have no values`);
  if (dimensions !== undefined && d !== dimensions) {
    throw new SearchError(
      "DIMENSION_MISMATCH",
      `${name} have ${d} dimensions but dimensions is ${dimensions}`,
    );
  }
  return d;
}

/** Refuses an adapter that is not d×d (flat d·d values, or d rows of d values). */
function checkAdapterShape(m: MatrixInput, d: number): void {
  if (m instanceof Float32Array || m instanceof Float64Array) {
    if (m.length !== d * d) {
      throw new SearchError(
        "DIMENSION_MISMATCH",
        `adapter holds ${m.length} values but W must be d × d = ${d * d} (d = ${d}, the heads' dimensions)`,
      );
    }
    return;
  }
  if (!Array.isArray(m)) {
    throw new SearchError(
      "BAD_ARGUMENT",
      "adapter must be a Float32Array/Float64Array (d×d, row-major) or an array of d rows",
    );
  }
  if (m.length !== d) {
    throw new SearchError(
      "DIMENSION_MISMATCH",
      `adapter has ${m.length} rows but W must be d × d with d = ${d}, the heads' dimensions`,
    );
  }
  for (let i = 0; i < d; i++) {
    const row = m[i] as ArrayLike<number> | undefined;
    if (!row || typeof row !== "object" || typeof row.length !== "number") {
      throw new SearchError("BAD_ARGUMENT", `adapter[${i}] is not an array of numbers`);
    }
    if (row.length !== d) {
      throw new SearchError(
        "DIMENSION_MISMATCH",
        `adapter[${i}] has ${row.length} values but W must be d × d with d = ${d}`,
      );
    }
  }
}

/**
 * Copies W, d×d, as given (rounded to float32); refuses NaN and infinities, naming the entry.
 * @internal
 */
export function fillAdapter(target: Float32Array, m: MatrixInput, d: number, name: string): void {
  const flat = !Array.isArray(m);
  for (let i = 0; i < d; i++) {
    const row = flat ? (m as Float32Array) : (m[i] as ArrayLike<number>);
    const from = flat ? i * d : 0;
    for (let j = 0; j < d; j++) {
      const v = row[from + j] as number;
      const f = Math.fround(v);
      if (typeof v !== "number" || !Number.isFinite(f)) {
        const beyond =
          typeof v === "number" && Number.isFinite(v) ? " (beyond float32's range)" : "";
        throw new SearchError(
          "NOT_FINITE",
          `${name}: W[${i}, ${j}] is ${String(v)}${beyond}; the adapter must be finite`,
        );
      }
      target[i * d + j] = f;
    }
  }
}

function fillMatrix(
  target: Float32Array,
  m: MatrixInput,
  heads: number,
  d: number,
  name: string,
  clusterIds: number[],
): void {
  const flat = !Array.isArray(m);
  for (let k = 0; k < heads; k++) {
    const src = flat ? (m as Float32Array) : (m[k] as ArrayLike<number>);
    writeNormalized(
      target,
      k * d,
      src,
      flat ? k * d : 0,
      d,
      () => `${name}[${k}] (cluster ${clusterIds[k]})`,
    );
  }
}
