/**
 * The one error type of `@ldakit/format`. Callers switch on `code` (stable) and show `message`
 * (for people; it names the offending value and, where given, where it came from).
 */

/** Stable codes of {@link FormatError}, one per rule of the convention that a value can break. */
export type FormatErrorCode =
  /**
   * A model name that has no folder: empty, not a string, a character outside
   * `[A-Za-z0-9._-]` and `/`, an empty part (`a//b`, `/a`, `a/`), or the folder `.` / `..`.
   */
  | "INVALID_MODEL_NAME"
  /** A question, cluster or projection id that is not an integer in `0 … 2^53 − 1`. */
  | "INVALID_ID"
  /** An entity type other than `question` / `answer`, or a head role other than `centroid` / `answer`. */
  | "INVALID_FILE_KIND"
  /** A value that is not a valid `mh_<id>.json` object; `problems` lists every rule it breaks. */
  | "INVALID_PROJECTION_META";

/** Every failure of this package is a `FormatError`. */
export class FormatError extends Error {
  readonly code: FormatErrorCode;
  /** The value that broke the rule, as it was passed in. */
  readonly value: unknown;
  /** Every rule the value breaks (one entry unless the code is `INVALID_PROJECTION_META`). */
  readonly problems: readonly string[];

  constructor(
    code: FormatErrorCode,
    message: string,
    value: unknown,
    problems: readonly string[] = [message],
  ) {
    super(message);
    this.name = "FormatError";
    this.code = code;
    this.value = value;
    this.problems = problems;
  }
}

/** A short description of a value for messages: `the string "x"`, `the number 3`, `null`, … */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  if (typeof value === "number") return `the number ${String(value)}`;
  if (typeof value === "bigint") return `the bigint ${String(value)}`;
  if (typeof value === "boolean") return String(value);
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}
