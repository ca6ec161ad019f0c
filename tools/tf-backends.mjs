// Which TensorFlow.js backends this machine can run, for tests that must run on each of them.
//
// A thread's TensorFlow.js engine chooses its backend once, so a test cannot try one backend and
// then use another: the probe runs in a child process (one per backend, once per test process).
// Where the native backend is not installed (a bare clone) its tests are skipped with the reason;
// LDAKIT_REQUIRE_TF_BACKENDS (e.g. `tensorflow,wasm`, set by CI) turns that skip into a failure,
// so that a CI machine that lost its native backend cannot pass by skipping.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The backends, as TensorFlow.js names them, with what `getTf({ backend })` takes for each. */
export const TF_BACKENDS = Object.freeze({ tensorflow: "node", wasm: "wasm", cpu: "cpu" });

const ALIASES = {
  tensorflow: "tensorflow",
  node: "tensorflow",
  "tfjs-node": "tensorflow",
  wasm: "wasm",
  cpu: "cpu",
};

/**
 * The backend names in LDAKIT_REQUIRE_TF_BACKENDS (comma or space separated; `node` and
 * `tfjs-node` mean `tensorflow`). An unknown name is an error: a typo must not quietly require
 * nothing.
 *
 * @returns {Array<"tensorflow" | "wasm" | "cpu">}
 */
export function requiredTfBackends() {
  const value = process.env.LDAKIT_REQUIRE_TF_BACKENDS ?? "";
  const out = [];
  for (const raw of value.split(/[\s,]+/)) {
    const name = raw.trim().toLowerCase();
    if (name === "") continue;
    const backend = ALIASES[name];
    if (backend === undefined) {
      throw new Error(
        `LDAKIT_REQUIRE_TF_BACKENDS=${JSON.stringify(value)}: ${JSON.stringify(raw)} is not a TensorFlow.js backend (tensorflow, wasm, cpu)`,
      );
    }
    if (!out.includes(backend)) out.push(backend);
  }
  return out;
}

// The child loads @ldakit/tf as the packages do, forces one backend and runs one real op on it:
// an addon that loads but cannot compute must not count as available.
const PROBE = `
const [url, request] = process.argv.slice(1);
try {
  const { getTf } = await import(url);
  const rt = await getTf({ backend: request, report: false });
  const y = rt.tf.matMul(rt.tf.tensor2d([1, 2, 3, 4], [2, 2]), rt.tf.tensor2d([5, 6, 7, 8], [2, 2]));
  const got = Array.from(await y.data());
  if (got.join() !== "19,22,43,50") throw new Error("a 2×2 matMul gave " + got.join());
  process.stdout.write(JSON.stringify({ backend: rt.backend, description: rt.description }) + "\\n");
} catch (e) {
  process.stdout.write(JSON.stringify({ error: String(e && e.message ? e.message : e).split("\\n")[0] }) + "\\n");
}
`;

function probe(name) {
  const tfDist = join(repoRoot, "packages", "tf", "dist", "index.js");
  if (!existsSync(tfDist)) {
    return Promise.reject(
      new Error(`${tfDist} not found: build the packages first (pnpm build) to probe backends`),
    );
  }
  return new Promise((resolvePromise, reject) => {
    const child = spawn(
      process.execPath,
      ["--input-type=module", "-e", PROBE, pathToFileURL(tfDist).href, TF_BACKENDS[name]],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? "2" },
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
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const line = out.trim().split("\n").pop() ?? "";
      let r;
      try {
        r = JSON.parse(line);
      } catch {
        // A crash while loading the native library (a signal, an abort) is also "not available".
        const last = err.trim().split("\n").pop() ?? "";
        resolvePromise({
          name,
          available: false,
          reason: `the probe process ended with ${signal ?? `code ${code}`}${last ? `: ${last}` : ""}`,
        });
        return;
      }
      resolvePromise(
        r.error === undefined
          ? { name, available: true, description: r.description }
          : { name, available: false, reason: r.error },
      );
    });
  });
}

/** @type {Map<string, Promise<any>>} */
const probes = new Map();

/**
 * Each backend's availability, probed once per process in child processes (in parallel).
 *
 * @param {Array<"tensorflow" | "wasm" | "cpu">} [names]
 * @returns {Promise<Array<{ name: "tensorflow" | "wasm" | "cpu", available: boolean, description?: string, reason?: string }>>}
 */
export function availableTfBackends(names = ["tensorflow", "wasm", "cpu"]) {
  return Promise.all(
    names.map((name) => {
      if (!(name in TF_BACKENDS)) throw new Error(`unknown TensorFlow.js backend ${name}`);
      let p = probes.get(name);
      if (p === undefined) {
        p = probe(name);
        probes.set(name, p);
      }
      return p;
    }),
  );
}

/**
 * What a test file runs per backend: each entry says whether to run the backend's tests, and if
 * not, why; a backend that LDAKIT_REQUIRE_TF_BACKENDS names but that does not load is `missing`
 * (the caller fails a test with `reason`). Skips are printed with their reason.
 *
 * @param {Array<"tensorflow" | "wasm" | "cpu">} names
 * @returns {Promise<Array<{ name: "tensorflow" | "wasm" | "cpu", request: "node" | "wasm" | "cpu", run: boolean, missing: boolean, required: boolean, description?: string, reason?: string }>>}
 */
export async function tfBackendPlan(names) {
  const required = requiredTfBackends();
  const found = await availableTfBackends(names);
  return found.map((b) => {
    const isRequired = required.includes(b.name);
    if (!b.available && !isRequired) {
      console.warn(
        `skipped: the TensorFlow.js ${b.name} backend's tests (${b.reason}; LDAKIT_REQUIRE_TF_BACKENDS does not name it)`,
      );
    }
    return {
      name: b.name,
      request: TF_BACKENDS[b.name],
      run: b.available,
      missing: !b.available && isRequired,
      required: isRequired,
      ...(b.description !== undefined ? { description: b.description } : {}),
      ...(b.reason !== undefined ? { reason: b.reason } : {}),
    };
  });
}
