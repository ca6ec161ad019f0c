import type { LDAProjectionDB } from "@ldakit/store";
import { getTf } from "@ldakit/tf";
import { TrainError } from "./errors.js";
import {
  type CentroidMethod,
  checkHeldOutOptions,
  computeCentroids,
  evaluateHeldOut,
  type Metrics,
} from "./math.js";

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
  /** Progress messages for a person (stage names). */
  onProgress?: (message: string) => void;
}

export interface TrainResult {
  mhProjectionId: number;
  model: string;
  numHeads: number;
  numQuestions: number;
  temperature: number;
  centroid: CentroidMethod;
  /** Projected search on held-out questions at the chosen temperature. */
  heldOut: Metrics;
  /** Direct cosine search on the same held-out questions. */
  direct: Metrics;
  /** Held-out metrics per temperature tried (one entry for a fixed temperature). */
  curve: Array<Metrics & { temperature: number }>;
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
  say(
    `held-out evaluation: ${options.folds ?? 5}-fold, ${temperatures.length} temperature(s), ${numHeads} heads`,
  );
  const evaluation = await evaluateHeldOut(
    tf,
    { ...set, clusterIds: set.clusters.map((c) => c.clusterId) },
    heldOutOptions,
  );
  const temperature =
    temperatures.length === 1 ? (temperatures[0] as number) : pickTemperature(evaluation.curve);
  const heldOut = evaluation.curve.find((p) => p.temperature === temperature) as Metrics & {
    temperature: number;
  };

  say(`centroids (${centroid}) from all ${set.questionIds.length} questions`);
  const d = set.dimensions;
  const centroids = computeCentroids(set.questions, d, set.questionCluster, numHeads, centroid);
  say("writing the projection");
  const mhProjectionId = await db.createProjection({
    modelId: set.modelId,
    name: options.name ?? null,
    temperature,
    centroidMethod: centroid,
    recallAt1: heldOut.recallAt1,
    mrr: heldOut.mrr,
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
    heldOut: {
      recallAt1: heldOut.recallAt1,
      recallAt5: heldOut.recallAt5,
      mrr: heldOut.mrr,
      queries: heldOut.queries,
    },
    direct: evaluation.direct,
    curve: evaluation.curve,
    backend: description,
    seconds: (performance.now() - started) / 1000,
  };
}
