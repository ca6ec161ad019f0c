import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect } from "vitest";
import { StoreError, type StoreErrorCode } from "../src/index.js";

/** The example's raw Q-A files (form (b)), in the repository. */
export const EXAMPLE_RAW = join(import.meta.dirname, "../../../examples/bike-care/raw");
/** JSON files that are not Q-A training data, each failing validation its own way. */
export const NOT_QA = join(import.meta.dirname, "../../schema/test/fixtures/not-qa");

export { unifyWeaverData } from "../../../tools/unifyweaver-data.mjs";

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary folder, removed after the test. */
export function tempDir(prefix = "ldakit-store-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** A raw form (a) file of `clusters` clusters with `questions` questions each. */
export function formA(clusters: number, questions: number, tag = "x"): string {
  return JSON.stringify({
    clusters: Array.from({ length: clusters }, (_, c) => ({
      answer: `Answer ${tag}-${c}: how to configure the widget number ${c}`,
      answer_id: `${tag}-${c}`,
      questions: Array.from(
        { length: questions },
        (_, q) => `How do I set up widget ${c} variant ${q} (${tag})?`,
      ),
    })),
  });
}

export function writeFiles(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

/** The example's three Q-A files and the two files of other shapes, copied into one folder. */
export function copyRepositoryData(to: string): void {
  cpSync(EXAMPLE_RAW, to, { recursive: true });
  cpSync(NOT_QA, to, { recursive: true });
}

/** Every `.npy` file under the store's `embeddings/` (relative POSIX paths), sorted. */
export function vectorFilesOnDisk(root: string): string[] {
  const base = join(root, "embeddings");
  try {
    return (
      readdirSync(base, { recursive: true, withFileTypes: true }) as import("node:fs").Dirent[]
    )
      .filter((e) => e.isFile())
      .map((e) =>
        join(e.parentPath, e.name)
          .slice(root.length + 1)
          .split("\\")
          .join("/"),
      )
      .sort();
  } catch {
    return [];
  }
}

/** Runs a query with the sqlite3 command-line shell: the database file as a real peer sees it. */
export function sqlite3(dbPath: string, sql: string): string {
  const result = spawnSync("sqlite3", [dbPath, sql], { encoding: "utf8" });
  if (result.error)
    throw new Error(
      `sqlite3 is needed for this test (apt-get install sqlite3): ${result.error.message}`,
    );
  if (result.status !== 0) throw new Error(`sqlite3 failed: ${result.stderr}`);
  return result.stdout.trim();
}

/** Awaits `promise` and checks it rejects with a {@link StoreError} of this code and message. */
export async function expectStoreError(
  promise: Promise<unknown>,
  code: StoreErrorCode,
  message: RegExp,
): Promise<StoreError> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!("error" in outcome)) throw new Error(`expected a StoreError ${code}, got a result`);
  const { error } = outcome;
  expect(error, String(error)).toBeInstanceOf(StoreError);
  expect((error as StoreError).code, (error as Error).message).toBe(code);
  expect((error as StoreError).name).toBe("StoreError");
  expect((error as StoreError).message).toMatch(message);
  return error as StoreError;
}
