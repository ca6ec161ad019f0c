import { type Metrics, type TrainResult, trainProjection } from "@ldakit/train";
import type { Command } from "commander";
import { type GlobalOptions, printJson, printTable, UsageError, withStore } from "../context.js";

interface TrainCliOptions extends GlobalOptions {
  model?: string;
  temperature: string;
  centroid: string;
  name?: string;
  folds: string;
  adapter: string;
  blend: string;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function registerTrain(program: Command): void {
  program
    .command("train")
    .description("train a new multi-head projection from the stored clusters")
    .option(
      "--model <name>",
      "embedding model whose vectors to use (default: the store's only model)",
    )
    .option(
      "--temperature <t>",
      "routing temperature, or auto to choose it on held-out questions",
      "auto",
    )
    .option("--centroid <method>", "head centroids: weighted or mean", "weighted")
    .option("--name <name>", "a name for the projection")
    .option("--folds <k>", "k of the k-fold held-out evaluation", "5")
    .option(
      "--adapter <kind>",
      "query adapter: linear, none, or auto to choose on held-out questions",
      "auto",
    )
    .option(
      "--blend <β>",
      "blend of the projected vector with the query (0 to 1), or auto to choose on held-out questions",
      "auto",
    )
    .action(async (options: TrainCliOptions, command: Command) => {
      const all = { ...command.optsWithGlobals(), ...options } as TrainCliOptions;
      const temperature = all.temperature === "auto" ? "auto" : Number(all.temperature);
      if (temperature !== "auto" && !(Number.isFinite(temperature) && temperature > 0)) {
        throw new UsageError(
          `--temperature must be a positive number or auto, not "${all.temperature}"`,
        );
      }
      if (all.centroid !== "weighted" && all.centroid !== "mean") {
        throw new UsageError(`--centroid must be weighted or mean, not "${all.centroid}"`);
      }
      const folds = Number(all.folds);
      if (!Number.isInteger(folds) || folds < 2)
        throw new UsageError("--folds must be an integer of at least 2");
      if (!["auto", "linear", "none"].includes(all.adapter))
        throw new UsageError(`--adapter must be linear, none or auto, not "${all.adapter}"`);
      const blend = all.blend === "auto" ? "auto" : Number(all.blend);
      if (blend !== "auto" && !(all.blend.trim() !== "" && blend >= 0 && blend <= 1)) {
        throw new UsageError(`--blend must be a number from 0 to 1 or auto, not "${all.blend}"`);
      }
      await withStore(all, "write", async (db) => {
        const result = await trainProjection(db, {
          model: all.model,
          temperature,
          centroid: all.centroid as "weighted" | "mean",
          name: all.name ?? null,
          folds,
          adapter: all.adapter as "auto" | "linear" | "none",
          blend,
          onProgress: (message) => {
            if (!all.json) process.stderr.write(`  ${message}\n`);
          },
        });
        if (all.json) {
          printJson(trainJson(result));
          return;
        }
        console.log(
          `projection ${result.mhProjectionId}: ${result.numHeads} heads from ${result.numQuestions} questions (${result.model}, ${result.centroid} centroids)`,
        );
        const { selection } = result;
        if (result.curve.length > 1) {
          console.log(
            `chosen on held-out questions (${folds}-fold, ${result.heldOut.queries} questions), by MRR:`,
          );
          const metrics = (m: Metrics) => [pct(m.recallAt1), pct(m.recallAt5), m.mrr.toFixed(3)];
          printTable(
            ["adapter", "λ", "target", "steps", "τ", "β", "Recall@1", "Recall@5", "MRR", ""],
            [
              ["direct", null, null, null, null, null, ...metrics(result.direct), ""],
              ...result.curve.map((p) => [
                p.adapter,
                p.lambda,
                p.target,
                p.adapter === "none" ? null : p.steps,
                p.temperature,
                p.blend,
                ...metrics(p),
                p === result.chosen ? "← chosen" : "",
              ]),
            ],
          );
        }
        if (selection.adapterFallback !== null)
          console.log(`no adapter: ${selection.adapterFallback}`);
        console.log(
          selection.adapter === "linear"
            ? `adapter linear (λ = ${selection.lambda}, target ${selection.target}, ${selection.steps} steps on all questions), temperature ${result.temperature}, blend ${result.blend}`
            : `no adapter, temperature ${result.temperature}, blend ${result.blend}`,
        );
        console.log(
          `held-out Recall@1 ${pct(result.heldOut.recallAt1)}, Recall@5 ${pct(result.heldOut.recallAt5)}, MRR ${result.heldOut.mrr.toFixed(3)} (direct search on the same questions: ${pct(result.direct.recallAt1)}, ${pct(result.direct.recallAt5)}, ${result.direct.mrr.toFixed(3)})`,
        );
        console.log(`trained in ${result.seconds.toFixed(1)} s on TensorFlow.js ${result.backend}`);
      });
    });
}

const metricsJson = (m: Metrics) => ({
  recall_at_1: m.recallAt1,
  recall_at_5: m.recallAt5,
  mrr: m.mrr,
  queries: m.queries,
});

/** `train --json`: the result in snake_case, like the database and every other `--json`. */
function trainJson(result: TrainResult) {
  return {
    mh_projection_id: result.mhProjectionId,
    model: result.model,
    num_heads: result.numHeads,
    num_questions: result.numQuestions,
    temperature: result.temperature,
    centroid: result.centroid,
    adapter: result.adapter,
    blend: result.blend,
    selection: {
      adapter: result.selection.adapter,
      lambda: result.selection.lambda,
      target: result.selection.target,
      steps: result.selection.steps,
      temperature: result.selection.temperature,
      blend: result.selection.blend,
      folds: result.selection.folds,
      adapter_fallback: result.selection.adapterFallback,
    },
    held_out: metricsJson(result.heldOut),
    direct: metricsJson(result.direct),
    curve: result.curve.map((p) => ({
      adapter: p.adapter,
      lambda: p.lambda,
      target: p.target,
      steps: p.steps,
      temperature: p.temperature,
      blend: p.blend,
      ...metricsJson(p),
    })),
    backend: result.backend,
    seconds: result.seconds,
  };
}
