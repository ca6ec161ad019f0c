// The TypeScript conformance runner as a vitest suite: one test per case of
// fixtures/manifest.json, honouring expected-failures.txt as the other runners do.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readExpectedFailures, readManifest, runCase, staleEntries, verdict } from "./cases.mjs";

const manifest = readManifest();
const expected = readExpectedFailures();

describe("fixtures/manifest.json through @ldakit/npy, @ldakit/search and @ldakit/format", () => {
  it("is the manifest format this runner reads", () => {
    expect(manifest.format).toBe("ldakit.conformance/1");
    expect(manifest.cases.length).toBeGreaterThan(100);
  });

  for (const kind of ["npy-valid", "npy-invalid", "heads", "model-name"] as const) {
    describe(kind, () => {
      for (const c of manifest.cases.filter((x) => x.kind === kind)) {
        it(c.name, async () => {
          const v = verdict(c.name, await runCase(c, manifest), expected);
          expect(v.status, v.line).not.toBe("FAIL");
        });
      }
    });
  }

  it("has no stale entries in expected-failures.txt", () => {
    expect(staleEntries(manifest, expected).map((v) => v.line)).toEqual([]);
  });
});

describe("expected failures", () => {
  const list = new Map([["a", "known bug"]]);
  it("a listed case that fails is an xfail, one that passes is a failure (stale)", () => {
    expect(verdict("a", "wrong", list).status).toBe("xfail");
    expect(verdict("a", null, list)).toMatchObject({ status: "FAIL" });
    expect(verdict("a", null, list).line).toMatch(/passes but is listed in expected-failures/);
    expect(verdict("b", "wrong", list).line).toBe("FAIL b: wrong");
    expect(verdict("b", null, list).line).toBe("ok  b");
  });
  it("an entry the manifest does not have is a failure", () => {
    const stale = staleEntries(manifest, list);
    expect(stale.map((v) => v.status)).toEqual(["FAIL"]);
    expect(stale[0]?.line).toMatch(/the manifest has no such case/);
  });
});

describe("run.mjs", () => {
  it("prints a line per case and the closing line, as the other runners do", () => {
    const run = spawnSync(
      process.execPath,
      [join(import.meta.dirname, "run.mjs"), "--run", "heads/"],
      {
        encoding: "utf8",
      },
    );
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split("\n");
    const heads = manifest.cases.filter((c) => c.name.includes("heads/"));
    expect(lines.slice(0, heads.length)).toEqual(heads.map((c) => `ok  ${c.name}`));
    expect(lines.at(-1)).toBe(`${heads.length} passed, 0 failed`);
  });
});
