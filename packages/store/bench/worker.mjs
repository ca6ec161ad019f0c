// One worker process of the scale-out benchmark (bench/scale-out.mjs): opens the store, says
// `ready`, waits for `go` on stdin — so that the parent times processing, not Node's start-up —
// then runs process-pending with the hash embedder, as `ldakit migrate --process-pending` does,
// and prints its result as one JSON line.
// argv: <store location: SQLite path or postgres:// URL> <store root> <dimensions>
import { createInterface } from "node:readline";
import { createHashEmbedder } from "@ldakit/embed";
import { emptyTimings, LDAProjectionDB } from "../dist/index.js";

const [location, storeRoot, dimensions] = process.argv.slice(2);
if (!location || !storeRoot || !Number.isInteger(Number(dimensions))) {
  process.stderr.write("usage: worker.mjs <store location> <store root> <dimensions>\n");
  process.exit(2);
}

const say = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

const db = await LDAProjectionDB.open(location, { mode: "write", storeRoot });
const go = new Promise((resolve, reject) => {
  const lines = createInterface({ input: process.stdin });
  lines.once("line", (line) => {
    if (line === "go") resolve();
    else reject(new Error(`worker: expected "go" on stdin, got ${JSON.stringify(line)}`));
    lines.close();
  });
  lines.once("close", () => reject(new Error("worker: stdin closed before go")));
});
say({ event: "ready" });
await go;

const timings = emptyTimings();
const start = performance.now();
const result = await db.processPending({
  embedder: createHashEmbedder(Number(dimensions)),
  timings,
});
const ms = performance.now() - start;
await db.close();
say({
  event: "result",
  ms,
  timings,
  completed: result.completed.map((o) => o.batchId),
  failed: result.failed.map((o) => ({ batchId: o.batchId, error: o.error })),
  clusters: result.completed.reduce((n, o) => n + o.clusters, 0),
  vectors: result.completed.reduce((n, o) => n + o.vectors, 0),
});
