/**
 * `mh_<id>.json` (docs/FORMAT.md §4): what a projection is, readable from the files alone. The
 * same rules are written as a JSON Schema in docs/mh-projection.schema.json, apart from the
 * one that JSON Schema cannot state (see {@link projectionMetaProblems}).
 */
import { describeValue, FormatError } from "./errors.js";
import { adapterFileName, EMBEDDING_FILE_PATTERNS, MAX_ID } from "./file-names.js";
import { modelNameProblem } from "./model-name.js";

/**
 * The `format` values a reader of this package accepts, oldest first. Edition 2 adds the query
 * adapter and the blend; a reader that knows only edition 1 must refuse `ldakit.mh/2`, which
 * is what keeps it from ranking such a projection wrongly (docs/FORMAT.md §7).
 */
export const PROJECTION_META_FORMATS = ["ldakit.mh/1", "ldakit.mh/2"] as const;

/** One of {@link PROJECTION_META_FORMATS}. */
export type ProjectionMetaFormat = (typeof PROJECTION_META_FORMATS)[number];

/**
 * The edition-1 `format` value, still what a projection without an adapter and with β = 1 is
 * written as, so that edition-1 readers keep reading it; {@link projectionMetaFormatFor} picks.
 */
export const PROJECTION_META_FORMAT = "ldakit.mh/1";

/** The blend β that an absent `blend` stands for: the projected vector alone, as in edition 1. */
export const DEFAULT_BLEND = 1;

/**
 * The `format` a writer gives a projection: `ldakit.mh/2` when it has an adapter or a blend
 * other than 1 (an edition-1 reader would rank it differently, so it must refuse it), else
 * `ldakit.mh/1`. `adapter` is the adapter's file name or anything non-null that says there is one.
 */
export function projectionMetaFormatFor(projection: {
  adapter?: unknown;
  blend?: number | null | undefined;
}): ProjectionMetaFormat {
  const hasAdapter = projection.adapter !== undefined && projection.adapter !== null;
  const blended =
    projection.blend !== undefined &&
    projection.blend !== null &&
    projection.blend !== DEFAULT_BLEND;
  return hasAdapter || blended ? "ldakit.mh/2" : "ldakit.mh/1";
}

/** A valid `mh_<id>.json`. Other keys may be present: readers ignore them. */
export interface ProjectionMeta {
  format: ProjectionMetaFormat;
  /** The projection id, also the `<id>` of the file name. */
  mh_projection_id: number;
  /** The model name (not the folder name): `sentence-transformers/all-MiniLM-L6-v2`. */
  model: string;
  /** Length of every head vector. */
  dimensions: number;
  /** The softmax temperature of routing: positive and finite. */
  temperature: number;
  num_heads: number;
  /** Cluster ids in head order, each once: head k is cluster `cluster_ids[k]`. */
  cluster_ids: number[];
  /**
   * Edition 2: the file name of the query adapter W, exactly `mh_<id>_W.npy` for this id (a name
   * in the model folder, never a path); `null` or absent: no adapter.
   */
  adapter?: string | null;
  /** Edition 2: the blend β, finite, 0 ≤ β ≤ 1; absent: 1. */
  blend?: number;
}

/** At most this many offending entries of `cluster_ids` are named one by one. */
const SHOWN_ENTRIES = 5;

function isId(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= MAX_ID;
}

function listed(items: string[]): string {
  const shown = items.slice(0, SHOWN_ENTRIES).join(", ");
  return items.length > SHOWN_ENTRIES ? `${shown}, … (${items.length} in all)` : shown;
}

/**
 * Every rule of `mh_<id>.json` that `value` (parsed JSON) breaks, in the order of the keys; an
 * empty list when it is valid. Keys besides those of the format are allowed and ignored, so
 * that a later version may add some without breaking older readers — unless a reader must
 * understand them, as `adapter` and `blend`: they need `ldakit.mh/2`, and an `ldakit.mh/1` file
 * that sets them to anything but their defaults is refused (an edition-1 reader would ignore them
 * and rank differently).
 *
 * Two rules have no JSON Schema keyword: `num_heads` equals the length of `cluster_ids`, and
 * `adapter` names this projection's id; the schema has the rest. (JSON numbers are unbounded, but `1e400` parses to Infinity, which is
 * refused as a temperature here and by ajv.)
 */
export function projectionMetaProblems(value: unknown): string[] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return [`expected a JSON object, got ${describeValue(value)}`];
  }
  const meta = value as Record<string, unknown>;
  const problems: string[] = [];

  const formats = PROJECTION_META_FORMATS.map((f) => `"${f}"`).join(" or ");
  if (meta.format === undefined) {
    problems.push(`"format" is missing (expected ${formats})`);
  } else if (!(PROJECTION_META_FORMATS as readonly unknown[]).includes(meta.format)) {
    problems.push(`"format" must be ${formats}, got ${describeValue(meta.format)}`);
  }

  if (!isId(meta.mh_projection_id)) {
    problems.push(
      `"mh_projection_id" must be an integer from 0 to ${MAX_ID}, got ${describeValue(meta.mh_projection_id)}`,
    );
  }

  if (typeof meta.model !== "string") {
    problems.push(`"model" must be a model name (a string), got ${describeValue(meta.model)}`);
  } else {
    const problem = modelNameProblem(meta.model);
    if (problem !== null) {
      problems.push(`"model" ${JSON.stringify(meta.model)} is not a valid model name: ${problem}`);
    }
  }

  if (!isId(meta.dimensions) || meta.dimensions === 0) {
    problems.push(`"dimensions" must be a positive integer, got ${describeValue(meta.dimensions)}`);
  }

  const t = meta.temperature;
  if (typeof t !== "number" || !Number.isFinite(t) || t <= 0) {
    problems.push(`"temperature" must be a positive finite number, got ${describeValue(t)}`);
  }

  const numHeadsValid = isId(meta.num_heads);
  if (!numHeadsValid) {
    problems.push(
      `"num_heads" must be a non-negative integer, got ${describeValue(meta.num_heads)}`,
    );
  }

  if (meta.cluster_ids === undefined) {
    problems.push(`"cluster_ids" is missing (the cluster id of each head, in head order)`);
  } else if (!Array.isArray(meta.cluster_ids)) {
    problems.push(
      `"cluster_ids" must be an array of cluster ids, got ${describeValue(meta.cluster_ids)}`,
    );
  } else {
    const ids = meta.cluster_ids as unknown[];
    const bad: string[] = [];
    const seen = new Set<number>();
    const twice = new Set<number>();
    ids.forEach((id, k) => {
      if (!isId(id)) bad.push(`[${k}] is ${describeValue(id)}`);
      else if (seen.has(id)) twice.add(id);
      else seen.add(id);
    });
    if (bad.length > 0) {
      problems.push(`"cluster_ids" entries must be integers from 0 to ${MAX_ID}: ${listed(bad)}`);
    }
    if (twice.size > 0) {
      problems.push(
        `"cluster_ids" lists ${twice.size === 1 ? "cluster" : "clusters"} ${listed([...twice].map(String))} more than once; each head has its own cluster`,
      );
    }
    if (numHeadsValid && ids.length !== meta.num_heads) {
      problems.push(
        `"cluster_ids" lists ${ids.length} cluster ids but "num_heads" is ${String(meta.num_heads)}`,
      );
    }
  }

  problems.push(...editionTwoProblems(meta));
  return problems;
}

/** The rules of `adapter` and `blend`, and that an edition-1 file leaves them at their defaults. */
function editionTwoProblems(meta: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const { adapter, blend } = meta;
  if (adapter !== undefined && adapter !== null) {
    const id = meta.mh_projection_id;
    const expected = isId(id) ? `"${adapterFileName(id)}"` : `"mh_<mh_projection_id>_W.npy"`;
    if (typeof adapter !== "string") {
      problems.push(
        `"adapter" must be the adapter's file name ${expected} or null, got ${describeValue(adapter)}`,
      );
    } else if (!EMBEDDING_FILE_PATTERNS["projection-adapter"].test(adapter)) {
      problems.push(
        `"adapter" must be the adapter's file name ${expected} in the model folder (no path, no other name), got ${describeValue(adapter)}`,
      );
    } else if (isId(id) && adapter !== adapterFileName(id)) {
      problems.push(
        `"adapter" names ${JSON.stringify(adapter)}, the adapter of another projection; projection ${id}'s is ${expected}`,
      );
    }
  }
  if (blend !== undefined) {
    if (typeof blend !== "number" || !Number.isFinite(blend) || blend < 0 || blend > 1) {
      problems.push(
        `"blend" must be a finite number from 0 to 1 (absent means 1), got ${describeValue(blend)}`,
      );
    }
  }
  if (meta.format === PROJECTION_META_FORMAT) {
    if (adapter !== undefined && adapter !== null) {
      problems.push(
        `"adapter" needs "format": "ldakit.mh/2"; an "ldakit.mh/1" reader would ignore it and rank differently`,
      );
    }
    if (blend !== undefined && blend !== DEFAULT_BLEND) {
      problems.push(
        `"blend" other than 1 needs "format": "ldakit.mh/2"; an "ldakit.mh/1" reader would ignore it and rank differently`,
      );
    }
  }
  return problems;
}

/**
 * Returns `value` typed as {@link ProjectionMeta} when it is a valid `mh_<id>.json` object, else
 * throws a {@link FormatError} `INVALID_PROJECTION_META` whose message lists every problem
 * (prefixed with `where`, e.g. the file's path) and whose `problems` has them one by one.
 */
export function validateProjectionMeta(
  value: unknown,
  where = "projection metadata",
): ProjectionMeta {
  const problems = projectionMetaProblems(value);
  if (problems.length > 0) {
    throw new FormatError(
      "INVALID_PROJECTION_META",
      `${where}: ${problems.join("; ")}`,
      value,
      problems,
    );
  }
  return value as ProjectionMeta;
}
