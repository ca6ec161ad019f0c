// Training benchmark: 10 000 clusters × 8 questions, d = 384 — weighted centroids, the k-fold
// held-out temperature evaluation and the query adapter's Adam steps — with @ldakit/train
// (TensorFlow.js) and with NumPy doing the same math on the same data, folds, sample and
// mini-batches, in the same run; then the time of the whole held-out selection that
// trainProjection runs (adapter, λ, target, τ and β), which has no NumPy counterpart.
// Every TensorFlow.js backend available runs in the same run, each in a child process of its own
// (getTf decides once per thread); NumPy runs in this one's.
// Usage: node bench/bench.mjs [--clusters N] [--runs N] [--only kfold,adapter,selection] (default kfold,adapter)
//                             [--adapter-steps N] [--selection-steps N]
//                             [--backends tensorflow,wasm] (default: those that load here; a
//                              backend may carry environment variables: tensorflow:TF_ENABLE_ONEDNN_OPTS=0)
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readNpySync, writeNpySync } from "@ldakit/npy";
import { getTf } from "@ldakit/tf";
import { availableTfBackends } from "../../../tools/tf-backends.mjs";
import {
  assignFolds,
  computeCentroids,
  DEFAULT_ADAPTER_LEARNING_RATE,
  DEFAULT_ADAPTER_TARGETS,
  DEFAULT_BLEND_GRID,
  DEFAULT_LAMBDA_GRID,
  DEFAULT_TEMPERATURE_GRID,
  evaluateHeldOut,
  evaluateSelection,
  selectHeldOut,
  trainAdapter,
} from "../dist/index.js";

const { values } = parseArgs({
  options: {
    clusters: { type: "string", default: "10000" },
    runs: { type: "string", default: "3" },
    // The whole selection at 10 000 clusters takes hours here (see the README): opt in with
    // --only selection, on fewer --clusters.
    only: { type: "string", default: "kfold,adapter" },
    "adapter-steps": { type: "string", default: "50" },
    // trainProjection's default adapter step limit.
    "selection-steps": { type: "string", default: "500" },
    backends: { type: "string" },
    // Internal: run ldakit's side on this process's backend, write its results to this folder.
    child: { type: "string" },
  },
});
const PARTS = values.only.split(",");
for (const part of PARTS) {
  if (!["kfold", "adapter", "selection"].includes(part))
    throw new Error(`--only: unknown part "${part}" (kfold, adapter, selection)`);
}
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
// Questions three times noisier than the k-fold's, pulled toward the answers: on the k-fold's
// set the cross-entropy is near 0 and W hardly leaves I, so matching W would prove nothing.
// A step costs the same whatever the values.
const noisy = new Float32Array(H * PER * D);
for (let row = 0; row < H * PER; row++) {
  const k = questionCluster[row];
  for (let j = 0; j < D; j++) noisy[row * D + j] = centers[k * D + j] + 3 * rand();
}
// The selection's settings: τ 0.05, batch 256, Adam's default rate; λ the grid's first.
const adapterOptions = {
  dimensions: D,
  targets: answers,
  temperature: 0.05,
  lambda: DEFAULT_LAMBDA_GRID[0],
  maxSteps: Number(values["adapter-steps"]),
  batchSize: 256,
  seed: SEED,
};
// NumPy at full speed here: the OpenBLAS core-type override slows it (see the env notes).
const numpyEnv = { ...process.env };
delete numpyEnv.OPENBLAS_CORETYPE;
delete numpyEnv.OPENBLAS_L2_SIZE;
let numpyVersion = "";
const numpy = (args) => {
  const r = spawnSync("python3", [join(import.meta.dirname, "numpy_train.py"), ...args], {
    encoding: "utf8",
    env: numpyEnv,
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0)
    throw new Error(
      `NumPy reference failed (python3 -m pip install -r tools/requirements.txt): ${r.stderr}`,
    );
  const out = JSON.parse(r.stdout);
  numpyVersion = out.numpy;
  return out;
};
const notes = [];

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const seconds = (start) => (performance.now() - start) / 1000;

if (values.child !== undefined) {
  await child(values.child);
} else {
  await parent();
}

/** ldakit's side on the backend LDAKIT_TF_BACKEND forces: times, and the adapter's W and losses. */
async function child(dir) {
  const { tf, description } = await getTf();
  const out = { description };
  if (PARTS.includes("kfold")) Object.assign(out, await oursKfold(tf));
  if (PARTS.includes("adapter")) {
    const { times, result } = await oursAdapter(tf);
    out.adapter = times;
    out.loss = result.loss;
    writeNpySync(join(dir, "ldakit_adapter.npy"), { data: result.adapter, shape: [D, D] });
  }
  if (PARTS.includes("selection")) out.selection = await benchSelection(tf);
  writeFileSync(join(dir, "ldakit.json"), JSON.stringify(out));
}

async function parent() {
  // { tensorflow: { available, reason? }, wasm: … }, probed in child processes.
  const available = Object.fromEntries(
    (await availableTfBackends(["tensorflow", "wasm"])).map((b) => [b.name, b]),
  );
  const specs = (
    values.backends ?? ["tensorflow", "wasm"].filter((b) => available[b].available).join(",")
  )
    .split(",")
    .filter((x) => x !== "")
    .map((spec) => {
      const [name, ...vars] = spec.split(":");
      const env = Object.fromEntries(vars.map((v) => v.split("=")));
      return { label: spec, name, env };
    });
  for (const b of ["tensorflow", "wasm"])
    if (!available[b].available) console.log(`${b}: not run, ${available[b].reason}`);
  const dir = mkdtempSync(join(tmpdir(), "ldakit-train-bench-"));
  const ours = [];
  const theirs = {};
  try {
    for (const spec of specs) {
      const childDir = mkdtempSync(join(dir, "ldakit-"));
      process.stderr.write(`--- ${spec.label}\n`);
      const args = process.argv
        .slice(2)
        .filter((a, i, all) => a !== "--backends" && all[i - 1] !== "--backends");
      const r = spawnSync(process.execPath, [import.meta.filename, ...args, "--child", childDir], {
        stdio: ["ignore", "inherit", "inherit"],
        env: {
          TF_CPP_MIN_LOG_LEVEL: "2",
          ...process.env,
          LDAKIT_TF_BACKEND: spec.name === "tensorflow" ? "node" : spec.name,
          ...spec.env,
        },
      });
      if (r.status !== 0) throw new Error(`the ${spec.label} run failed (${r.status ?? r.signal})`);
      const result = JSON.parse(readFileSync(join(childDir, "ldakit.json"), "utf8"));
      if (result.adapter) result.W = readNpySync(join(childDir, "ldakit_adapter.npy")).data;
      ours.push({ ...spec, ...result });
    }
    writeNpySync(join(dir, "questions.npy"), { data: questions, shape: [H * PER, D] });
    writeNpySync(join(dir, "cluster.npy"), { data: questionCluster });
    if (PARTS.includes("kfold")) Object.assign(theirs, numpyKfold(dir));
    if (PARTS.includes("adapter")) Object.assign(theirs, numpyAdapter(dir, ours));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  console.log(
    `@ldakit/train vs NumPy ${numpyVersion || "(not run)"}: ${H} clusters × ${PER} questions, d = ${D}; median of ${RUNS} runs; TensorFlow.js ${ours.map((o) => `${o.label} = ${o.description}`).join(", ")}`,
  );
  const steps = [];
  if (PARTS.includes("kfold")) {
    steps.push(
      ["weighted centroids (all questions)", (r) => median(r.centroids)],
      [
        `k-fold evaluation (${FOLDS} folds × ${DEFAULT_TEMPERATURE_GRID.length} temperatures, ${theirs.heldOutQuestions} held-out questions)`,
        (r) => median(r.kfold),
      ],
      ["centroids + k-fold", (r) => median(r.centroids) + median(r.kfold)],
    );
  }
  if (PARTS.includes("adapter"))
    steps.push([
      `adapter training (${values["adapter-steps"]} Adam steps of 256 questions over ${H} targets)`,
      (r) => median(r.adapter),
    ]);
  if (steps.length > 0) {
    const cols = [...ours.map((o) => o.label), "NumPy"];
    const width = Math.max(...steps.map(([label]) => label.length));
    console.log(
      `${"step".padEnd(width)}  ${cols.map((c) => `${c} s`.padStart(12)).join("  ")}  ${ours.map((o) => `${o.label}/NumPy`.padStart(16)).join("  ")}`,
    );
    for (const [label, time] of steps) {
      const numpyTime = time(theirs);
      const times = ours.map((o) => time(o));
      console.log(
        `${label.padEnd(width)}  ${[...times, numpyTime].map((t) => t.toFixed(2).padStart(12)).join("  ")}  ${times.map((t) => (t / numpyTime).toFixed(2).padStart(16)).join("  ")}`,
      );
    }
  }
  for (const note of notes) console.log(note);
  for (const o of ours) if (o.selection) console.log(`${o.label}: ${o.selection}`);
}

async function oursKfold(tf) {
  const ours = { centroids: [], kfold: [] };
  for (let run = 0; run < RUNS; run++) {
    let t = performance.now();
    computeCentroids(questions, D, questionCluster, H, "weighted");
    ours.centroids.push(seconds(t));
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
    ours.kfold.push(seconds(t));
    process.stderr.write(
      `ldakit run ${run + 1}/${RUNS}: centroids ${ours.centroids.at(-1).toFixed(2)} s, k-fold ${ours.kfold.at(-1).toFixed(2)} s\n`,
    );
  }
  return ours;
}

function numpyKfold(dir) {
  // The same folds and sample for NumPy: both are deterministic functions of the seed.
  const fold = assignFolds(questionCluster, H, FOLDS, SEED);
  const heldOut = selectHeldOut(fold, MAX_QUERIES, SEED);
  const selected = new Uint8Array(questionCluster.length);
  for (const i of heldOut) selected[i] = 1;
  writeNpySync(join(dir, "answers.npy"), { data: answers, shape: [H, D] });
  writeNpySync(join(dir, "fold.npy"), { data: fold });
  writeNpySync(join(dir, "selected.npy"), { data: selected });
  const theirs = { centroids: [], kfold: [], heldOutQuestions: heldOut.length };
  for (let run = 0; run < RUNS; run++) {
    const out = numpy([dir, JSON.stringify(DEFAULT_TEMPERATURE_GRID), String(FOLDS)]);
    theirs.centroids.push(out.centroids_s);
    theirs.kfold.push(out.kfold_s);
    process.stderr.write(
      `NumPy run ${run + 1}/${RUNS}: centroids ${out.centroids_s.toFixed(2)} s, k-fold ${out.kfold_s.toFixed(2)} s\n`,
    );
  }
  return theirs;
}

// trainAdapter's mini-batches: the questions reshuffled at every epoch by its seeded PRNG
// (mulberry32 and a Fisher–Yates shuffle, as in src/math.ts), the whole set unshuffled when one
// batch holds it. Recomputed here so NumPy steps over the same batches; the W comparison below
// fails if this ever drifts from the library.
function adapterBatches(n, batchSize, steps, seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const order = Array.from({ length: n }, (_, i) => i);
  const size = Math.min(batchSize, n);
  const batches = [];
  while (batches.length < steps) {
    if (size < n) {
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
    }
    for (let start = 0; start < n && batches.length < steps; start += size)
      batches.push(order.slice(start, start + size));
  }
  return batches;
}

async function oursAdapter(tf) {
  const steps = adapterOptions.maxSteps;
  const set = { questions: noisy, questionCluster };
  const times = [];
  let result;
  for (let run = 0; run < RUNS; run++) {
    const t = performance.now();
    result = await trainAdapter(tf, set, adapterOptions);
    times.push(seconds(t));
    process.stderr.write(
      `ldakit run ${run + 1}/${RUNS}: adapter ${steps} steps ${times.at(-1).toFixed(2)} s\n`,
    );
  }
  return { times, result };
}

function numpyAdapter(dir, ours) {
  const options = adapterOptions;
  const steps = options.maxSteps;
  const batches = adapterBatches(questionCluster.length, options.batchSize, steps, options.seed);
  writeNpySync(join(dir, "adapter_questions.npy"), { data: noisy, shape: [H * PER, D] });
  writeNpySync(join(dir, "targets.npy"), { data: options.targets, shape: [H, D] });
  writeNpySync(join(dir, "batch_rows.npy"), { data: Int32Array.from(batches.flat()) });
  writeNpySync(join(dir, "batch_sizes.npy"), {
    data: Int32Array.from(batches.map((b) => b.length)),
  });
  const theirTimes = [];
  let theirLoss;
  for (let run = 0; run < RUNS; run++) {
    const out = numpy([
      "adapter",
      dir,
      String(options.temperature),
      String(options.lambda),
      String(DEFAULT_ADAPTER_LEARNING_RATE),
    ]);
    theirTimes.push(out.adapter_s);
    theirLoss = out.loss;
    process.stderr.write(
      `NumPy run ${run + 1}/${RUNS}: adapter ${steps} steps ${out.adapter_s.toFixed(2)} s\n`,
    );
  }
  const theirW = readNpySync(join(dir, "numpy_adapter.npy")).data;
  for (const o of ours) {
    let maxDelta = 0;
    let maxMoved = 0;
    for (let i = 0; i < theirW.length; i++) {
      maxDelta = Math.max(maxDelta, Math.abs(o.W[i] - theirW[i]));
      maxMoved = Math.max(maxMoved, Math.abs(theirW[i] - (i % (D + 1) === 0 ? 1 : 0)));
    }
    // The per-step loss is a second witness that both took the same batches; near 0 (an easy
    // batch) its float32 rounding is relatively large, hence the absolute floor.
    let lossDelta = 0;
    let lossOff = 0;
    for (const [i, l] of theirLoss.entries()) {
      const delta = Math.abs(o.loss[i] - l);
      lossDelta = Math.max(lossDelta, delta);
      lossOff = Math.max(lossOff, delta / (0.02 * Math.abs(l) + 1e-4));
    }
    // Float32 rounding differs between the two (summation order, exp), and Adam moves an entry
    // whose gradient is near 0 by up to lr per step in the direction of its sign: the two W may
    // drift apart by a tenth of lr. A different batch order, loss or optimizer moves them far more.
    const tolerance = 5e-4;
    notes.push(
      `adapter on ${o.label}: W after ${steps} steps, ldakit vs NumPy: max |ΔW| = ${maxDelta.toExponential(2)} (tolerance ${tolerance}; W moved up to ${maxMoved.toExponential(2)} from I${maxMoved < 10 * tolerance ? ": too little for the match to prove much" : ""}); loss per step: max |Δ| = ${lossDelta.toExponential(2)}`,
    );
    if (!(maxDelta <= tolerance && lossOff <= 1))
      throw new Error(
        `the NumPy adapter steps do not reproduce trainAdapter on ${o.label} (max |ΔW| ${maxDelta}, max loss |Δ| ${lossDelta}): the timings would compare different work`,
      );
  }
  return { adapter: theirTimes };
}

async function benchSelection(tf) {
  const maxSteps = Number(values["selection-steps"]);
  const options = {
    folds: FOLDS,
    centroid: "weighted",
    maxQueries: MAX_QUERIES,
    seed: SEED,
    temperatures: DEFAULT_TEMPERATURE_GRID,
    blends: DEFAULT_BLEND_GRID,
    adapters: ["none", "linear"],
    lambdas: DEFAULT_LAMBDA_GRID,
    targets: DEFAULT_ADAPTER_TARGETS,
    adapterTemperature: 0.05,
    maxSteps,
    batchSize: 256,
    onProgress: (message) => process.stderr.write(`selection: ${message}\n`),
  };
  const started = performance.now();
  const result = await evaluateSelection(
    tf,
    { questions, questionCluster, answers, dimensions: D, clusterIds },
    options,
  );
  const total = seconds(started);
  const c = result.chosen;
  const routings = 1 + DEFAULT_LAMBDA_GRID.length * DEFAULT_ADAPTER_TARGETS.length;
  const trained = [
    ...new Set(
      result.curve
        .filter((p) => p.adapter === "linear")
        .map((p) => `λ ${p.lambda} ${p.target} ${p.steps}`),
    ),
  ];
  return [
    `held-out selection (evaluateSelection as trainProjection runs it: ${FOLDS} folds × ${routings} adapter settings × ${DEFAULT_TEMPERATURE_GRID.length} τ × ${DEFAULT_BLEND_GRID.length} β, adapter steps ≤ ${maxSteps}, ${c.queries} held-out questions): ${total.toFixed(1)} s (one run)`,
    `  adapter steps kept (mean of the folds' best held-out epochs): ${trained.join(", ") || "none trained"}`,
    `  chose adapter ${c.adapter}${c.lambda === null ? "" : ` (λ ${c.lambda}, target ${c.target}, ${c.steps} steps)`}, τ ${c.temperature}, β ${c.blend}: MRR ${c.mrr.toFixed(4)} (direct ${result.direct.mrr.toFixed(4)})`,
  ].join("\n");
}
