// The TypeScript conformance checks: every case of fixtures/manifest.json through the public
// APIs of @ldakit/npy and @ldakit/search (their built dist, as a user imports them). Shared by
// the vitest suite (conformance.test.ts) and the plain-Node runner (run.mjs), so both give the
// same verdicts. Plain ESM with JSDoc types (type-checked with checkJs).
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { FormatError, modelFolderName } from "@ldakit/format";
import {
  decodeNpy,
  encodeNpy,
  NpyError,
  readNpy,
  readNpyHeaderSync,
  readNpySync,
  toCOrder,
} from "@ldakit/npy";
import { discoverProjections, loadProjection, loadProjectionSync } from "@ldakit/search";

/** @typedef {import("@ldakit/npy").NpyArray} NpyArray */
/** @typedef {import("@ldakit/search").Projection} Projection */

/**
 * @typedef {object} Manifest
 * @property {string} format
 * @property {string} numpy
 * @property {number} default_max_header_size
 * @property {number} tolerance
 * @property {Case[]} cases
 */

/**
 * @typedef {object} Case
 * @property {string} name
 * @property {"npy-valid" | "npy-invalid" | "heads" | "heads-invalid" | "model-name"} kind
 * @property {string} [path]
 * @property {string} [descr]
 * @property {number[]} [shape]
 * @property {boolean} [fortran_order]
 * @property {[number, number]} [version]
 * @property {number} [header_length]
 * @property {number} [data_offset]
 * @property {number} [count]
 * @property {string} [file_sha256]
 * @property {string} [data_sha256]
 * @property {string} [float64_sha256]
 * @property {boolean} [np_save_identical]
 * @property {number} [max_header_size]
 * @property {string} [code]
 * @property {string} [root]
 * @property {number} [mh_id]
 * @property {string} [model]
 * @property {string} [model_folder]
 * @property {number} [dimensions]
 * @property {number} [temperature]
 * @property {number} [num_heads]
 * @property {string} [centroid_descr]
 * @property {string} [answer_descr]
 * @property {number} [queries_count]
 * @property {number} [k]
 * @property {number} [tolerance]
 * @property {Array<{ mh_id: number; model: string; model_folder: string }>} [discover]
 * @property {Record<string, string>} [files]
 * @property {string} [format] heads with an adapter or a blend: "ldakit.mh/2"
 * @property {string | null} [adapter_descr] the W file's dtype, or null for no adapter
 * @property {number} [blend] β (absent: 1)
 * @property {string} [why] heads-invalid: what is wrong with the tree
 * @property {boolean} [error] model-name cases: the name must be refused
 */

/** The repository's fixtures folder. */
export const FIXTURES = resolve(import.meta.dirname, "..", "..", "fixtures");
/** This runner's list of expected failures. */
export const EXPECTED_FAILURES = join(import.meta.dirname, "expected-failures.txt");

/**
 * The manifest, with its model-name table folded into `cases` as `model-name` cases, so that they
 * are printed, counted and listed in expected failures like every other case.
 * @param {string} [fixtures]
 * @returns {Manifest}
 */
export function readManifest(fixtures = FIXTURES) {
  const path = join(fixtures, "manifest.json");
  const manifest = JSON.parse(readFileSync(path, "utf8"));
  if (!Array.isArray(manifest.model_names)) {
    throw new Error(`${path}: no model_names table (regenerate with python3 fixtures/generate.py)`);
  }
  for (const entry of manifest.model_names) {
    manifest.cases.push({
      name: entry.case,
      kind: "model-name",
      model: entry.name,
      model_folder: entry.folder,
      error: entry.error === true,
    });
  }
  return manifest;
}

/**
 * `<case name> <reason>` a line; `#` starts a comment (the format of the other runners' lists).
 * @param {string} [path]
 * @returns {Map<string, string>}
 */
export function readExpectedFailures(path = EXPECTED_FAILURES) {
  /** @type {Map<string, string>} */
  const out = new Map();
  if (!existsSync(path)) return out;
  for (const raw of readFileSync(path, "utf8").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const space = line.search(/\s/);
    if (space < 0) out.set(line, "");
    else out.set(line.slice(0, space), line.slice(space).trim());
  }
  return out;
}

/** A case's failure, with the reason a runner prints. */
export class CaseFailure extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "CaseFailure";
  }
}

/** @param {boolean} condition @param {string} message @returns {asserts condition} */
function check(condition, message) {
  if (!condition) throw new CaseFailure(message);
}

/** @param {Uint8Array} bytes */
function sha256(bytes) {
  return createHash("sha256").update(bytes).digest("hex");
}

/** @param {ArrayBufferView} view */
function bytesOf(view) {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** @param {string} fixtures @param {Case} c */
function readFixture(fixtures, c) {
  const bytes = readFileSync(join(fixtures, /** @type {string} */ (c.path)));
  check(
    sha256(bytes) === c.file_sha256,
    "the fixture file differs from the manifest's file_sha256 (regenerate with python3 fixtures/generate.py)",
  );
  return bytes;
}

/** The dtype a reader holds in memory for a descr as written: native (little-endian) order. */
/** @param {string} descr */
function inMemoryDescr(descr) {
  return descr.startsWith(">") ? `<${descr.slice(1)}` : descr;
}

/** IEEE half-precision bits to a number. @param {number} h */
function halfToNumber(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/**
 * The elements as little-endian float64 bytes, every NaN written as 0x7ff8000000000000 (the
 * manifest's float64_sha256).
 * @param {NpyArray} array C order
 */
function float64Bytes(array) {
  const { data, dtype } = array;
  const out = new Float64Array(data.length);
  const bits = new BigUint64Array(out.buffer);
  for (let i = 0; i < data.length; i++) {
    const v = /** @type {number | bigint} */ (data[i]);
    const x = dtype.endsWith("f2") ? halfToNumber(Number(v)) : Number(v);
    if (Number.isNaN(x)) bits[i] = 0x7ff8000000000000n;
    else out[i] = x;
  }
  return bytesOf(out);
}

/** @param {unknown} a @param {unknown} b */
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/**
 * @param {NpyArray} array
 * @param {Case} c
 * @param {string} how
 * @param {string[]} problems
 */
function compareArray(array, c, how, problems) {
  const want = inMemoryDescr(/** @type {string} */ (c.descr));
  if (array.dtype !== want) problems.push(`${how}: dtype ${array.dtype}, expected ${want}`);
  if (!same(array.shape, c.shape))
    problems.push(
      `${how}: shape ${JSON.stringify(array.shape)}, expected ${JSON.stringify(c.shape)}`,
    );
  if (array.fortranOrder !== c.fortran_order)
    problems.push(`${how}: fortranOrder ${array.fortranOrder}, expected ${c.fortran_order}`);
  if (array.data.length !== c.count)
    problems.push(`${how}: ${array.data.length} elements, expected ${c.count}`);
  const cOrder = toCOrder(array);
  if (sha256(bytesOf(cOrder.data)) !== c.data_sha256)
    problems.push(`${how}: data bytes (C order, little-endian) differ`);
  if (sha256(float64Bytes(cOrder)) !== c.float64_sha256)
    problems.push(`${how}: values as float64 differ`);
}

/** @param {string} fixtures @param {Manifest} manifest @param {Case} c */
async function runValid(fixtures, manifest, c) {
  const bytes = readFixture(fixtures, c);
  const path = join(fixtures, /** @type {string} */ (c.path));
  const maxHeaderSize = c.max_header_size ?? manifest.default_max_header_size;
  /** @type {string[]} */
  const problems = [];
  const header = readNpyHeaderSync(path, { maxHeaderSize });
  if (header.dtype !== c.descr) problems.push(`header: dtype ${header.dtype}, expected ${c.descr}`);
  if (!same(header.version, c.version))
    problems.push(
      `header: version ${JSON.stringify(header.version)}, expected ${JSON.stringify(c.version)}`,
    );
  if (!same(header.shape, c.shape)) problems.push(`header: shape ${JSON.stringify(header.shape)}`);
  if (header.fortranOrder !== c.fortran_order)
    problems.push(`header: fortranOrder ${header.fortranOrder}`);
  if (header.headerLength !== c.header_length)
    problems.push(`header: headerLength ${header.headerLength}, expected ${c.header_length}`);
  if (header.dataOffset !== c.data_offset)
    problems.push(`header: dataOffset ${header.dataOffset}, expected ${c.data_offset}`);

  // A plain Uint8Array copy, aligned and at an odd offset, and the Node Buffer itself (what
  // fs.readFileSync gives): each decodes to the same array and is left as it was.
  const plain = new Uint8Array(bytes);
  const decoded = decodeNpy(plain, { maxHeaderSize });
  compareArray(decoded, c, "decodeNpy", problems);
  const shifted = new Uint8Array(plain.length + 1);
  shifted.set(plain, 1);
  compareArray(
    decodeNpy(shifted.subarray(1), { maxHeaderSize }),
    c,
    "decodeNpy (unaligned)",
    problems,
  );
  if (!bytes.equals(shifted.subarray(1))) problems.push("decodeNpy (unaligned) modified its input");
  compareArray(decodeNpy(bytes, { maxHeaderSize }), c, "decodeNpy(Buffer)", problems);
  if (!bytes.equals(plain)) {
    problems.push("decodeNpy modified the bytes of the Buffer it was given");
    bytes.set(plain); // compare what follows with the file's bytes
  }
  compareArray(await readNpy(path, { maxHeaderSize }), c, "readNpy", problems);
  compareArray(readNpySync(path, { maxHeaderSize }), c, "readNpySync", problems);
  if (maxHeaderSize > manifest.default_max_header_size) {
    // The default limit must refuse a header that needs a raised one.
    try {
      decodeNpy(bytes);
      problems.push("decodeNpy with the default maxHeaderSize accepted a header over the limit");
    } catch (error) {
      if (!(error instanceof NpyError) || error.code !== "HEADER_TOO_LARGE")
        problems.push(`default maxHeaderSize: ${describeError(error)}, expected HEADER_TOO_LARGE`);
    }
  }

  if (c.np_save_identical) {
    // write-exact: encodeNpy of what was read, in the file's dtype and order, is np.save's bytes.
    const written = encodeNpy({
      data: decoded.data,
      shape: decoded.shape,
      dtype: /** @type {string} */ (c.descr),
      fortranOrder: decoded.fortranOrder,
    });
    if (!Buffer.from(bytes).equals(Buffer.from(written))) {
      let at = 0;
      while (at < Math.min(bytes.length, written.length) && bytes[at] === written[at]) at++;
      problems.push(
        `write-exact: encodeNpy wrote ${written.length} bytes, np.save ${bytes.length}; first difference at byte ${at}`,
      );
    }
  }
  check(problems.length === 0, problems.join("; "));
}

/** @param {unknown} error */
function describeError(error) {
  if (error instanceof NpyError) return `NpyError ${error.code} (${error.message})`;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** @param {string} fixtures @param {Manifest} _manifest @param {Case} c */
async function runInvalid(fixtures, _manifest, c) {
  const bytes = readFixture(fixtures, c);
  const path = join(fixtures, /** @type {string} */ (c.path));
  const options = c.max_header_size === undefined ? {} : { maxHeaderSize: c.max_header_size };
  /** @type {Array<[string, () => unknown]>} */
  const readers = [
    ["decodeNpy", () => decodeNpy(bytes, options)],
    ["readNpy", () => readNpy(path, options)],
    ["readNpySync", () => readNpySync(path, options)],
  ];
  /** @type {string[]} */
  const problems = [];
  for (const [how, read] of readers) {
    try {
      const array = /** @type {NpyArray} */ (await read());
      problems.push(
        `${how} accepted it as ${array.dtype} ${JSON.stringify(array.shape)}, expected NpyError ${c.code}`,
      );
    } catch (error) {
      if (!(error instanceof NpyError) || error.code !== c.code)
        problems.push(`${how}: ${describeError(error)}, expected NpyError ${c.code}`);
    }
  }
  check(problems.length === 0, problems.join("; "));
}

/**
 * An expected-output file as float64 values (ids too: they are small integers), C order.
 * @param {string} path
 * @returns {{ rows: number; cols: number; values: Float64Array }}
 */
function readMatrix(path) {
  const array = toCOrder(readNpySync(path));
  check(array.shape.length === 2, `${path}: shape ${JSON.stringify(array.shape)}, expected 2-d`);
  const [rows = 0, cols = 0] = array.shape;
  const values = new Float64Array(array.data.length);
  for (let i = 0; i < values.length; i++) values[i] = Number(array.data[i]);
  return { rows, cols, values };
}

/**
 * The largest |got − expected| when it is over `tol` (NaN counts as infinite), else 0.
 * @param {ArrayLike<number>} got
 * @param {Float64Array} expected
 * @param {number} tol
 */
function maxDiff(got, expected, tol) {
  let worst = 0;
  for (let i = 0; i < Math.max(got.length, expected.length); i++) {
    const diff = Math.abs(Number(got[i]) - Number(expected[i]));
    if (!(diff <= worst)) worst = Number.isNaN(diff) ? Number.POSITIVE_INFINITY : diff;
  }
  return worst > tol ? worst : 0;
}

/** @param {string} fixtures @param {Manifest} _manifest @param {Case} c */
async function runHeads(fixtures, _manifest, c) {
  const root = join(fixtures, /** @type {string} */ (c.root));
  const tol = /** @type {number} */ (c.tolerance);
  const k = /** @type {number} */ (c.k);
  const mhId = /** @type {number} */ (c.mh_id);

  // Discovery by the file convention alone: every model folder's mh_<id>.json.
  /** @type {Array<[number, string]>} */
  const found = [];
  for (const folder of readdirSync(join(root, "embeddings")).sort()) {
    const dir = join(root, "embeddings", folder);
    for (const id of discoverProjections(dir)) {
      const meta = JSON.parse(readFileSync(join(dir, `mh_${id}.json`), "utf8"));
      check(
        meta.model.replaceAll("/", "__") === folder,
        `mh_${id}.json: model ${meta.model} in folder ${folder}`,
      );
      found.push([id, meta.model]);
    }
  }
  const key = (/** @type {[number, string]} */ [id, model]) => `${id} ${model}`;
  const got = found.map(key).sort();
  const want = (c.discover ?? []).map((d) => key([d.mh_id, d.model])).sort();
  check(same(got, want), `discover found [${got.join(", ")}], expected [${want.join(", ")}]`);

  const dir = join(root, "embeddings", /** @type {string} */ (c.model_folder));
  const projection = await loadProjection({ dir, mhProjectionId: mhId });
  const meta = JSON.parse(readFileSync(join(dir, `mh_${mhId}.json`), "utf8"));
  /** @type {string[]} */
  const problems = [];
  const fields = /** @type {const} */ ([
    ["model", projection.model, c.model],
    ["dimensions", projection.dimensions, c.dimensions],
    ["temperature", projection.temperature, c.temperature],
    ["numHeads", projection.numHeads, c.num_heads],
    ["clusterIds", [...projection.clusterIds], meta.cluster_ids],
  ]);
  for (const [name, value, expected] of fields) {
    if (!same(value, expected))
      problems.push(
        `projection.${name} is ${JSON.stringify(value)}, expected ${JSON.stringify(expected)}`,
      );
  }
  if (c.format !== undefined) {
    // edition-2 fields (docs/FORMAT.md §4); read through a cast so that this file type-checks
    // against a search package of either edition
    const v2 = /** @type {{ adapter?: Float32Array | null; blend?: number }} */ (
      /** @type {unknown} */ (projection)
    );
    const d = /** @type {number} */ (c.dimensions);
    const wantAdapter = c.adapter_descr !== null && c.adapter_descr !== undefined;
    if (!(v2.adapter instanceof Float32Array) && wantAdapter)
      problems.push(`projection.adapter is ${String(v2.adapter)}, expected a ${d}×${d} matrix`);
    else if (v2.adapter instanceof Float32Array && v2.adapter.length !== d * d)
      problems.push(`projection.adapter has ${v2.adapter.length} elements, expected ${d * d}`);
    else if (!wantAdapter && v2.adapter !== null)
      problems.push(`projection.adapter is ${String(v2.adapter)}, expected null`);
    if (v2.blend !== (c.blend ?? 1))
      problems.push(`projection.blend is ${v2.blend}, expected ${c.blend ?? 1}`);
  }
  if (projection.warnings.length > 0) problems.push(`warnings: ${projection.warnings.join("; ")}`);
  const strict = loadProjectionSync({ dir, mhProjectionId: mhId, strict: true });
  if (!same([...strict.clusterIds], meta.cluster_ids))
    problems.push("loadProjectionSync gives other cluster ids");
  check(problems.length === 0, problems.join("; "));

  const files = /** @type {Record<string, string>} */ (c.files);
  /** @param {string} name */
  const load = (name) => readMatrix(join(fixtures, /** @type {string} */ (files[name])));
  const queries = load("queries");
  const n = queries.rows;
  const d = queries.cols;
  check(n === c.queries_count && d === c.dimensions, `queries.npy has shape (${n}, ${d})`);
  const weights = load("weights");
  const projectedExp = load("projected");
  const H = projection.numHeads;
  const ids = projection.clusterIds;
  const rankings = [
    { name: "top", ids: load("top_ids"), scores: load("top_scores") },
    { name: "direct", ids: load("direct_ids"), scores: load("direct_scores") },
  ];
  /** @param {{ values: Float64Array }} m @param {number} i @param {number} width */
  const row = (m, i, width) => m.values.subarray(i * width, (i + 1) * width);

  /** @type {Float32Array[]} */
  const rows = [];
  for (let i = 0; i < n; i++) {
    const q = Float32Array.from(row(queries, i, d));
    rows.push(q);
    const wantWeights = row(weights, i, H);
    const projected = projection.project(q);
    const dw = maxDiff(projected.weights, wantWeights, tol);
    if (dw) problems.push(`weights of query ${i} differ by ${dw.toPrecision(3)}`);
    const dp = maxDiff(projected.projected, row(projectedExp, i, d), tol);
    if (dp) problems.push(`projection of query ${i} differs by ${dp.toPrecision(3)}`);

    const searched = projection.search(q, { topK: k });
    const direct = projection.directSearch(q, { topK: k });
    for (const [ranking, hits] of /** @type {const} */ ([
      [rankings[0], searched.results],
      [rankings[1], direct.results],
    ])) {
      if (!ranking) continue;
      const gotIds = hits.map((h) => h.clusterId);
      const wantIds = Array.from(row(ranking.ids, i, k));
      if (!same(gotIds, wantIds))
        problems.push(`${ranking.name} ids of query ${i}: [${gotIds}], expected [${wantIds}]`);
      const ds = maxDiff(
        hits.map((h) => h.score),
        row(ranking.scores, i, k),
        tol,
      );
      if (ds) problems.push(`${ranking.name} scores of query ${i} differ by ${ds.toPrecision(3)}`);
      for (const h of hits) {
        if (ids[h.headIndex] !== h.clusterId)
          problems.push(`${ranking.name} hit of cluster ${h.clusterId} names head ${h.headIndex}`);
      }
    }
    // The routing weights search reports are the strongest heads, strongest first.
    const strongest = Math.max(...wantWeights);
    let previous = Number.POSITIVE_INFINITY;
    for (const r of searched.routing) {
      const w = Number(wantWeights[r.headIndex]);
      if (
        ids[r.headIndex] !== r.clusterId ||
        !(Math.abs(r.weight - w) <= tol) ||
        r.weight > previous
      )
        problems.push(`routing of query ${i}: ${JSON.stringify(r)} (expected weight ${w})`);
      previous = r.weight;
    }
    const first = searched.routing[0];
    if (!first || Math.abs(first.weight - strongest) > tol)
      problems.push(`routing of query ${i} does not start with the strongest head`);
  }
  // Batches return what the queries return one by one.
  const batch = projection.searchBatch(rows, { topK: k });
  const directBatch = projection.directSearchBatch(Float32Array.from(queries.values), { topK: k });
  rows.forEach((q, i) => {
    if (!same(batch[i]?.results, projection.search(q, { topK: k }).results))
      problems.push(`searchBatch differs from search for query ${i}`);
    if (!same(directBatch[i]?.results, projection.directSearch(q, { topK: k }).results))
      problems.push(`directSearchBatch differs from directSearch for query ${i}`);
  });
  check(
    problems.length === 0,
    problems.slice(0, 6).join("; ") +
      (problems.length > 6 ? ` (and ${problems.length - 6} more)` : ""),
  );
}

/**
 * The model-name rule of docs/FORMAT.md §1.3 through @ldakit/format, the one implementation the
 * packages use: a valid name maps to its folder, an invalid one throws INVALID_MODEL_NAME.
 * @param {string} _fixtures
 * @param {Manifest} _manifest
 * @param {Case} c
 */
async function runModelName(_fixtures, _manifest, c) {
  const name = /** @type {string} */ (c.model);
  let folder;
  try {
    folder = modelFolderName(name);
  } catch (error) {
    check(
      error instanceof FormatError && error.code === "INVALID_MODEL_NAME",
      `${JSON.stringify(name)}: threw ${describeError(error)}, not FormatError INVALID_MODEL_NAME`,
    );
    check(c.error === true, `${JSON.stringify(name)} is valid but was refused: ${error.message}`);
    return;
  }
  check(c.error !== true, `${JSON.stringify(name)} must be refused but maps to ${folder}`);
  check(
    folder === c.model_folder,
    `${JSON.stringify(name)} maps to ${folder}, expected ${c.model_folder}`,
  );
}

/**
 * A tree whose projection must be refused: both loaders throw, with a message.
 * @param {string} fixtures @param {Manifest} _manifest @param {Case} c
 */
async function runHeadsInvalid(fixtures, _manifest, c) {
  const root = join(fixtures, /** @type {string} */ (c.root));
  const dir = join(root, "embeddings", /** @type {string} */ (c.model_folder));
  const mhProjectionId = /** @type {number} */ (c.mh_id);
  /** @type {Array<[string, () => Promise<unknown>]>} */
  const loaders = [
    ["loadProjection", () => loadProjection({ dir, mhProjectionId })],
    ["loadProjectionSync", async () => loadProjectionSync({ dir, mhProjectionId, strict: true })],
  ];
  for (const [how, load] of loaders) {
    let loaded = false;
    try {
      await load();
      loaded = true;
    } catch (error) {
      check(
        error instanceof Error && error.message !== "",
        `${how} refused it without a message; say what is wrong and where`,
      );
    }
    check(!loaded, `${how} loaded it; expected it to be refused: ${c.why}`);
  }
}

const RUNNERS = {
  "npy-valid": runValid,
  "npy-invalid": runInvalid,
  heads: runHeads,
  "heads-invalid": runHeadsInvalid,
  "model-name": runModelName,
};

/**
 * Runs one case. Resolves to `null` when it passes, else to why it failed.
 * @param {Case} c
 * @param {Manifest} manifest
 * @param {string} [fixtures]
 * @returns {Promise<string | null>}
 */
export async function runCase(c, manifest, fixtures = FIXTURES) {
  const runner = RUNNERS[c.kind];
  if (!runner) return `unknown case kind ${JSON.stringify(c.kind)}`;
  try {
    await runner(fixtures, manifest, c);
    return null;
  } catch (error) {
    if (error instanceof CaseFailure) return error.message;
    return describeError(error);
  }
}

/**
 * @typedef {object} Verdict
 * @property {string} name
 * @property {"ok" | "FAIL" | "xfail"} status
 * @property {string} line what a runner prints for it
 */

/**
 * Applies the expected-failures list to a case's outcome: a listed case that fails passes as
 * `xfail`; a listed case that passes is a failure (the entry is stale).
 * @param {string} name
 * @param {string | null} why
 * @param {Map<string, string>} expected
 * @returns {Verdict}
 */
export function verdict(name, why, expected) {
  const reason = expected.get(name);
  if (why === null && reason === undefined) return { name, status: "ok", line: `ok  ${name}` };
  if (why === null)
    return {
      name,
      status: "FAIL",
      line: `FAIL ${name}: passes but is listed in expected-failures (${reason}); remove the stale entry`,
    };
  if (reason !== undefined)
    return { name, status: "xfail", line: `xfail ${name}: ${why} (expected failure: ${reason})` };
  return { name, status: "FAIL", line: `FAIL ${name}: ${why}` };
}

/**
 * Entries of the expected-failures list that name no case of the manifest (stale).
 * @param {Manifest} manifest
 * @param {Map<string, string>} expected
 * @returns {Verdict[]}
 */
export function staleEntries(manifest, expected) {
  const names = new Set(manifest.cases.map((c) => c.name));
  return [...expected.keys()]
    .filter((name) => !names.has(name))
    .map((name) => ({
      name,
      status: "FAIL",
      line: `FAIL ${name}: listed in expected-failures but the manifest has no such case; remove the stale entry`,
    }));
}
