// The figures of the fault tests (crash walks, fuzzers, concurrency runs), for the table `pnpm test:faults`
// prints. A test records its row only when LDAKIT_FAULT_REPORT_DIR is set; in `pnpm test` the
// same tests run and assert, and record nothing.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** How many fuzz inputs a fuzzer tries: LDAKIT_FUZZ_RUNS when set, else `ciCount`. */
export function fuzzRuns(ciCount) {
  const value = process.env.LDAKIT_FUZZ_RUNS;
  if (value === undefined || value === "") return ciCount;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`LDAKIT_FUZZ_RUNS must be a positive integer, not ${JSON.stringify(value)}`);
  }
  return n;
}

function record(kind, name, row) {
  const dir = process.env.LDAKIT_FAULT_REPORT_DIR;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  const slug = name.replace(/[^A-Za-z0-9._-]+/g, "-");
  writeFileSync(join(dir, `${kind}-${slug}.json`), `${JSON.stringify({ kind, name, ...row })}\n`);
}

/** One crash scenario's row: points walked, kills, and what the store lost or gained. */
export function recordCrashFigures(scenario, figures) {
  record("crash", scenario, figures);
}

/** One fuzz target's row: inputs tried and how each ended. */
export function recordFuzzFigures(target, figures) {
  record("fuzz", target, figures);
}

/** One concurrency run's row: processes started and what the store lost or gained. */
export function recordConcurrencyFigures(run, figures) {
  record("concurrency", run, figures);
}
