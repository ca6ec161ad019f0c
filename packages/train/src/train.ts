import type { LDAProjectionDB } from "@ldakit/store";
import { getTf } from "@ldakit/tf";
import { trainAdapter } from "./adapter.js";
import { TrainError } from "./errors.js";
import {
  type CentroidMethod,
  checkHeldOutOptions,
  computeCentroids,
  type Metrics,
} from "./math.js";
import {
  type AdapterKind,
  type AdapterTarget,
  type Choice,
  type ChoicePoint,
  DEFAULT_ADAPTER_TARGETS,
  DEFAULT_BLEND_GRID,
  DEFAULT_LAMBDA_GRID,
  evaluateSelection,
} from "./selection.js";

/** The temperatures `auto` tries: from sharp routing to the original tooling's 1.0. */
export const DEFAULT_TEMPERATURE_GRID = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0];

export interface TrainOptions {
  /** The embedding model whose vectors to train on; default: the store's only model. */
  model?: string;
  /** A routing temperature, or `auto` (default) to pick it on held-out questions. */
  temperature?: number | "auto";
  /** How each head's centroid is built (default `weighted`). */
  centroid?: CentroidMethod;
  name?: string | null;
  /** k of the k-fold held-out evaluation (default 5). */
  folds?: number;
  /** The temperatures `auto` compares. */
  temperatures?: number[];
  /** At most this many held-out questions are scored (a seeded sample; default 4 000). */
  maxEvalQueries?: number;
  seed?: number;
  /** `auto` (default): compare no adapter with a linear one on held-out questions; or force one. */
  adapter?: AdapterKind | "auto";
  /** A blend β in [0, 1], or `auto` (default) to pick it on held-out questions from `blends`. */
  blend?: number | "auto";
  /** The blends `auto` compares (default {@link DEFAULT_BLEND_GRID}). */
  blends?: number[];
  /** The adapter's pulls toward the identity compared (default {@link DEFAULT_LAMBDA_GRID}). */
  lambdas?: number[];
  /** The adapter training targets compared (default centroids and answers). */
  adapterTargets?: AdapterTarget[];
  /** Adapter training: τ of its loss (default 0.05), step limit (500), mini-batch size (256), Adam's rate. */
  adapterTemperature?: number;
  adapterMaxSteps?: number;
  adapterBatchSize?: number;
  adapterLearningRate?: number;
  /** Progress messages for a person (stage names). */
  onProgress?: (message: string) => void;
}

/** What the k-fold selection chose, as the projection records it (`multi_head_projections.selection`). */
export interface Selection extends Choice {
  folds: number;
  /** The chosen setting and direct search on the same held-out questions. */
  heldOut: Metrics;
  direct: Metrics;
  /** Why no adapter was tried although one was allowed, else null. */
  adapterFallback: string | null;
}

export interface TrainResult {
  mhProjectionId: number;
  model: string;
  numHeads: number;
  numQuestions: number;
  temperature: number;
  centroid: CentroidMethod;
  /** The adapter stored (`linear`: W trained on all questions with the chosen λ, target, steps). */
  adapter: AdapterKind;
  blend: number;
  /** The whole choice, as recorded with the projection. */
  selection: Selection;
  /** Projected search on held-out questions with the chosen setting. */
  heldOut: Metrics;
  /** Direct cosine search on the same held-out questions. */
  direct: Metrics;
  /** Held-out metrics of every setting tried (adapter, λ, target, τ, β), simplest first. */
  curve: ChoicePoint[];
  /** The point of `curve` that won (its adapter is dropped when `selection.adapterFallback` says so). */
  chosen: ChoicePoint;
  /** The TensorFlow.js backend the math ran on. */
  backend: string;
  seconds: number;
}

/** Picks the temperature with the best held-out MRR; ties go to higher Recall@1, then the order tried. */
export function pickTemperature(curve: Array<Metrics & { temperature: number }>): number {
  let best = curve[0];
  for (const point of curve.slice(1)) {
    if (
      !best ||
      point.mrr > best.mrr ||
      (point.mrr === best.mrr && point.recallAt1 > best.recallAt1)
    )
      best = point;
  }
  if (!best) throw new TrainError("BAD_ARGUMENT", "no temperature to pick from");
  return best.temperature;
}

const metricsRecord = (m: Metrics) => ({
  recall_at_1: m.recallAt1,
  recall_at_5: m.recallAt5,
  mrr: m.mrr,
  queries: m.queries,
});

/** The selection as `multi_head_projections.selection` holds it: snake_case, like the database's columns. */
export function selectionRecord(s: Selection) {
  return {
    adapter: s.adapter,
    lambda: s.lambda,
    target: s.target,
    steps: s.steps,
    temperature: s.temperature,
    blend: s.blend,
    folds: s.folds,
    held_out: metricsRecord(s.heldOut),
    direct: metricsRecord(s.direct),
    adapter_fallback: s.adapterFallback,
  };
}

/**
 * The last line of defence before anything is written: metrics must be finite numbers in [0, 1],
 * head centroids finite and non-zero (search cannot normalize a zero one), the adapter finite.
 * A `NOT_FINITE` {@link TrainError} names what is wrong.
 */
function checkBeforeStoring(parts: {
  heldOut: Metrics;
  centroids: Float32Array;
  adapter: Float32Array | null;
  dimensions: number;
  clusters: Array<{ clusterId: number }>;
}): void {
  const fail = (message: string) => new TrainError("NOT_FINITE", `${message}; nothing was stored`);
  for (const [name, value] of [
    ["Recall@1", parts.heldOut.recallAt1],
    ["Recall@5", parts.heldOut.recallAt5],
    ["MRR", parts.heldOut.mrr],
  ] as const) {
    if (!(value >= 0 && value <= 1))
      throw fail(`held-out ${name} is ${value}, not a number in [0, 1]`);
  }
  const d = parts.dimensions;
  for (const [k, cluster] of parts.clusters.entries()) {
    let sumsq = 0;
    for (let j = 0; j < d; j++) {
      const v = parts.centroids[k * d + j] as number;
      if (!Number.isFinite(v))
        throw fail(`the centroid of cluster ${cluster.clusterId} has value [${j}] = ${v}`);
      sumsq += v * v;
    }
    if (sumsq === 0)
      throw fail(
        `the centroid of cluster ${cluster.clusterId} is all zeros (its questions cancel out)`,
      );
  }
  if (parts.adapter !== null) {
    const at = parts.adapter.findIndex((v) => !Number.isFinite(v));
    if (at >= 0)
      throw fail(`the adapter W[${Math.floor(at / d)}, ${at % d}] is ${parts.adapter[at]}`);
  }
}

function defaultModel(db: LDAProjectionDB, models: Array<{ name: string }>): string {
  if (models.length === 1) return (models[0] as { name: string }).name;
  if (models.length === 0) {
    throw new TrainError(
      "NO_CLUSTERS",
      `the store ${db.path} has no embedded clusters yet; run \`ldakit migrate --scan --input DIR\` and \`--process-pending\` first`,
    );
  }
  throw new TrainError(
    "AMBIGUOUS_MODEL",
    `the store has vectors of several models (${models.map((m) => m.name).join(", ")}); choose one with --model`,
  );
}

/**
 * Trains a new multi-head projection from the clusters stored for a model (docs/ARCHITECTURE.md §2.2): one head
 * per cluster, centroids from all its questions, the temperature fixed or chosen by k-fold on
 * held-out questions, and Recall@1 / MRR measured on held-out questions only. Writes a new
 * projection (rows, head files, `mh_<id>.json`); older projections stay.
 */
export async function trainProjection(
  db: LDAProjectionDB,
  options: TrainOptions = {},
): Promise<TrainResult> {
  const started = performance.now();
  const say = options.onProgress ?? (() => {});
  const temperatures =
    options.temperature === undefined || options.temperature === "auto"
      ? (options.temperatures ?? DEFAULT_TEMPERATURE_GRID)
      : [options.temperature];
  const centroid = options.centroid ?? "weighted";
  const heldOutOptions = {
    temperatures,
    folds: options.folds ?? 5,
    centroid,
    maxQueries: options.maxEvalQueries ?? 4000,
    seed: options.seed ?? 0,
  };
  checkHeldOutOptions(heldOutOptions);
  const adapterOption = options.adapter ?? "auto";
  if (!["auto", "none", "linear"].includes(adapterOption)) {
    throw new TrainError(
      "BAD_ARGUMENT",
      `adapter must be "auto", "none" or "linear", not ${JSON.stringify(adapterOption)}`,
    );
  }
  const blends =
    options.blend === undefined || options.blend === "auto"
      ? (options.blends ?? DEFAULT_BLEND_GRID)
      : [options.blend];
  const adapterTemperature = options.adapterTemperature ?? 0.05;
  const maxSteps = options.adapterMaxSteps ?? 500;
  const batchSize = options.adapterBatchSize ?? 256;
  const { tf, description } = await getTf();
  const modelName = options.model ?? defaultModel(db, await db.listModels());
  const set = await db.loadTrainingSet(modelName);
  const numHeads = set.clusters.length;
  if (numHeads < 2) {
    throw new TrainError(
      "TOO_FEW_CLUSTERS",
      `model "${modelName}" has ${numHeads} cluster(s) with vectors; a projection needs at least 2`,
    );
  }
  if (heldOutOptions.folds > set.questionIds.length) {
    throw new TrainError(
      "BAD_ARGUMENT",
      `folds is ${heldOutOptions.folds}, more than the ${set.questionIds.length} questions of model "${modelName}": at most ${set.questionIds.length}`,
    );
  }
  const adapters: AdapterKind[] =
    adapterOption === "auto" ? ["none", "linear"] : [adapterOption as AdapterKind];
  say(
    `held-out selection: ${heldOutOptions.folds}-fold, adapter ${adapters.join("/")}, ${temperatures.length} temperature(s), ${blends.length} blend(s), ${numHeads} heads`,
  );
  const evaluation = await evaluateSelection(
    tf,
    { ...set, clusterIds: set.clusters.map((c) => c.clusterId) },
    {
      ...heldOutOptions,
      blends,
      adapters,
      lambdas: options.lambdas ?? DEFAULT_LAMBDA_GRID,
      targets: options.adapterTargets ?? DEFAULT_ADAPTER_TARGETS,
      adapterTemperature,
      maxSteps,
      batchSize,
      ...(options.adapterLearningRate === undefined
        ? {}
        : { learningRate: options.adapterLearningRate }),
      onProgress: say,
    },
  );
  if (evaluation.adapterFallback !== null) say(`no adapter: ${evaluation.adapterFallback}`);
  const chosen = evaluation.chosen;
  const { temperature, blend } = chosen;
  const heldOut: Metrics = {
    recallAt1: chosen.recallAt1,
    recallAt5: chosen.recallAt5,
    mrr: chosen.mrr,
    queries: chosen.queries,
  };

  say(`centroids (${centroid}) from all ${set.questionIds.length} questions`);
  const d = set.dimensions;
  const centroids = computeCentroids(set.questions, d, set.questionCluster, numHeads, centroid);
  let adapter: Float32Array | null = null;
  let adapterFallback = evaluation.adapterFallback;
  if (chosen.adapter === "linear") {
    if (chosen.steps === 0) {
      adapterFallback = "early stopping kept the identity in every fold: W = I is no adapter";
    } else {
      say(
        `adapter: λ = ${chosen.lambda}, target ${chosen.target}, ${chosen.steps} steps on all ${set.questionIds.length} questions`,
      );
      const trained = await trainAdapter(
        tf,
        { questions: set.questions, questionCluster: set.questionCluster },
        {
          dimensions: d,
          targets: chosen.target === "answers" ? set.answers : centroids,
          temperature: adapterTemperature,
          lambda: chosen.lambda as number,
          maxSteps: chosen.steps,
          batchSize,
          seed: heldOutOptions.seed,
          ...(options.adapterLearningRate === undefined
            ? {}
            : { learningRate: options.adapterLearningRate }),
        },
      );
      adapter = trained.adapter;
    }
  }
  const selection: Selection = {
    adapter: adapter === null ? "none" : "linear",
    lambda: adapter === null ? null : chosen.lambda,
    target: adapter === null ? null : chosen.target,
    steps: adapter === null ? 0 : chosen.steps,
    temperature,
    blend,
    folds: heldOutOptions.folds,
    heldOut,
    direct: evaluation.direct,
    adapterFallback,
  };
  checkBeforeStoring({ heldOut, centroids, adapter, dimensions: d, clusters: set.clusters });
  say("writing the projection");
  const mhProjectionId = await db.createProjection({
    modelId: set.modelId,
    name: options.name ?? null,
    temperature,
    centroidMethod: centroid,
    recallAt1: heldOut.recallAt1,
    mrr: heldOut.mrr,
    adapter,
    blend,
    selection: JSON.stringify(selectionRecord(selection)),
    heads: set.clusters.map((c, i) => ({
      clusterId: c.clusterId,
      centroid: centroids.subarray(i * d, (i + 1) * d),
      answer: set.answers.subarray(i * d, (i + 1) * d),
      numQuestions: c.numQuestions,
    })),
  });
  return {
    mhProjectionId,
    model: modelName,
    numHeads,
    numQuestions: set.questionIds.length,
    temperature,
    centroid,
    adapter: selection.adapter,
    blend,
    selection,
    heldOut,
    direct: evaluation.direct,
    curve: evaluation.curve,
    chosen,
    backend: description,
    seconds: (performance.now() - started) / 1000,
  };
}
