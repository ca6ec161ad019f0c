// The evaluation table of the train README: the UnifyWeaver Q-A data (../shared/data), embedded
// with each model, 5-fold held-out Recall@1 / Recall@5 / MRR of direct and projected search at
// τ = 1.0, 0.1 and auto. Usage: node scripts/eval-unifyweaver.mjs [--models all-MiniLM-L6-v2,hash-384]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { resolveEmbedder } from "@ldakit/embed";
import { LDAProjectionDB } from "@ldakit/store";
import { getTf } from "@ldakit/tf";
import { DEFAULT_TEMPERATURE_GRID, evaluateHeldOut, pickTemperature } from "../dist/index.js";

const { values } = parseArgs({
  options: {
    models: { type: "string", default: "all-MiniLM-L6-v2,hash-384" },
    data: {
      type: "string",
      default: join(import.meta.dirname, "../../../../shared/data/unifyweaver-lda"),
    },
    folds: { type: "string", default: "5" },
  },
});
const folds = Number(values.folds);
const { tf } = await getTf();
const pct = (x) => `${(100 * x).toFixed(1)}%`;
const rows = [];
for (const model of values.models.split(",")) {
  const dir = mkdtempSync(join(tmpdir(), "ldakit-eval-"));
  try {
    const db = await LDAProjectionDB.open(join(dir, "lda.db"));
    await db.scan(values.data);
    const embedder = await resolveEmbedder(model);
    const processed = await db.processPending({ embedder });
    await embedder.dispose();
    const set = db.loadTrainingSet(model);
    await db.close();
    const temperatures = [...new Set([1.0, 0.1, ...DEFAULT_TEMPERATURE_GRID])];
    const result = await evaluateHeldOut(
      tf,
      { ...set, clusterIds: set.clusters.map((c) => c.clusterId) },
      { temperatures, folds, centroid: "weighted", maxQueries: 100_000, seed: 0 },
    );
    const at = (t) => result.curve.find((p) => p.temperature === t);
    const auto = pickTemperature(
      result.curve.filter((p) => DEFAULT_TEMPERATURE_GRID.includes(p.temperature)),
    );
    const q = result.direct.queries;
    const line = (label, m) =>
      rows.push([
        model,
        label,
        pct(m.recallAt1),
        pct(m.recallAt5),
        m.mrr.toFixed(3),
        q,
        set.clusters.length,
        processed.completed.length,
      ]);
    line("direct", result.direct);
    line("projected, τ = 1.0", at(1.0));
    line("projected, τ = 0.1", at(0.1));
    line(`projected, τ = auto (${auto})`, at(auto));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log(`| model | search | Recall@1 | Recall@5 | MRR | held-out questions | clusters |`);
console.log(`| --- | --- | --- | --- | --- | --- | --- |`);
for (const r of rows)
  console.log(`| ${r[0]} | ${r[1]} | ${r[2]} | ${r[3]} | ${r[4]} | ${r[5]} | ${r[6]} |`);
