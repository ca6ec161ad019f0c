// Training benchmark: 10 000 clusters × 8 questions, d = 384 — weighted centroids and the k-fold
// held-out temperature evaluation — with @ldakit/train (TensorFlow.js) and with NumPy doing the
// same math on the same data, folds and sample, in the same run. Prints times and ratios.
// Usage: node bench/bench.mjs [--clusters N] [--runs N]
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { writeNpySync } from "@ldakit/npy";
import { getTf } from "@ldakit/tf";
import {
  assignFolds,
  computeCentroids,
  DEFAULT_TEMPERATURE_GRID,
  evaluateHeldOut,
  selectHeldOut,
} from "../dist/index.js";

const { values } = parseArgs({
  options: {
    clusters: { type: "string", default: "10000" },
    runs: { type: "string", default: "3" },
  },
});
const H = Number(values.clusters);
const PER = 8;
const D = 384;
const FOLDS = 5;
const MAX_QUERIES = 4000;
const SEED = 0;
const RUNS = Number(values.runs);

let s = 42;
const rand = () => {
  s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
  return s / 4294967296 - 0.5;
};
const centers = new Float32Array(H * D).map(rand);
const questions = new Float32Array(H * PER * D);
const questionCluster = new Int32Array(H * PER);
const answers = new Float32Array(H * D);
for (let k = 0; k < H; k++) {
  for (let j = 0; j < D; j++) answers[k * D + j] = centers[k * D + j] + 0.5 * rand();
  for (let i = 0; i < PER; i++) {
    const row = k * PER + i;
    questionCluster[row] = k;
    for (let j = 0; j < D; j++) questions[row * D + j] = centers[k * D + j] + 0.8 * rand();
  }
}
const clusterIds = Array.from({ length: H }, (_, k) => k + 1);

const { tf, description } = await getTf();
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const ours = { centroids: [], kfold: [] };
for (let run = 0; run < RUNS; run++) {
  let t = performance.now();
  computeCentroids(questions, D, questionCluster, H, "weighted");
  ours.centroids.push((performance.now() - t) / 1000);
  t = performance.now();
  await evaluateHeldOut(
    tf,
    { questions, questionCluster, answers, dimensions: D, clusterIds },
    {
      temperatures: DEFAULT_TEMPERATURE_GRID,
      folds: FOLDS,
      centroid: "weighted",
      maxQueries: MAX_QUERIES,
      seed: SEED,
    },
  );
  ours.kfold.push((performance.now() - t) / 1000);
  process.stderr.write(
    `ldakit run ${run + 1}/${RUNS}: centroids ${ours.centroids.at(-1).toFixed(2)} s, k-fold ${ours.kfold.at(-1).toFixed(2)} s\n`,
  );
}

// The same folds and sample for NumPy: both are deterministic functions of the seed.
const fold = assignFolds(questionCluster, H, FOLDS, SEED);
const heldOut = selectHeldOut(fold, MAX_QUERIES, SEED);
const selected = new Uint8Array(questionCluster.length);
for (const i of heldOut) selected[i] = 1;

const dir = mkdtempSync(join(tmpdir(), "ldakit-train-bench-"));
const theirs = { centroids: [], kfold: [] };
let numpyVersion = "";
try {
  writeNpySync(join(dir, "questions.npy"), { data: questions, shape: [H * PER, D] });
  writeNpySync(join(dir, "cluster.npy"), { data: questionCluster });
  writeNpySync(join(dir, "answers.npy"), { data: answers, shape: [H, D] });
  writeNpySync(join(dir, "fold.npy"), { data: fold });
  writeNpySync(join(dir, "selected.npy"), { data: selected });
  // NumPy at full speed here: the OpenBLAS core-type override slows it (see the env notes).
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  for (let run = 0; run < RUNS; run++) {
    const r = spawnSync(
      "python3",
      [
        join(import.meta.dirname, "numpy_train.py"),
        dir,
        JSON.stringify(DEFAULT_TEMPERATURE_GRID),
        String(FOLDS),
      ],
      { encoding: "utf8", env },
    );
    if (r.status !== 0)
      throw new Error(
        `NumPy reference failed (python3 -m pip install -r tools/requirements.txt): ${r.stderr}`,
      );
    const out = JSON.parse(r.stdout);
    numpyVersion = out.numpy;
    theirs.centroids.push(out.centroids_s);
    theirs.kfold.push(out.kfold_s);
    process.stderr.write(
      `NumPy run ${run + 1}/${RUNS}: centroids ${out.centroids_s.toFixed(2)} s, k-fold ${out.kfold_s.toFixed(2)} s\n`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const rows = [
  ["weighted centroids (all questions)", median(ours.centroids), median(theirs.centroids)],
  [
    `k-fold evaluation (${FOLDS} folds × ${DEFAULT_TEMPERATURE_GRID.length} temperatures, ${heldOut.length} held-out questions)`,
    median(ours.kfold),
    median(theirs.kfold),
  ],
  [
    "total",
    median(ours.centroids) + median(ours.kfold),
    median(theirs.centroids) + median(theirs.kfold),
  ],
];
console.log(
  `@ldakit/train vs NumPy ${numpyVersion}: ${H} clusters × ${PER} questions, d = ${D}; TensorFlow.js ${description}; median of ${RUNS} runs`,
);
console.log(`${"step".padEnd(92)}  ldakit s   NumPy s   ratio (ldakit/NumPy time)`);
for (const [label, a, b] of rows)
  console.log(
    `${label.padEnd(92)}  ${a.toFixed(2).padStart(8)}  ${b.toFixed(2).padStart(8)}  ${(a / b).toFixed(2)}`,
  );
