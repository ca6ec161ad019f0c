import type { TfCore } from "@ldakit/tf";
import { trainAdapter } from "./adapter.js";
import { TrainError } from "./errors.js";
import {
  assertFiniteScores,
  assignFolds,
  type CentroidMethod,
  computeCentroids,
  flushSubnormal,
  type Metrics,
  normalizeRows,
  RankTotals,
  rankOrder,
  selectHeldOut,
  temperatureProblem,
  transpose,
} from "./math.js";

type AnyTensor = ReturnType<TfCore["tensor"]>;

export type AdapterKind = "none" | "linear";
/** What a linear adapter's questions are pulled toward in training: their head's centroid or its answer. */
export type AdapterTarget = "centroids" | "answers";

/** The blends the selection compares: 1 = projected search alone, 0 = direct search. */
export const DEFAULT_BLEND_GRID = [1, 0.75, 0.5, 0.25, 0];
/** The adapter's L2 pulls toward the identity the selection compares (the larger first: simpler). */
export const DEFAULT_LAMBDA_GRID = [0.1, 0.01];
export const DEFAULT_ADAPTER_TARGETS: AdapterTarget[] = ["centroids", "answers"];

/** One setting the k-fold selection scores. */
export interface Choice {
  adapter: AdapterKind;
  /** λ and target of a linear adapter; `null` without one. */
  lambda: number | null;
  target: AdapterTarget | null;
  /** Adapter training steps (the mean of the folds' early-stopped steps); 0 without an adapter. */
  steps: number;
  temperature: number;
  blend: number;
}

export type ChoicePoint = Choice & Metrics;

export interface SelectionOptions {
  folds: number;
  centroid: CentroidMethod;
  maxQueries: number;
  seed: number;
  temperatures: number[];
  blends: number[];
  /** `none`, `linear`, or both (compared). */
  adapters: AdapterKind[];
  lambdas: number[];
  targets: AdapterTarget[];
  /** Adapter training: τ of its loss, step limit, mini-batch size, Adam's rate, early-stopping patience. */
  adapterTemperature: number;
  maxSteps: number;
  batchSize: number;
  learningRate?: number;
  patience?: number;
  onProgress?: (message: string) => void;
}

export interface SelectionResult {
  /** Every setting scored, in the order tried (simplest first). */
  curve: ChoicePoint[];
  /** Direct cosine search on the same held-out questions. */
  direct: Metrics;
  /** The best held-out MRR; ties go to the simpler setting (no adapter, then β = 1). */
  chosen: ChoicePoint;
  /** Why a linear adapter was asked for but not tried (one cluster, clusters of one question). */
  adapterFallback: string | null;
}

interface TrainingSet {
  questions: Float32Array;
  questionCluster: Int32Array;
  answers: Float32Array;
  dimensions: number;
  clusterIds: number[];
}

/**
 * Why a linear adapter cannot be chosen on held-out questions for this set, or `null` when it
 * can. Choosing needs, inside every training split, questions to stop early on besides those
 * trained on: at least two clusters with two questions or more.
 */
export function adapterUnavailable(
  questionCluster: Int32Array,
  numClusters: number,
): string | null {
  if (numClusters < 2)
    return `there is ${numClusters} cluster: an adapter has nothing to tell apart`;
  const counts = new Int32Array(numClusters);
  for (const c of questionCluster) counts[c] = (counts[c] as number) + 1;
  const several = counts.filter((c) => c >= 2).length;
  if (several < 2) {
    return several === 0
      ? "every cluster has a single question: none can be held out to choose an adapter"
      : "only one cluster has more than one question: too few held-out questions to choose an adapter";
  }
  return null;
}

/**
 * k-fold selection of the adapter (none, or linear with each λ and target), the routing
 * temperature and the blend β, by held-out MRR. In each fold, centroids — and W, with its steps
 * chosen by early stopping on a further split of the training folds — come from the other folds'
 * questions only; the fold's questions are routed once per (fold, W), and every τ and β is scored
 * on those arrays.
 */
export async function evaluateSelection(
  tf: TfCore,
  set: TrainingSet,
  options: SelectionOptions,
): Promise<SelectionResult> {
  checkSelectionOptions(options);
  const say = options.onProgress ?? (() => {});
  const d = set.dimensions;
  const numClusters = set.clusterIds.length;
  const fallback = options.adapters.includes("linear")
    ? adapterUnavailable(set.questionCluster, numClusters)
    : null;
  const adapters =
    fallback === null ? options.adapters : options.adapters.filter((a) => a !== "linear");
  if (adapters.length === 0) adapters.push("none");
  const routings: Array<{ lambda: number | null; target: AdapterTarget | null }> = [];
  if (adapters.includes("none")) routings.push({ lambda: null, target: null });
  if (adapters.includes("linear")) {
    for (const target of options.targets)
      for (const lambda of options.lambdas) routings.push({ lambda, target });
  }
  const blends = [...options.blends].sort((a, b) => b - a);
  const fold = assignFolds(set.questionCluster, numClusters, options.folds, options.seed);
  const heldOut = selectHeldOut(fold, options.maxQueries, options.seed);
  const perRouting = options.temperatures.length * blends.length;
  const totals = Array.from({ length: routings.length * perRouting }, () => new RankTotals());
  const totalAt = (r: number, t: number, b: number) =>
    totals[r * perRouting + t * blends.length + b] as RankTotals;
  const steps = routings.map(() => [] as number[]);
  const direct = new RankTotals();
  const tieOrder = rankOrder(set.clusterIds);
  const answers = tf.tidy(() => normalizeRows(tf, tf.tensor2d(set.answers, [numClusters, d])));
  const answersT = tf.transpose(answers);
  try {
    for (let f = 0; f < options.folds; f++) {
      const queries = heldOut.filter((i) => fold[i] === f);
      if (queries.length === 0) continue;
      const train = Array.from(fold.keys()).filter((i) => fold[i] !== f);
      const trainSet = subset(set, train);
      const centroidData = computeCentroids(
        trainSet.questions,
        d,
        trainSet.questionCluster,
        numClusters,
        options.centroid,
      );
      const test = subset(set, queries);
      const truth = Array.from(test.questionCluster);
      const centroidsT = tf.tensor2d(transpose(centroidData, numClusters, d), [d, numClusters]);
      const q = tf.tidy(() => normalizeRows(tf, tf.tensor2d(test.questions, [queries.length, d])));
      try {
        const directScores = await read(tf.matMul(q, answersT));
        assertFiniteScores(
          { data: directScores, columns: numClusters },
          () => `fold ${f + 1}/${options.folds}: direct search`,
        );
        direct.add({ data: directScores, columns: numClusters }, truth, tieOrder);
        for (const [r, routing] of routings.entries()) {
          let routed = q;
          if (routing.lambda !== null && routing.target !== null) {
            say(
              `fold ${f + 1}/${options.folds}: adapter (λ = ${routing.lambda}, target ${routing.target})`,
            );
            const trained = await trainFoldAdapter(tf, set, fold, f, options, routing, d);
            (steps[r] as number[]).push(trained.steps);
            routed = tf.tidy(() =>
              normalizeRows(tf, tf.matMul(q, tf.tensor2d(trained.adapterT, [d, d]))),
            );
          }
          try {
            const sims = tf.matMul(routed, centroidsT);
            try {
              for (const [t, temperature] of options.temperatures.entries()) {
                const projected = await read(
                  tf.tidy(() => {
                    const weights = flushSubnormal(tf, tf.softmax(tf.div(sims, temperature)));
                    return tf.matMul(normalizeRows(tf, tf.matMul(weights, answers)), answersT);
                  }),
                );
                assertFiniteScores(
                  { data: projected, columns: numClusters },
                  () =>
                    `fold ${f + 1}/${options.folds}: ${routing.lambda === null ? "no adapter" : `adapter λ = ${routing.lambda}, target ${routing.target}`}, τ = ${temperature}`,
                );
                for (const [b, blend] of blends.entries()) {
                  // b̂ ∝ β p + (1 − β) q̂: a positive scale per query changes no rank, so the
                  // blended scores are the same mix of the projected and direct ones.
                  const data =
                    blend === 1
                      ? projected
                      : blend === 0
                        ? directScores
                        : projected.map(
                            (p, i) => blend * p + (1 - blend) * (directScores[i] as number),
                          );
                  totalAt(r, t, b).add({ data, columns: numClusters }, truth, tieOrder);
                }
              }
            } finally {
              sims.dispose();
            }
          } finally {
            if (routed !== q) routed.dispose();
          }
        }
      } finally {
        centroidsT.dispose();
        q.dispose();
      }
    }
  } finally {
    answers.dispose();
    answersT.dispose();
  }
  const curve: ChoicePoint[] = [];
  for (const [r, routing] of routings.entries()) {
    const foldSteps = steps[r] as number[];
    const meanSteps =
      foldSteps.length === 0
        ? 0
        : Math.round(foldSteps.reduce((a, b) => a + b, 0) / foldSteps.length);
    for (const [t, temperature] of options.temperatures.entries()) {
      for (const [b, blend] of blends.entries()) {
        curve.push({
          adapter: routing.lambda === null ? "none" : "linear",
          lambda: routing.lambda,
          target: routing.target,
          steps: meanSteps,
          temperature,
          blend,
          ...totalAt(r, t, b).metrics(),
        });
      }
    }
  }
  return { curve, direct: direct.metrics(), chosen: pickChoice(curve), adapterFallback: fallback };
}

/**
 * The best held-out MRR, then the best Recall@1; remaining ties go to the simpler setting: no
 * adapter before a linear one, then the higher β (β = 1 first), then the order tried.
 */
export function pickChoice(curve: ChoicePoint[]): ChoicePoint {
  const simpler = (a: ChoicePoint, b: ChoicePoint) =>
    a.adapter !== b.adapter ? (a.adapter === "none" ? -1 : 1) : b.blend - a.blend;
  let best: ChoicePoint | undefined;
  for (const point of curve) {
    if (
      !best ||
      point.mrr > best.mrr ||
      (point.mrr === best.mrr &&
        (point.recallAt1 > best.recallAt1 ||
          (point.recallAt1 === best.recallAt1 && simpler(point, best) < 0)))
    )
      best = point;
  }
  if (!best) throw new TrainError("BAD_ARGUMENT", "no setting to choose from");
  return best;
}

/**
 * W for one outer fold: trained on the training folds minus the next fold, which it stops early
 * on. Targets are centroids of the questions it trains on, or the answers. Returned as Wᵀ.
 */
async function trainFoldAdapter(
  tf: TfCore,
  set: TrainingSet,
  fold: Int32Array,
  f: number,
  options: SelectionOptions,
  routing: { lambda: number | null; target: AdapterTarget | null },
  d: number,
): Promise<{ adapterT: Float32Array; steps: number }> {
  const numClusters = set.clusterIds.length;
  const stop = (f + 1) % options.folds;
  let inner = Array.from(fold.keys()).filter((i) => fold[i] !== f && fold[i] !== stop);
  let early = Array.from(fold.keys()).filter((i) => fold[i] === stop);
  // With two folds nothing is left to train on besides the stopping fold: train on both, to maxSteps.
  if (inner.length === 0) {
    inner = early;
    early = [];
  }
  const innerSet = subset(set, inner);
  const targets =
    routing.target === "answers"
      ? set.answers
      : computeCentroids(
          innerSet.questions,
          d,
          innerSet.questionCluster,
          numClusters,
          options.centroid,
        );
  const result = await trainAdapter(tf, innerSet, {
    dimensions: d,
    targets,
    temperature: options.adapterTemperature,
    lambda: routing.lambda as number,
    maxSteps: options.maxSteps,
    batchSize: options.batchSize,
    seed: options.seed + f,
    ...(options.learningRate === undefined ? {} : { learningRate: options.learningRate }),
    ...(options.patience === undefined ? {} : { patience: options.patience }),
    ...(early.length > 0 ? { heldOut: subset(set, early) } : {}),
  });
  return { adapterT: transpose(result.adapter, d, d), steps: result.steps };
}

function subset(set: TrainingSet, rows: number[]) {
  const d = set.dimensions;
  const questions = new Float32Array(rows.length * d);
  const questionCluster = new Int32Array(rows.length);
  rows.forEach((i, r) => {
    questions.set(set.questions.subarray(i * d, (i + 1) * d), r * d);
    questionCluster[r] = set.questionCluster[i] as number;
  });
  return { questions, questionCluster };
}

async function read(tensor: AnyTensor): Promise<Float32Array> {
  try {
    return (await tensor.data()) as Float32Array;
  } finally {
    tensor.dispose();
  }
}

function checkSelectionOptions(options: SelectionOptions): void {
  const bad = (message: string) => new TrainError("BAD_ARGUMENT", message);
  if (options.temperatures.length === 0) throw bad("no temperature to evaluate");
  for (const t of options.temperatures) {
    const problem = temperatureProblem(t);
    if (problem !== null) throw bad(`temperature ${problem}`);
  }
  if (options.adapters.includes("linear")) {
    const problem = temperatureProblem(options.adapterTemperature);
    if (problem !== null) throw bad(`adapter temperature ${problem}`);
  }
  if (options.blends.length === 0) throw bad("no blend to evaluate");
  for (const b of options.blends) {
    if (!(typeof b === "number" && b >= 0 && b <= 1))
      throw bad(`blend must be a number from 0 to 1, not ${b}`);
  }
  if (options.adapters.length === 0) throw bad("no adapter kind to evaluate");
  for (const a of options.adapters) {
    if (a !== "none" && a !== "linear")
      throw bad(`adapter must be "none" or "linear", not ${JSON.stringify(a)}`);
  }
  for (const l of options.lambdas) {
    if (!(Number.isFinite(l) && l >= 0)) throw bad(`lambda must be a number ≥ 0, not ${l}`);
  }
  for (const t of options.targets) {
    if (t !== "centroids" && t !== "answers")
      throw bad(`adapter target must be "centroids" or "answers", not ${JSON.stringify(t)}`);
  }
  if (
    options.adapters.includes("linear") &&
    (options.lambdas.length === 0 || options.targets.length === 0)
  )
    throw bad("a linear adapter needs at least one λ and one target to try");
}
