import type { TfCore } from "@ldakit/tf";
import { TrainError } from "./errors.js";

type Tensor2D = ReturnType<TfCore["tensor2d"]>;
type AnyTensor = ReturnType<TfCore["tensor"]>;

export type CentroidMethod = "weighted" | "mean";

/** Retrieval quality of a set of queries: the share ranked first, in the top 5, and the mean reciprocal rank. */
export interface Metrics {
  recallAt1: number;
  recallAt5: number;
  mrr: number;
  queries: number;
}

/** Recall@1, Recall@5 and MRR from the rank (1 = first) of each query's expected answer. */
export function metricsOfRanks(ranks: number[]): Metrics {
  const n = Math.max(ranks.length, 1);
  return {
    recallAt1: ranks.filter((r) => r === 1).length / n,
    recallAt5: ranks.filter((r) => r <= 5).length / n,
    mrr: ranks.reduce((s, r) => s + 1 / r, 0) / n,
    queries: ranks.length,
  };
}

/** Rounds of re-weighting in the `weighted` centroid, as in the original tooling. */
const WEIGHTED_ROUNDS = 3;

/**
 * The centroid of each cluster's questions, L2-normalized (H×d, row-major).
 *
 * `mean`: the normalized mean. `weighted`: starting from equal weights, three rounds of
 * centroid = normalize(Σ wᵢ qᵢ) then wᵢ = softmax over the cluster of cos(qᵢ, centroid) — so
 * questions far from their cluster's consensus count less. Questions are normalized first.
 * The sums run in float64: this is O(n·d) work, small beside the k-fold products.
 */
export function computeCentroids(
  questions: Float32Array,
  dimensions: number,
  questionCluster: Int32Array,
  numClusters: number,
  method: CentroidMethod,
): Float32Array {
  const d = dimensions;
  const n = questionCluster.length;
  const unit = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let j = 0; j < d; j++) norm += (questions[i * d + j] as number) ** 2;
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let j = 0; j < d; j++) unit[i * d + j] = (questions[i * d + j] as number) * scale;
  }
  const counts = new Float64Array(numClusters);
  for (let i = 0; i < n; i++)
    counts[questionCluster[i] as number] = (counts[questionCluster[i] as number] as number) + 1;
  const weights = new Float64Array(n);
  for (let i = 0; i < n; i++) weights[i] = 1 / (counts[questionCluster[i] as number] as number);
  const centroids = new Float64Array(numClusters * d);
  const rounds = method === "weighted" ? WEIGHTED_ROUNDS : 1;
  for (let round = 0; round < rounds; round++) {
    centroids.fill(0);
    for (let i = 0; i < n; i++) {
      const c = (questionCluster[i] as number) * d;
      const w = weights[i] as number;
      for (let j = 0; j < d; j++)
        centroids[c + j] = (centroids[c + j] as number) + w * (unit[i * d + j] as number);
    }
    for (let k = 0; k < numClusters; k++) {
      let norm = 0;
      for (let j = 0; j < d; j++) norm += (centroids[k * d + j] as number) ** 2;
      const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
      for (let j = 0; j < d; j++) centroids[k * d + j] = (centroids[k * d + j] as number) * scale;
    }
    if (round === rounds - 1) break;
    // |cos| ≤ 1, so exp needs no max subtraction to stay finite.
    const sums = new Float64Array(numClusters);
    for (let i = 0; i < n; i++) {
      const c = (questionCluster[i] as number) * d;
      let dot = 0;
      for (let j = 0; j < d; j++) dot += (unit[i * d + j] as number) * (centroids[c + j] as number);
      weights[i] = Math.exp(dot);
      sums[questionCluster[i] as number] =
        (sums[questionCluster[i] as number] as number) + (weights[i] as number);
    }
    for (let i = 0; i < n; i++)
      weights[i] = (weights[i] as number) / (sums[questionCluster[i] as number] as number);
  }
  return Float32Array.from(centroids);
}

/** Rows scaled to unit length (an all-zero row stays zero). */
export function normalizeRows(tf: TfCore, m: AnyTensor): Tensor2D {
  return tf.div(m, tf.maximum(tf.norm(m, "euclidean", 1, true), 1e-12)) as Tensor2D;
}

/** The smallest normal float32. */
const FLOAT32_MIN_NORMAL = 2 ** -126;

/**
 * Routing weights with the subnormal ones set to 0. At small τ, softmax leaves many weights
 * between 0 and 2^-126; WebAssembly (unlike x86 with flush-to-zero) computes on them at full IEEE
 * cost, which made the weights × answers product 6× slower at τ = 0.01 on realistic cosines.
 * Dropping them moves each component of Σ w_k a_k by less than H · 2^-126, far below the float32
 * resolution of p (its largest weight is at least 1/H).
 */
export function flushSubnormal(tf: TfCore, weights: AnyTensor): AnyTensor {
  return tf.mul(weights, tf.cast(tf.greaterEqual(weights, FLOAT32_MIN_NORMAL), "float32"));
}

/** mulberry32: a small seeded PRNG, so folds and samples are the same on every run. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/**
 * Assigns each question a fold in 0..k-1: within each cluster its questions are shuffled and dealt
 * round-robin, so every fold holds out some of every cluster's questions. Questions of a cluster
 * with a single question get -1: they are never held out (the cluster would have no centroid).
 */
export function assignFolds(
  questionCluster: Int32Array,
  numClusters: number,
  folds: number,
  seed: number,
): Int32Array {
  const rand = random(seed);
  const byCluster: number[][] = Array.from({ length: numClusters }, () => []);
  for (const [i, c] of questionCluster.entries()) byCluster[c]?.push(i);
  const fold = new Int32Array(questionCluster.length).fill(-1);
  for (const members of byCluster) {
    if (members.length < 2) continue;
    shuffle(members, rand).forEach((question, p) => {
      fold[question] = p % folds;
    });
  }
  return fold;
}

/**
 * The questions a k-fold evaluation scores: every question with a fold, or a seeded sample of
 * `maxQueries` of them when there are more.
 */
export function selectHeldOut(fold: Int32Array, maxQueries: number, seed: number): number[] {
  const heldOut = Array.from(fold.keys()).filter((i) => (fold[i] as number) >= 0);
  if (heldOut.length <= maxQueries) return heldOut;
  return shuffle(heldOut, random(seed + 1)).slice(0, maxQueries);
}

export interface HeldOutOptions {
  temperatures: number[];
  folds: number;
  centroid: CentroidMethod;
  /** At most this many held-out questions are scored across all folds (a seeded sample). */
  maxQueries: number;
  seed: number;
  /** Queries scored per matrix product. */
  blockSize?: number;
}

export interface HeldOutResult {
  /** Projected search at each temperature. */
  curve: Array<Metrics & { temperature: number }>;
  /** Direct cosine search against the answers (no projection). */
  direct: Metrics;
}

/**
 * The temperatures training accepts: τ and 1/τ both normal float32 numbers (2^-126 to 2^126).
 * The math runs in float32: a τ whose reciprocal overflows makes cos/τ infinite and softmax NaN,
 * and a subnormal τ is flushed to zero by backends that flush denormals. Inside the range,
 * cos/τ and the differences softmax takes (at most 2/τ ≤ 2^127) stay finite.
 */
export const TEMPERATURE_RANGE: { readonly min: number; readonly max: number } = Object.freeze({
  min: 2 ** -126,
  max: 2 ** 126,
});

/**
 * Why `t` cannot be a routing (or adapter loss) temperature, or `null` when it can: it must be a
 * number within {@link TEMPERATURE_RANGE}.
 */
export function temperatureProblem(t: unknown): string | null {
  if (typeof t !== "number" || !(t > 0) || !Number.isFinite(t))
    return `must be a positive number, not ${String(t)}`;
  if (t < TEMPERATURE_RANGE.min || t > TEMPERATURE_RANGE.max) {
    return `${t} is out of range: τ must be from ${TEMPERATURE_RANGE.min} to ${TEMPERATURE_RANGE.max} (2^-126 to 2^126), so that 1/τ and the scores stay finite in float32`;
  }
  return null;
}

/**
 * Checks the options of a k-fold evaluation before any work: a `BAD_ARGUMENT` {@link TrainError}
 * names the first one out of range.
 */
export function checkHeldOutOptions(options: Omit<HeldOutOptions, "blockSize">): void {
  const bad = (message: string) => new TrainError("BAD_ARGUMENT", message);
  if (options.temperatures.length === 0) throw bad("no temperature to evaluate");
  for (const t of options.temperatures) {
    const problem = temperatureProblem(t);
    if (problem !== null) throw bad(`temperature ${problem}`);
  }
  if (!Number.isInteger(options.folds) || options.folds < 2)
    throw bad(`folds must be an integer of at least 2, not ${options.folds}`);
  if (options.centroid !== "weighted" && options.centroid !== "mean")
    throw bad(`centroid must be "weighted" or "mean", not ${JSON.stringify(options.centroid)}`);
  if (!Number.isInteger(options.maxQueries) || options.maxQueries < 1)
    throw bad(
      `the number of held-out questions to score must be a positive integer, not ${options.maxQueries}`,
    );
  if (!Number.isInteger(options.seed)) throw bad(`seed must be an integer, not ${options.seed}`);
}

/**
 * k-fold evaluation: for each fold, centroids are built from the other folds' questions only, and
 * the fold's questions are routed and ranked against every cluster's answer. The same held-out
 * questions score every temperature, so the curve compares like with like.
 */
export async function evaluateHeldOut(
  tf: TfCore,
  set: {
    questions: Float32Array;
    questionCluster: Int32Array;
    answers: Float32Array;
    dimensions: number;
    clusterIds: number[];
  },
  options: HeldOutOptions,
): Promise<HeldOutResult> {
  checkHeldOutOptions(options);
  const d = set.dimensions;
  const numClusters = set.clusterIds.length;
  const fold = assignFolds(set.questionCluster, numClusters, options.folds, options.seed);
  const heldOut = selectHeldOut(fold, options.maxQueries, options.seed);
  const totals = options.temperatures.map(() => new RankTotals());
  const direct = new RankTotals();
  const answers = tf.tidy(() => normalizeRows(tf, tf.tensor2d(set.answers, [numClusters, d])));
  // tfjs-wasm runs matMul with a transpose flag an order of magnitude slower: transpose once.
  const answersT = tf.transpose(answers);
  const tieOrder = rankOrder(set.clusterIds);
  try {
    for (let f = 0; f < options.folds; f++) {
      const queries = heldOut.filter((i) => fold[i] === f);
      if (queries.length === 0) continue;
      const train = Array.from(fold.keys()).filter((i) => fold[i] !== f);
      const trainQuestions = new Float32Array(train.length * d);
      const trainCluster = new Int32Array(train.length);
      train.forEach((i, r) => {
        trainQuestions.set(set.questions.subarray(i * d, (i + 1) * d), r * d);
        trainCluster[r] = set.questionCluster[i] as number;
      });
      const centroidData = computeCentroids(
        trainQuestions,
        d,
        trainCluster,
        numClusters,
        options.centroid,
      );
      const centroids = tf.tensor2d(transpose(centroidData, numClusters, d), [d, numClusters]);
      try {
        const blockSize = options.blockSize ?? 512;
        for (let start = 0; start < queries.length; start += blockSize) {
          const block = queries.slice(start, start + blockSize);
          const data = new Float32Array(block.length * d);
          for (const [r, i] of block.entries())
            data.set(set.questions.subarray(i * d, (i + 1) * d), r * d);
          const truth = block.map((i) => set.questionCluster[i] as number);
          const q = tf.tidy(() => normalizeRows(tf, tf.tensor2d(data, [block.length, d])));
          const sims = tf.matMul(q, centroids);
          try {
            const directScores = await scoresOf(
              tf,
              tf.tidy(() => tf.matMul(q, answers, false, true)),
            );
            assertFiniteScores(directScores, () => `fold ${f + 1}: direct search`);
            direct.add(directScores, truth, tieOrder);
            for (const [t, temperature] of options.temperatures.entries()) {
              const scores = await scoresOf(
                tf,
                tf.tidy(() => {
                  const weights = flushSubnormal(tf, tf.softmax(tf.div(sims, temperature)));
                  const projected = normalizeRows(tf, tf.matMul(weights, answers));
                  return tf.matMul(projected, answersT);
                }),
              );
              assertFiniteScores(scores, () => `fold ${f + 1}: τ = ${temperature}`);
              (totals[t] as RankTotals).add(scores, truth, tieOrder);
            }
          } finally {
            q.dispose();
            sims.dispose();
          }
        }
      } finally {
        centroids.dispose();
      }
    }
  } finally {
    answers.dispose();
    answersT.dispose();
  }
  return {
    curve: options.temperatures.map((temperature, t) => ({
      temperature,
      ...(totals[t] as RankTotals).metrics(),
    })),
    direct: direct.metrics(),
  };
}

/** The transpose of a row-major rows×cols matrix. */
export function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c] as number;
  return out;
}

async function scoresOf(
  tf: TfCore,
  scores: AnyTensor,
): Promise<{ data: Float32Array; columns: number }> {
  try {
    return { data: (await scores.data()) as Float32Array, columns: scores.shape[1] as number };
  } finally {
    scores.dispose();
    void tf;
  }
}

/** For tie-breaking by cluster id: position of each head when heads are sorted by cluster id. */
export function rankOrder(clusterIds: number[]): Int32Array {
  const order = clusterIds.map((id, i) => [id, i] as const).sort((a, b) => a[0] - b[0]);
  const position = new Int32Array(clusterIds.length);
  order.forEach(([, i], p) => {
    position[i] = p;
  });
  return position;
}

/**
 * Refuses held-out scores with a NaN or an infinity (a `NOT_FINITE` {@link TrainError} naming the
 * setting, the query row and the head): a metric computed from them would be meaningless, and a
 * NaN compares false with everything, which once made every query rank first.
 */
export function assertFiniteScores(
  scores: { data: Float32Array; columns: number },
  setting: () => string,
): void {
  const { data, columns } = scores;
  for (let i = 0; i < data.length; i++) {
    const s = data[i] as number;
    if (s - s !== 0) {
      throw new TrainError(
        "NOT_FINITE",
        `${setting()}: the score of held-out query ${Math.floor(i / columns)} for head ${i % columns} is ${s}; nothing was stored`,
      );
    }
  }
}

/**
 * The rank (1 = first) of head `expected` among `scores[offset .. offset + tieOrder.length)`:
 * one plus the heads scored higher, or equal and earlier in `tieOrder` (the position of each
 * head when sorted by cluster id, as search breaks ties). A NaN ranks below every number, NaNs
 * among themselves by `tieOrder`, so a NaN expected score is never counted a hit.
 */
export function rankOfExpected(
  scores: ArrayLike<number>,
  expected: number,
  tieOrder: ArrayLike<number>,
  offset = 0,
): number {
  const columns = tieOrder.length;
  const target = scores[offset + expected] as number;
  const targetOrder = tieOrder[expected] as number;
  let rank = 1;
  if (Number.isNaN(target)) {
    for (let j = 0; j < columns; j++) {
      const s = scores[offset + j] as number;
      if (!Number.isNaN(s) || (tieOrder[j] as number) < targetOrder) rank++;
    }
    return rank;
  }
  for (let j = 0; j < columns; j++) {
    const s = scores[offset + j] as number;
    if (s > target || (s === target && (tieOrder[j] as number) < targetOrder)) rank++;
  }
  return rank;
}

/** Adds up ranks of the true cluster; a tie goes to the smaller cluster id, as search does. */
export class RankTotals {
  private readonly ranks: number[] = [];

  add(
    scores: { data: Float32Array; columns: number },
    truth: number[],
    tieOrder: Int32Array,
  ): void {
    const { data, columns } = scores;
    for (const [row, t] of truth.entries())
      this.ranks.push(rankOfExpected(data, t, tieOrder, row * columns));
  }

  metrics(): Metrics {
    return metricsOfRanks(this.ranks);
  }
}
