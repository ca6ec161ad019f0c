import { expect, it } from "vitest";
import { adapterObjective, computeCentroids, TrainError, trainAdapter } from "../src/index.js";
import { describeOnBackend, tfUnderTest } from "./backends.js";
import { reference } from "./numpy-reference.js";

/** Clusters around random directions, with questions noisy enough that routing them is not trivial. */
function dataset(clusters: number, perCluster: number, d: number, seed: number, noise = 1.2) {
  let s = seed;
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  };
  const centers = Array.from({ length: clusters }, () => Array.from({ length: d }, rand));
  const questions = new Float32Array(clusters * perCluster * d);
  const questionCluster = new Int32Array(clusters * perCluster);
  for (let k = 0; k < clusters; k++) {
    for (let i = 0; i < perCluster; i++) {
      const row = k * perCluster + i;
      questionCluster[row] = k;
      for (let j = 0; j < d; j++)
        questions[row * d + j] = (centers[k]?.[j] as number) + noise * rand();
    }
  }
  const targets = computeCentroids(questions, d, questionCluster, clusters, "mean");
  return { questions, questionCluster, targets, d };
}

const identity = (d: number) => {
  const m = new Float32Array(d * d);
  for (let i = 0; i < d; i++) m[i * d + i] = 1;
  return m;
};

describeOnBackend("trainAdapter", () => {
  it("agrees with a float64 NumPy gradient (checked there by finite differences)", async () => {
    const tf = await tfUnderTest();
    const { questions, questionCluster, targets, d } = dataset(4, 5, 6, 11);
    // A W away from the identity, so that every term of the gradient is exercised.
    const adapter = identity(d).map((x, i) => x + 0.3 * Math.sin(1.7 * i + 0.4));
    const options = { dimensions: d, targets, temperature: 0.2, lambda: 0.05 };
    const ours = await adapterObjective(tf, adapter, { questions, questionCluster }, options);
    const theirs = reference<{ loss: number; gradient: number[] }>({
      kind: "adapter_objective",
      ...options,
      targets: Array.from(targets),
      questions: Array.from(questions),
      questionCluster: Array.from(questionCluster),
      adapter: Array.from(adapter),
    });
    expect(ours.loss).toBeCloseTo(theirs.loss, 4);
    const scale = Math.max(...theirs.gradient.map(Math.abs));
    expect(scale).toBeGreaterThan(1e-3);
    const worst = Math.max(
      ...theirs.gradient.map((g, i) => Math.abs(g - (ours.gradient[i] as number))),
    );
    expect(worst / scale).toBeLessThan(1e-4);
  });

  it("lowers the loss, leaves tf.memory() as it found it, and gives the same W bytes for the same seed", async () => {
    const tf = await tfUnderTest();
    const { questions, questionCluster, targets, d } = dataset(6, 8, 16, 5);
    const options = {
      dimensions: d,
      targets,
      temperature: 0.05,
      lambda: 0.01,
      maxSteps: 60,
      batchSize: 16,
      seed: 3,
    };
    const first = await trainAdapter(tf, { questions, questionCluster }, options); // gradients registered
    const before = tf.memory();
    const second = await trainAdapter(tf, { questions, questionCluster }, options);
    const after = tf.memory();
    expect([after.numTensors, after.numBytes]).toEqual([before.numTensors, before.numBytes]);
    expect(Buffer.from(second.adapter.buffer).equals(Buffer.from(first.adapter.buffer))).toBe(true);
    expect(second.steps).toBe(60);
    expect(second.loss).toHaveLength(60);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    // Mini-batch losses are noisy: compare the first and last epochs (3 batches each).
    expect(mean(second.loss.slice(-3))).toBeLessThan(0.8 * mean(second.loss.slice(0, 3)));
    expect(second.adapter.some((x, i) => Math.abs(x - (identity(d)[i] as number)) > 1e-3)).toBe(
      true,
    );

    const otherSeed = await trainAdapter(
      tf,
      { questions, questionCluster },
      { ...options, seed: 4 },
    );
    expect(Buffer.from(otherSeed.adapter.buffer).equals(Buffer.from(first.adapter.buffer))).toBe(
      false,
    );
  });

  it("stays at the identity when λ is large", async () => {
    const tf = await tfUnderTest();
    const { questions, questionCluster, targets, d } = dataset(5, 6, 12, 9);
    const { adapter } = await trainAdapter(
      tf,
      { questions, questionCluster },
      {
        dimensions: d,
        targets,
        temperature: 0.05,
        lambda: 1000,
        maxSteps: 300,
        batchSize: 64,
        seed: 0,
      },
    );
    const I = identity(d);
    const worst = Math.max(...adapter.map((x, i) => Math.abs(x - (I[i] as number))));
    expect(worst).toBeLessThan(2e-3);
  });

  it("stops early on the held-out loss and returns the best epoch's W", async () => {
    const tf = await tfUnderTest();
    const train = dataset(5, 4, 24, 21, 2.5);
    const heldOut = dataset(5, 4, 24, 21, 2.5);
    // Same centers (same seed), different noise: draw the held-out questions again further on.
    const other = dataset(5, 8, 24, 21, 2.5);
    heldOut.questions.set(other.questions.subarray(20 * 24, 40 * 24));
    const before = tf.memory();
    const result = await trainAdapter(
      tf,
      { questions: train.questions, questionCluster: train.questionCluster },
      {
        dimensions: 24,
        targets: train.targets,
        temperature: 0.05,
        lambda: 0,
        maxSteps: 2000,
        batchSize: 64,
        seed: 1,
        learningRate: 0.05,
        patience: 5,
        heldOut: { questions: heldOut.questions, questionCluster: heldOut.questionCluster },
      },
    );
    const after = tf.memory();
    expect([after.numTensors, after.numBytes]).toEqual([before.numTensors, before.numBytes]);
    expect(result.heldOutLoss[0]?.step).toBe(0);
    const best = result.heldOutLoss.reduce((a, b) => (b.loss < a.loss ? b : a));
    expect(result.steps).toBe(best.step);
    // It overfits 20 questions in 24 dimensions: the held-out loss turns up and training stops.
    expect(result.loss.length).toBeLessThan(2000);
    expect(result.loss.length).toBe(best.step + 5);
  });

  it("says what is wrong with its input", async () => {
    const tf = await tfUnderTest();
    const { questions, questionCluster, targets, d } = dataset(3, 2, 4, 1);
    const base = {
      dimensions: d,
      targets,
      temperature: 0.05,
      lambda: 0.1,
      maxSteps: 5,
      batchSize: 4,
      seed: 0,
    };
    await expect(
      trainAdapter(tf, { questions: questions.subarray(1), questionCluster }, base),
    ).rejects.toThrow(/hold 23 values, not n×d = 6×4 = 24/);
    await expect(
      trainAdapter(tf, { questions, questionCluster: questionCluster.map(() => 3) }, base),
    ).rejects.toThrow(/question 0 belongs to head 3, but there are 3 targets/);
    await expect(
      trainAdapter(tf, { questions, questionCluster }, { ...base, lambda: -1 }),
    ).rejects.toThrow(TrainError);
    await expect(
      trainAdapter(tf, { questions, questionCluster }, { ...base, batchSize: 0 }),
    ).rejects.toThrow(/batchSize must be a positive integer, not 0/);
  });
});
