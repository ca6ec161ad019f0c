import type { TfCore } from "@ldakit/tf";
import { TrainError } from "./errors.js";
import { normalizeRows, random, shuffle, temperatureProblem } from "./math.js";

type AnyTensor = ReturnType<TfCore["tensor"]>;

/** Questions with the index (0..H-1) of the head each belongs to. */
export interface LabelledQuestions {
  /** n×d, row-major; normalized before use. */
  questions: Float32Array;
  questionCluster: Int32Array;
}

export interface AdapterTrainingOptions {
  dimensions: number;
  /** H×d, row-major: what each head's adapted questions are pulled toward (centroids or answers); normalized before use. */
  targets: Float32Array;
  /** The softmax temperature of the training loss (the prototype's 0.05). */
  temperature: number;
  /** Weight of the pull of W toward the identity, λ‖W − I‖²_F. */
  lambda: number;
  /** Optimizer steps at most (each on one mini-batch). */
  maxSteps: number;
  /** Questions per step; the questions are reshuffled (seeded) every epoch. */
  batchSize: number;
  seed: number;
  /** Adam's learning rate (default {@link DEFAULT_ADAPTER_LEARNING_RATE}). */
  learningRate?: number;
  /**
   * Questions not trained on: the held-out loss is measured after every epoch, the W with the
   * lowest one is returned, and training stops after `patience` epochs without improvement.
   */
  heldOut?: LabelledQuestions;
  /** Epochs without a lower held-out loss before stopping (default 10). */
  patience?: number;
}

export interface AdapterTrainingResult {
  /** W, d×d row-major (`adapter[i * d + j]` = W[i, j]), applied as r = W q. */
  adapter: Float32Array;
  /** The training objective (cross-entropy of the mini-batch + λ‖W − I‖²) at each step taken. */
  loss: number[];
  /** The held-out cross-entropy after each epoch (step 0 = the identity); empty without a held-out set. */
  heldOutLoss: Array<{ step: number; loss: number }>;
  /** The steps that produced `adapter`: the best held-out epoch's, else every step taken. */
  steps: number;
}

export const DEFAULT_ADAPTER_LEARNING_RATE = 0.005;

/**
 * The objective and its gradient with respect to W at a given W (d×d row-major), on all of
 * `set` at once — the function {@link trainAdapter} minimizes, exposed so that it can be checked
 * against an independent implementation. Gradients come from TensorFlow.js autodiff.
 */
export async function adapterObjective(
  tf: TfCore,
  adapter: Float32Array,
  set: LabelledQuestions,
  options: Pick<AdapterTrainingOptions, "dimensions" | "targets" | "temperature" | "lambda">,
): Promise<{ loss: number; gradient: Float32Array }> {
  const d = options.dimensions;
  checkSet(set, d, options.targets.length / d, "questions");
  const numHeads = options.targets.length / d;
  await registerGradients();
  const initial = tf.tidy(() => tf.transpose(tf.tensor2d(adapter, [d, d])));
  const weightsT = tf.variable(initial);
  initial.dispose();
  const targetsT = tf.tidy(() =>
    tf.transpose(normalizeRows(tf, tf.tensor2d(options.targets, [numHeads, d]))),
  );
  const identity = tf.eye(d);
  const batch = uploadBatch(tf, set, d, numHeads);
  try {
    const { value, grads } = tf.variableGrads(
      () =>
        objective(tf, weightsT, batch.q, batch.oneHot, targetsT, identity, options) as ReturnType<
          TfCore["scalar"]
        >,
      [weightsT],
    );
    const gradT = grads[weightsT.name] as AnyTensor;
    const gradient = tf.tidy(() => tf.transpose(gradT));
    try {
      return {
        loss: (await value.data())[0] as number,
        gradient: (await gradient.data()) as Float32Array,
      };
    } finally {
      value.dispose();
      gradT.dispose();
      gradient.dispose();
    }
  } finally {
    weightsT.dispose();
    targetsT.dispose();
    identity.dispose();
    batch.q.dispose();
    batch.oneHot.dispose();
  }
}

/**
 * Trains a query adapter W (d×d, starting at the identity) so that each adapted, normalized
 * question r̂ = normalize(W q̂) picks its own head's target in a softmax over r̂ · t̂_k / τ, with
 * Adam (`tf.train.adam`) on seeded mini-batches and an L2 pull of W toward the identity:
 * loss = mean cross-entropy + λ‖W − I‖²_F (docs/FORMAT.md §6 is how search applies W).
 * With `heldOut`, stops early on its cross-entropy and returns the best epoch's W.
 * Every tensor it makes is disposed: `tf.memory()` is the same before and after.
 */
export async function trainAdapter(
  tf: TfCore,
  set: LabelledQuestions,
  options: AdapterTrainingOptions,
): Promise<AdapterTrainingResult> {
  const d = options.dimensions;
  checkAdapterOptions(options);
  const numHeads = options.targets.length / d;
  checkSet(set, d, numHeads, "questions");
  if (options.heldOut) checkSet(options.heldOut, d, numHeads, "held-out questions");
  await registerGradients();

  const n = set.questionCluster.length;
  const unit = normalizedRows(set.questions, d);
  const batchSize = Math.min(options.batchSize, n);
  const stepsPerEpoch = Math.ceil(n / batchSize);
  const patience = options.patience ?? 10;
  const rand = random(options.seed);
  const order = Array.from({ length: n }, (_, i) => i);

  const identity = tf.eye(d);
  const weightsT = tf.variable(identity, true, undefined, "float32");
  // The variable holds a counted reference to the identity's data; Adam assigns it new data, never writes into it.
  const targetsT = tf.tidy(() =>
    tf.transpose(normalizeRows(tf, tf.tensor2d(options.targets, [numHeads, d]))),
  );
  const optimizer = tf.train.adam(options.learningRate ?? DEFAULT_ADAPTER_LEARNING_RATE);
  const heldOut = options.heldOut ? uploadBatch(tf, options.heldOut, d, numHeads) : null;
  const fullBatch =
    batchSize === n ? uploadRows(tf, unit, set.questionCluster, order, d, numHeads) : null;
  let best: { weightsT: AnyTensor; step: number; loss: number } | null = null;
  const loss: number[] = [];
  const heldOutLoss: Array<{ step: number; loss: number }> = [];
  const measure = async (step: number): Promise<boolean> => {
    if (!heldOut) return false;
    const value = tf.tidy(() =>
      crossEntropy(tf, weightsT, heldOut.q, heldOut.oneHot, targetsT, options.temperature),
    );
    const current = (await value.data())[0] as number;
    value.dispose();
    if (!Number.isFinite(current)) throw diverged("held-out loss", current, step, options);
    heldOutLoss.push({ step, loss: current });
    if (best === null || current < best.loss) {
      best?.weightsT.dispose();
      best = { weightsT: tf.clone(weightsT), step, loss: current };
      return false;
    }
    return step - best.step >= patience * stepsPerEpoch;
  };
  try {
    await measure(0);
    let step = 0;
    while (step < options.maxSteps) {
      if (!fullBatch) shuffle(order, rand);
      for (let start = 0; start < n && step < options.maxSteps; start += batchSize) {
        const batch =
          fullBatch ??
          uploadRows(
            tf,
            unit,
            set.questionCluster,
            order.slice(start, start + batchSize),
            d,
            numHeads,
          );
        try {
          const value = optimizer.minimize(
            () =>
              objective(
                tf,
                weightsT,
                batch.q,
                batch.oneHot,
                targetsT,
                identity,
                options,
              ) as ReturnType<TfCore["scalar"]>,
            true,
            [weightsT],
          );
          step++;
          if (value) {
            const current = (await value.data())[0] as number;
            value.dispose();
            if (!Number.isFinite(current)) throw diverged("loss", current, step, options);
            loss.push(current);
          }
        } finally {
          if (batch !== fullBatch) {
            batch.q.dispose();
            batch.oneHot.dispose();
          }
        }
      }
      if (await measure(step)) break;
    }
    const chosen = (best as { weightsT: AnyTensor; step: number } | null) ?? {
      weightsT,
      step: loss.length,
    };
    const W = tf.transpose(chosen.weightsT);
    let adapter: Float32Array;
    try {
      adapter = (await W.data()) as Float32Array;
    } finally {
      W.dispose();
    }
    return { adapter, loss, heldOutLoss, steps: chosen.step };
  } finally {
    (best as { weightsT: AnyTensor } | null)?.weightsT.dispose();
    optimizer.dispose();
    weightsT.dispose();
    identity.dispose();
    targetsT.dispose();
    if (heldOut) {
      heldOut.q.dispose();
      heldOut.oneHot.dispose();
    }
    if (fullBatch) {
      fullBatch.q.dispose();
      fullBatch.oneHot.dispose();
    }
  }
}

/**
 * A diverged run is an error, not a W to keep: a NaN loss never compares lower, so early stopping
 * would silently keep an older W and the steps count would mean nothing.
 */
function diverged(
  what: string,
  value: number,
  step: number,
  options: AdapterTrainingOptions,
): TrainError {
  return new TrainError(
    "NOT_FINITE",
    `adapter training diverged: the ${what} is ${value} at step ${step} (learning rate ${options.learningRate ?? DEFAULT_ADAPTER_LEARNING_RATE}, τ ${options.temperature}, λ ${options.lambda}); lower the learning rate`,
  );
}

/** Mean cross-entropy of each adapted question against its head's target, at temperature τ. */
function crossEntropy(
  tf: TfCore,
  weightsT: AnyTensor,
  q: AnyTensor,
  oneHot: AnyTensor,
  targetsT: AnyTensor,
  temperature: number,
): AnyTensor {
  // weightsT is Wᵀ ([in, out]): q Wᵀ gives the rows r = W q without matMul's slow transpose flag.
  const routed = normalizeRows(tf, tf.matMul(q, weightsT));
  const logits = tf.mul(tf.matMul(routed, targetsT), 1 / temperature);
  const logP = tf.logSoftmax(logits);
  return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, logP), 1)));
}

function objective(
  tf: TfCore,
  weightsT: AnyTensor,
  q: AnyTensor,
  oneHot: AnyTensor,
  targetsT: AnyTensor,
  identity: AnyTensor,
  options: Pick<AdapterTrainingOptions, "temperature" | "lambda">,
): AnyTensor {
  const ce = crossEntropy(tf, weightsT, q, oneHot, targetsT, options.temperature);
  return tf.add(ce, tf.mul(options.lambda, tf.sum(tf.square(tf.sub(weightsT, identity)))));
}

let gradientsRegistered: Promise<void> | null = null;

/**
 * tfjs-core's Node bundle carries no gradient functions (autodiff fails with "gradient function
 * not found for Add"); the `@tensorflow/tfjs` bundle registers them all, in the same global
 * registry, on import. It adds no backend that would displace the one `@ldakit/tf` chose.
 */
function registerGradients(): Promise<void> {
  gradientsRegistered ??= import("@tensorflow/tfjs").then(() => undefined);
  return gradientsRegistered;
}

function normalizedRows(m: Float32Array, d: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let i = 0; i < m.length / d; i++) {
    let norm = 0;
    for (let j = 0; j < d; j++) norm += (m[i * d + j] as number) ** 2;
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let j = 0; j < d; j++) out[i * d + j] = (m[i * d + j] as number) * scale;
  }
  return out;
}

function uploadRows(
  tf: TfCore,
  unit: Float32Array,
  cluster: Int32Array,
  rows: number[],
  d: number,
  numHeads: number,
): { q: AnyTensor; oneHot: AnyTensor } {
  const data = new Float32Array(rows.length * d);
  const labels = new Int32Array(rows.length);
  rows.forEach((i, r) => {
    data.set(unit.subarray(i * d, (i + 1) * d), r * d);
    labels[r] = cluster[i] as number;
  });
  return {
    q: tf.tensor2d(data, [rows.length, d]),
    oneHot: tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, "int32"), numHeads), "float32")),
  };
}

function uploadBatch(tf: TfCore, set: LabelledQuestions, d: number, numHeads: number) {
  const n = set.questionCluster.length;
  return uploadRows(
    tf,
    normalizedRows(set.questions, d),
    set.questionCluster,
    Array.from({ length: n }, (_, i) => i),
    d,
    numHeads,
  );
}

function checkSet(set: LabelledQuestions, d: number, numHeads: number, what: string): void {
  const n = set.questionCluster.length;
  if (n === 0) throw new TrainError("BAD_ARGUMENT", `no ${what} to train the adapter on`);
  if (set.questions.length !== n * d) {
    throw new TrainError(
      "BAD_ARGUMENT",
      `the ${what} hold ${set.questions.length} values, not n×d = ${n}×${d} = ${n * d}`,
    );
  }
  for (const [i, c] of set.questionCluster.entries()) {
    if (!(c >= 0 && c < numHeads)) {
      throw new TrainError(
        "BAD_ARGUMENT",
        `${what}: question ${i} belongs to head ${c}, but there are ${numHeads} targets (0..${numHeads - 1})`,
      );
    }
  }
}

function checkAdapterOptions(options: AdapterTrainingOptions): void {
  const bad = (message: string) => new TrainError("BAD_ARGUMENT", `adapter training: ${message}`);
  const d = options.dimensions;
  if (!Number.isInteger(d) || d < 1) throw bad(`dimensions must be a positive integer, not ${d}`);
  if (options.targets.length === 0 || options.targets.length % d !== 0)
    throw bad(`targets must hold H×d values with d = ${d}, not ${options.targets.length}`);
  const temperatureIssue = temperatureProblem(options.temperature);
  if (temperatureIssue !== null) throw bad(`temperature ${temperatureIssue}`);
  if (!(Number.isFinite(options.lambda) && options.lambda >= 0))
    throw bad(`lambda must be a number ≥ 0, not ${options.lambda}`);
  if (!Number.isInteger(options.maxSteps) || options.maxSteps < 0)
    throw bad(`maxSteps must be an integer ≥ 0, not ${options.maxSteps}`);
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1)
    throw bad(`batchSize must be a positive integer, not ${options.batchSize}`);
  if (!Number.isInteger(options.seed)) throw bad(`seed must be an integer, not ${options.seed}`);
  const rate = options.learningRate ?? DEFAULT_ADAPTER_LEARNING_RATE;
  if (!(Number.isFinite(rate) && rate > 0))
    throw bad(`learningRate must be a positive number, not ${rate}`);
  const patience = options.patience ?? 10;
  if (!Number.isInteger(patience) || patience < 1)
    throw bad(`patience must be a positive integer, not ${patience}`);
}
