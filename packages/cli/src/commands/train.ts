import { type Metrics, type TrainResult, trainProjection } from "@ldakit/train";
import { type Command, Option } from "commander";
import { type GlobalOptions, printJson, printTable, withStore } from "../context.js";
import { blendOption, foldsOption, temperatureOption } from "../options.js";

interface TrainCliOptions extends GlobalOptions {
  model?: string;
  temperature: number | "auto";
  centroid: string;
  name?: string;
  folds: number;
  adapter: string;
  blend: number | "auto";
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
    .addOption(temperatureOption())
    .addOption(
      new Option("--centroid <method>", "head centroids")
        .choices(["weighted", "mean"])
        .default("weighted"),
    )
    .option("--name <name>", "a name for the projection")
    .addOption(foldsOption())
    .addOption(
      new Option("--adapter <kind>", "query adapter, or auto to choose on held-out questions")
        .choices(["linear", "none", "auto"])
        .default("auto"),
    )
    .addOption(blendOption())
    .action(async (options: TrainCliOptions, command: Command) => {
      const all = { ...command.optsWithGlobals(), ...options } as TrainCliOptions;
      const { temperature, folds, blend } = all;
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
