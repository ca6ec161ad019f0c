#!/usr/bin/env node
// `pnpm test:faults`: builds, runs every fault and fuzz test of the repository (files named
// `faults-*.test.ts` or `fuzz-*.test.ts` in a package's `test/` or in `conformance/ts/`) at full
// strength, and prints the figures they recorded as tables (docs/RELIABILITY.md).
//
// Full strength: LDAKIT_FUZZ_RUNS=20000 inputs per fuzz target and LDAKIT_CRASH_WALK=full (every
// crash point), unless the environment sets them. The figures are collected in a fresh folder
// given to the tests as LDAKIT_FAULT_REPORT_DIR.
//
// Exit code: 0 when every test passed and every figure that must be zero is zero; 1 otherwise,
// including when no test file or no figure was found (an empty table proves nothing).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { faultTables, problems, readRows } from "../tools/fault-table.mjs";

const ROOT = join(import.meta.dirname, "..");
const TEST_FILE = /^(faults|fuzz)-.+\.test\.ts$/;

/** Each folder with a package.json that holds fault or fuzz tests, with those files. */
function faultTestFiles() {
  const places = [
    ...readdirSync(join(ROOT, "packages"), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => ({ dir: join(ROOT, "packages", e.name), tests: "test" })),
    { dir: join(ROOT, "conformance"), tests: "ts" },
  ];
  const found = [];
  for (const { dir, tests } of places) {
    const testDir = join(dir, tests);
    if (!existsSync(join(dir, "package.json")) || !existsSync(testDir)) continue;
    const files = readdirSync(testDir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && TEST_FILE.test(e.name) && !e.parentPath.includes("node_modules"))
      .map((e) => relative(dir, join(e.parentPath, e.name)).split("\\").join("/"))
      .sort();
    if (files.length > 0) found.push({ dir, files });
  }
  return found;
}

function run(command, args, options) {
  const result = spawnSync(command, args, { stdio: "inherit", ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

const reportDir = mkdtempSync(join(tmpdir(), "ldakit-faults-"));
const env = {
  ...process.env,
  LDAKIT_FUZZ_RUNS: process.env.LDAKIT_FUZZ_RUNS || "20000",
  LDAKIT_CRASH_WALK: process.env.LDAKIT_CRASH_WALK || "full",
  LDAKIT_FAULT_REPORT_DIR: reportDir,
};

const packages = faultTestFiles();
if (packages.length === 0) {
  process.stderr.write("test:faults: no faults-*.test.ts or fuzz-*.test.ts file found\n");
  process.exit(1);
}

if (
  run("pnpm", ["exec", "turbo", "run", "build", "--output-logs=errors-only"], { cwd: ROOT }) !== 0
) {
  process.stderr.write("test:faults: the build failed\n");
  process.exit(1);
}

process.stdout.write(
  `test:faults: LDAKIT_FUZZ_RUNS=${env.LDAKIT_FUZZ_RUNS}, LDAKIT_CRASH_WALK=${env.LDAKIT_CRASH_WALK}, figures in ${reportDir}\n`,
);
const failedPackages = [];
// One package at a time: the crash walks and concurrency runs start processes of their own.
for (const { dir, files } of packages) {
  const where = relative(ROOT, dir);
  process.stdout.write(`\n── ${where}: ${files.join(", ")}\n`);
  if (run("pnpm", ["exec", "vitest", "run", ...files], { cwd: dir, env }) !== 0) {
    failedPackages.push(where);
  }
}

const rows = readRows(reportDir);
const found = problems(rows);
process.stdout.write(`\n${faultTables(rows)}`);
for (const where of failedPackages) found.unshift(`tests failed in ${where}`);
if (found.length > 0) {
  process.stdout.write(`\ntest:faults: FAILED\n${found.map((p) => `  - ${p}\n`).join("")}`);
  process.exit(1);
}
process.stdout.write(`\ntest:faults: ok (${rows.length} rows, every must-be-zero figure zero)\n`);
