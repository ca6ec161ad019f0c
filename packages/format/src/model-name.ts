/**
 * Model names and their folders (docs/FORMAT.md §1–§2). A model name is one or more parts of
 * `[A-Za-z0-9._-]` joined by single `/`; its folder under `embeddings/` is the name with every
 * `/` written `__`, and that folder must not be `.` or `..`.
 */
import { describeValue, FormatError } from "./errors.js";

/**
 * The whole model-name rule as one regular expression (ECMAScript syntax, also the `pattern`
 * of `model` in docs/mh-projection.schema.json). {@link modelNameProblem} applies the same rule
 * and says what is wrong.
 */
export const MODEL_NAME_PATTERN = /^(?!\.\.?$)[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

const NAME_CHAR = /^[A-Za-z0-9._/-]$/;

/**
 * Why `name` is not a valid model name, or `null` when it is. The reason names the first
 * offending character with its code point and 1-based position (counted in characters), or
 * the empty part, or the unusable folder.
 */
export function modelNameProblem(name: unknown): string | null {
  if (typeof name !== "string") return `the name must be a string, got ${describeValue(name)}`;
  if (name.length === 0) return "the name is empty";
  let position = 0;
  for (const ch of name) {
    position++;
    if (!NAME_CHAR.test(ch)) {
      const hex = (ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0");
      return `character ${JSON.stringify(ch)} (U+${hex}) at position ${position} is not allowed; use letters A-Z a-z, digits, ".", "_", "-" and "/"`;
    }
  }
  // Every character is ASCII from here on, so string indices are positions.
  if (name.startsWith("/")) {
    return 'the name starts with "/"; "/" separates parts and no part may be empty';
  }
  if (name.endsWith("/")) {
    return 'the name ends with "/"; "/" separates parts and no part may be empty';
  }
  const doubled = name.indexOf("//");
  if (doubled >= 0) {
    return `"//" at position ${doubled + 1} leaves an empty part; separate parts with a single "/"`;
  }
  const folder = name.replaceAll("/", "__");
  if (folder === "." || folder === "..") return `"${folder}" is not a usable folder name`;
  return null;
}

/** Whether `name` is a valid model name (see {@link modelNameProblem} for why one is not). */
export function isModelName(name: unknown): name is string {
  return modelNameProblem(name) === null;
}

/** Throws a {@link FormatError} `INVALID_MODEL_NAME` saying why, unless `name` is a valid model name. */
export function assertModelName(name: unknown): asserts name is string {
  const problem = modelNameProblem(name);
  if (problem !== null) {
    const shown = typeof name === "string" ? JSON.stringify(name) : describeValue(name);
    throw new FormatError("INVALID_MODEL_NAME", `invalid model name ${shown}: ${problem}`, name);
  }
}

/**
 * The folder of a model under `embeddings/`: the name with every `/` written `__`
 * (`sentence-transformers/all-MiniLM-L6-v2` → `sentence-transformers__all-MiniLM-L6-v2`).
 * Throws a {@link FormatError} `INVALID_MODEL_NAME` for a name that breaks the rule.
 *
 * The mapping is not one-to-one: `a/b` and `a__b` share the folder `a__b`, so a store must
 * refuse a second model whose folder is already taken (it does, when the model is added).
 */
export function modelFolderName(name: string): string {
  assertModelName(name);
  return name.replaceAll("/", "__");
}
