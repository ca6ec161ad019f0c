import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const CLI = join(import.meta.dirname, "..", "dist", "main.js");

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function ldakit(args: string[], cwd: string) {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: "utf8" });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The pid of a process that has exited (the kernel does not hand it out again at once). */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ["-e", "console.log(process.pid)"]).stdout.toString());
}

/** A store of 3 clusters (hash-32) with one projection, built by the CLI. */
function store(): string {
  const cwd = mkdtempSync(join(tmpdir(), "ldakit-cli-verify-"));
  dirs.push(cwd);
  mkdirSync(join(cwd, "raw"));
  writeFileSync(
    join(cwd, "raw", "data.json"),
    JSON.stringify({
      clusters: [0, 1, 2].map((c) => ({
        answer: `Answer ${c}: turn knob ${c} clockwise`,
        answer_id: `r${c}`,
        questions: [0, 1].map((q) => `how do I turn knob ${c}, way ${q}?`),
      })),
    }),
  );
  const built = ldakit(
    ["migrate", "--scan", "--input", "raw", "--process-pending", "--model", "hash-32"],
    cwd,
  );
  expect(built.code, built.stderr).toBe(0);
  const trained = ldakit(["train", "--temperature", "0.1"], cwd);
  expect(trained.code, trained.stderr).toBe(0);
  return cwd;
}

describe("ldakit verify", () => {
  it("says ok for a store the CLI built", () => {
    const cwd = store();
    const ok = ldakit(["verify"], cwd);
    expect(ok).toMatchObject({ code: 0, stdout: "ok: 16 files, 1 projections checked\n" });
    const one = ldakit(["verify", "--mh-id", "1", "--json"], cwd);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toEqual({
      ok: true,
      problems: [],
      checked: { files: 7, projections: 1 },
    });
  });

  it("prints each problem with its path and exits 1", () => {
    const cwd = store();
    rmSync(join(cwd, "embeddings", "hash-32", "q_002.npy"));
    writeFileSync(join(cwd, "embeddings", "hash-32", "mh_1.json"), "{");
    writeFileSync(join(cwd, "embeddings", "hash-32", `.a_001.npy.${deadPid()}.x.tmp`), "");
    const bad = ldakit(["verify"], cwd);
    expect(bad.code).toBe(1);
    expect(bad.stdout.split("\n").filter(Boolean)).toEqual([
      expect.stringMatching(
        /^embeddings\/hash-32\/\.a_001\.npy\.\d+\.x\.tmp: temporary file left by an interrupted write$/,
      ),
      expect.stringMatching(/^embeddings\/hash-32\/mh_1\.json: not valid JSON/),
      expect.stringMatching(/^embeddings\/hash-32\/q_002\.npy: missing \(embeddings row/),
    ]);
    expect(bad.stderr).toMatch(/verify: 3 problems/);
    const json = ldakit(["--json", "verify"], cwd);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).problems).toHaveLength(3);
    // --mh-id checks the projection only.
    expect(ldakit(["verify", "--mh-id", "1"], cwd).stdout).toMatch(
      /^embeddings\/hash-32\/mh_1\.json: not valid JSON[^\n]*\n$/,
    );
  });

  it("--repair removes what interrupted commands left, lists each file, and leaves the store clean", () => {
    const cwd = store();
    const folder = join(cwd, "embeddings", "hash-32");
    const tmp = `.q_001.npy.${deadPid()}.0123456789ab.tmp`;
    writeFileSync(join(folder, tmp), "partial");
    copyFileSync(join(folder, "q_001.npy"), join(folder, "q_099.npy"));
    copyFileSync(join(folder, "mh_1.json"), join(folder, "mh_7.json"));
    const before = ldakit(["verify"], cwd);
    expect(before.code).toBe(1);
    expect(before.stderr).toMatch(/verify: 3 problems/);
    const repaired = ldakit(["verify", "--repair"], cwd);
    expect(repaired.code, repaired.stderr).toBe(0);
    const lines = repaired.stdout.split("\n").filter(Boolean);
    expect(lines.slice(0, 3).sort()).toEqual(
      [
        expect.stringMatching(
          new RegExp(`^removed embeddings/hash-32/${tmp.replaceAll(".", "\\.")}: `),
        ),
        expect.stringMatching(/^removed embeddings\/hash-32\/mh_7\.json: /),
        expect.stringMatching(/^removed embeddings\/hash-32\/q_099\.npy: /),
      ].sort(),
    );
    expect(lines.slice(3)).toEqual([
      "repair: 3 files removed",
      "ok: 16 files, 1 projections checked",
    ]);
    expect(readdirSync(folder)).not.toContain("q_099.npy");
    // Nothing left: a second repair removes nothing and says so in JSON too.
    const again = ldakit(["--json", "verify", "--repair"], cwd);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ ok: true, repaired: [], problems: [] });
  });

  it("exits 2 on a bad --mh-id and 1 when there is no store", () => {
    const cwd = mkdtempSync(join(tmpdir(), "ldakit-cli-verify-"));
    dirs.push(cwd);
    expect(ldakit(["verify", "--mh-id", "x"], cwd).code).toBe(2);
    const none = ldakit(["--db", "missing.db", "verify"], cwd);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no store at missing\.db/);
  });
});
