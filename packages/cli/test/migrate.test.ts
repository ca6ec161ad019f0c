import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const CLI = join(import.meta.dirname, "..", "dist", "main.js");
const SHARED_DATA = join(import.meta.dirname, "../../../../shared/data/unifyweaver-lda");

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

describe("ldakit migrate", () => {
  it("scans, processes and lists the UnifyWeaver data; exit 1 when a batch failed", () => {
    const cwd = tempDir();
    const scan = ldakit(["migrate", "--scan", "--input", SHARED_DATA], { cwd });
    expect(scan.code).toBe(0);
    expect(scan.stdout).toMatch(/scan: 7 new, 0 modified, 0 unchanged/);

    const processed = ldakit(["migrate", "--process-pending"], { cwd });
    expect(processed.code).toBe(1);
    expect(processed.stdout).toMatch(/processed 7 batch\(es\): 5 completed, 2 failed/);
    expect(processed.stderr).not.toMatch(/\[.*\]\s+\d+%/); // no progress bar when stderr is not a terminal

    const listed = ldakit(["migrate", "--list-batches"], { cwd });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^batch\s+status\s+clusters\s+questions/m);
    expect(listed.stdout).toMatch(
      /^Batch 6: FAILED\n {2}File: .*relations\.json\n {2}Error: clusters: /m,
    );
    expect(listed.stdout).toMatch(
      /^Batch 7: FAILED\n {2}File: .*smoothing_test_data\.json\n {2}Error: clusters\[/m,
    );

    const again = ldakit(["migrate", "--scan", "--input", SHARED_DATA, "--json"], { cwd });
    expect(JSON.parse(again.stdout).scan).toEqual({ new: [], modified: [], unchanged: 7 });
  });

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

    const viaDefault = ldakit(["migrate", "--list-batches", "--json"], {
      cwd,
      env: { LDAKIT_DB: "" },
    });
    expect(JSON.parse(viaDefault.stdout).batches).toEqual([]);
  });

  it("filters --list-batches by --status", () => {
    const cwd = tempDir();
    ldakit(["migrate", "--scan", "--input", SHARED_DATA, "--process-pending"], { cwd });
    const failed = ldakit(["migrate", "--list-batches", "--status", "failed", "--json"], { cwd });
    expect(JSON.parse(failed.stdout).batches.map((b: { batch_id: number }) => b.batch_id)).toEqual([
      6, 7,
    ]);
  });

  it("exits 2 on usage errors", () => {
    const cwd = tempDir();
    expect(ldakit(["migrate"], { cwd }).code).toBe(2);
    expect(ldakit(["migrate", "--scan"], { cwd }).stderr).toMatch(/--scan needs --input DIR/);
    expect(ldakit(["migrate", "--list-batches", "--status", "done"], { cwd }).code).toBe(2);
    expect(ldakit(["migrate", "--bogus"], { cwd }).code).toBe(2);
    expect(ldakit(["no-such-command"], { cwd }).code).toBe(2);
    expect(ldakit(["--help"], { cwd }).code).toBe(0);
  });

  it("names the command that fetches a model that is not there", () => {
    const cwd = tempDir();
    const result = ldakit(["migrate", "--process-pending", "--model", "no-such-model"], {
      cwd,
      env: { LDAKIT_CACHE: join(cwd, "cache") },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no-such-model/);
  });
});
