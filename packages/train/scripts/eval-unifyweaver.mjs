// The evaluation tables of the train README: the UnifyWeaver Q-A data (LDAKIT_UNIFYWEAVER_DATA),
// embedded with each model. (1) 5-fold held-out Recall@1 / Recall@5 / MRR of direct and projected
// search at τ = 1.0, 0.1 and auto. (2) The book's protocol: projections trained on all questions at
// those temperatures, scored on novel queries written for ldakit
// (scripts/unifyweaver-novel-queries.json).
// Usage: node scripts/eval-unifyweaver.mjs [--data DIR] [--models all-MiniLM-L6-v2,hash-384]
// The data is not part of the repository: --data, else LDAKIT_UNIFYWEAVER_DATA, names its folder.
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { resolveEmbedder } from "@ldakit/embed";
import { parseQueryJson } from "@ldakit/schema";
import { LDAProjectionDB } from "@ldakit/store";
import { getTf } from "@ldakit/tf";
import {
  DEFAULT_TEMPERATURE_GRID,
  evaluateHeldOut,
  evaluateQueries,
  pickTemperature,
  trainProjection,
} from "../dist/index.js";

const { values } = parseArgs({
  options: {
    models: { type: "string", default: "all-MiniLM-L6-v2,hash-384" },
    data: { type: "string" },
    folds: { type: "string", default: "5" },
    queries: {
      type: "string",
      default: join(import.meta.dirname, "unifyweaver-novel-queries.json"),
    },
  },
});
const dataArg = values.data ?? process.env.LDAKIT_UNIFYWEAVER_DATA;
if (!dataArg) {
  console.error(
    "eval-unifyweaver: no data folder: pass --data DIR or set LDAKIT_UNIFYWEAVER_DATA to the " +
      "folder of the UnifyWeaver Q-A data (qa_pairs_v*.json)",
  );
  process.exit(2);
}
const dataDir = resolve(dataArg);
if (!statSync(dataDir, { throwIfNoEntry: false })?.isDirectory()) {
  const from = values.data === undefined ? "LDAKIT_UNIFYWEAVER_DATA" : "--data";
  console.error(`eval-unifyweaver: ${from} ${dataArg}: ${dataDir} is not a folder`);
  process.exit(2);
}
const novel = parseQueryJson(readFileSync(values.queries, "utf8"), values.queries);
const folds = Number(values.folds);
const { tf } = await getTf();
const pct = (x) => `${(100 * x).toFixed(1)}%`;
const rows = [];
const novelRows = [];
for (const model of values.models.split(",")) {
  const dir = mkdtempSync(join(tmpdir(), "ldakit-eval-"));
  try {
    const db = await LDAProjectionDB.open(join(dir, "lda.db"));
    await db.scan(dataDir);
    const embedder = await resolveEmbedder(model);
    const processed = await db.processPending({ embedder });
    const set = await db.loadTrainingSet(model);
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

    // the book's protocol: train on every question, score queries nobody trained on
    for (const temperature of [1.0, 0.1, "auto"]) {
      const trained = await trainProjection(db, { model, temperature, seed: 0 });
      const result = await evaluateQueries(db, trained.mhProjectionId, novel, embedder);
      if (temperature === 1.0) novelRows.push([model, "direct", result.direct]);
      const label =
        temperature === "auto" ? `auto (${trained.temperature})` : temperature.toFixed(1);
      novelRows.push([model, `projected, τ = ${label}`, result.projected]);
    }
    await embedder.dispose();
    await db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log(`| model | search | Recall@1 | Recall@5 | MRR | held-out questions | clusters |`);
console.log(`| --- | --- | --- | --- | --- | --- | --- |`);
for (const r of rows)
  console.log(`| ${r[0]} | ${r[1]} | ${r[2]} | ${r[3]} | ${r[4]} | ${r[5]} | ${r[6]} |`);
console.log();
console.log(
  `Novel queries (${novel.length}, ${values.queries.split("/").pop()}), projections trained on all questions:`,
);
console.log();
console.log(`| model | search | Recall@1 | Recall@5 | MRR | queries |`);
console.log(`| --- | --- | --- | --- | --- | --- |`);
for (const [model, label, m] of novelRows)
  console.log(
    `| ${model} | ${label} | ${pct(m.recallAt1)} | ${pct(m.recallAt5)} | ${m.mrr.toFixed(3)} | ${m.queries} |`,
  );
