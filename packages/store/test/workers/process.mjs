// A separate process that runs process-pending on a store, for the crash and concurrency tests.
// argv: <store location: SQLite path or postgres:// URL> <delay ms per embed call> <chunk size>
// [store root] [lease ms] ("-" for a store root: none, as a SQLite store needs); without a store
// root argument, LDAKIT_STORE_ROOT names a PostgreSQL store's root, as it does for ldakit.
// Prints one JSON line per event: progress, then the result — or an error (its code and
// message), then exits with 1.
import { createHashEmbedder } from "@ldakit/embed";
import { LDAProjectionDB } from "../../dist/index.js";

const [location, delayArg, chunkArg, storeRootArg, leaseArg] = process.argv.slice(2);
const delay = Number(delayArg ?? 0);
const storeRoot =
  storeRootArg === undefined
    ? process.env.LDAKIT_STORE_ROOT || undefined
    : storeRootArg === "-"
      ? undefined
      : storeRootArg;
const hash = createHashEmbedder(32);
const embedder = {
  name: hash.name,
  dimensions: hash.dimensions,
  backend: hash.backend,
  async embed(texts) {
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    return hash.embed(texts);
  },
  dispose: async () => {},
};
try {
  const db = await LDAProjectionDB.open(location, storeRoot === undefined ? {} : { storeRoot });
  const result = await db.processPending({
    embedder,
    chunkSize: Number(chunkArg ?? 512),
    ...(leaseArg === undefined ? {} : { leaseMs: Number(leaseArg) }),
    onProgress: (p) => process.stdout.write(`${JSON.stringify({ event: "progress", ...p })}\n`),
  });
  process.stdout.write(
    `${JSON.stringify({ event: "result", completed: result.completed.map((o) => o.batchId), failed: result.failed.map((o) => o.batchId) })}\n`,
  );
  await db.close();
} catch (error) {
  // Exits at once: a store left open (its connection pool) would keep the process alive.
  process.stdout.write(
    `${JSON.stringify({ event: "error", code: error?.code, message: String(error?.message ?? error) })}\n`,
    () => process.exit(1),
  );
}
