// The store's benchmarks.
//
// ingest: 200 files × 50 clusters × 8 questions with hash-384 on SQLite, through scan and
// process-pending in one process, as `ldakit migrate` runs them. Prints clusters/s, vectors/s and
// where the time goes.
//
// Then the scale-out parts (bench/scale-out.mjs, docs/SCALING.md), on a PostgreSQL server the
// benchmark starts itself beside SQLite:
//   workers  ingest of 12 such files by 1, 2 and 4 worker processes on PostgreSQL and one on
//            SQLite; vectors/s as ratios to SQLite with one worker
//   claims   8 worker processes draining 1 000 tiny batches on each backend (the full-size run:
//            --claim-batches 10000): claims per second, and double claims, which must be 0 (the
//            benchmark fails otherwise)
//   search   resident memory of a search process per head (10 000 and 100 000 heads, d = 384)
//
// Usage: node bench/bench.mjs [--parts ingest,workers,claims,search] [--files N] [--runs N]
//   [--ingest-files N] [--ingest-runs N] [--ingest-workers 1,2,4]
//   [--claim-batches N] [--claim-workers N] [--claim-runs N] [--search-heads 10000,100000]
// Every flag can also be given in the environment as LDAKIT_STORE_BENCH_<FLAG> (say
// LDAKIT_STORE_BENCH_CLAIM_BATCHES=50000), which reaches the benchmark through `pnpm bench`.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createHashEmbedder } from "@ldakit/embed";
import { emptyTimings, LDAProjectionDB } from "../dist/index.js";
import { median, rawFile } from "./corpus.mjs";
import { BenchFailure, runScaleOut } from "./scale-out.mjs";

const defaults = {
  parts: "ingest,workers,claims,search",
  files: "200",
  runs: "3",
  "ingest-files": "12",
  "ingest-runs": "3",
  "ingest-workers": "1,2,4",
  "claim-batches": "1000",
  "claim-workers": "8",
  "claim-runs": "1",
  "search-heads": "10000,100000",
};
const envName = (flag) => `LDAKIT_STORE_BENCH_${flag.toUpperCase().replaceAll("-", "_")}`;
const { values } = parseArgs({
  options: Object.fromEntries(
    Object.entries(defaults).map(([flag, value]) => [
      flag,
      { type: "string", default: process.env[envName(flag)] ?? value },
    ]),
  ),
});
/** A flag's value as positive integers, or a clear refusal naming the flag. */
function integers(flag) {
  const list = values[flag].split(",").map((x) => Number(x.trim()));
  if (list.length === 0 || !list.every((n) => Number.isInteger(n) && n > 0)) {
    console.error(
      `bench: --${flag} (or ${envName(flag)}) must be a positive integer or a comma-separated list of them, not ${JSON.stringify(values[flag])}`,
    );
    process.exit(2);
  }
  return list;
}
const PARTS = new Set(values.parts.split(",").map((p) => p.trim()));
for (const part of PARTS) {
  if (!Object.hasOwn({ ingest: 1, workers: 1, claims: 1, search: 1 }, part)) {
    console.error(
      `bench: --parts takes ingest, workers, claims and search, comma-separated, not ${JSON.stringify(part)}`,
    );
    process.exit(2);
  }
}
const [FILES] = integers("files");
const CLUSTERS = 50;
const QUESTIONS = 8;
const [RUNS] = integers("runs");
// Checked before anything runs: a typo must not surface after minutes of the first part.
const SCALE_OUT = {
  parts: PARTS,
  ingestFiles: integers("ingest-files")[0],
  ingestRuns: integers("ingest-runs")[0],
  ingestWorkers: integers("ingest-workers"),
  claimBatches: integers("claim-batches")[0],
  claimWorkers: integers("claim-workers")[0],
  claimRuns: integers("claim-runs")[0],
  searchHeads: integers("search-heads"),
};

/**
 * The reference: how many files per second this machine's file system creates the way the store
 * must (write a temporary file, rename it into place), one thread, nothing else — the ceiling a
 * one-file-per-vector layout has here.
 */
function bareFileRate(count) {
  const dir = mkdtempSync(join(tmpdir(), "ldakit-store-bench-fs-"));
  try {
    const bytes = new Uint8Array(128 + 384 * 4);
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      const tmp = join(dir, `.v_${i}.tmp`);
      writeFileSync(tmp, bytes, { flag: "wx" });
      renameSync(tmp, join(dir, `v_${i}.npy`));
    }
    return count / ((performance.now() - start) / 1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The SQLite ingest of one process, and where its time goes. */
async function sqliteIngest() {
  const baseline = [];
  const runs = [];
  for (let run = 0; run < RUNS; run++) {
    const root = mkdtempSync(join(tmpdir(), "ldakit-store-bench-"));
    try {
      const input = join(root, "raw");
      mkdirSync(input);
      for (let f = 0; f < FILES; f++)
        writeFileSync(
          join(input, `file_${String(f).padStart(3, "0")}.json`),
          rawFile(f, CLUSTERS, QUESTIONS),
        );
      const db = await LDAProjectionDB.open(join(root, "store", "lda.db"));
      const timings = emptyTimings();
      const start = performance.now();
      await db.scan(input, { timings });
      const result = await db.processPending({ embedder: createHashEmbedder(384), timings });
      const seconds = (performance.now() - start) / 1000;
      await db.close();
      const clusters = result.completed.reduce((n, o) => n + o.clusters, 0);
      const vectors = result.completed.reduce((n, o) => n + o.vectors, 0);
      if (result.failed.length > 0 || clusters !== FILES * CLUSTERS)
        throw new Error(`bench run failed: ${JSON.stringify(result.failed[0])}`);
      runs.push({ seconds, clusters, vectors, timings });
      baseline.push(bareFileRate(20_000));
      process.stderr.write(`run ${run + 1}/${RUNS}: ${seconds.toFixed(2)} s\n`);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }

  const mid = runs.find((r) => r.seconds === median(runs.map((x) => x.seconds)));
  const total = mid.seconds * 1000;
  const t = mid.timings;
  const other = total - t.hashing - t.parsing - t.sqlite - t.embedding - t.files;
  console.log(
    `@ldakit/store ingest: ${FILES} files × ${CLUSTERS} clusters × ${QUESTIONS} questions, hash-384 (Node ${process.version}); median of ${RUNS} runs`,
  );
  console.log(`  ${mid.clusters} clusters, ${mid.vectors} vectors in ${mid.seconds.toFixed(2)} s`);
  console.log(`  clusters/s: ${(mid.clusters / mid.seconds).toFixed(0)}`);
  console.log(`  vectors/s:  ${(mid.vectors / mid.seconds).toFixed(0)}   (goal ≥ 20000)`);
  const bare = median(baseline);
  console.log(
    `  reference: this file system creates ${bare.toFixed(0)} files/s (temp + rename, one thread, nothing else), measured between the runs; ratio store/bare = ${(mid.vectors / mid.seconds / bare).toFixed(2)}`,
  );
  console.log("  share of time:");
  for (const [label, ms] of [
    ["SQLite", t.sqlite],
    ["hashing (SHA-256)", t.hashing],
    ["embedding (hash-384)", t.embedding],
    ["vector file writes", t.files],
    ["JSON parse + validation", t.parsing],
    ["other", other],
  ]) {
    console.log(
      `    ${label.padEnd(24)} ${(ms / 1000).toFixed(2).padStart(6)} s  ${((100 * ms) / total).toFixed(1).padStart(5)} %`,
    );
  }
}

if (PARTS.has("ingest")) await sqliteIngest();
if (PARTS.has("workers") || PARTS.has("claims") || PARTS.has("search")) {
  try {
    await runScaleOut(SCALE_OUT);
  } catch (error) {
    if (!(error instanceof BenchFailure)) throw error;
    console.error(`\nbench FAILED: ${error.message}`);
    process.exitCode = 1;
  }
}
