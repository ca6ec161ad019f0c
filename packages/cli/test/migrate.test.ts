import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { unifyWeaverData } from "../../../tools/unifyweaver-data.mjs";

const CLI = join(import.meta.dirname, "..", "dist", "main.js");
/** The example's raw Q-A files (form (b)), in the repository. */
const EXAMPLE_RAW = join(import.meta.dirname, "../../../examples/bike-care/raw");
/** JSON files that are not Q-A training data, each failing validation its own way. */
const NOT_QA = join(import.meta.dirname, "../../schema/test/fixtures/not-qa");
const UNIFYWEAVER = unifyWeaverData(
  "migrate runs on examples/bike-care with the not-qa test files instead",
);

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "ldakit-cli-"));
  dirs.push(d);
  return d;
}

function ldakit(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    encoding: "utf8",
    env: { ...process.env, ...options.env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The example's three Q-A files and the two files of other shapes, in one new folder. */
function repositoryData(): string {
  const input = join(tempDir(), "raw");
  cpSync(EXAMPLE_RAW, input, { recursive: true });
  cpSync(NOT_QA, input, { recursive: true });
  return input;
}

interface MigrateRun {
  files: number;
  completed: number;
  /** The failed batches in id order: id, file name, the start of the validation message. */
  failed: [number, string, string][];
}

/** Scans, processes and lists `input` in a fresh folder; exit 1 because some batch failed. */
function scanProcessList(input: string, want: MigrateRun): void {
  const cwd = tempDir();
  const scan = ldakit(["migrate", "--scan", "--input", input], { cwd });
  expect(scan.code).toBe(0);
  expect(scan.stdout).toContain(`scan: ${want.files} new, 0 modified, 0 unchanged`);

  const processed = ldakit(["migrate", "--process-pending"], { cwd });
  expect(processed.code).toBe(1);
  expect(processed.stdout).toContain(
    `processed ${want.files} batch(es): ${want.completed} completed, ${want.failed.length} failed`,
  );
  expect(processed.stderr).not.toMatch(/\[.*\]\s+\d+%/); // no progress bar when stderr is not a terminal

  const listed = ldakit(["migrate", "--list-batches"], { cwd });
  expect(listed.code).toBe(0);
  expect(listed.stdout).toMatch(/^batch\s+status\s+clusters\s+questions/m);
  for (const [id, file, error] of want.failed) {
    expect(listed.stdout).toContain(
      `Batch ${id}: FAILED\n  File: ${join(input, file)}\n  Error: ${error}`,
    );
  }

  const again = ldakit(["migrate", "--scan", "--input", input, "--json"], { cwd });
  expect(JSON.parse(again.stdout).scan).toEqual({
    new: [],
    modified: [],
    unchanged: want.files,
    skipped: [],
  });

  const failed = ldakit(["migrate", "--list-batches", "--status", "failed", "--json"], { cwd });
  expect(JSON.parse(failed.stdout).batches.map((b: { batch_id: number }) => b.batch_id)).toEqual(
    want.failed.map(([id]) => id),
  );
}

describe("ldakit migrate", () => {
  it("scans, processes and lists the example with files of other shapes; exit 1 when a batch failed; --status filters", () => {
    scanProcessList(repositoryData(), {
      files: 5,
      completed: 3,
      failed: [
        [3, "relations.json", "clusters: missing;"],
        [5, "topics.json", 'clusters[0-2]: unrecognized key "topic"'],
      ],
    });
  });

  it.skipIf(!UNIFYWEAVER)(
    "scans, processes and lists the UnifyWeaver data (LDAKIT_UNIFYWEAVER_DATA); --status filters",
    () => {
      scanProcessList(UNIFYWEAVER as string, {
        files: 7,
        completed: 5,
        failed: [
          [6, "relations.json", "clusters: "],
          [7, "smoothing_test_data.json", "clusters["],
        ],
      });
    },
  );

  it("takes --db, else LDAKIT_DB, else ./lda.db, and prints JSON with --json", () => {
    const cwd = tempDir();
    const input = join(cwd, "raw");
    mkdirSync(input);
    writeFileSync(
      join(input, "one.json"),
      JSON.stringify({
        clusters: [
          { answer: "Tea: steep 3 minutes.", answer_id: 7, questions: ["How long to steep tea?"] },
        ],
      }),
    );
    const viaFlag = ldakit(
      [
        "--db",
        join(cwd, "a", "store.db"),
        "migrate",
        "--scan",
        "--input",
        input,
        "--process-pending",
        "--json",
      ],
      { cwd },
    );
    expect(viaFlag.code).toBe(0);
    const report = JSON.parse(viaFlag.stdout);
    expect(report.scan.new).toHaveLength(1);
    expect(report.processed.completed).toEqual([
      { batch_id: 1, file: join(input, "one.json"), clusters: 1, questions: 1, vectors: 2 },
    ]);

    const viaEnv = ldakit(["migrate", "--list-batches", "--json"], {
      cwd,
      env: { LDAKIT_DB: join(cwd, "a", "store.db") },
    });
    expect(JSON.parse(viaEnv.stdout).batches.map((b: { status: string }) => b.status)).toEqual([
      "completed",
    ]);

    // Listing only reads: ./lda.db must exist, and only migrate makes it.
    expect(ldakit(["migrate"], { cwd, env: { LDAKIT_DB: "" } }).stdout).toMatch(
      /^store .*lda\.db: schema /,
    );
    const viaDefault = ldakit(["migrate", "--list-batches", "--json"], {
      cwd,
      env: { LDAKIT_DB: "" },
    });
    expect(JSON.parse(viaDefault.stdout).batches).toEqual([]);
  });

  it("exits 2 on usage errors", () => {
    const cwd = tempDir();
    expect(ldakit(["migrate", "--scan"], { cwd }).stderr).toMatch(/--scan needs --input DIR/);
    expect(ldakit(["migrate", "--list-batches", "--status", "done"], { cwd }).code).toBe(2);
    expect(ldakit(["migrate", "--bogus"], { cwd }).code).toBe(2);
    expect(ldakit(["no-such-command"], { cwd }).code).toBe(2);
    expect(ldakit(["--help"], { cwd }).code).toBe(0);
  });

  it("names the command that fetches a model that is not there", () => {
    const cwd = tempDir();
    expect(ldakit(["migrate"], { cwd }).code).toBe(0);
    const result = ldakit(["migrate", "--process-pending", "--model", "no-such-model"], {
      cwd,
      env: { LDAKIT_CACHE: join(cwd, "cache") },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no-such-model/);
  });
});
