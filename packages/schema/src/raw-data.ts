/**
 * The raw Q-A JSON files of docs/ARCHITECTURE.md §2.1: zod schemas of both accepted forms, a normalizer to
 * one internal shape, and `parseRawJson`, which turns any problem into a message a person can
 * act on (`JSON parse error at line 45, column 3: …`, `clusters[2].questions: expected array,
 * received string`).
 *
 * Form (a): `{"clusters": [{"answer", "answer_id", "questions": [...]}]}`
 * Form (b): `{"clusters": [{"id", "answer_source"?, "answers": {"default", "<model>"?...},
 *            "queries": {"short"|"medium"|"long"|<other>: [...]}}]}`
 *
 * Rules (beyond the shapes):
 * - The file is a JSON object with a non-empty `clusters` array; other top-level keys
 *   (`version`, `description`, …) are allowed and ignored.
 * - Each cluster is one form or the other (a file may mix them) and has *only* that form's
 *   keys: an unknown key is an error, so a typo or a different kind of file is caught instead
 *   of silently dropping data.
 * - Texts (answers, answer variants, questions) must be non-blank; they are trimmed.
 * - Ids (`answer_id`, `id`) are non-blank strings or integers (normalized to strings) and
 *   are unique within a file.
 * - A cluster has at least one question (in form (b): across all its query lists).
 */
import { z } from "zod";
import { parseStrictJson, StrictJsonError } from "./strict-json.js";

// ---------------------------------------------------------------------------------------------
// zod schemas

const NON_BLANK = "expected a non-empty string";

const nonBlankString = z.string().refine((s) => s.trim().length > 0, { error: NON_BLANK });

/** A record id: a non-blank string or an integer. */
export const recordIdSchema = z.union([
  nonBlankString,
  z.number().refine(Number.isSafeInteger, { error: "expected an integer or a string id" }),
]);

const questionList = z.array(nonBlankString);

function isObjectValue(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * An object each of whose own keys holds a `valueSchema` value (and `required` keys are
 * present). Not `z.record`/`.catchall`: those leave a `__proto__` key out of their output
 * (assigning it to a fresh `{}` would set the prototype), so a `"__proto__"` query list would
 * be dropped without a word. This passes the parsed object through untouched instead.
 */
function ownKeysObject<T>(valueSchema: z.ZodType<T>, required: readonly string[] = []) {
  return z.unknown().superRefine((value, ctx) => {
    if (!isObjectValue(value)) {
      ctx.addIssue({ code: "invalid_type", expected: "object", input: value });
      return;
    }
    for (const key of required) {
      if (!Object.hasOwn(value, key)) {
        ctx.addIssue({ code: "invalid_type", expected: "string", input: undefined, path: [key] });
      }
    }
    for (const key of Object.keys(value)) {
      const result = valueSchema.safeParse(value[key]);
      if (result.success) continue;
      for (const issue of result.error.issues) {
        ctx.addIssue({ ...issue, path: [key, ...issue.path] } as z.core.$ZodRawIssue);
      }
    }
  }) as unknown as z.ZodType<Record<string, T>>;
}

/** One cluster of form (a). */
export const rawClusterASchema = z.strictObject({
  answer: nonBlankString,
  answer_id: recordIdSchema,
  questions: questionList.min(1, { error: "expected at least one question" }),
});

/** One cluster of form (b). */
export const rawClusterBSchema = z.strictObject({
  id: recordIdSchema,
  answer_source: z.string().nullable().optional(),
  answers: ownKeysObject(nonBlankString, ["default"]) as z.ZodType<
    { default: string } & Record<string, string>
  >,
  queries: ownKeysObject(questionList).refine(
    // the lists themselves are checked above; this only tells "every list is empty"
    (queries) =>
      !isObjectValue(queries) ||
      Object.values(queries).some((list) => !Array.isArray(list) || list.length > 0),
    { error: "expected at least one question" },
  ),
});

/** A cluster of either form. */
export const rawClusterSchema = z.union([rawClusterASchema, rawClusterBSchema]);

export type RawClusterA = z.infer<typeof rawClusterASchema>;
export type RawClusterB = z.infer<typeof rawClusterBSchema>;
export type RawCluster = z.infer<typeof rawClusterSchema>;

/** The id key and value of a cluster; tolerant of invalid input (refinements may see it). */
function clusterRecordId(cluster: unknown): { key: "answer_id" | "id"; id: string } | null {
  if (cluster === null || typeof cluster !== "object") return null;
  const key = "answer_id" in cluster ? "answer_id" : "id";
  const raw = (cluster as Record<string, unknown>)[key];
  if (typeof raw !== "string" && typeof raw !== "number") return null;
  return { key, id: String(raw).trim() };
}

function clusterList<T extends z.ZodType<RawCluster>>(cluster: T) {
  return z
    .array(cluster)
    .min(1, { error: "expected at least one cluster" })
    .superRefine((clusters, ctx) => {
      const seen = new Map<string, number>();
      clusters.forEach((c, index) => {
        const found = clusterRecordId(c);
        if (found === null) return;
        const { key, id } = found;
        const first = seen.get(id);
        if (first === undefined) {
          seen.set(id, index);
        } else {
          ctx.addIssue({
            code: "custom",
            path: [index, key],
            message: `duplicate id ${JSON.stringify(id)} (also the id of clusters[${first}])`,
          });
        }
      });
    });
}

/** A whole file of form (a). */
export const rawFormASchema = z.looseObject({ clusters: clusterList(rawClusterASchema) });
/** A whole file of form (b). */
export const rawFormBSchema = z.looseObject({ clusters: clusterList(rawClusterBSchema) });
/** A whole file whose clusters are of either form (what `parseRawJson` accepts). */
export const rawDataSchema = z.looseObject({ clusters: clusterList(rawClusterSchema) });

/**
 * A query file (`ldakit eval --queries`): either form with the answers optional — only each
 * cluster's id and its questions are read.
 */
export const queryFileSchema = z.looseObject({
  clusters: clusterList(
    z.union([
      rawClusterASchema.partial({ answer: true }),
      rawClusterBSchema.partial({ answers: true, answer_source: true }),
    ]) as unknown as z.ZodType<RawCluster>,
  ),
});

export type RawFormA = z.infer<typeof rawFormASchema>;
export type RawFormB = z.infer<typeof rawFormBSchema>;
export type RawData = z.infer<typeof rawDataSchema>;

// ---------------------------------------------------------------------------------------------
// the normalized form

export interface NormalizedQuestion {
  text: string;
  /** Form (b): the key of the query list (`short`, `medium`, `long`, …); form (a): `null`. */
  lengthType: string | null;
}

export interface NormalizedCluster {
  /** Form (a) `answer_id`, form (b) `id`, as a string. */
  recordId: string;
  /** Form (a) `answer`, form (b) `answers.default`. */
  answerText: string;
  /** Form (b) `answer_source` (`null` when absent or blank, and in form (a)). */
  answerSource: string | null;
  /**
   * Form (b) answer variants by model name, without `default`; empty in form (a). The object
   * has no prototype, so looking up a model name finds only variants of the file.
   */
  answerVariants: Record<string, string>;
  /** In file order; in form (b) query list by query list, in the order of the keys. */
  questions: NormalizedQuestion[];
}

export interface NormalizedData {
  clusters: NormalizedCluster[];
}

function normalizeCluster(cluster: RawCluster): NormalizedCluster {
  if ("answer_id" in cluster) {
    return {
      recordId: String(cluster.answer_id).trim(),
      answerText: cluster.answer.trim(),
      answerSource: null,
      answerVariants: Object.create(null) as Record<string, string>,
      questions: cluster.questions.map((q) => ({ text: q.trim(), lengthType: null })),
    };
  }
  // no prototype: a variant named `__proto__` or `constructor` is an ordinary entry
  const answerVariants = Object.create(null) as Record<string, string>;
  for (const [model, text] of Object.entries(cluster.answers)) {
    if (model !== "default") answerVariants[model] = text.trim();
  }
  const source = cluster.answer_source?.trim();
  return {
    recordId: String(cluster.id).trim(),
    answerText: cluster.answers.default.trim(),
    answerSource: source ? source : null,
    answerVariants,
    questions: Object.entries(cluster.queries).flatMap(([lengthType, list]) =>
      list.map((q) => ({ text: q.trim(), lengthType })),
    ),
  };
}

/** Converts validated data of either form to the one internal shape. */
export function normalizeRawData(data: RawData): NormalizedData {
  return { clusters: data.clusters.map(normalizeCluster) };
}

// ---------------------------------------------------------------------------------------------
// errors

/** How many problems the message of a {@link RawDataError} lists (all are in `issues`). */
export const MAX_LISTED_ISSUES = 3;

export interface RawDataErrorDetails {
  kind: "syntax" | "shape";
  /** Every problem found, each `path: what is wrong` (syntax: one entry). */
  issues: string[];
  fileLabel?: string | undefined;
  /** Syntax errors: 1-based line and column (in code points) and the UTF-16 offset. */
  line?: number | undefined;
  column?: number | undefined;
  offset?: number | undefined;
  /** Syntax errors in a file given as bytes: the byte offset. */
  byteOffset?: number | undefined;
}

/** A raw data file that is not valid JSON or not of an accepted shape. */
export class RawDataError extends Error {
  override readonly name = "RawDataError";
  readonly kind: "syntax" | "shape";
  readonly issues: readonly string[];
  readonly fileLabel: string | undefined;
  readonly line: number | undefined;
  readonly column: number | undefined;
  readonly offset: number | undefined;
  readonly byteOffset: number | undefined;

  constructor(message: string, details: RawDataErrorDetails, options?: { cause?: unknown }) {
    super(details.fileLabel ? `${details.fileLabel}: ${message}` : message, options);
    this.kind = details.kind;
    this.issues = Object.freeze([...details.issues]);
    this.fileLabel = details.fileLabel;
    this.line = details.line;
    this.column = details.column;
    this.offset = details.offset;
    this.byteOffset = details.byteOffset;
  }
}

type PathKey = PropertyKey;

/** `clusters[2].answers["all-MiniLM-L6-v2"]`; the root is `(root)`. */
export function formatIssuePath(path: readonly PathKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else if (typeof key === "string" && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) {
      out += out === "" ? key : `.${key}`;
    } else out += `[${JSON.stringify(String(key))}]`;
  }
  return out === "" ? "(root)" : out;
}

function valueAt(root: unknown, path: readonly PathKey[]): { found: boolean; value: unknown } {
  let value: unknown = root;
  for (const key of path) {
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, key)) {
      return { found: false, value: undefined };
    }
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return { found: true, value };
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function describeExpected(expected: string): string {
  return expected === "record" ? "object" : expected;
}

const FORM_A_KEYS = ["answer", "answer_id", "questions"];
const FORM_B_KEYS = ["id", "answer_source", "answers", "queries"];
const CLUSTER_FORMS =
  'a cluster has either "answer", "answer_id" and "questions" (form a) or "id", "answers", "queries" and optionally "answer_source" (form b)';

function isClusterPath(path: readonly PathKey[]): boolean {
  return path.length === 2 && path[0] === "clusters" && typeof path[1] === "number";
}

/** Which form a cluster object is closest to: the one it has more keys of. */
function clusterForm(value: unknown): "a" | "b" | null {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
  const keys = Object.keys(value);
  const a = keys.filter((k) => FORM_A_KEYS.includes(k)).length;
  const b = keys.filter((k) => FORM_B_KEYS.includes(k)).length;
  if (a === 0 && b === 0) return null;
  return b > a ? "b" : "a";
}

type Issue = z.core.$ZodIssue;

function hasRootTypeError(issues: readonly Issue[]): boolean {
  return issues.some((i) => i.code === "invalid_type" && i.path.length === 0);
}

function formatIssues(issues: readonly Issue[], root: unknown, base: readonly PathKey[]): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    const where = formatIssuePath(path);
    switch (issue.code) {
      case "invalid_type": {
        const expected = describeExpected(issue.expected);
        const at = valueAt(root, path);
        if (!at.found) {
          if (path.length === 1 && path[0] === "clusters" && isPlainObject(root)) {
            const keys = Object.keys(root);
            const found =
              keys.length === 0
                ? "the object is empty"
                : `its keys are ${keys.map((k) => JSON.stringify(k)).join(", ")}`;
            out.push(
              `clusters: missing; expected an array of Q-A clusters (this does not look like Q-A training data: ${found})`,
            );
          } else {
            out.push(`${where}: missing (expected ${expected})`);
          }
        } else if (path.length === 0) {
          out.push(
            `(root): expected an object with a "clusters" array, received ${describeValue(at.value)}`,
          );
        } else {
          out.push(`${where}: expected ${expected}, received ${describeValue(at.value)}`);
        }
        break;
      }
      case "unrecognized_keys": {
        const keys = issue.keys.map((k) => JSON.stringify(k)).join(", ");
        const noun = issue.keys.length === 1 ? "key" : "keys";
        const hint = isClusterPath(path) ? ` (${CLUSTER_FORMS})` : "";
        out.push(`${where}: unrecognized ${noun} ${keys}${hint}`);
        break;
      }
      case "invalid_union": {
        const branches = issue.errors;
        const at = valueAt(root, path);
        if (isClusterPath(path)) {
          const form = clusterForm(at.value);
          if (form === null && isPlainObject(at.value)) {
            const keys = Object.keys(at.value);
            const found =
              keys.length === 0
                ? "it is empty"
                : `its keys are ${keys.map((k) => JSON.stringify(k)).join(", ")}`;
            out.push(`${where}: not a cluster: ${CLUSTER_FORMS}; ${found}`);
            break;
          }
          if (form !== null) {
            out.push(...formatIssues(branches[form === "a" ? 0 : 1] ?? [], root, path));
            break;
          }
        }
        // A branch of the right type explains the problem best; if every branch failed on
        // the type, list the expected types.
        const typed = branches.find((b) => !hasRootTypeError(b));
        if (typed) {
          out.push(...formatIssues(typed, root, path));
        } else {
          const expected = [
            ...new Set(
              branches.flatMap((b) =>
                b.filter((i) => i.code === "invalid_type").map((i) => describeExpected(i.expected)),
              ),
            ),
          ];
          const what = expected.length > 0 ? expected.join(" or ") : "a different value";
          out.push(
            at.found
              ? `${where}: expected ${what}, received ${describeValue(at.value)}`
              : `${where}: missing (expected ${what})`,
          );
        }
        break;
      }
      default:
        out.push(`${where}: ${issue.message}`);
    }
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Formats zod issues of {@link rawDataSchema} for `input` as `path: problem` lines. */
export function formatRawDataIssues(issues: readonly Issue[], input: unknown): string[] {
  return formatIssues(issues, input, []);
}

/** `[0, 1, 2, 5, 7, 8]` → `0-2, 5, 7-8` */
function compactIndices(indices: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < indices.length; ) {
    let j = i;
    while (j + 1 < indices.length && indices[j + 1] === (indices[j] as number) + 1) j++;
    parts.push(j === i ? `${indices[i]}` : `${indices[i]}-${indices[j]}`);
    i = j + 1;
  }
  return parts.join(", ");
}

/**
 * The message: the first few problems, where the same problem in several clusters is told
 * once (`clusters[0-17]: unrecognized key "topic"`).
 */
function summarize(issues: readonly string[]): string {
  const groups = new Map<string, number[]>();
  const order: string[] = [];
  for (const issue of issues) {
    const m = /^clusters\[(\d+)\]([.[:][\s\S]*)$/.exec(issue);
    const key = m ? (m[2] as string) : `\u0000${issue}`;
    let group = groups.get(key);
    if (group === undefined) {
      group = [];
      groups.set(key, group);
      order.push(key);
    }
    if (m) group.push(Number(m[1]));
  }
  const lines = order.map((key) => {
    if (key.startsWith("\u0000")) return key.slice(1);
    return `clusters[${compactIndices(groups.get(key) ?? [])}]${key}`;
  });
  const listed = lines.slice(0, MAX_LISTED_ISSUES).join("; ");
  const more = lines.length - MAX_LISTED_ISSUES;
  return more > 0 ? `${listed}; and ${more} more ${more === 1 ? "problem" : "problems"}` : listed;
}

// ---------------------------------------------------------------------------------------------
// entry points

/**
 * Validates already-parsed JSON against {@link rawDataSchema} and normalizes it.
 * Throws a {@link RawDataError} (`kind: "shape"`) listing what is wrong.
 */
export function validateRawData(value: unknown, fileLabel?: string): NormalizedData {
  const result = rawDataSchema.safeParse(value);
  if (!result.success) {
    const issues = formatRawDataIssues(result.error.issues, value);
    throw new RawDataError(summarize(issues), { kind: "shape", issues, fileLabel });
  }
  return normalizeRawData(result.data);
}

/**
 * Parses a raw data file — preferably its bytes, so that invalid UTF-8 is caught rather than
 * read as U+FFFD — validates it and returns the normalized form. The JSON is read strictly
 * ({@link parseStrictJson}): a UTF-8 byte-order mark is ignored; a UTF-16/32 file, invalid
 * UTF-8, a key repeated in one object, NUL and lone surrogates are refused. `__proto__` and
 * `constructor` are ordinary keys. Throws a {@link RawDataError}:
 * - syntax: `JSON parse error at line 45, column 3: Expected ',' or '}' after property value`
 * - shape:  `clusters[2].questions: expected array, received string; …`
 * With `fileLabel`, the message starts with `<fileLabel>: `.
 */
export function parseRawJson(source: string | Uint8Array, fileLabel?: string): NormalizedData {
  return validateRawData(parseJsonText(source, fileLabel), fileLabel);
}

/** A query of a query file: its text and the record id of the cluster that answers it. */
export interface LabelledQuery {
  recordId: string;
  text: string;
  lengthType: string | null;
}

/**
 * Parses a query file (either raw form, answers optional; bytes preferred, as for
 * {@link parseRawJson}) into its queries, each labelled with its cluster's id. Errors are
 * {@link RawDataError}s, as for {@link parseRawJson}.
 */
export function parseQueryJson(source: string | Uint8Array, fileLabel?: string): LabelledQuery[] {
  return validateQueryData(parseJsonText(source, fileLabel), fileLabel);
}

/** {@link parseQueryJson} for already-parsed JSON. */
export function validateQueryData(value: unknown, fileLabel?: string): LabelledQuery[] {
  const result = queryFileSchema.safeParse(value);
  if (!result.success) {
    const issues = formatRawDataIssues(result.error.issues, value);
    throw new RawDataError(summarize(issues), { kind: "shape", issues, fileLabel });
  }
  return (result.data.clusters as Array<Partial<RawClusterA> & Partial<RawClusterB>>).flatMap(
    (cluster): LabelledQuery[] => {
      const recordId = String(cluster.answer_id ?? cluster.id).trim();
      if (cluster.questions)
        return cluster.questions.map((q) => ({ recordId, text: q.trim(), lengthType: null }));
      return Object.entries(cluster.queries ?? {}).flatMap(([lengthType, list]) =>
        list.map((q) => ({ recordId, text: q.trim(), lengthType })),
      );
    },
  );
}

/** {@link parseStrictJson}, its error as a {@link RawDataError} of kind `syntax`. */
function parseJsonText(source: string | Uint8Array, fileLabel?: string): unknown {
  try {
    return parseStrictJson(source);
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    throw new RawDataError(
      error.message,
      {
        kind: "syntax",
        issues: [error.message],
        fileLabel,
        line: error.line,
        column: error.column,
        offset: error.offset,
        byteOffset: error.byteOffset,
      },
      { cause: error },
    );
  }
}
