// Round trip across runtimes (issue 7, part 5): a store built by the `ldakit` CLI (migrate +
// train, default hash-384 model) is loaded by the Go and the Rust reference loaders
// (conformance/go/cmd/project, conformance/rust/src/bin/project.rs) and by @ldakit/search; their
// routing weights, projections and top-k agree to 1e-5. The same store also holds a projection
// whose query adapter W was learned by `ldakit train` with a blend β, and one recorded through the
// store's createProjection with a fixed non-symmetric W (so that a transposed reading shows), which
// all three apply alike.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { readNpySync, writeNpySync } from "@ldakit/npy";
import { loadProjection, type Projection } from "@ldakit/search";
import { LDAProjectionDB } from "@ldakit/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execOk } from "./exec.js";

const REPO = resolve(import.meta.dirname, "..", "..");
const CLI = join(REPO, "packages", "cli", "dist", "main.js");
const TOLERANCE = 1e-5;
const K = 5;
const D = 384;
/** β of the adapted projection: strictly between 0 and 1, so both terms of the blend count. */
const BLEND = 0.4;
/**
 * The projections of the store: `ldakit train` without an adapter, `ldakit train` with a learned
 * adapter and the blend, and the first one's heads recorded again with a fixed adapter.
 */
const TRAINED = 1;
const LEARNED = 2;
const ADAPTED = 3;

/**
 * A fixed non-symmetric d×d adapter, row-major: W[i, j] = δ_ij + sin(0.37 i + 2.1 j) / (2√d)
 * (sin(0.37 i + 2.1 j) ≠ sin(0.37 j + 2.1 i), so W ≠ Wᵀ and a transposed reading shows).
 */
function fixedAdapter(d: number): Float32Array {
  const w = new Float32Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      w[i * d + j] = (i === j ? 1 : 0) + Math.sin(0.37 * i + 2.1 * j) / (2 * Math.sqrt(d));
    }
  }
  return w;
}

interface Hit {
  cluster_id: number;
  score: number;
}
interface LoaderOutput {
  mh_id: number;
  model: string;
  dimensions: number;
  temperature: number;
  cluster_ids: number[];
  queries: Array<{ weights: number[]; projected: number[]; top: Hit[]; direct: Hit[] }>;
}

let work: string;
let store: string;
let goBinary: string;
let rustBinary: string;

/** Raw Q-A data (form (a)) of `n` clusters about different things, four phrasings each. */
function rawData(n: number): string {
  const things = ["chain", "brake", "tyre", "saddle", "gear", "light", "pedal", "spoke", "bell"];
  const acts = ["clean", "adjust", "replace", "oil", "tighten", "check", "store", "repair"];
  const clusters = Array.from({ length: n }, (_, c) => {
    const thing = things[c % things.length];
    const act = acts[Math.floor(c / things.length) % acts.length];
    return {
      answer: `To ${act} the ${thing}, use tool ${c} and follow step ${c * 3} of the manual.`,
      answer_id: `kb-${c}`,
      questions: [
        `How do I ${act} my ${thing}?`,
        `What is the way to ${act} a bike ${thing}?`,
        `${act} ${thing} instructions please`,
        `Can you tell me how one would ${act} the ${thing} on a bicycle?`,
      ],
    };
  });
  return JSON.stringify({ clusters }, null, 2);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "ldakit-roundtrip-"));
  store = join(work, "store");
  mkdirSync(join(work, "raw"), { recursive: true });
  mkdirSync(store);
  writeFileSync(join(work, "raw", "bikes.json"), rawData(40));

  // The loaders, built once for this run (Go into the temp folder, Rust into its target/).
  goBinary = join(work, "project-go");
  await execOk("go", ["build", "-o", goBinary, "./cmd/project"], {
    cwd: join(REPO, "conformance", "go"),
  });
  await execOk("cargo", ["build", "--quiet", "--release", "--locked", "--bin", "project"], {
    cwd: join(REPO, "conformance", "rust"),
  });
  rustBinary = join(REPO, "conformance", "rust", "target", "release", "project");

  // The store: `ldakit migrate` (default model hash-384) and `ldakit train`.
  await execOk(
    process.execPath,
    [CLI, "migrate", "--scan", "--input", join(work, "raw"), "--process-pending"],
    { cwd: store },
  );
  const train = ["train", "--temperature", "0.1"];
  await execOk(process.execPath, [CLI, ...train, "--adapter", "none", "--blend", "1"], {
    cwd: store,
  });
  await execOk(process.execPath, [CLI, ...train, "--adapter", "linear", "--blend", String(BLEND)], {
    cwd: store,
  });

  // The trained heads again, now with a query adapter and a blend.
  const db = await LDAProjectionDB.open(join(store, "lda.db"));
  try {
    const trained = await db.loadProjection(TRAINED);
    const model = await db.getOrCreateModel(trained.model, { dimensions: trained.dimensions });
    const id = await db.createProjection({
      modelId: model.model_id,
      temperature: trained.temperature,
      centroidMethod: "weighted",
      heads: trained.clusterIds.map((clusterId, k) => ({
        clusterId,
        centroid: trained.centroids.slice(k * D, (k + 1) * D),
        answer: trained.answers.slice(k * D, (k + 1) * D),
        numQuestions: 4,
      })),
      adapter: fixedAdapter(D),
      blend: BLEND,
    });
    expect(id).toBe(ADAPTED);
  } finally {
    await db.close();
  }
}, 600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Stored question and answer vectors and mixtures of them, written as an (n, d) `.npy` file. */
function writeQueries(modelDir: string): { rows: Float32Array[]; path: string } {
  const files = readdirSync(modelDir);

  // Queries: stored question and answer vectors (real hash-384 embeddings) and mixtures of
  // two of them, which route over several heads.
  const vectors = files
    .filter((f) => /^[qa]_\d+\.npy$/.test(f))
    .sort()
    .map((f) => readNpySync(join(modelDir, f)).data as Float32Array);
  const d = D;
  const rows: Float32Array[] = [];
  for (let i = 0; i < vectors.length; i += 7) rows.push(vectors[i] as Float32Array);
  for (let i = 0; i + 13 < vectors.length; i += 11) {
    const a = vectors[i] as Float32Array;
    const b = vectors[i + 13] as Float32Array;
    rows.push(Float32Array.from(a, (x, j) => 0.6 * x + 0.4 * (b[j] as number)));
  }
  const queries = new Float32Array(rows.length * d);
  rows.forEach((r, i) => {
    queries.set(r, i * d);
  });
  expect(rows.length).toBeGreaterThan(20);
  const queriesPath = join(work, "queries.npy");
  writeNpySync(queriesPath, { data: queries, shape: [rows.length, d] });
  return { rows, path: queriesPath };
}

/** Loads projection `mhId` of the store in Go, Rust and @ldakit/search and compares them. */
async function compareLoaders(mhId: number): Promise<Projection> {
  const modelDir = join(store, "embeddings", "hash-384");
  const d = D;
  const { rows, path: queriesPath } = writeQueries(modelDir);
  const projection: Projection = await loadProjection({ dir: modelDir, mhProjectionId: mhId });
  expect(projection.numHeads).toBe(40);
  const outputs: Record<string, LoaderOutput> = {
    go: JSON.parse(
      await execOk(goBinary, [
        "-root",
        store,
        "-mh-id",
        `${mhId}`,
        "-queries",
        queriesPath,
        "-k",
        `${K}`,
      ]),
    ),
    rust: JSON.parse(
      await execOk(rustBinary, [
        "--root",
        store,
        "--mh-id",
        `${mhId}`,
        "--queries",
        queriesPath,
        "--k",
        `${K}`,
      ]),
    ),
  };

  let worst = 0;
  for (const [runtime, out] of Object.entries(outputs)) {
    expect(out.mh_id, runtime).toBe(mhId);
    expect(out.model, runtime).toBe("hash-384");
    expect(out.dimensions, runtime).toBe(d);
    expect(out.temperature, runtime).toBe(0.1);
    expect(out.cluster_ids, runtime).toEqual([...projection.clusterIds]);
    expect(out.queries).toHaveLength(rows.length);
    rows.forEach((q, i) => {
      const where = `${runtime}, query ${i}`;
      const theirs = out.queries[i];
      if (!theirs) throw new Error(`${where}: missing`);
      const ours = projection.project(q);
      worst = Math.max(worst, maxDiff(ours.weights, theirs.weights, where, "weights"));
      worst = Math.max(worst, maxDiff(ours.projected, theirs.projected, where, "projected"));
      const top = projection.search(q, { topK: K }).results;
      const direct = projection.directSearch(q, { topK: K }).results;
      compareRanking(top, theirs.top, `${where}, top`);
      compareRanking(direct, theirs.direct, `${where}, direct`);
    });
  }
  // The TypeScript kernel computes in float32, the loaders in float64.
  expect(worst).toBeLessThanOrEqual(TOLERANCE);
  // Go and Rust agree with each other much more closely (both float64).
  const go = outputs.go as LoaderOutput;
  const rust = outputs.rust as LoaderOutput;
  go.queries.forEach((g, i) => {
    expect(
      maxDiff(g.projected, rust.queries[i]?.projected ?? [], `query ${i}`, "go/rust", 1e-12),
    ).toBeLessThanOrEqual(1e-12);
    expect(g.top.map((h) => h.cluster_id)).toEqual(rust.queries[i]?.top.map((h) => h.cluster_id));
  });
  return projection;
}

describe("a store built by the ldakit CLI, loaded by Go, Rust and @ldakit/search", () => {
  it("gives the same weights, projections and top-k in all three (1e-5)", async () => {
    expect(readdirSync(join(store, "embeddings", "hash-384"))).toContain(`mh_${TRAINED}.json`);
    const projection = await compareLoaders(TRAINED);
    expect(projection.adapter).toBeNull();
    expect(projection.blend).toBe(1);
  });

  it("with the adapter W ldakit train learned and a blend β: the same in all three (1e-5)", async () => {
    const modelDir = join(store, "embeddings", "hash-384");
    const meta = JSON.parse(readFileSync(join(modelDir, `mh_${LEARNED}.json`), "utf8"));
    expect(meta).toMatchObject({
      format: "ldakit.mh/2",
      adapter: `mh_${LEARNED}_W.npy`,
      blend: BLEND,
    });
    const learned = await compareLoaders(LEARNED);
    expect(learned.blend).toBe(BLEND);
    const w = learned.adapter as Float32Array;
    let asymmetry = 0;
    for (let i = 0; i < D; i++)
      for (let j = 0; j < i; j++)
        asymmetry = Math.max(
          asymmetry,
          Math.abs((w[i * D + j] as number) - (w[j * D + i] as number)),
        );
    // A learned W is not symmetric, so Go and Rust agreeing shows they read it the right way round.
    expect(asymmetry).toBeGreaterThan(1e-4);
  });

  it("with a fixed query adapter W and a blend β: the same in all three (1e-5)", async () => {
    const modelDir = join(store, "embeddings", "hash-384");
    const meta = JSON.parse(readFileSync(join(modelDir, `mh_${ADAPTED}.json`), "utf8"));
    expect(meta).toMatchObject({
      format: "ldakit.mh/2",
      adapter: `mh_${ADAPTED}_W.npy`,
      blend: BLEND,
    });
    const w = readNpySync(join(modelDir, `mh_${ADAPTED}_W.npy`));
    expect([w.dtype, w.shape, w.fortranOrder]).toEqual(["<f4", [D, D], false]);

    const adapted = await compareLoaders(ADAPTED);
    expect(adapted.blend).toBe(BLEND);
    expect(adapted.adapter).toEqual(fixedAdapter(D));
    // The adapter and the blend are applied: the same heads rank differently with them.
    const trained = await loadProjection({ dir: modelDir, mhProjectionId: TRAINED });
    const { rows } = writeQueries(modelDir);
    const changed = rows.filter(
      (q) =>
        JSON.stringify(adapted.search(q, { topK: K }).results) !==
        JSON.stringify(trained.search(q, { topK: K }).results),
    );
    expect(changed.length).toBeGreaterThan(rows.length / 2);
  });
});

function maxDiff(
  ours: ArrayLike<number>,
  theirs: ArrayLike<number>,
  where: string,
  what: string,
  tol = TOLERANCE,
): number {
  expect(theirs.length, `${where}: ${what} length`).toBe(ours.length);
  let worst = 0;
  for (let j = 0; j < ours.length; j++) {
    const diff = Math.abs((ours[j] as number) - (theirs[j] as number));
    if (!(diff <= tol)) {
      throw new Error(`${where}: ${what}[${j}] is ${ours[j]} here and ${theirs[j]} there`);
    }
    worst = Math.max(worst, diff);
  }
  return worst;
}

/**
 * Same scores rank by rank, and the same cluster ids — except among answers whose scores lie
 * within 2 × tolerance of each other (a float32 and a float64 ranking may order such near-ties
 * differently), where only the set of ids must agree, or may differ at the cut-off of top-k.
 */
function compareRanking(
  ours: Array<{ clusterId: number; score: number }>,
  theirs: Hit[],
  where: string,
): void {
  expect(theirs.length, where).toBe(ours.length);
  ours.forEach((h, j) => {
    const diff = Math.abs(h.score - (theirs[j]?.score ?? Number.NaN));
    if (!(diff <= TOLERANCE))
      throw new Error(`${where}: score ${j} is ${h.score} here, ${theirs[j]?.score} there`);
  });
  let start = 0;
  while (start < ours.length) {
    let end = start + 1;
    while (
      end < ours.length &&
      Math.abs((theirs[end - 1] as Hit).score - (theirs[end] as Hit).score) <= 2 * TOLERANCE
    )
      end++;
    const a = ours.slice(start, end).map((h) => h.clusterId);
    const b = theirs.slice(start, end).map((h) => h.cluster_id);
    if (end === ours.length && end - start > 1) {
      // a near-tie run at the cut-off: the ids past it are not known here
    } else if (end - start > 1) {
      expect(a.sort(), `${where}: near-tied ids at ranks ${start}..${end - 1}`).toEqual(b.sort());
    } else {
      expect(a, `${where}: id at rank ${start}`).toEqual(b);
    }
    start = end;
  }
}
