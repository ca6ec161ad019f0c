import { describe, expect, it } from "vitest";
import {
  assertModelName,
  FormatError,
  isModelName,
  MODEL_NAME_PATTERN,
  modelFolderName,
  modelNameProblem,
} from "../src/index.js";

/** Valid names and their folders. */
const VALID: Array<[string, string]> = [
  ["hash-384", "hash-384"],
  ["all-MiniLM-L6-v2", "all-MiniLM-L6-v2"],
  ["sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers__all-MiniLM-L6-v2"],
  ["a.b_c/d/e", "a.b_c__d__e"],
  ["a", "a"],
  ["_", "_"],
  ["...", "..."],
  ["a__b", "a__b"],
  // `.` and `..` are refused only as the whole folder: `/` never reaches the file system, so
  // `../a` is the plain folder `..__a`, inside `embeddings/` like any other.
  ["../a", "..__a"],
  ["a/..", "a__.."],
  ["./.", ".__."],
];

/** Invalid names and the exact reason. */
const INVALID: Array<[unknown, string]> = [
  ["", "the name is empty"],
  [
    "my model",
    'character " " (U+0020) at position 3 is not allowed; use letters A-Z a-z, digits, ".", "_", "-" and "/"',
  ],
  ["a\\b", 'character "\\\\" (U+005C) at position 2 is not allowed'],
  ["modèle", 'character "è" (U+00E8) at position 4 is not allowed'],
  ["m😀x", 'character "😀" (U+1F600) at position 2 is not allowed'],
  // positions count characters, not UTF-16 units: the refused character comes first anyway
  ["😀😀", 'character "😀" (U+1F600) at position 1 is not allowed'],
  ["ａbc", 'character "ａ" (U+FF41) at position 1 is not allowed'],
  ["a:b", 'character ":" (U+003A) at position 2'],
  ["a\nb", 'character "\\n" (U+000A) at position 2'],
  ["a\u0000", 'character "\\u0000" (U+0000) at position 2'],
  ["a b//c", 'character " " (U+0020) at position 2'],
  ["a//b", '"//" at position 2 leaves an empty part; separate parts with a single "/"'],
  ["org/a///b", '"//" at position 6 leaves an empty part'],
  ["/a", 'the name starts with "/"; "/" separates parts and no part may be empty'],
  ["a/", 'the name ends with "/"; "/" separates parts and no part may be empty'],
  ["/", 'the name starts with "/"'],
  [".", '"." is not a usable folder name'],
  ["..", '".." is not a usable folder name'],
  [42, "the name must be a string, got the number 42"],
  [null, "the name must be a string, got null"],
  [undefined, "the name must be a string, got undefined"],
];

describe("the model-name rule", () => {
  it.each(VALID)("%j is valid, folder %j", (name, folder) => {
    expect(modelNameProblem(name)).toBeNull();
    expect(isModelName(name)).toBe(true);
    expect(MODEL_NAME_PATTERN.test(name)).toBe(true);
    expect(modelFolderName(name)).toBe(folder);
    expect(() => assertModelName(name)).not.toThrow();
  });

  it.each(INVALID)("%j is refused: %s", (name, reason) => {
    const problem = modelNameProblem(name);
    expect(problem).not.toBeNull();
    expect(problem?.startsWith(reason)).toBe(true);
    expect(isModelName(name)).toBe(false);
    if (typeof name === "string") expect(MODEL_NAME_PATTERN.test(name)).toBe(false);
    let thrown: unknown;
    try {
      modelFolderName(name as string);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(FormatError);
    const error = thrown as FormatError;
    expect(error.code).toBe("INVALID_MODEL_NAME");
    expect(error.value).toBe(name);
    expect(error.problems).toEqual([error.message]);
    const shown = typeof name === "string" ? JSON.stringify(name) : "";
    expect(error.message.startsWith(`invalid model name ${shown}`)).toBe(true);
    expect(error.message.endsWith(`: ${problem}`)).toBe(true);
  });

  it("says what and where in one line", () => {
    expect(() => modelFolderName("my model")).toThrow(
      'invalid model name "my model": character " " (U+0020) at position 3 is not allowed; use letters A-Z a-z, digits, ".", "_", "-" and "/"',
    );
    expect(() => assertModelName(7)).toThrow(
      "invalid model name the number 7: the name must be a string, got the number 7",
    );
  });

  it("maps a/b and a__b to one folder (the mapping is not one-to-one)", () => {
    expect(modelFolderName("a/b")).toBe(modelFolderName("a__b"));
  });

  it("the pattern and the function agree on every short name over a small alphabet", () => {
    // Every string of up to 4 characters over these 6 is a corner somewhere: dots alone, slashes
    // at either end or doubled, a refused character at each position.
    const alphabet = ["a", ".", "/", "_", "-", " "];
    let checked = 0;
    const visit = (prefix: string) => {
      expect(MODEL_NAME_PATTERN.test(prefix), JSON.stringify(prefix)).toBe(
        modelNameProblem(prefix) === null,
      );
      checked++;
      if (prefix.length < 4) for (const c of alphabet) visit(prefix + c);
    };
    visit("");
    expect(checked).toBe(1 + 6 + 36 + 216 + 1296);
  });
});
