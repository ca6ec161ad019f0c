// The evaluation tables of the train README, in one run: for each embedding model, the UnifyWeaver
// Q-A data (--data or LDAKIT_UNIFYWEAVER_DATA) with its novel queries
// (scripts/unifyweaver-novel-queries.json), then the repository's examples/bike-care with its
// eval queries. Per data set and model it prints
// (1) k-fold held-out Recall@1 / Recall@5 / MRR: direct search; the book's projection (no adapter,
//     β = 1) at τ = 1.0, 0.1 and auto; τ and β chosen with no adapter (blend only); the trained
//     projection (`trainProjection` defaults) with the choice it made;
// (2) the queries, scored on projections trained on every question: the same rows;
// (3) the queries by style: direct, book (τ = auto), blend only and trained, per group.
// Neither query file labels a style, so two objective splits are computed here: length
// (short: at most SHORT_WORDS words) and wording (the query shares a word with its cluster's id,
// e.g. "awk" for awk_source, or it is a paraphrase that shares none).
// Usage: node scripts/eval-unifyweaver.mjs [--data DIR] [--models all-MiniLM-L6-v2,hash-384]
//        [--folds 5] [--queries FILE] [--bike-care DIR]
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

const SHORT_WORDS = 8;

const { values } = parseArgs({
  options: {
    models: { type: "string", default: "all-MiniLM-L6-v2,hash-384" },
    data: { type: "string" },
    folds: { type: "string", default: "5" },
    queries: {
      type: "string",
      default: join(import.meta.dirname, "unifyweaver-novel-queries.json"),
    },
    "bike-care": {
      type: "string",
      default: join(import.meta.dirname, "..", "..", "..", "examples", "bike-care"),
    },
  },
});
const fail = (message) => {
  console.error(`eval-unifyweaver: ${message}`);
  process.exit(2);
};
const dataArg = values.data ?? process.env.LDAKIT_UNIFYWEAVER_DATA;
if (!dataArg) {
  fail(
    "no data folder: pass --data DIR or set LDAKIT_UNIFYWEAVER_DATA to the folder of the " +
      "UnifyWeaver Q-A data (qa_pairs_v*.json)",
  );
}
const isFolder = (path) => statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
const dataDir = resolve(dataArg);
if (!isFolder(dataDir)) {
  const from = values.data === undefined ? "LDAKIT_UNIFYWEAVER_DATA" : "--data";
  fail(`${from} ${dataArg}: ${dataDir} is not a folder`);
}
const bikeDir = resolve(values["bike-care"]);
if (!isFolder(join(bikeDir, "raw"))) {
  fail(`--bike-care ${values["bike-care"]}: ${join(bikeDir, "raw")} is not a folder`);
}
const folds = Number(values.folds);
if (!Number.isInteger(folds) || folds < 2) fail(`--folds ${values.folds}: not an integer ≥ 2`);

const readQueries = (file) => parseQueryJson(readFileSync(file), file);
const datasets = [
  {
    name: "UnifyWeaver",
    raw: dataDir,
    queriesFile: values.queries,
    queries: readQueries(values.queries),
  },
  {
    name: "bike-care",
    raw: join(bikeDir, "raw"),
    queriesFile: join(bikeDir, "eval-queries.json"),
    queries: readQueries(join(bikeDir, "eval-queries.json")),
  },
];

const words = (text) => text.toLowerCase().match(/[a-z0-9#+]+/g) ?? [];
const styleGroups = (queries) => {
  const isShort = (q) => words(q.text).length <= SHORT_WORDS;
  const namesTopic = (q) => {
    const idWords = new Set(words(q.recordId.replace(/[_-]/g, " ")));
    return words(q.text).some((w) => idWords.has(w));
  };
  return [
    [`short (≤ ${SHORT_WORDS} words)`, queries.filter(isShort)],
    [`long (> ${SHORT_WORDS} words)`, queries.filter((q) => !isShort(q))],
    ["shares a word with its cluster id", queries.filter(namesTopic)],
    ["shares no word with its cluster id", queries.filter((q) => !namesTopic(q))],
  ].filter(([, group]) => group.length > 0);
};

const { tf } = await getTf();
const pct = (x) => `${(100 * x).toFixed(1)}%`;
const choiceOf = (s) =>
  s.adapter === "none"
    ? `no adapter, τ = ${s.temperature}, β = ${s.blend}`
    : `${s.adapter} W (λ = ${s.lambda}, target ${s.target}, ${s.steps} steps), τ = ${s.temperature}, β = ${s.blend}`;

async function evaluateDataset(dataset, model) {
  const dir = mkdtempSync(join(tmpdir(), "ldakit-eval-"));
  const kfold = [];
  const queryRows = [];
  const styleRows = [];
  try {
    const db = await LDAProjectionDB.open(join(dir, "lda.db"));
    await db.scan(dataset.raw);
    const embedder = await resolveEmbedder(model);
    await db.processPending({ embedder });
    const set = await db.loadTrainingSet(model);
    const clusters = set.clusters.length;

    // the book's projection on k-fold held-out questions, at the temperatures it discusses
    const temperatures = [...new Set([1.0, 0.1, ...DEFAULT_TEMPERATURE_GRID])];
    const heldOut = await evaluateHeldOut(
      tf,
      { ...set, clusterIds: set.clusters.map((c) => c.clusterId) },
      { temperatures, folds, centroid: "weighted", maxQueries: 100_000, seed: 0 },
    );
    const at = (t) => heldOut.curve.find((p) => p.temperature === t);
    const auto = pickTemperature(
      heldOut.curve.filter((p) => DEFAULT_TEMPERATURE_GRID.includes(p.temperature)),
    );
    kfold.push(["direct", heldOut.direct]);
    kfold.push(["book, τ = 1.0", at(1.0)]);
    kfold.push(["book, τ = 0.1", at(0.1)]);
    kfold.push([`book, τ = auto (${auto})`, at(auto)]);

    // projections trained on every question: the book's at each τ, and the defaults' choice
    const book = {};
    for (const temperature of [1.0, 0.1, "auto"]) {
      const trained = await trainProjection(db, {
        model,
        temperature,
        adapter: "none",
        blend: 1,
        folds,
        seed: 0,
      });
      book[temperature] = trained;
    }
    // τ and β chosen as the defaults do, with no adapter: what W adds over the blend alone
    const blendOnly = await trainProjection(db, { model, adapter: "none", folds, seed: 0 });
    const trained = await trainProjection(db, { model, folds, seed: 0 });
    kfold.push([`blend only: ${choiceOf(blendOnly.selection)}`, blendOnly.heldOut]);
    kfold.push([`trained: ${choiceOf(trained.selection)}`, trained.heldOut]);

    const score = (projection, queries) =>
      evaluateQueries(db, projection.mhProjectionId, queries, embedder);
    const rowsOf = async (queries) => {
      const [b1, b01, bAuto, blend, t] = [
        await score(book[1.0], queries),
        await score(book[0.1], queries),
        await score(book.auto, queries),
        await score(blendOnly, queries),
        await score(trained, queries),
      ];
      for (const r of [b1, b01, bAuto, blend, t]) {
        if (r.unmatchedIds.length > 0)
          fail(`${dataset.queriesFile}: ids no cluster answers: ${r.unmatchedIds.join(", ")}`);
      }
      return { direct: t.direct, b1, b01, bAuto, blend, t };
    };
    const all = await rowsOf(dataset.queries);
    queryRows.push(["direct", all.direct]);
    queryRows.push(["book, τ = 1.0", all.b1.projected]);
    queryRows.push(["book, τ = 0.1", all.b01.projected]);
    queryRows.push([`book, τ = auto (${book.auto.temperature})`, all.bAuto.projected]);
    queryRows.push([`blend only: ${choiceOf(blendOnly.selection)}`, all.blend.projected]);
    queryRows.push([`trained: ${choiceOf(trained.selection)}`, all.t.projected]);
    for (const [style, group] of styleGroups(dataset.queries)) {
      const g = await rowsOf(group);
      styleRows.push([style, "direct", g.direct]);
      styleRows.push([style, `book, τ = auto (${book.auto.temperature})`, g.bAuto.projected]);
      styleRows.push([style, "blend only", g.blend.projected]);
      styleRows.push([style, "trained", g.t.projected]);
    }
    await embedder.dispose();
    await db.close();
    return { clusters, questions: heldOut.direct.queries, kfold, queryRows, styleRows };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const metricCells = (m) => `${pct(m.recallAt1)} | ${pct(m.recallAt5)} | ${m.mrr.toFixed(3)}`;
for (const dataset of datasets) {
  const results = [];
  for (const model of values.models.split(",")) {
    const started = Date.now();
    results.push([model, await evaluateDataset(dataset, model)]);
    console.error(`${dataset.name}, ${model}: ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  const [, first] = results[0];
  console.log(
    `## ${dataset.name}: ${first.clusters} clusters, ${first.questions} questions held out by ${folds}-fold`,
  );
  console.log();
  console.log("| model | search | Recall@1 | Recall@5 | MRR | held-out questions |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const [model, r] of results)
    for (const [label, m] of r.kfold)
      console.log(`| ${model} | ${label} | ${metricCells(m)} | ${m.queries} |`);
  console.log();
  const file = dataset.queriesFile.split("/").pop();
  console.log(
    `${dataset.name}: ${dataset.queries.length} queries (${file}), projections trained on all questions:`,
  );
  console.log();
  console.log("| model | search | Recall@1 | Recall@5 | MRR | queries |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const [model, r] of results)
    for (const [label, m] of r.queryRows)
      console.log(`| ${model} | ${label} | ${metricCells(m)} | ${m.queries} |`);
  console.log();
  console.log(`${dataset.name}: the same queries by style:`);
  console.log();
  console.log("| model | style | search | Recall@1 | Recall@5 | MRR | queries |");
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const [model, r] of results)
    for (const [style, label, m] of r.styleRows)
      console.log(`| ${model} | ${style} | ${label} | ${metricCells(m)} | ${m.queries} |`);
  console.log();
}
