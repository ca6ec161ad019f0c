/**
 * The projection metadata file `mh_<id>.json` and the head file names of DESIGN §3, re-implemented
 * here (this package depends on `@ldakit/npy` only).
 */
import { SearchError } from "./errors.js";

/** The `format` value of `mh_<id>.json`. */
export const PROJECTION_META_FORMAT = "ldakit.mh/1";

/** `mh_<id>.json`: enough to discover and use a projection from files alone. */
export interface ProjectionMeta {
  format: "ldakit.mh/1";
  mh_projection_id: number;
  model: string;
  dimensions: number;
  temperature: number;
  num_heads: number;
  /** Cluster ids in head order: head k is cluster `cluster_ids[k]`. */
  cluster_ids: number[];
}

const MODEL_CHARS = /^[A-Za-z0-9._/-]+$/;

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  if (typeof value === "number") return `the number ${value}`;
  return typeof value === "object" ? "an object" : String(value);
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Checks that `value` is a valid `mh_<id>.json` object and returns it typed. Throws a
 * `SearchError` with code `BAD_META` that lists every problem (`where` prefixes the message,
 * e.g. the file's path). Keys besides the seven of the format are allowed and ignored.
 */
export function validateProjectionMeta(
  value: unknown,
  where = "projection metadata",
): ProjectionMeta {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new SearchError("BAD_META", `${where}: expected a JSON object, got ${describe(value)}`);
  }
  const meta = value as Record<string, unknown>;
  const problems: string[] = [];
  if (meta.format !== PROJECTION_META_FORMAT) {
    problems.push(
      meta.format === undefined
        ? `"format" is missing (expected "${PROJECTION_META_FORMAT}")`
        : `"format" must be "${PROJECTION_META_FORMAT}", got ${describe(meta.format)}`,
    );
  }
  if (!isNonNegativeInteger(meta.mh_projection_id)) {
    problems.push(
      `"mh_projection_id" must be a non-negative integer, got ${describe(meta.mh_projection_id)}`,
    );
  }
  if (typeof meta.model !== "string" || meta.model.length === 0) {
    problems.push(`"model" must be a non-empty string, got ${describe(meta.model)}`);
  } else if (!MODEL_CHARS.test(meta.model) || meta.model === "." || meta.model === "..") {
    problems.push(
      `"model" ${JSON.stringify(meta.model)} is not a valid model name (letters, digits, ".", "_", "-", "/")`,
    );
  }
  if (!isNonNegativeInteger(meta.dimensions) || meta.dimensions === 0) {
    problems.push(`"dimensions" must be a positive integer, got ${describe(meta.dimensions)}`);
  }
  if (
    typeof meta.temperature !== "number" ||
    !Number.isFinite(meta.temperature) ||
    meta.temperature <= 0
  ) {
    problems.push(`"temperature" must be a positive number, got ${describe(meta.temperature)}`);
  }
  if (!isNonNegativeInteger(meta.num_heads)) {
    problems.push(`"num_heads" must be a non-negative integer, got ${describe(meta.num_heads)}`);
  }
  if (!Array.isArray(meta.cluster_ids)) {
    problems.push(
      `"cluster_ids" must be an array of cluster ids, got ${describe(meta.cluster_ids)}`,
    );
  } else {
    const ids = meta.cluster_ids as unknown[];
    const bad = ids.findIndex((id) => !isNonNegativeInteger(id));
    if (bad >= 0) {
      problems.push(
        `"cluster_ids"[${bad}] must be a non-negative integer, got ${describe(ids[bad])}`,
      );
    } else {
      const seen = new Set<number>();
      for (const id of ids as number[]) {
        if (seen.has(id)) {
          problems.push(`"cluster_ids" lists cluster ${id} twice`);
          break;
        }
        seen.add(id);
      }
    }
    if (isNonNegativeInteger(meta.num_heads) && ids.length !== meta.num_heads) {
      problems.push(
        `"cluster_ids" lists ${ids.length} cluster ids but "num_heads" is ${meta.num_heads}`,
      );
    }
  }
  if (problems.length > 0) {
    throw new SearchError("BAD_META", `${where}: ${problems.join("; ")}`);
  }
  return meta as unknown as ProjectionMeta;
}

/** What a file name in a model folder stands for, as far as projections go. */
export type ProjectionFileName =
  | { kind: "meta"; mhProjectionId: number }
  | { kind: "centroid" | "answer"; mhProjectionId: number; clusterId: number };

const ID = "(0|[1-9][0-9]*)";
const META_FILE = new RegExp(`^mh_${ID}\\.json$`);
const HEAD_FILE = new RegExp(`^mh_${ID}_cluster_${ID}_(centroid|answer)\\.npy$`);

/**
 * Parses `mh_<id>.json` and `mh_<id>_cluster_<cid>_(centroid|answer).npy` (plain decimal ids, no
 * leading zeros); `null` for any other name.
 */
export function parseProjectionFileName(name: string): ProjectionFileName | null {
  const meta = META_FILE.exec(name);
  if (meta) {
    const mhProjectionId = Number(meta[1]);
    return Number.isSafeInteger(mhProjectionId) ? { kind: "meta", mhProjectionId } : null;
  }
  const head = HEAD_FILE.exec(name);
  if (head) {
    const mhProjectionId = Number(head[1]);
    const clusterId = Number(head[2]);
    if (!Number.isSafeInteger(mhProjectionId) || !Number.isSafeInteger(clusterId)) return null;
    return { kind: head[3] as "centroid" | "answer", mhProjectionId, clusterId };
  }
  return null;
}

/** `mh_<id>.json` */
export function projectionMetaFileName(mhProjectionId: number): string {
  return `mh_${mhProjectionId}.json`;
}

/** `mh_<id>_cluster_<cid>_centroid.npy` or `..._answer.npy` */
export function headFileName(
  mhProjectionId: number,
  clusterId: number,
  kind: "centroid" | "answer",
): string {
  return `mh_${mhProjectionId}_cluster_${clusterId}_${kind}.npy`;
}
