import { execFileSync, spawn } from "node:child_process";
import { appendFileSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { createHashEmbedder } from "@ldakit/embed";
import { writeNpySync } from "@ldakit/npy";
import { describe, expect, it } from "vitest";
import type { LDAProjectionDB } from "../src/index.js";
import { backends, type TestBackend, type TestStore } from "./backends.js";
import { formA, tempDir, writeFiles } from "./helpers.js";

const MODEL = "hash-32";
const DIR = `embeddings/${MODEL}`;

/** A non-symmetric d×d adapter near the identity, row-major: W[i, j] = δ_ij + (i − 2j)/(8d). */
function nonSymmetricAdapter(d: number): Float32Array {
  const w = new Float32Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) w[i * d + j] = (i === j ? 1 : 0) + (i - 2 * j) / (8 * d);
  }
  return w;
}

/**
 * A store of 4 clusters × 3 questions embedded with hash-32, and one projection over them (with
 * a query adapter and a blend when asked).
 */
async function cleanStore(
  backend: TestBackend,
  extra: { adapter?: Float32Array; blend?: number } = {},
): Promise<{ db: LDAProjectionDB; mhId: number; store: TestStore }> {
  const input = tempDir("ldakit-verify-input-");
  writeFiles(input, { "data.json": formA(4, 3) });
  const store = await backend.newStore();
  const db = await store.open();
  await db.scan(input);
  const result = await db.processPending({ embedder: createHashEmbedder(32), writerThreads: 0 });
  expect(result.failed).toEqual([]);
  const set = await db.loadTrainingSet(MODEL);
  const d = set.dimensions;
  const heads = set.clusters.map((cluster, k) => {
    const centroid = new Float32Array(d);
    set.questionCluster.forEach((c, i) => {
      if (c !== k) return;
      for (let j = 0; j < d; j++) {
        centroid[j] =
          (centroid[j] as number) + (set.questions[i * d + j] as number) / cluster.numQuestions;
      }
    });
    return {
      clusterId: cluster.clusterId,
      centroid,
      answer: set.answers.slice(k * d, (k + 1) * d),
      numQuestions: cluster.numQuestions,
    };
  });
  const mhId = await db.createProjection({
    modelId: set.modelId,
    temperature: 0.1,
    centroidMethod: "mean",
    heads,
    ...extra,
  });
  return { db, mhId, store };
}

const at = (db: LDAProjectionDB, path: string) => db.vectors.absolute(path);

async function problemsOf(db: LDAProjectionDB, options: { mhProjectionId?: number } = {}) {
  return (await db.verify(options)).problems;
}

describe.each(backends)("LDAProjectionDB.verify on $name", (backend) => {
  it("finds nothing wrong in a store built by the pipeline and createProjection", async () => {
    const { db, mhId } = await cleanStore(backend);
    const result = await db.verify();
    expect(result.problems).toEqual([]);
    // 4 answers + 12 questions, 4 heads × 2 files, mh_<id>.json
    expect(result.checked).toEqual({ files: 16 + 8 + 1, projections: 1 });
    expect(await db.verify({ mhProjectionId: mhId })).toEqual({
      problems: [],
      checked: { files: 9, projections: 1 },
    });
    await db.close();
  });

  it("reports a deleted vector file with its path", async () => {
    const { db } = await cleanStore(backend);
    rmSync(at(db, `${DIR}/q_002.npy`));
    expect(await problemsOf(db)).toEqual([
      {
        path: `${DIR}/q_002.npy`,
        problem: expect.stringMatching(/^missing \(embeddings row \d+ \(question 2/),
      },
    ]);
    await db.close();
  });

  it("reports a truncated file", async () => {
    const { db } = await cleanStore(backend);
    const path = `${DIR}/a_001.npy`;
    truncateSync(at(db, path), 128 + 10);
    expect(await problemsOf(db)).toEqual([
      { path, problem: expect.stringMatching(/^truncated: 138 bytes, a \(32,\) <f4 file has 256/) },
    ]);
    truncateSync(at(db, path), 20); // inside the header
    expect(await problemsOf(db)).toEqual([
      { path, problem: expect.stringMatching(/^not a valid NPY file \(TRUNCATED\)/) },
    ]);
    await db.close();
  });

  it("reports a file of the wrong shape or dtype, trailing bytes and NaN", async () => {
    const { db, mhId } = await cleanStore(backend);
    const q = `${DIR}/q_003.npy`;
    writeNpySync(at(db, q), { data: new Float32Array(64), shape: [2, 32] });
    const centroid = `${DIR}/mh_${mhId}_cluster_2_centroid.npy`;
    writeNpySync(at(db, centroid), { data: new Float32Array(16) });
    const answer = `${DIR}/mh_${mhId}_cluster_3_answer.npy`;
    writeNpySync(at(db, answer), { data: new Int32Array(32) });
    const a = `${DIR}/a_004.npy`;
    appendFileSync(at(db, a), Buffer.alloc(4));
    const nan = `${DIR}/q_001.npy`;
    const values = new Float32Array(32).fill(0.5);
    values[7] = Number.NaN;
    writeNpySync(at(db, nan), { data: values });
    const problems = await problemsOf(db);
    expect(problems).toEqual([
      { path: a, problem: expect.stringMatching(/^too long: 260 bytes/) },
      {
        path: centroid,
        problem: expect.stringMatching(
          /^shape \(16,\), expected \(32,\) \(centroid of cluster 2 in projection/,
        ),
      },
      { path: answer, problem: expect.stringMatching(/^dtype <i4, expected '<f4' \(or '<f8'\)/) },
      { path: nan, problem: expect.stringMatching(/^value 7 is NaN/) },
      { path: q, problem: expect.stringMatching(/^shape \(2, 32\), expected \(32,\)/) },
    ]);
    // Only the projection's files with --mh-id.
    expect((await problemsOf(db, { mhProjectionId: mhId })).map((p) => p.path)).toEqual([
      centroid,
      answer,
    ]);
    await db.close();
  });

  it("accepts <f8 vectors, as the original Python tooling wrote centroids", async () => {
    const { db, mhId } = await cleanStore(backend);
    const centroid = `${DIR}/mh_${mhId}_cluster_1_centroid.npy`;
    writeNpySync(at(db, centroid), { data: new Float64Array(32).fill(0.25) });
    expect(await problemsOf(db)).toEqual([]);
    await db.close();
  });

  it("reports orphan files, temporary files and stray folders", async () => {
    const { db, mhId } = await cleanStore(backend);
    const orphans = [
      `${DIR}/q_999.npy`,
      `${DIR}/a_777.npy`,
      `${DIR}/mh_${mhId}_cluster_99_answer.npy`,
      `${DIR}/mh_${mhId + 5}_cluster_1_centroid.npy`,
    ];
    for (const path of orphans) writeNpySync(at(db, path), { data: new Float32Array(32).fill(1) });
    writeFileSync(at(db, `${DIR}/mh_${mhId + 5}.json`), "{}");
    writeFileSync(at(db, `${DIR}/.q_005.npy.1234.abcd.tmp`), "partial");
    writeFileSync(at(db, `${DIR}/mh_${mhId}.json.99.tmp`), "{");
    writeFileSync(at(db, `${DIR}/notes.txt`), "hello");
    db.vectors.write("embeddings/other-model/q_001.npy", new Float32Array(3));
    const problems = await problemsOf(db);
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p.problem]));
    expect(Object.keys(byPath).sort()).toEqual(
      [
        ...orphans,
        `${DIR}/mh_${mhId + 5}.json`,
        `${DIR}/.q_005.npy.1234.abcd.tmp`,
        `${DIR}/mh_${mhId}.json.99.tmp`,
        `${DIR}/notes.txt`,
        "embeddings/other-model",
      ].sort(),
    );
    expect(byPath[`${DIR}/q_999.npy`]).toMatch(/^orphan: no embeddings row names this file/);
    expect(byPath[`${DIR}/mh_${mhId}_cluster_99_answer.npy`]).toMatch(
      /^orphan: no cluster_heads row names this file/,
    );
    expect(byPath[`${DIR}/mh_${mhId + 5}.json`]).toMatch(/^orphan: the database has no projection/);
    expect(byPath[`${DIR}/.q_005.npy.1234.abcd.tmp`]).toBe(
      "temporary file left by an interrupted write",
    );
    expect(byPath["embeddings/other-model"]).toBe("folder of no model in the database");
    await db.close();
  });

  it("reports a missing, unparsable or malformed mh_<id>.json", async () => {
    const { db, mhId } = await cleanStore(backend);
    const path = `${DIR}/mh_${mhId}.json`;
    const good = readFileSync(at(db, path), "utf8");
    writeFileSync(at(db, path), "{ not json");
    expect(await problemsOf(db)).toEqual([
      { path, problem: expect.stringMatching(/^not valid JSON/) },
    ]);
    writeFileSync(
      at(db, path),
      JSON.stringify({ ...JSON.parse(good), format: "ldakit.mh/0", dimensions: -1 }),
    );
    expect(await problemsOf(db)).toEqual([
      {
        path,
        problem: expect.stringMatching(
          /^not the ldakit\.mh\/1 or ldakit\.mh\/2 format: "format" must be "ldakit\.mh\/1" or "ldakit\.mh\/2", got the string "ldakit\.mh\/0"; "dimensions" must be a positive integer, got the number -1$/,
        ),
      },
    ]);
    // a cluster twice: the file is not the format (it was once accepted and only compared)
    writeFileSync(at(db, path), JSON.stringify({ ...JSON.parse(good), cluster_ids: [1, 2, 3, 3] }));
    expect(await problemsOf(db)).toEqual([
      {
        path,
        problem:
          'not the ldakit.mh/1 or ldakit.mh/2 format: "cluster_ids" lists cluster 3 more than once; each head has its own cluster',
      },
    ]);
    rmSync(at(db, path));
    expect(await problemsOf(db, { mhProjectionId: mhId })).toEqual([
      { path, problem: `missing: projection ${mhId} has no metadata file` },
    ]);
    await db.close();
  });

  it("reports a FIFO in place of mh_<id>.json or a head file, without waiting on it", async () => {
    const { db, mhId, store } = await cleanStore(backend);
    const meta = `${DIR}/mh_${mhId}.json`;
    const [row] = await store.query<{ p: string }>(
      "SELECT centroid_path AS p FROM cluster_heads ORDER BY cluster_id LIMIT 1",
    );
    const head = row?.p as string;
    const releasers = [meta, head].map((path) => {
      rmSync(at(db, path));
      execFileSync("mkfifo", [at(db, path)]);
      // Frees a reader stuck on the FIFO after 3 s, so that a regression fails instead of hanging.
      return spawn("sh", ["-c", 'sleep 3; exec 3<>"$0"; sleep 0.2', at(db, path)], {
        stdio: "ignore",
      });
    });
    try {
      expect(await problemsOf(db)).toEqual([
        { path: meta, problem: "a FIFO (named pipe), not a regular file" },
        { path: head, problem: expect.stringMatching(/^not a file \(centroid of cluster \d+/) },
      ]);
    } finally {
      for (const child of releasers) child.kill("SIGKILL");
      await db.close();
    }
  });

  it("reports mh_<id>.json fields that disagree with the database", async () => {
    const { db, mhId } = await cleanStore(backend);
    const path = `${DIR}/mh_${mhId}.json`;
    const meta = JSON.parse(readFileSync(at(db, path), "utf8"));
    expect(meta.cluster_ids).toEqual([1, 2, 3, 4]);
    writeFileSync(
      at(db, path),
      JSON.stringify({ ...meta, cluster_ids: [1, 2, 3, 5], temperature: 0.2 }),
    );
    expect(await problemsOf(db)).toEqual([
      { path, problem: "temperature is 0.2 but multi_head_projections says 0.1" },
      {
        path,
        problem:
          "cluster_ids disagree with the database: lists cluster 5 that cluster_heads has not; lacks cluster 4 of cluster_heads",
      },
    ]);
    writeFileSync(
      at(db, path),
      JSON.stringify({
        ...meta,
        num_heads: 3,
        cluster_ids: [1, 2, 3],
        model: "hash-64",
        dimensions: 64,
      }),
    );
    expect((await problemsOf(db)).map((p) => p.problem)).toEqual([
      'model is "hash-64" but the database says "hash-32"',
      "dimensions is 64 but the model's row says 32",
      "num_heads is 3 but multi_head_projections says 4",
      "cluster_ids disagree with the database: lacks cluster 4 of cluster_heads",
    ]);
    await db.close();
  });

  it("reports paths in the database that are not the canonical names", async () => {
    const { db, mhId, store } = await cleanStore(backend);
    await store.query(
      "update embeddings set vector_path = ? where entity_type = 'question' and entity_id = 1",
      [`${DIR}/q_1.npy`],
    );
    await store.query("update cluster_heads set answer_emb_path = ? where cluster_id = 2", [
      `${DIR}/mh_${mhId}_cluster_3_answer.npy`,
    ]);
    const problems = await problemsOf(db);
    expect(problems).toEqual([
      {
        path: `${DIR}/mh_${mhId}_cluster_2_answer.npy`,
        problem: expect.stringMatching(/^orphan: no cluster_heads row/),
      },
      {
        path: `${DIR}/mh_${mhId}_cluster_3_answer.npy`,
        problem: `cluster_heads names this file as the answer of cluster 2 in projection ${mhId}; the canonical name is ${DIR}/mh_${mhId}_cluster_2_answer.npy`,
      },
      { path: `${DIR}/q_001.npy`, problem: expect.stringMatching(/^orphan: no embeddings row/) },
      {
        path: `${DIR}/q_1.npy`,
        problem: expect.stringMatching(/canonical name is embeddings\/hash-32\/q_001\.npy$/),
      },
      { path: `${DIR}/q_1.npy`, problem: expect.stringMatching(/^missing/) },
    ]);
    await db.close();
  });

  it("reports a projection id the database does not have", async () => {
    const { db } = await cleanStore(backend);
    // A problem of the database itself names it as the store does: a SQLite file by its path in
    // the store root, a PostgreSQL database by its URL (without a password).
    const database = backend.name === "sqlite" ? "lda.db" : db.path;
    expect(database).not.toMatch(/\.\.|^\//);
    expect(await db.verify({ mhProjectionId: 42 })).toEqual({
      problems: [{ path: database, problem: "no projection with id 42 in the database" }],
      checked: { files: 0, projections: 0 },
    });
    await db.close();
  });

  describe("a projection with a query adapter and a blend", () => {
    const adapted = () => cleanStore(backend, { adapter: nonSymmetricAdapter(32), blend: 0.625 });

    it("finds nothing wrong, and counts the adapter file", async () => {
      const { db, mhId } = await adapted();
      expect(await db.verify()).toEqual({
        problems: [],
        checked: { files: 16 + 8 + 1 + 1, projections: 1 },
      });
      expect(await db.verify({ mhProjectionId: mhId })).toEqual({
        problems: [],
        checked: { files: 10, projections: 1 },
      });
      await db.close();
    });

    it("reports a missing adapter file", async () => {
      const { db, mhId } = await adapted();
      const w = `${DIR}/mh_${mhId}_W.npy`;
      rmSync(at(db, w));
      expect(await problemsOf(db)).toEqual([
        { path: w, problem: `missing (query adapter of projection ${mhId})` },
      ]);
      await db.close();
    });

    it("reports an adapter of the wrong shape, dtype or length, and non-finite values", async () => {
      const { db, mhId } = await adapted();
      const w = `${DIR}/mh_${mhId}_W.npy`;
      const what = `query adapter of projection ${mhId}`;
      writeNpySync(at(db, w), { data: new Float32Array(32 * 31), shape: [32, 31] });
      expect(await problemsOf(db)).toEqual([
        { path: w, problem: `shape (32, 31), expected (32, 32) (${what})` },
      ]);
      writeNpySync(at(db, w), { data: new Float32Array(32) });
      expect(await problemsOf(db, { mhProjectionId: mhId })).toEqual([
        { path: w, problem: `shape (32,), expected (32, 32) (${what})` },
      ]);
      writeNpySync(at(db, w), { data: new Int32Array(32 * 32), shape: [32, 32] });
      expect(await problemsOf(db)).toEqual([
        { path: w, problem: `dtype <i4, expected '<f4' (or '<f8') (${what})` },
      ]);
      const values = nonSymmetricAdapter(32);
      values[3 * 32 + 5] = Number.POSITIVE_INFINITY;
      writeNpySync(at(db, w), { data: values, shape: [32, 32] });
      expect(await problemsOf(db)).toEqual([
        { path: w, problem: `value ${3 * 32 + 5} is Infinity (${what})` },
      ]);
      values[3 * 32 + 5] = Number.NaN;
      writeNpySync(at(db, w), { data: values, shape: [32, 32] });
      truncateSync(at(db, w), 128 + 32 * 32 * 4 - 4);
      expect(await problemsOf(db)).toEqual([
        {
          path: w,
          problem: `truncated: ${128 + 32 * 32 * 4 - 4} bytes, a (32, 32) <f4 file has ${128 + 32 * 32 * 4} (${what})`,
        },
      ]);
      // float64, as NumPy writes by default, is a sound adapter
      writeNpySync(at(db, w), {
        data: Float64Array.from(nonSymmetricAdapter(32)),
        shape: [32, 32],
      });
      expect(await problemsOf(db)).toEqual([]);
      await db.close();
    });

    it("reports the row and mh_<id>.json disagreeing on the adapter or the blend", async () => {
      const { db, mhId, store } = await adapted();
      const meta = `${DIR}/mh_${mhId}.json`;
      const w = `${DIR}/mh_${mhId}_W.npy`;
      const json = JSON.parse(readFileSync(at(db, meta), "utf8"));
      expect(json).toMatchObject({
        format: "ldakit.mh/2",
        adapter: `mh_${mhId}_W.npy`,
        blend: 0.625,
      });

      await store.query("update multi_head_projections set blend = 0.5");
      expect(await problemsOf(db)).toEqual([
        { path: meta, problem: "blend is 0.625 but multi_head_projections says 0.5" },
      ]);
      // NULL stands for 1
      await store.query("update multi_head_projections set blend = NULL");
      expect(await problemsOf(db)).toEqual([
        { path: meta, problem: "blend is 0.625 but multi_head_projections says 1" },
      ]);
      await store.query("update multi_head_projections set blend = 0.625");

      // The row has no adapter, the json names one: the file is also nobody's in the database.
      await store.query("update multi_head_projections set adapter_path = NULL");
      expect(await problemsOf(db)).toEqual([
        {
          path: meta,
          problem: `adapter is "mh_${mhId}_W.npy" but multi_head_projections.adapter_path is NULL (no adapter)`,
        },
        {
          path: w,
          problem: expect.stringMatching(/^orphan: no multi_head_projections row names this file/),
        },
      ]);
      await store.query("update multi_head_projections set adapter_path = ?", [w]);

      // The json has no adapter, the row names one.
      writeFileSync(at(db, meta), JSON.stringify({ ...json, adapter: null }));
      expect(await problemsOf(db)).toEqual([
        {
          path: meta,
          problem: `adapter is null but multi_head_projections.adapter_path says ${JSON.stringify(w)}`,
        },
      ]);
      // An edition-1 file says: no adapter, β = 1.
      const { adapter: _a, blend: _b, ...edition1 } = json;
      writeFileSync(at(db, meta), JSON.stringify({ ...edition1, format: "ldakit.mh/1" }));
      expect(await problemsOf(db)).toEqual([
        { path: meta, problem: "blend is 1 but multi_head_projections says 0.625" },
        {
          path: meta,
          problem: `adapter is null but multi_head_projections.adapter_path says ${JSON.stringify(w)}`,
        },
      ]);
      await db.close();
    });

    it("reports an adapter path in the row that is not the canonical name", async () => {
      const { db, mhId, store } = await adapted();
      const w = `${DIR}/mh_${mhId}_W.npy`;
      await store.query("update multi_head_projections set adapter_path = ?", [`${DIR}/W.npy`]);
      expect(await problemsOf(db)).toEqual([
        {
          path: `${DIR}/W.npy`,
          problem: `multi_head_projections names this file as the query adapter of projection ${mhId}; the canonical name is ${w}`,
        },
        { path: `${DIR}/W.npy`, problem: `missing (query adapter of projection ${mhId})` },
        {
          path: w,
          problem: expect.stringMatching(/^orphan: no multi_head_projections row names this file/),
        },
      ]);
      await store.query("update multi_head_projections set adapter_path = ?", ["../W.npy"]);
      expect((await problemsOf(db))[0]).toEqual({
        path: "../W.npy",
        problem: `multi_head_projections: query adapter of projection ${mhId}: "../W.npy" is not a relative POSIX path inside the store`,
      });
      await db.close();
    });

    it("reports an adapter file of a projection that has none as an orphan", async () => {
      const { db, mhId } = await cleanStore(backend);
      const w = `${DIR}/mh_${mhId}_W.npy`;
      writeNpySync(at(db, w), { data: nonSymmetricAdapter(32), shape: [32, 32] });
      expect(await problemsOf(db)).toEqual([
        {
          path: w,
          problem: `orphan: no multi_head_projections row names this file as its adapter (projection ${mhId} of model ${MODEL})`,
        },
      ]);
      await db.close();
    });
  });
});
