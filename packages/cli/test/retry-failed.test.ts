import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const CLI = join(import.meta.dirname, "..", "dist", "main.js");
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function ldakit(cwd: string, args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const good = (tag: string) =>
  JSON.stringify({
    clusters: [0, 1].map((c) => ({
      answer: `answer ${tag} ${c}`,
      answer_id: `${tag}${c}`,
      questions: [`question ${tag} ${c}?`, `another ${tag} ${c}?`],
    })),
  });
const NOT_QA = JSON.stringify({ nope: 1 });
const NOT_QA_ERROR = "clusters: missing; expected an array of Q-A clusters";

/**
 * Four batches failed for three reasons, then: batch 1 (a.json, not Q-A) is superseded by
 * batch 4, a later scan of the fixed file that completed; batch 2 (b.json) failed because the
 * file was away, and it is back; batch 3 (c.json) is still not Q-A.
 */
function scenario(): string {
  const cwd = mkdtempSync(join(tmpdir(), "ldakit-retry-"));
  dirs.push(cwd);
  const raw = join(cwd, "raw");
  mkdirSync(raw);
  writeFileSync(join(raw, "a.json"), NOT_QA);
  writeFileSync(join(raw, "b.json"), good("b"));
  writeFileSync(join(raw, "c.json"), NOT_QA);
  expect(ldakit(cwd, ["migrate", "--scan", "--input", "raw"]).code).toBe(0);
  renameSync(join(raw, "b.json"), join(cwd, "b.away"));
  expect(ldakit(cwd, ["migrate", "--process-pending"]).code).toBe(1);
  renameSync(join(cwd, "b.away"), join(raw, "b.json"));
  writeFileSync(join(raw, "a.json"), good("a"));
  const scan = ldakit(cwd, ["migrate", "--scan", "--input", "raw"]);
  expect(scan.stdout).toContain("modified  batch 4");
  const processed = ldakit(cwd, ["migrate", "--process-pending"]);
  expect(processed.stdout).toContain("Batch 4: COMPLETED");
  return cwd;
}

describe("migrate --retry-failed says what happened to each failed batch", () => {
  it("text: retried and completed, retried and failed again, superseded; exit 1", () => {
    const cwd = scenario();
    const r = ldakit(cwd, ["migrate", "--retry-failed"]);
    expect(r.code).toBe(1);
    const raw = join(cwd, "raw");
    expect(r.stdout).toContain(
      `Batch 1: not retried: superseded by batch 4, a newer scan of the same file (still failed)\n  File: ${join(raw, "a.json")}\n  Error: ${NOT_QA_ERROR}`,
    );
    expect(r.stdout).toMatch(
      /Batch 2: retried, COMPLETED {2}2 clusters, 4 questions, 6 vectors \(hash-384\)\n {2}File: .*b\.json/,
    );
    expect(r.stdout).toContain(
      `Batch 3: retried, FAILED again\n  File: ${join(raw, "c.json")}\n  Error: ${NOT_QA_ERROR}`,
    );
    expect(r.stdout).toContain(
      "retry: 3 failed batch(es): 1 retried and completed, 1 retried and failed again, 1 superseded (not retried)",
    );
    expect(r.stdout).not.toContain("nothing pending");
    // batch 1 keeps its own error; it was not failed again as superseded
    const failed = JSON.parse(
      ldakit(cwd, ["migrate", "--list-batches", "--status", "failed", "--json"]).stdout,
    ).batches as Array<{ batch_id: number; error_message: string }>;
    expect(failed.map((b) => b.batch_id)).toEqual([1, 3]);
    expect(failed[0]?.error_message).toContain(NOT_QA_ERROR);

    const again = ldakit(cwd, ["migrate", "--retry-failed"]);
    expect(again.code).toBe(1);
    expect(again.stdout).toContain(
      "retry: 2 failed batch(es): 0 retried and completed, 1 retried and failed again, 1 superseded (not retried)",
    );
  });

  it("--json: one entry per failed batch with its result", () => {
    const cwd = scenario();
    const r = ldakit(cwd, ["migrate", "--retry-failed", "--json"]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.retried).toEqual([2, 3]);
    const retries = report.retries as Array<Record<string, unknown>>;
    expect(retries.map((x) => [x.batch_id, x.result, x.status, x.superseded_by])).toEqual([
      [1, "superseded", "failed", 4],
      [2, "completed", "completed", null],
      [3, "failed", "failed", null],
    ]);
    expect(retries[0]?.error).toBeNull();
    expect(retries[0]?.previous_error).toContain(NOT_QA_ERROR);
    expect(String(retries[1]?.previous_error)).not.toBe("");
    expect(retries[2]?.error).toContain(NOT_QA_ERROR);
    expect(report.processed.completed.map((o: { batch_id: number }) => o.batch_id)).toEqual([2]);
  });

  it("with no failed batch it says so and exits 0", () => {
    const cwd = mkdtempSync(join(tmpdir(), "ldakit-retry-"));
    dirs.push(cwd);
    mkdirSync(join(cwd, "raw"));
    writeFileSync(join(cwd, "raw", "a.json"), good("a"));
    ldakit(cwd, ["migrate", "--scan", "--input", "raw"]);
    expect(ldakit(cwd, ["migrate", "--process-pending"]).code).toBe(0);
    const r = ldakit(cwd, ["migrate", "--retry-failed"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe("retry: no failed batches");
  });
});

describe("migrate --process-pending names a batch it skips because the file changed again", () => {
  it("text and --json: superseded by the newer scan, which is processed; exit 0", () => {
    const cwd = mkdtempSync(join(tmpdir(), "ldakit-superseded-"));
    dirs.push(cwd);
    const raw = join(cwd, "raw");
    mkdirSync(raw);
    writeFileSync(join(raw, "a.json"), good("v1"));
    expect(ldakit(cwd, ["migrate", "--scan", "--input", "raw"]).code).toBe(0);
    writeFileSync(join(raw, "a.json"), good("v2"));
    expect(ldakit(cwd, ["migrate", "--scan", "--input", "raw"]).code).toBe(0);
    const text = ldakit(cwd, ["migrate", "--process-pending"]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(
      `Batch 1: SUPERSEDED by batch 2, a newer scan of the same file (not processed; marked failed)\n  File: ${join(raw, "a.json")}\n`,
    );
    expect(text.stdout).toContain("processed 1 batch(es): 1 completed, 0 failed, 1 superseded");

    writeFileSync(join(raw, "a.json"), good("v3"));
    expect(ldakit(cwd, ["migrate", "--scan", "--input", "raw"]).code).toBe(0);
    writeFileSync(join(raw, "a.json"), good("v4"));
    expect(ldakit(cwd, ["migrate", "--scan", "--input", "raw"]).code).toBe(0);
    const json = ldakit(cwd, ["--json", "migrate", "--process-pending"]);
    expect(json.code, json.stderr).toBe(0);
    const { processed } = JSON.parse(json.stdout);
    expect(processed.completed.map((o: { batch_id: number }) => o.batch_id)).toEqual([4]);
    expect(processed.superseded).toEqual([
      { batch_id: 3, file: join(raw, "a.json"), superseded_by: 4 },
    ]);
  });
});
