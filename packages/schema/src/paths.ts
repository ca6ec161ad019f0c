/**
 * File naming of the on-disk format (DESIGN §3). Pure functions: every result is a POSIX
 * path relative to the store root (the folder that holds `lda.db`), as stored in the database.
 */

/** Characters allowed in a model name; `/` is mapped to `__` in the folder name. */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9._/-]+$/;

/** Thrown for a model name that cannot be mapped to a folder name. */
export class InvalidModelNameError extends Error {
  override readonly name = "InvalidModelNameError";
  constructor(
    readonly modelName: string,
    reason: string,
  ) {
    super(`invalid model name ${JSON.stringify(modelName)}: ${reason}`);
  }
}

/** Returns why `name` is not a valid model name, or `null` when it is valid. */
export function modelNameProblem(name: string): string | null {
  if (typeof name !== "string" || name.length === 0) return "the name is empty";
  let index = 0;
  for (const ch of name) {
    if (!/^[A-Za-z0-9._/-]$/.test(ch)) {
      const code = ch.codePointAt(0) ?? 0;
      const hex = code.toString(16).toUpperCase().padStart(4, "0");
      return `character ${JSON.stringify(ch)} (U+${hex}) at position ${index + 1} is not allowed; use letters A-Z a-z, digits, ".", "_", "-" and "/"`;
    }
    index += ch.length;
  }
  const folder = name.replaceAll("/", "__");
  if (folder === "." || folder === "..") return `"${folder}" is not a usable folder name`;
  return null;
}

/**
 * The folder name of a model under `embeddings/`: the model name with every `/` replaced by
 * `__` (`sentence-transformers/all-MiniLM-L6-v2` → `sentence-transformers__all-MiniLM-L6-v2`).
 * Throws {@link InvalidModelNameError} for any character outside `[A-Za-z0-9._/-]`, an empty
 * name, and `.` / `..`.
 *
 * Note that the mapping is not injective: `a/b` and `a__b` share the folder `a__b`.
 */
export function modelFolderName(name: string): string {
  const problem = modelNameProblem(name);
  if (problem !== null) throw new InvalidModelNameError(String(name), problem);
  return name.replaceAll("/", "__");
}

function checkId(id: number, what: string): number {
  if (!Number.isSafeInteger(id) || id < 0) {
    throw new RangeError(`${what} must be a non-negative integer, got ${String(id)}`);
  }
  return id;
}

/** An id zero-padded to at least 3 digits, as in `q_001.npy` and `q_1234.npy`. */
export function padId(id: number): string {
  return String(checkId(id, "id")).padStart(3, "0");
}

/** `embeddings/<model folder>` */
export function modelEmbeddingsDir(model: string): string {
  return `embeddings/${modelFolderName(model)}`;
}

/** `embeddings/<model folder>/q_<question id, ≥3 digits>.npy` */
export function questionVectorPath(model: string, questionId: number): string {
  return `${modelEmbeddingsDir(model)}/q_${padId(questionId)}.npy`;
}

/** `embeddings/<model folder>/a_<cluster id, ≥3 digits>.npy` */
export function answerVectorPath(model: string, clusterId: number): string {
  return `${modelEmbeddingsDir(model)}/a_${padId(clusterId)}.npy`;
}

/** The vector file of a question (`q_…`) or an answer (`a_…`; the id is the cluster id). */
export function entityVectorPath(
  model: string,
  entityType: "question" | "answer",
  entityId: number,
): string {
  return entityType === "question"
    ? questionVectorPath(model, entityId)
    : answerVectorPath(model, entityId);
}

function headPrefix(model: string, mhProjectionId: number, clusterId: number): string {
  const mh = checkId(mhProjectionId, "mh_projection_id");
  const cluster = checkId(clusterId, "cluster_id");
  return `${modelEmbeddingsDir(model)}/mh_${mh}_cluster_${cluster}`;
}

/** `embeddings/<model folder>/mh_<mh id>_cluster_<cluster id>_centroid.npy` */
export function headCentroidPath(model: string, mhProjectionId: number, clusterId: number): string {
  return `${headPrefix(model, mhProjectionId, clusterId)}_centroid.npy`;
}

/** `embeddings/<model folder>/mh_<mh id>_cluster_<cluster id>_answer.npy` */
export function headAnswerPath(model: string, mhProjectionId: number, clusterId: number): string {
  return `${headPrefix(model, mhProjectionId, clusterId)}_answer.npy`;
}

/** `embeddings/<model folder>/mh_<mh id>.json` (projection metadata). */
export function projectionMetaPath(model: string, mhProjectionId: number): string {
  return `${modelEmbeddingsDir(model)}/mh_${checkId(mhProjectionId, "mh_projection_id")}.json`;
}

/** What a file name inside `embeddings/<model folder>/` stands for. */
export type EmbeddingFileName =
  | { kind: "question"; questionId: number }
  | { kind: "answer"; clusterId: number }
  | { kind: "head-centroid"; mhProjectionId: number; clusterId: number }
  | { kind: "head-answer"; mhProjectionId: number; clusterId: number }
  | { kind: "projection-meta"; mhProjectionId: number };

const PLAIN_DECIMAL = "(0|[1-9][0-9]*)";
const ENTITY_FILE = /^([qa])_([0-9]{3,})\.npy$/;
const HEAD_FILE = new RegExp(
  `^mh_${PLAIN_DECIMAL}_cluster_${PLAIN_DECIMAL}_(centroid|answer)\\.npy$`,
);
const META_FILE = new RegExp(`^mh_${PLAIN_DECIMAL}\\.json$`);

/**
 * Parses a file name written by the helpers above (the base name, no folder). Returns `null`
 * for any other name, including non-canonical ones such as `q_0001.npy` or `mh_02.json`.
 */
export function parseEmbeddingFileName(fileName: string): EmbeddingFileName | null {
  const entity = ENTITY_FILE.exec(fileName);
  if (entity) {
    const digits = entity[2] as string;
    const id = Number(digits);
    if (!Number.isSafeInteger(id) || padId(id) !== digits) return null;
    return entity[1] === "q"
      ? { kind: "question", questionId: id }
      : { kind: "answer", clusterId: id };
  }
  const head = HEAD_FILE.exec(fileName);
  if (head) {
    const mhProjectionId = Number(head[1]);
    const clusterId = Number(head[2]);
    if (!Number.isSafeInteger(mhProjectionId) || !Number.isSafeInteger(clusterId)) return null;
    return head[3] === "centroid"
      ? { kind: "head-centroid", mhProjectionId, clusterId }
      : { kind: "head-answer", mhProjectionId, clusterId };
  }
  const meta = META_FILE.exec(fileName);
  if (meta) {
    const mhProjectionId = Number(meta[1]);
    if (!Number.isSafeInteger(mhProjectionId)) return null;
    return { kind: "projection-meta", mhProjectionId };
  }
  return null;
}
