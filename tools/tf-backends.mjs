// Which TensorFlow.js backends load on this machine, and which ones the environment requires.
// getTf() decides once per thread and a thread cannot try another backend after that, so the
// probe runs in a child process (one worker thread per backend there): asking never fixes the
// caller's own backend.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
/** The names getTf reports, in its order of preference. */
export const TF_BACKENDS = ["tensorflow", "wasm", "cpu"];
const REQUEST = { tensorflow: "node", wasm: "wasm", cpu: "cpu" };

const PROBE = `
import { Worker } from "node:worker_threads";
const tfUrl = process.argv[1];
const requests = JSON.parse(process.argv[2]);
const code = \`
  import { parentPort, workerData } from "node:worker_threads";
  try {
    const { getTf } = await import(workerData.tfUrl);
    const rt = await getTf({ backend: workerData.request, report: false });
    parentPort.postMessage({ available: true, description: rt.description });
  } catch (e) {
    parentPort.postMessage({ available: false, reason: String(e && e.message ? e.message : e).split("\\\\n")[0] });
  }\`;
const out = {};
await Promise.all(Object.entries(requests).map(([name, request]) => new Promise((resolve) => {
  const w = new Worker(new URL("data:text/javascript," + encodeURIComponent(code)), { workerData: { tfUrl, request } });
  w.once("message", (m) => { out[name] = m; w.terminate().then(resolve); });
  w.once("error", (e) => { out[name] = { available: false, reason: e.message }; resolve(); });
})));
process.stdout.write(JSON.stringify(out));
`;

let cached;

/**
 * For each backend (`tensorflow`, `wasm`, `cpu`): whether getTf can load it here, with its
 * description, or the reason it cannot. Probed once per process, in a child process.
 */
export function availableTfBackends() {
  if (cached !== undefined) return cached;
  const tfUrl = pathToFileURL(join(root, "packages", "tf", "dist", "index.js")).href;
  const r = spawnSync(
    process.execPath,
    ["--input-type=module", "-e", PROBE, tfUrl, JSON.stringify(REQUEST)],
    { encoding: "utf8", env: { TF_CPP_MIN_LOG_LEVEL: "2", ...process.env }, timeout: 120_000 },
  );
  if (r.status !== 0) {
    const why = `the backend probe failed (is @ldakit/tf built? pnpm build): ${r.stderr || r.error}`;
    cached = Object.fromEntries(TF_BACKENDS.map((b) => [b, { available: false, reason: why }]));
  } else {
    cached = JSON.parse(r.stdout);
  }
  return cached;
}

/**
 * The backends LDAKIT_REQUIRE_TF_BACKENDS names (comma list; `node` is `tensorflow`): for
 * those, unavailability fails a test instead of skipping it.
 */
export function requiredTfBackends() {
  const names = (process.env.LDAKIT_REQUIRE_TF_BACKENDS ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== "")
    .map((s) => (s === "node" || s === "tfjs-node" ? "tensorflow" : s));
  for (const n of names) {
    if (!TF_BACKENDS.includes(n))
      throw new Error(
        `LDAKIT_REQUIRE_TF_BACKENDS names "${n}", not a TensorFlow.js backend (${TF_BACKENDS.join(", ")})`,
      );
  }
  return names;
}
