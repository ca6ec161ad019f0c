import { type Metrics, type TrainResult, trainProjection } from "@ldakit/train";
import type { Command } from "commander";
import { type GlobalOptions, printJson, UsageError, withStore } from "../context.js";

interface TrainCliOptions extends GlobalOptions {
  model?: string;
  temperature: string;
  centroid: string;
  name?: string;
  folds: string;
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
      await withStore(all, async (db) => {
        const result = await trainProjection(db, {
          model: all.model,
          temperature,
          centroid: all.centroid as "weighted" | "mean",
          name: all.name ?? null,
          folds,
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
        if (result.curve.length > 1) {
          console.log(
            `temperature chosen on held-out questions (${folds}-fold, ${result.heldOut.queries} questions):`,
          );
          console.log("  temperature  Recall@1  Recall@5  MRR");
          for (const p of result.curve) {
            const mark = p.temperature === result.temperature ? "  ← chosen" : "";
            console.log(
              `  ${String(p.temperature).padEnd(11)}  ${pct(p.recallAt1).padStart(8)}  ${pct(p.recallAt5).padStart(8)}  ${p.mrr.toFixed(3)}${mark}`,
            );
          }
        }
        console.log(`temperature ${result.temperature}`);
        console.log(
          `held-out Recall@1 ${pct(result.heldOut.recallAt1)}, MRR ${result.heldOut.mrr.toFixed(3)} (direct search on the same questions: ${pct(result.direct.recallAt1)}, ${result.direct.mrr.toFixed(3)})`,
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
    held_out: metricsJson(result.heldOut),
    direct: metricsJson(result.direct),
    curve: result.curve.map((p) => ({ temperature: p.temperature, ...metricsJson(p) })),
    backend: result.backend,
    seconds: result.seconds,
  };
}
