/**
 * @ldakit/search benchmark: the same math with ldakit and with NumPy, in the same run, on the same
 * data (generated here from a seed, written as .npy files that NumPy loads). Prints medians and the
 * ratio ldakit / NumPy (time: below 1 means ldakit is faster).
 *
 *   pnpm build && pnpm bench            (in packages/search)
 *   node bench/bench.mjs --quick        fewer repetitions
 *   node bench/bench.mjs --heads 18,1000 --json
 *
 * Measured: projected search of one query (route + project + rank, top-5 and top-3 routing) at
 * H = 18, 1 000, 10 000 and 100 000 heads with d = 384; the same for batches of 32 queries (time
 * per query); the cost of a query adapter (the same H with and without a d × d W and β = 0.5, single
 * queries and batches, and their ratio: one extra d × d product per query); and the cold load of a
 * 10 000-head projection from its 20 001 files (loadProjection vs np.load of every file + np.stack
 * + normalize).
 *
 *   node bench/bench.mjs --adapter-only --heads 1000 --quick    only the adapter's cost
 *
 * Rounds of ldakit and of NumPy alternate, so that changes in the machine's load fall on both.
 * NumPy runs with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from its environment (they slow
 * a current OpenBLAS down); the kernel it then runs is printed. Python is `LDAKIT_PYTHON` or
 * `python3`; it needs NumPy (python3 -m pip install -r tools/requirements.txt).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { encodeNpy, writeNpySync } from "@ldakit/npy";

const argv = process.argv.slice(2);
const QUICK = argv.includes("--quick");
const JSON_OUT = argv.includes("--json");
const ADAPTER_ONLY = argv.includes("--adapter-only");
const option = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const HEADS = (option("--heads") ?? "18,1000,10000,100000").split(",").map(Number);
const SEED = Number(option("--seed") ?? 42);
const LOAD_HEADS = Number(option("--load-heads") ?? 10000);
const D = 384;
const TAU = 0.1;
const BATCH = 32;
const QUERY_POOL = 256;
const PYTHON = process.env.LDAKIT_PYTHON || "python3";

let lib;
try {
  lib = await import("../dist/index.js");
} catch (err) {
  console.error(`Cannot load ../dist/index.js (${err.message}). Build first: pnpm build`);
  process.exit(1);
}
const { Projection, loadProjection, loadProjectionSync } = lib;

/** Rounds and repetitions per H: enough samples for a stable median, bounded run time. */
function plan(h) {
  const scale = QUICK ? 0.3 : 1;
  const perRound = h <= 1000 ? 400 : h <= 10000 ? 40 : 6;
  const batches = h <= 1000 ? 40 : h <= 10000 ? 4 : 1;
  return {
    rounds: QUICK ? 3 : 5,
    single: Math.max(3, Math.round(perRound * scale)),
    batches: Math.max(1, Math.round(batches * scale)),
  };
}

// ---------------------------------------------------------------- data

/** Seeded standard normal float32 rows, each normalized (mulberry32 + Box-Muller). */
function randomUnitRows(rows, cols, seed) {
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) {
      const v = Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
      out[r * cols + j] = v;
      s += v * v;
    }
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < cols; j++) out[r * cols + j] *= inv;
  }
  return out;
}

const clusterIds = (h) => Array.from({ length: h }, (_, k) => k + 1);

// ---------------------------------------------------------------- NumPy server

function startNumpy(extraEnv = {}) {
  const env = { ...process.env, PYTHONDONTWRITEBYTECODE: "1", ...extraEnv };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const script = fileURLToPath(new URL("./numpy_bench.py", import.meta.url));
  const child = spawn(PYTHON, [script], { env, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const failed = (why) =>
    new Error(
      `NumPy benchmark failed (${PYTHON}): ${why}\n${stderr}\n` +
        "Install NumPy with: python3 -m pip install -r tools/requirements.txt",
    );
  child.on("error", () => {});
  return {
    async call(cmd) {
      if (child.exitCode !== null || child.killed) throw failed(`exited with ${child.exitCode}`);
      child.stdin.write(`${JSON.stringify(cmd)}\n`);
      const { value, done } = await lines.next();
      if (done) throw failed("python exited");
      const answer = JSON.parse(value);
      if (answer.error) throw failed(answer.error);
      return answer;
    },
    close() {
      child.stdin.end();
    },
  };
}

// ---------------------------------------------------------------- measuring

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const now = () => process.hrtime.bigint();
const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

async function benchHeads(numpy, numpy1, dir, h) {
  const { rounds, single, batches } = plan(h);
  const C = randomUnitRows(h, D, SEED + h);
  const A = randomUnitRows(h, D, SEED + h + 1);
  const Q = randomUnitRows(QUERY_POOL, D, SEED + 7);
  const ids = clusterIds(h);
  const files = { C: join(dir, `C_${h}.npy`), A: join(dir, `A_${h}.npy`), Q: join(dir, "Q.npy") };
  writeNpySync(files.C, { data: C, shape: [h, D] });
  writeNpySync(files.A, { data: A, shape: [h, D] });
  writeNpySync(files.Q, { data: Q, shape: [QUERY_POOL, D] });
  const p = Projection.fromArrays({
    mhProjectionId: 1,
    model: "bench",
    temperature: TAU,
    clusterIds: ids,
    centroids: C,
    answers: A,
  });
  await numpy.call({ cmd: "data", ...files, ids, t: TAU });
  await numpy1.call({ cmd: "data", ...files, ids, t: TAU });
  const queries = Array.from({ length: QUERY_POOL }, (_, i) => Q.subarray(i * D, (i + 1) * D));
  // warm-up: lets the engines compile their hot paths
  for (let i = 0; i < Math.min(20, single * 2); i++) p.search(queries[i % QUERY_POOL]);
  p.searchBatch(queries.slice(0, BATCH));

  const t = {
    ldakitSingle: [],
    numpySingle: [],
    numpy1Single: [],
    ldakitBatch: [],
    numpyBatch: [],
    numpy1Batch: [],
  };
  let next = 0;
  let nextBatch = 0;
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < single; i++) {
      const q = queries[(next + i) % QUERY_POOL];
      const t0 = now();
      p.search(q, { topK: 5, routingTop: 3 });
      t.ldakitSingle.push(seconds(t0));
    }
    t.numpySingle.push(...(await numpy.call({ cmd: "single", start: next, count: single })).times);
    t.numpy1Single.push(
      ...(await numpy1.call({ cmd: "single", start: next, count: single })).times,
    );
    next += single;
    for (let b = 0; b < batches; b++) {
      const start = ((nextBatch + b) * BATCH) % (QUERY_POOL - BATCH + 1);
      const rows = queries.slice(start, start + BATCH);
      const t0 = now();
      p.searchBatch(rows, { topK: 5, routingTop: 3 });
      t.ldakitBatch.push(seconds(t0) / BATCH);
    }
    const batchCmd = { cmd: "batch", size: BATCH, start: nextBatch, count: batches };
    t.numpyBatch.push(...(await numpy.call(batchCmd)).times.map((s) => s / BATCH));
    t.numpy1Batch.push(...(await numpy1.call(batchCmd)).times.map((s) => s / BATCH));
    nextBatch += batches;
  }
  await numpy.call({ cmd: "free" });
  await numpy1.call({ cmd: "free" });
  return { heads: h, kernel: p.kernel, rounds, ...t };
}

async function benchLoad(numpy, dir) {
  const h = LOAD_HEADS;
  const folder = join(dir, "embeddings", "bench");
  const { mkdirSync } = await import("node:fs");
  mkdirSync(folder, { recursive: true });
  const C = randomUnitRows(h, D, SEED + 11);
  const A = randomUnitRows(h, D, SEED + 12);
  const ids = clusterIds(h);
  const meta = {
    format: "ldakit.mh/1",
    mh_projection_id: 1,
    model: "bench",
    dimensions: D,
    temperature: TAU,
    num_heads: h,
    cluster_ids: ids,
  };
  writeFileSync(join(folder, "mh_1.json"), JSON.stringify(meta));
  for (let k = 0; k < h; k++) {
    const row = (m) => m.subarray(k * D, (k + 1) * D);
    writeFileSync(join(folder, `mh_1_cluster_${ids[k]}_centroid.npy`), encodeNpy({ data: row(C) }));
    writeFileSync(join(folder, `mh_1_cluster_${ids[k]}_answer.npy`), encodeNpy({ data: row(A) }));
  }
  const reps = QUICK ? 3 : 5;
  const t = { ldakit: [], ldakitSync: [], numpy: [] };
  // one untimed pass each: the files come from the page cache for both sides
  await loadProjection({ dir: folder, mhProjectionId: 1 });
  await numpy.call({ cmd: "load", dir: folder, mh_id: 1 });
  for (let r = 0; r < reps; r++) {
    let t0 = now();
    const p = await loadProjection({ dir: folder, mhProjectionId: 1 });
    t.ldakit.push(seconds(t0));
    if (p.numHeads !== h) throw new Error("load benchmark: wrong number of heads");
    t0 = now();
    loadProjectionSync({ dir: folder, mhProjectionId: 1 });
    t.ldakitSync.push(seconds(t0));
    t.numpy.push((await numpy.call({ cmd: "load", dir: folder, mh_id: 1 })).seconds);
  }
  return { heads: h, reps, ...t };
}

// ---------------------------------------------------------------- report

function fmtMs(s) {
  const ms = s * 1e3;
  return ms >= 100
    ? ms.toFixed(0)
    : ms >= 10
      ? ms.toFixed(1)
      : ms >= 1
        ? ms.toFixed(2)
        : ms.toFixed(4);
}

function printTable(
  rows,
  header = [
    "measure",
    "H",
    "ldakit ms",
    "NumPy ms",
    "ldakit/NumPy",
    "NumPy 1 thread ms",
    "ldakit/NumPy 1t",
  ],
) {
  const table = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...table.map((r) => String(r[c]).length)));
  const line = (r) =>
    `| ${r.map((v, c) => (c === 0 ? String(v).padEnd(widths[c]) : String(v).padStart(widths[c]))).join(" | ")} |`;
  console.log(line(header));
  console.log(
    `| ${widths.map((w, c) => (c === 0 ? "-".repeat(w) : `${"-".repeat(w - 1)}:`)).join(" | ")} |`,
  );
  for (const r of rows) console.log(line(r));
}

/**
 * The adapter's cost at H heads: the same heads and queries with and without W (and β = 0.5),
 * rounds alternating between the two, single queries and batches (time per query).
 */
function benchAdapter(h) {
  const { rounds, single, batches } = plan(h);
  const init = {
    mhProjectionId: 1,
    model: "bench",
    temperature: TAU,
    clusterIds: clusterIds(h),
    centroids: randomUnitRows(h, D, SEED + h),
    answers: randomUnitRows(h, D, SEED + h + 1),
  };
  const plain = Projection.fromArrays(init);
  const adapted = Projection.fromArrays({
    ...init,
    adapter: randomUnitRows(D, D, SEED + 3),
    blend: 0.5,
  });
  const Q = randomUnitRows(QUERY_POOL, D, SEED + 7);
  const queries = Array.from({ length: QUERY_POOL }, (_, i) => Q.subarray(i * D, (i + 1) * D));
  for (const p of [plain, adapted]) {
    for (let i = 0; i < 20; i++) p.search(queries[i]);
    p.searchBatch(queries.slice(0, BATCH));
  }
  const t = { plainSingle: [], adaptedSingle: [], plainBatch: [], adaptedBatch: [] };
  for (let round = 0; round < rounds; round++) {
    for (const [p, key] of [
      [plain, "plain"],
      [adapted, "adapted"],
    ]) {
      for (let i = 0; i < single; i++) {
        const t0 = now();
        p.search(queries[(round * single + i) % QUERY_POOL], { topK: 5, routingTop: 3 });
        t[`${key}Single`].push(seconds(t0));
      }
      for (let b = 0; b < batches; b++) {
        const start = ((round * batches + b) * BATCH) % (QUERY_POOL - BATCH + 1);
        const t0 = now();
        p.searchBatch(queries.slice(start, start + BATCH), { topK: 5, routingTop: 3 });
        t[`${key}Batch`].push(seconds(t0) / BATCH);
      }
    }
  }
  return { heads: h, kernel: adapted.kernel, threads: adapted.threads, ...t };
}

function printAdapter(results) {
  console.log(
    `query adapter cost (W: ${D} x ${D}, β = 0.5; one extra d x d product per query); ratio = with W / without`,
  );
  const rows = [];
  for (const r of results) {
    for (const [label, a, b] of [
      ["single query", r.adaptedSingle, r.plainSingle],
      [`batch of ${BATCH}, per query`, r.adaptedBatch, r.plainBatch],
    ]) {
      const [withW, without] = [median(a), median(b)];
      rows.push([label, r.heads, fmtMs(withW), fmtMs(without), (withW / without).toFixed(2)]);
    }
  }
  printTable(rows, ["measure", "H", "with W ms", "without W ms", "with/without"]);
}

if (ADAPTER_ONLY) {
  const results = HEADS.map((h) => {
    process.stderr.write(`adapter, H = ${h} ...\n`);
    return benchAdapter(h);
  });
  console.log(
    `@ldakit/search (${results[0]?.kernel ?? "?"} kernel, ${results[0]?.threads} threads)`,
  );
  printAdapter(results);
  if (JSON_OUT) console.log(JSON.stringify({ adapter: results }, null, 1));
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), "ldakit-search-bench-"));
const numpy = startNumpy();
const numpy1 = startNumpy({ OPENBLAS_NUM_THREADS: "1" });
try {
  const info = await numpy.call({ cmd: "info" });
  const info1 = await numpy1.call({ cmd: "info" });
  const results = [];
  for (const h of HEADS) {
    process.stderr.write(`H = ${h} ...\n`);
    results.push(await benchHeads(numpy, numpy1, dir, h));
  }
  const adapter = HEADS.map((h) => {
    process.stderr.write(`adapter, H = ${h} ...\n`);
    return benchAdapter(h);
  });
  process.stderr.write(`cold load of ${LOAD_HEADS} heads ...\n`);
  const load = await benchLoad(numpy, dir);

  console.log(
    `@ldakit/search (${results[0]?.kernel ?? "?"} kernel, Node.js ${process.version}) vs NumPy ${info.numpy} ` +
      `(${info.blas}, kernel ${info.kernel ?? "?"}, ${info.threads ?? "?"} threads)`,
  );
  console.log(
    `NumPy 1 thread: the same with OPENBLAS_NUM_THREADS=1 (${info1.threads ?? "?"} thread, kernel ${info1.kernel ?? "?"})`,
  );
  console.log(
    `${cpus()[0]?.model ?? "cpu"} x${cpus().length}; d = ${D}, τ = ${TAU}, top-5 + top-3 routing; medians; ratio < 1: ldakit faster`,
  );
  const rows = [];
  const row = (label, h, a, b, c) => [
    label,
    h,
    fmtMs(a),
    fmtMs(b),
    (a / b).toFixed(2),
    c === undefined ? "" : fmtMs(c),
    c === undefined ? "" : (a / c).toFixed(2),
  ];
  for (const r of results) {
    const [a, b, c] = [r.ldakitSingle, r.numpySingle, r.numpy1Single].map(median);
    rows.push(row("single query", r.heads, a, b, c));
  }
  for (const r of results) {
    const [a, b, c] = [r.ldakitBatch, r.numpyBatch, r.numpy1Batch].map(median);
    rows.push(row(`batch of ${BATCH}, per query`, r.heads, a, b, c));
  }
  const lb = median(load.numpy);
  rows.push(row("cold load (loadProjection)", load.heads, median(load.ldakit), lb));
  rows.push(row("cold load (loadProjectionSync)", load.heads, median(load.ldakitSync), lb));
  printTable(rows);
  printAdapter(adapter);
  if (JSON_OUT) console.log(JSON.stringify({ info, info1, results, adapter, load }, null, 1));
} finally {
  numpy.close();
  numpy1.close();
  rmSync(dir, { recursive: true, force: true });
}
