/**
 * Loading a projection from files alone (docs/FORMAT.md §2, §4): `<dir>/mh_<id>.json` plus
 * `<dir>/mh_<id>_cluster_<cid>_centroid.npy` and `..._answer.npy` for every listed cluster id,
 * and `<dir>/mh_<id>_W.npy` when the metadata names an adapter. The names and the metadata's
 * rules are `@ldakit/format`'s.
 */
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import {
  adapterFileName,
  FormatError,
  headFileName,
  type ProjectionMeta,
  parseEmbeddingFileName,
  projectionMetaFileName,
  validateProjectionMeta,
} from "@ldakit/format";
import { decodeNpy, encodeNpy, type NpyArray, NpyError, readNpySync, toCOrder } from "@ldakit/npy";
import { SearchError } from "./errors.js";
import { createEngine, type Engine, type KernelChoice, type ThreadsChoice } from "./kernel.js";
import {
  checkBlend,
  checkProjectionFields,
  fillAdapter,
  Projection,
  writeNormalized,
} from "./projection.js";

export interface LoadProjectionOptions {
  /** The model folder `…/embeddings/<model folder>/` that holds the projection's files. */
  dir: string;
  /** The projection id: the `<id>` of `mh_<id>.json`. */
  mhProjectionId: number;
  /**
   * Head files of this projection whose cluster `mh_<id>.json` does not list are reported in
   * `projection.warnings` and ignored; with `strict: true` they fail the load (EXTRA_HEAD_FILE).
   */
  strict?: boolean;
  /** The compute kernel (default `auto`). */
  kernel?: KernelChoice;
  /** Threads one large call may use (default `auto`). */
  threads?: ThreadsChoice;
}

/** Head files are read this many at a time between turns of the event loop (async loading). */
const FILES_PER_TURN = 256;

function checkOptions(options: LoadProjectionOptions): void {
  if (!options || typeof options.dir !== "string" || options.dir.length === 0) {
    throw new SearchError(
      "BAD_ARGUMENT",
      "loadProjection needs { dir, mhProjectionId }: dir must be a folder path",
    );
  }
  const { mhProjectionId } = options;
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
}

function parseMeta(text: string, path: string, mhProjectionId: number): ProjectionMeta {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SearchError("BAD_META", `${path}: not valid JSON (${(error as Error).message})`, {
      cause: error,
    });
  }
  let meta: ProjectionMeta;
  try {
    meta = validateProjectionMeta(json, path);
  } catch (error) {
    // search's callers switch on SearchError codes; the FormatError (with every problem in
    // `problems`) stays reachable as the cause
    if (error instanceof FormatError) {
      throw new SearchError("BAD_META", error.message, { cause: error });
    }
    throw error;
  }
  if (meta.mh_projection_id !== mhProjectionId) {
    throw new SearchError(
      "BAD_META",
      `${path}: "mh_projection_id" is ${meta.mh_projection_id} but the file name says ${mhProjectionId}`,
    );
  }
  if (meta.num_heads === 0) {
    throw new SearchError("BAD_META", `${path}: the projection has no heads ("num_heads" is 0)`);
  }
  return meta;
}

function metaNotFound(path: string, error: unknown): SearchError {
  return new SearchError(
    "NOT_FOUND",
    `${path}: projection metadata not found (${(error as Error).message})`,
    { cause: error },
  );
}

function isMissing(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/** Head files in `dir` of the projection whose cluster the metadata does not list. */
function extraHeadFiles(dir: string, names: string[], meta: ProjectionMeta): string[] {
  const listed = new Set(meta.cluster_ids);
  const extra: string[] = [];
  for (const name of names) {
    const parsed = parseEmbeddingFileName(name);
    if (
      (parsed?.kind === "head-centroid" || parsed?.kind === "head-answer") &&
      parsed.mhProjectionId === meta.mh_projection_id &&
      !listed.has(parsed.clusterId)
    ) {
      extra.push(join(dir, name));
    }
  }
  return extra.sort();
}

/** The adapter file of the projection when its metadata names none (an edition-1 reader's view). */
function unnamedAdapter(dir: string, names: string[], meta: ProjectionMeta): string | null {
  if (meta.adapter !== undefined && meta.adapter !== null) return null;
  const name = adapterFileName(meta.mh_projection_id);
  return names.includes(name) ? join(dir, name) : null;
}

function extraWarnings(
  extra: string[],
  adapter: string | null,
  metaPath: string,
  strict: boolean,
): string[] {
  if (adapter !== null) {
    const message = `${adapter} is an adapter file but ${metaPath} names no adapter`;
    if (strict) throw new SearchError("EXTRA_HEAD_FILE", message);
    return [`${message}; ignored`, ...extraWarnings(extra, null, metaPath, strict)];
  }
  if (extra.length === 0) return [];
  const shown =
    extra.slice(0, 5).join(", ") + (extra.length > 5 ? `, … (${extra.length} in all)` : "");
  const message = `${extra.length} head file(s) belong to no cluster that ${metaPath} lists: ${shown}`;
  if (strict) throw new SearchError("EXTRA_HEAD_FILE", message);
  return [`${message}; ignored`];
}

const HEAD_READ_FLAGS =
  fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0) | (fs.constants.O_NOCTTY ?? 0);

/**
 * A projection's `mh_<id>.json` as text. Opened non-blocking and checked to be a regular file, so
 * a FIFO in its place is refused rather than waited on; the file is small, so reading it
 * synchronously costs the asynchronous loader nothing.
 */
function readRegularText(path: string): string {
  const fd = fs.openSync(path, HEAD_READ_FLAGS);
  try {
    if (!fs.fstatSync(fd).isFile()) {
      throw new SearchError("BAD_META", `${path}: not a regular file`);
    }
    return fs.readFileSync(fd, "utf8");
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads head files with one reused buffer. A file whose header is byte for byte what `np.save`
 * writes for a `<f4` or `<f8` vector of d values (nearly every head file) is used in place;
 * anything else goes through the full NPY decoder of `@ldakit/npy`.
 */
class HeadReader {
  readonly #d: number;
  readonly #buffer: Uint8Array;
  readonly #canonical: Array<{ header: Uint8Array; size: number; f64: boolean }>;

  constructor(d: number) {
    this.#d = d;
    this.#canonical = [false, true].map((f64) => {
      const data = f64 ? new Float64Array(d) : new Float32Array(d);
      const bytes = encodeNpy({ data });
      const header = bytes.subarray(0, bytes.length - data.byteLength);
      return { header, size: bytes.length, f64 };
    });
    // big enough for either canonical file plus one byte, to see that a file is longer
    this.#buffer = new Uint8Array(Math.max(...this.#canonical.map((c) => c.size)) + 1);
  }

  read(path: string): NpyArray {
    // Non-blocking, so a FIFO in place of a head file cannot hang the open; @ldakit/npy then
    // refuses anything but a regular file (NOT_A_FILE), naming the path.
    const fd = fs.openSync(path, HEAD_READ_FLAGS);
    let n = 0;
    try {
      if (!fs.fstatSync(fd).isFile()) return readNpySync(path);
      for (;;) {
        const got = fs.readSync(fd, this.#buffer, n, this.#buffer.length - n, n);
        if (got === 0) break;
        n += got;
        if (n === this.#buffer.length) break;
      }
    } finally {
      fs.closeSync(fd);
    }
    if (n === this.#buffer.length) return readNpySync(path); // longer than any head file
    const bytes = this.#buffer.subarray(0, n);
    for (const c of this.#canonical) {
      if (n === c.size && startsWith(bytes, c.header)) {
        const offset = c.header.length; // a multiple of 64
        const data = c.f64
          ? new Float64Array(bytes.buffer, bytes.byteOffset + offset, this.#d)
          : new Float32Array(bytes.buffer, bytes.byteOffset + offset, this.#d);
        return { dtype: c.f64 ? "<f8" : "<f4", shape: [this.#d], fortranOrder: false, data };
      }
    }
    try {
      return decodeNpy(bytes);
    } catch (error) {
      if (error instanceof NpyError) {
        throw new NpyError(error.code, `${path}: ${error.message}`, { cause: error });
      }
      throw error;
    }
  }
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/** Reads one head vector into row `k` of `target`, normalized. */
function readHead(reader: HeadReader, path: string, target: Float32Array, k: number, d: number) {
  let array: NpyArray;
  try {
    array = reader.read(path);
  } catch (error) {
    if (isMissing(error)) {
      throw new SearchError("HEAD_FILE_MISSING", `${path}: head file not found`, { cause: error });
    }
    if (error instanceof NpyError) {
      throw new SearchError("BAD_HEAD_FILE", error.message, { cause: error });
    }
    throw new SearchError("BAD_HEAD_FILE", `${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const { data, shape } = array;
  if (!(data instanceof Float32Array || data instanceof Float64Array)) {
    throw new SearchError(
      "BAD_HEAD_FILE",
      `${path}: dtype ${array.dtype} is not a float32 or float64 ('<f4', '<f8', '>f4', '>f8')`,
    );
  }
  if (shape.length !== 1) {
    throw new SearchError(
      "BAD_HEAD_FILE",
      `${path}: shape (${shape.join(", ")}${shape.length === 1 ? "," : ""}) is not a vector (${d},)`,
    );
  }
  if (shape[0] !== d) {
    throw new SearchError(
      "DIMENSION_MISMATCH",
      `${path}: shape (${shape[0]},) but the projection has ${d} dimensions`,
    );
  }
  writeNormalized(target, k * d, data, 0, d, () => path);
}

function readHeads(
  reader: HeadReader,
  dir: string,
  meta: ProjectionMeta,
  engine: Engine,
  from: number,
  to: number,
) {
  const d = meta.dimensions;
  const mh = meta.mh_projection_id;
  for (let k = from; k < to; k++) {
    const cid = meta.cluster_ids[k] as number;
    readHead(reader, join(dir, headFileName(mh, cid, "centroid")), engine.centroids, k, d);
    readHead(reader, join(dir, headFileName(mh, cid, "answer")), engine.answers, k, d);
  }
}

/**
 * Reads W from the adapter file into the engine: float32 or float64, either byte order, shape
 * (d, d); a Fortran-order file is read as NumPy reads it (the same matrix, bytes by column).
 */
function readAdapter(dir: string, meta: ProjectionMeta, engine: Engine): void {
  if (engine.adapter === null) return;
  const d = meta.dimensions;
  const path = join(dir, adapterFileName(meta.mh_projection_id));
  let array: NpyArray;
  try {
    array = readNpySync(path);
  } catch (error) {
    if (isMissing(error)) {
      throw new SearchError(
        "ADAPTER_FILE_MISSING",
        `${path}: adapter file not found (mh_${meta.mh_projection_id}.json names it)`,
        { cause: error },
      );
    }
    const message = (error as Error).message;
    throw new SearchError(
      "BAD_ADAPTER_FILE",
      message.startsWith(path) ? message : `${path}: ${message}`,
      { cause: error },
    );
  }
  const { shape } = array;
  if (!(array.data instanceof Float32Array || array.data instanceof Float64Array)) {
    throw new SearchError(
      "BAD_ADAPTER_FILE",
      `${path}: dtype ${array.dtype} is not a float32 or float64 ('<f4', '<f8', '>f4', '>f8')`,
    );
  }
  if (shape.length !== 2) {
    throw new SearchError(
      "BAD_ADAPTER_FILE",
      `${path}: shape (${shape.join(", ")}${shape.length === 1 ? "," : ""}) is not a matrix (${d}, ${d})`,
    );
  }
  if (shape[0] !== d || shape[1] !== d) {
    throw new SearchError(
      "DIMENSION_MISMATCH",
      `${path}: shape (${shape.join(", ")}) but the adapter of a projection with ${d} dimensions is (${d}, ${d})`,
    );
  }
  const data = toCOrder(array).data as Float32Array | Float64Array;
  fillAdapter(engine.adapter, data, d, path);
}

function newProjection(meta: ProjectionMeta, engine: Engine, warnings: string[]): Projection {
  return Projection.fromParts({
    mhProjectionId: meta.mh_projection_id,
    model: meta.model,
    temperature: meta.temperature,
    clusterIds: meta.cluster_ids,
    engine,
    blend: meta.blend,
    warnings,
  });
}

function prepare(options: LoadProjectionOptions, text: string, names: string[], metaPath: string) {
  const meta = parseMeta(text, metaPath, options.mhProjectionId);
  checkProjectionFields({
    mhProjectionId: meta.mh_projection_id,
    model: meta.model,
    temperature: meta.temperature,
    clusterIds: meta.cluster_ids,
  });
  checkBlend(meta.blend);
  const warnings = extraWarnings(
    extraHeadFiles(options.dir, names, meta),
    unnamedAdapter(options.dir, names, meta),
    metaPath,
    !!options.strict,
  );
  const engine = createEngine(meta.num_heads, meta.dimensions, options.kernel ?? "auto", {
    threads: options.threads,
    adapter: meta.adapter !== undefined && meta.adapter !== null,
  });
  return { meta, warnings, engine };
}

/**
 * Loads projection `mhProjectionId` from the model folder `dir`: reads `mh_<id>.json`, then the centroid
 * and answer `.npy` files of every cluster it lists (float32 or float64, either byte order, shape
 * `(d,)`), normalized into contiguous float32 matrices in head order, and, for an edition-2
 * projection with an adapter, `mh_<id>_W.npy` (float32 or float64, either byte order, shape
 * `(d, d)`, finite; kept as it is, not normalized). β is the metadata's `blend` (absent: 1).
 *
 * Files are read in slices of a few hundred between turns of the event loop: for thousands of
 * small files that is much faster than a thread-pool round trip per file.
 */
export async function loadProjection(options: LoadProjectionOptions): Promise<Projection> {
  checkOptions(options);
  const metaPath = join(options.dir, projectionMetaFileName(options.mhProjectionId));
  let text: string;
  try {
    text = readRegularText(metaPath);
  } catch (error) {
    if (isMissing(error)) throw metaNotFound(metaPath, error);
    if (error instanceof SearchError) throw error;
    throw new SearchError("BAD_META", `${metaPath}: ${(error as Error).message}`, { cause: error });
  }
  const names = await fsp.readdir(options.dir);
  const { meta, warnings, engine } = prepare(options, text, names, metaPath);
  const reader = new HeadReader(meta.dimensions);
  for (let k = 0; k < meta.num_heads; k += FILES_PER_TURN) {
    if (k > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    readHeads(reader, options.dir, meta, engine, k, Math.min(meta.num_heads, k + FILES_PER_TURN));
  }
  readAdapter(options.dir, meta, engine);
  return newProjection(meta, engine, warnings);
}

/** Synchronous {@link loadProjection}. */
export function loadProjectionSync(options: LoadProjectionOptions): Projection {
  checkOptions(options);
  const metaPath = join(options.dir, projectionMetaFileName(options.mhProjectionId));
  let text: string;
  try {
    text = readRegularText(metaPath);
  } catch (error) {
    if (isMissing(error)) throw metaNotFound(metaPath, error);
    if (error instanceof SearchError) throw error;
    throw new SearchError("BAD_META", `${metaPath}: ${(error as Error).message}`, { cause: error });
  }
  const names = fs.readdirSync(options.dir);
  const { meta, warnings, engine } = prepare(options, text, names, metaPath);
  readHeads(new HeadReader(meta.dimensions), options.dir, meta, engine, 0, meta.num_heads);
  readAdapter(options.dir, meta, engine);
  return newProjection(meta, engine, warnings);
}

/**
 * The projection ids in a model folder: every `mh_<id>.json` (plain decimal id), ascending, with
 * or without an adapter. Head and adapter files without their `mh_<id>.json` do not make a
 * loadable projection and are not listed.
 */
export function discoverProjections(dir: string): number[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (error) {
    if (isMissing(error)) {
      throw new SearchError("NOT_FOUND", `${dir}: folder not found`, { cause: error });
    }
    throw error;
  }
  const ids: number[] = [];
  for (const name of names) {
    const parsed = parseEmbeddingFileName(name);
    if (parsed?.kind === "projection-meta") ids.push(parsed.mhProjectionId);
  }
  return ids.sort((a, b) => a - b);
}
