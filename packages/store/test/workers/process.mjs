// A separate process that runs process-pending on a store, for the crash and concurrency tests.
// argv: <store location: SQLite path or postgres:// URL> <delay ms per embed call> <chunk size>;
// LDAKIT_STORE_ROOT names a PostgreSQL store's root, as it does for ldakit.
// Prints one JSON line per event: progress, then the result.
import { createHashEmbedder } from "@ldakit/embed";
import { LDAProjectionDB } from "../../dist/index.js";

const [location, delayArg, chunkArg] = process.argv.slice(2);
const delay = Number(delayArg ?? 0);
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
const db = await LDAProjectionDB.open(location, {
  storeRoot: process.env.LDAKIT_STORE_ROOT || undefined,
});
const result = await db.processPending({
  embedder,
  chunkSize: Number(chunkArg ?? 512),
  onProgress: (p) => process.stdout.write(`${JSON.stringify({ event: "progress", ...p })}\n`),
});
process.stdout.write(
  `${JSON.stringify({ event: "result", completed: result.completed.map((o) => o.batchId), failed: result.failed.map((o) => o.batchId) })}\n`,
);
await db.close();
