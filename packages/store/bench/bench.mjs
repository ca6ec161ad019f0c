// Ingest benchmark: 200 files × 50 clusters × 8 questions with hash-384, through scan and
// process-pending, as `ldakit migrate` runs them. Prints clusters/s, vectors/s and where the
// time goes. Usage: node bench/bench.mjs [--files N] [--runs N]
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createHashEmbedder } from "@ldakit/embed";
import { emptyTimings, LDAProjectionDB } from "../dist/index.js";

const { values } = parseArgs({
  options: { files: { type: "string", default: "200" }, runs: { type: "string", default: "3" } },
});
const FILES = Number(values.files);
const CLUSTERS = 50;
const QUESTIONS = 8;
const RUNS = Number(values.runs);

const topics = [
  "invoice",
  "router",
  "garden",
  "printer",
  "passport",
  "battery",
  "kettle",
  "bicycle",
];
function rawFile(f) {
  return JSON.stringify({
    clusters: Array.from({ length: CLUSTERS }, (_, c) => {
      const topic = topics[(f + c) % topics.length];
      return {
        answer: `To fix the ${topic} issue ${f}-${c}, reset the ${topic} settings and try again after a minute.`,
        answer_id: `f${f}-c${c}`,
        questions: Array.from(
          { length: QUESTIONS },
          (_, q) => `How do I solve ${topic} problem number ${c} in case ${q} of file ${f}?`,
        ),
      };
    }),
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

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

const baseline = [];
const runs = [];
for (let run = 0; run < RUNS; run++) {
  const root = mkdtempSync(join(tmpdir(), "ldakit-store-bench-"));
  try {
    const input = join(root, "raw");
    mkdirSync(input);
    for (let f = 0; f < FILES; f++)
      writeFileSync(join(input, `file_${String(f).padStart(3, "0")}.json`), rawFile(f));
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
