// The quickstart: a store built from the project's own example data, end to end —
// models fetch → scan → process → train (auto) → eval → one search.
// Usage: pnpm quickstart [--model all-MiniLM-L6-v2 | hash-384] [--dir quickstart]
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";

const root = join(import.meta.dirname, "..");
const { values } = parseArgs({
  options: {
    model: { type: "string", default: "all-MiniLM-L6-v2" },
    dir: { type: "string", default: join(root, "quickstart") },
  },
});
const examples = join(root, "examples", "bike-care");
const db = join(values.dir, "lda.db");
const cli = join(root, "packages", "cli", "dist", "main.js");

function step(title, args) {
  console.log(`\n▶ ${title}\n  $ ldakit ${args.join(" ")}`);
  const result = spawnSync(process.execPath, [cli, "--db", db, ...args], {
    stdio: "inherit",
    cwd: root,
  });
  if (result.status !== 0) {
    console.error(`\nquickstart stopped: \`ldakit ${args[0]}\` exited with ${result.status}`);
    process.exit(result.status ?? 1);
  }
}

console.log(
  `ldakit quickstart — model ${values.model}, store ${relative(process.cwd(), db) || db}`,
);
console.log("Example data: 28 bike-care Q-A clusters (examples/bike-care), 8 phrasings each.");
rmSync(values.dir, { recursive: true, force: true });
if (!values.model.startsWith("hash-"))
  step("Fetch the embedding model into the cache (once)", ["models", "fetch", values.model]);
step("Queue the raw files as batches", [
  "migrate",
  "--scan",
  "--input",
  relative(root, join(examples, "raw")),
]);
step("Import and embed them", ["migrate", "--process-pending", "--model", values.model]);
step("Train a projection; the temperature is chosen on held-out questions", [
  "train",
  "--temperature",
  "auto",
]);
step("Evaluate on new phrasings the training never saw", [
  "eval",
  "--queries",
  relative(root, join(examples, "eval-queries.json")),
]);
step("Ask a question", ["search", "my chain squeaks after riding in the rain", "--top-k", "3"]);
console.log(
  `\nDone. The store is in ${relative(process.cwd(), values.dir) || values.dir}/: lda.db and embeddings/*.npy (NumPy can load them).`,
);
console.log('Try: pnpm ldakit --db quickstart/lda.db search "how do I stop my bike being stolen"');
