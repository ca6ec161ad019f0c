/**
 * The names of the files inside a model folder `embeddings/<model folder>/` (docs/FORMAT.md §2):
 * builders, the parser, and the grammar both follow, as data.
 */
import { describeValue, FormatError } from "./errors.js";

/** The largest id a file name may carry: 2^53 − 1, the largest integer every runtime holds exactly. */
export const MAX_ID = Number.MAX_SAFE_INTEGER;

/** What an entity vector file holds: a question's vector (`q_…`) or a cluster's answer vector (`a_…`). */
export type VectorEntityType = "question" | "answer";

/** Which vector of a projection head a head file holds. */
export type HeadFileRole = "centroid" | "answer";

/** The kinds of file name in a model folder, one per rule of {@link EMBEDDING_FILE_ABNF}. */
export type EmbeddingFileKind =
  | "question"
  | "answer"
  | "head-centroid"
  | "head-answer"
  | "projection-meta"
  | "projection-adapter";

/** What a canonical file name inside a model folder stands for. */
export type EmbeddingFileName =
  | { kind: "question"; questionId: number }
  | { kind: "answer"; clusterId: number }
  | { kind: "head-centroid" | "head-answer"; mhProjectionId: number; clusterId: number }
  | { kind: "projection-meta" | "projection-adapter"; mhProjectionId: number };

/** Checks an id and returns it; `what` names it in the message (`cluster_id`, …). */
export function checkId(id: unknown, what: string): number {
  if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
    const shown = typeof id === "number" ? String(id) : describeValue(id);
    throw new FormatError("INVALID_ID", `${what} must be a non-negative integer, got ${shown}`, id);
  }
  if (id > MAX_ID) {
    throw new FormatError(
      "INVALID_ID",
      `${what} must be at most ${MAX_ID} (2^53 - 1), got ${String(id)}`,
      id,
    );
  }
  return id;
}

function padded(id: number): string {
  return String(id).padStart(3, "0");
}

/** An id zero-padded to at least 3 digits, as in `q_001.npy` and `q_1234.npy`. */
export function padId(id: number): string {
  return padded(checkId(id, "id"));
}

/** `q_<question id>.npy` or `a_<cluster id>.npy`, the id zero-padded to at least 3 digits. */
export function vectorFileName(entityType: VectorEntityType, entityId: number): string {
  if (entityType === "question") return `q_${padded(checkId(entityId, "question_id"))}.npy`;
  if (entityType === "answer") return `a_${padded(checkId(entityId, "cluster_id"))}.npy`;
  throw new FormatError(
    "INVALID_FILE_KIND",
    `the entity type of a vector file must be "question" or "answer", got ${describeValue(entityType)}`,
    entityType,
  );
}

/** `mh_<projection id>_cluster_<cluster id>_centroid.npy` or `…_answer.npy`, plain decimal ids. */
export function headFileName(
  mhProjectionId: number,
  clusterId: number,
  role: HeadFileRole,
): string {
  const mh = checkId(mhProjectionId, "mh_projection_id");
  const cluster = checkId(clusterId, "cluster_id");
  if (role !== "centroid" && role !== "answer") {
    throw new FormatError(
      "INVALID_FILE_KIND",
      `the role of a head file must be "centroid" or "answer", got ${describeValue(role)}`,
      role,
    );
  }
  return `mh_${mh}_cluster_${cluster}_${role}.npy`;
}

/** `mh_<projection id>.json`, a plain decimal id. */
export function projectionMetaFileName(mhProjectionId: number): string {
  return `mh_${checkId(mhProjectionId, "mh_projection_id")}.json`;
}

/**
 * `mh_<projection id>_W.npy`, a plain decimal id: the projection's query adapter W, a (d, d)
 * matrix that maps a query to its routing vector (docs/FORMAT.md §6).
 */
export function adapterFileName(mhProjectionId: number): string {
  return `mh_${checkId(mhProjectionId, "mh_projection_id")}_W.npy`;
}

/** The file name that {@link parseEmbeddingFileName} reads back as `file`. */
export function embeddingFileName(file: EmbeddingFileName): string {
  switch (file.kind) {
    case "question":
      return vectorFileName("question", file.questionId);
    case "answer":
      return vectorFileName("answer", file.clusterId);
    case "head-centroid":
      return headFileName(file.mhProjectionId, file.clusterId, "centroid");
    case "head-answer":
      return headFileName(file.mhProjectionId, file.clusterId, "answer");
    case "projection-meta":
      return projectionMetaFileName(file.mhProjectionId);
    case "projection-adapter":
      return adapterFileName(file.mhProjectionId);
    default:
      throw new FormatError(
        "INVALID_FILE_KIND",
        `unknown kind of embedding file: ${describeValue((file as { kind?: unknown }).kind)}`,
        file,
      );
  }
}

/**
 * The grammar of the file names in a model folder, in ABNF (RFC 5234, with RFC 7405's `%s` for
 * case-sensitive strings). ABNF cannot bound a number: on top of it, every id is at most
 * {@link MAX_ID}. {@link EMBEDDING_FILE_PATTERNS} is the same grammar as regular expressions.
 */
export const EMBEDDING_FILE_ABNF = `embedding-file     = question-vector / answer-vector / head-centroid / head-answer / projection-meta / projection-adapter
question-vector    = %s"q_" padded-id %s".npy"
answer-vector      = %s"a_" padded-id %s".npy"
head-centroid      = %s"mh_" plain-id %s"_cluster_" plain-id %s"_centroid.npy"
head-answer        = %s"mh_" plain-id %s"_cluster_" plain-id %s"_answer.npy"
projection-meta    = %s"mh_" plain-id %s".json"
projection-adapter = %s"mh_" plain-id %s"_W.npy"
padded-id          = "00" DIGIT / "0" NZDIGIT DIGIT / NZDIGIT 2*DIGIT
plain-id           = "0" / NZDIGIT *DIGIT
NZDIGIT            = %x31-39
DIGIT              = %x30-39
`;

const PADDED_ID = "(00[0-9]|0[1-9][0-9]|[1-9][0-9]{2,})";
const PLAIN_ID = "(0|[1-9][0-9]*)";

/**
 * The grammar as one anchored regular expression per kind of file; the capture groups are the
 * ids in the order of the name. {@link parseEmbeddingFileName} matches with exactly these.
 */
export const EMBEDDING_FILE_PATTERNS: Readonly<Record<EmbeddingFileKind, RegExp>> = Object.freeze({
  question: new RegExp(`^q_${PADDED_ID}\\.npy$`),
  answer: new RegExp(`^a_${PADDED_ID}\\.npy$`),
  "head-centroid": new RegExp(`^mh_${PLAIN_ID}_cluster_${PLAIN_ID}_centroid\\.npy$`),
  "head-answer": new RegExp(`^mh_${PLAIN_ID}_cluster_${PLAIN_ID}_answer\\.npy$`),
  "projection-meta": new RegExp(`^mh_${PLAIN_ID}\\.json$`),
  "projection-adapter": new RegExp(`^mh_${PLAIN_ID}_W\\.npy$`),
});

/** The ids a pattern captured, or `null` when one is past {@link MAX_ID}. */
function ids(match: RegExpExecArray): number[] | null {
  const out: number[] = [];
  for (const digits of match.slice(1)) {
    const id = Number(digits);
    if (!Number.isSafeInteger(id)) return null;
    out.push(id);
  }
  return out;
}

/**
 * What a file name inside a model folder stands for (the base name, no folder), or `null` for any
 * name outside the grammar — including non-canonical spellings such as `q_0001.npy` or
 * `mh_02.json`, and ids past {@link MAX_ID}, so that each file has exactly one name.
 */
export function parseEmbeddingFileName(name: string): EmbeddingFileName | null {
  if (typeof name !== "string") return null;
  for (const kind of Object.keys(EMBEDDING_FILE_PATTERNS) as EmbeddingFileKind[]) {
    const match = EMBEDDING_FILE_PATTERNS[kind].exec(name);
    if (match === null) continue;
    const found = ids(match);
    if (found === null) return null;
    const [first, second] = found as [number, number];
    switch (kind) {
      case "question":
        return { kind, questionId: first };
      case "answer":
        return { kind, clusterId: first };
      case "head-centroid":
      case "head-answer":
        return { kind, mhProjectionId: first, clusterId: second };
      case "projection-meta":
      case "projection-adapter":
        return { kind, mhProjectionId: first };
    }
  }
  return null;
}

/**
 * Whether a name is a temporary file of an atomic write (it ends in `.tmp`: the data goes to a
 * temporary name and is renamed into place). Such a file is a write in progress or one that was
 * interrupted; it is never part of a finished store.
 */
export function isTemporaryFileName(name: string): boolean {
  return name.endsWith(".tmp");
}
