import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appliancesFolder } from "./appliances.js";

const CLI = join(import.meta.dirname, "..", "dist", "main.js");

function ldakit(cwd: string, args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let cwd: string;
beforeAll(() => {
  cwd = appliancesFolder("ldakit-cli-options-");
  expect(ldakit(cwd, ["migrate", "--scan", "--input", "raw"]).code).toBe(0);
  expect(ldakit(cwd, ["migrate", "--process-pending"]).code).toBe(0);
});
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

const projectionCount = () =>
  JSON.parse(ldakit(cwd, ["stats", "--json"]).stdout).projections as number;

describe("train --temperature 1e-40 (it stored Recall@1 100%, MRR 1.000)", () => {
  it("is a usage error naming the option and the range; nothing is stored, verify stays clean", () => {
    const before = projectionCount();
    const r = ldakit(cwd, ["train", "--temperature", "1e-40", "--adapter", "none"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("option '--temperature <t>' argument '1e-40' is invalid");
    expect(r.stderr).toContain(
      "--temperature must be auto or a number from 1.1754943508222875e-38 to 8.507059173023462e+37",
    );
    expect(projectionCount()).toBe(before);
    const verify = ldakit(cwd, ["verify"]);
    expect(verify.code, verify.stdout).toBe(0);
  });
});

// Each numeric option at and just past the edges of its range: [args, accepted].
const edges: Array<[string, string[], boolean]> = [
  ["search", ["search", "kettle", "--top-k", "0"], false],
  ["search", ["search", "kettle", "--top-k", "1"], true],
  ["search", ["search", "kettle", "--top-k", "10000"], true],
  ["search", ["search", "kettle", "--top-k", "10001"], false],
  ["search", ["search", "kettle", "--top-k", "1e9"], false],
  ["search", ["search", "kettle", "--top-k", "2.5"], false],
  ["search", ["search", "kettle", "--mh-id", "0"], false],
  ["search", ["search", "kettle", "--mh-id", "1"], true],
  ["search", ["search", "kettle", "--mh-id", "-1"], false],
  ["search", ["search", "kettle", "--mh-id", "1x"], false],
  ["verify", ["verify", "--mh-id", "0"], false],
  ["verify", ["verify", "--mh-id", "1"], true],
  ["eval", ["eval", "--queries", "q.json", "--mh-id", "9007199254740992"], false],
  ["train", ["train", "--folds", "1"], false],
  ["train", ["train", "--folds", "21"], false],
  ["train", ["train", "--folds", "1000"], false],
  ["train", ["train", "--folds", "2", "--temperature", "1.1754943508222875e-38"], true],
  ["train", ["train", "--folds", "12", "--temperature", "8.507059173023462e37"], true],
  ["train", ["train", "--temperature", "1e38"], false],
  ["train", ["train", "--temperature", "0"], false],
  ["train", ["train", "--temperature", "abc"], false],
  ["train", ["train", "--blend", "-0.01"], false],
  ["train", ["train", "--blend", "1.01"], false],
  ["train", ["train", "--blend", " "], false],
  ["train", ["train", "--blend", "0", "--temperature", "0.1"], true],
  ["train", ["train", "--centroid", "median"], false],
  ["train", ["train", "--adapter", "quadratic"], false],
  ["embed", ["embed", "--model", "hash-8", "--batch-size", "0", "a"], false],
  ["embed", ["embed", "--model", "hash-8", "--batch-size", "65536", "a"], true],
  ["embed", ["embed", "--model", "hash-8", "--batch-size", "65537", "a"], false],
];

describe("numeric options have a range", () => {
  beforeAll(() => {
    // a projection for --mh-id 1, and queries for eval
    expect(ldakit(cwd, ["train", "--adapter", "none", "--blend", "1", "--folds", "2"]).code).toBe(
      0,
    );
    writeFileSync(join(cwd, "q.json"), JSON.stringify({ queries: { r0: "kettle?" } }));
  });

  it.each(edges)("%s %j", (_, args, accepted) => {
    const r = ldakit(cwd, args);
    if (accepted) {
      expect(r.code, r.stderr).toBe(0);
      return;
    }
    expect(r.code, r.stderr).toBe(2);
    const option = args.filter((a) => a.startsWith("--")).at(-1) as string;
    expect(r.stderr).toContain(`option '${option} <`);
    expect(r.stderr).toContain(`argument '${args[args.indexOf(option) + 1]}' is invalid`);
    expect(r.stderr).toMatch(/from .* to |Allowed choices are/);
  });

  it("folds within 2..20 but above the number of questions are refused by train, naming the count", () => {
    const r = ldakit(cwd, ["train", "--folds", "20", "--adapter", "none"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("folds is 20, more than the 12 questions");
  });
});
