/** Loading projections from files: dtypes and byte orders, agreement with NumPy, every error case. */
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FormatError } from "@ldakit/format";
import { encodeNpy } from "@ldakit/npy";
import { describe, expect, it } from "vitest";
import {
  discoverProjections,
  loadProjection,
  loadProjectionSync,
  type Projection,
  SearchError,
} from "../src/index.js";
import {
  expectSameRanking,
  type HeadDtype,
  maxAbsDiff,
  type ProjectionFiles,
  randomMatrix,
  saveMatrix,
  scrambledIds,
  tempDir,
  writeProjectionFiles,
} from "./helpers.js";
import { runReference } from "./reference.js";

const H = 25;
const D = 16;

function projectionFiles(
  mhProjectionId: number,
  extra: Partial<ProjectionFiles> = {},
): ProjectionFiles {
  return {
    mhProjectionId,
    temperature: 0.1,
    clusterIds: scrambledIds(H, mhProjectionId),
    dims: D,
    centroids: randomMatrix(H, D, 100 + mhProjectionId),
    answers: randomMatrix(H, D, 200 + mhProjectionId),
    ...extra,
  };
}

/** A folder holding one valid projection (mh 1), to break in one way per test. */
function validFolder(extra: Partial<ProjectionFiles> = {}) {
  const dir = tempDir();
  const files = projectionFiles(1, extra);
  writeProjectionFiles(dir, files);
  return { dir, files };
}

function expectLoadError(
  dir: string,
  mhProjectionId: number,
  code: string,
  ...fragments: string[]
) {
  for (const load of [() => loadProjectionSync({ dir, mhProjectionId })]) {
    let error: unknown;
    try {
      load();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SearchError);
    expect((error as SearchError).code).toBe(code);
    for (const fragment of fragments) expect((error as SearchError).message).toContain(fragment);
  }
  return expect(loadProjection({ dir, mhProjectionId })).rejects.toMatchObject({ code });
}

describe("loading head files of every float dtype", () => {
  const dtypes: HeadDtype[] = ["<f4", "<f8", ">f4", ">f8"];
  const dir = tempDir();
  const queries = randomMatrix(4, D, 999);
  const queryFile = saveMatrix(join(dir, "queries.npy"), queries, 4, D);
  const folders = dtypes.map((dtype, i) => {
    const folder = join(dir, `model_${i}`);
    mkdirSync(folder);
    writeProjectionFiles(folder, projectionFiles(i + 1, { dtype, mhProjectionId: i + 1 }));
    return folder;
  });
  const references = runReference(
    folders.map((folder, i) => ({
      cmd: "files" as const,
      dir: folder,
      mh_id: i + 1,
      queries: queryFile,
      top_k: 5,
    })),
  );

  it.each(dtypes.map((dtype, i) => [dtype, i] as const))(
    "%s files load and agree with NumPy loading the same files",
    async (dtype, i) => {
      const folder = folders[i] as string;
      const p = await loadProjection({ dir: folder, mhProjectionId: i + 1 });
      const sync = loadProjectionSync({ dir: folder, mhProjectionId: i + 1 });
      expect(p.centroids).toEqual(sync.centroids);
      expect(p.answers).toEqual(sync.answers);
      expect(p.mhProjectionId).toBe(i + 1);
      expect(p.model).toBe("test-model");
      expect(p.dimensions).toBe(D);
      expect(p.numHeads).toBe(H);
      expect(p.temperature).toBe(0.1);
      expect(p.clusterIds).toEqual(projectionFiles(i + 1).clusterIds);
      expect(p.warnings).toEqual([]);
      // rows are unit vectors
      for (let k = 0; k < H; k++) {
        let s = 0;
        for (let j = 0; j < D; j++) s += (p.answers[k * D + j] as number) ** 2;
        expect(Math.abs(s - 1)).toBeLessThan(1e-6);
      }
      const refs = references[i] ?? [];
      refs.forEach((ref, n) => {
        const q = queries.subarray(n * D, (n + 1) * D);
        const { weights, projected } = p.project(q);
        expect(maxAbsDiff(weights, ref.weights), dtype).toBeLessThan(1e-5);
        expect(maxAbsDiff(projected, ref.projected), dtype).toBeLessThan(1e-5);
        const hits = p.search(q, { topK: 5 }).results;
        expectSameRanking(
          hits.map((h) => h.clusterId),
          ref.order,
          (cid) => ref.scores[p.headIndex(cid) as number] as number,
        );
        for (const h of hits) {
          expect(Math.abs(h.score - (ref.scores[h.headIndex] as number))).toBeLessThan(1e-5);
        }
      });
    },
  );
});

describe("load errors name the file", () => {
  it("missing mh_<id>.json", async () => {
    const { dir } = validFolder();
    await expectLoadError(dir, 2, "NOT_FOUND", join(dir, "mh_2.json"));
  });

  it("missing folder", async () => {
    const dir = join(tempDir(), "nope");
    await expectLoadError(dir, 1, "NOT_FOUND", join(dir, "mh_1.json"));
  });

  it("mh_<id>.json that is not JSON", async () => {
    const { dir } = validFolder();
    writeFileSync(join(dir, "mh_1.json"), '{"format": "ldakit.mh/1",');
    await expectLoadError(dir, 1, "BAD_META", join(dir, "mh_1.json"), "not valid JSON");
  });

  it.each([
    [{ format: "ldakit.mh/3" }, '"format" must be "ldakit.mh/1" or "ldakit.mh/2"'],
    [{ adapter: "mh_1_W.npy" }, '"adapter" needs "format": "ldakit.mh/2"'],
    [{ blend: 0.5 }, '"blend" other than 1 needs "format": "ldakit.mh/2"'],
    [{ format: "ldakit.mh/2", adapter: "mh_2_W.npy" }, "the adapter of another projection"],
    [{ format: "ldakit.mh/2", adapter: "../mh_1_W.npy" }, "(no path, no other name)"],
    [{ format: "ldakit.mh/2", blend: 1.5 }, '"blend" must be a finite number from 0 to 1'],
    [{ format: undefined }, '"format" is missing'],
    [{ dimensions: "384" }, '"dimensions" must be a positive integer'],
    [{ temperature: 0 }, '"temperature" must be a positive finite number'],
    [{ temperature: -1 }, '"temperature" must be a positive finite number'],
    [{ model: "" }, '"model" "" is not a valid model name: the name is empty'],
    [{ model: "bad name!" }, "is not a valid model name"],
    [{ model: "org//m" }, '"model" "org//m" is not a valid model name: "//" at position 4'],
    [{ num_heads: 24 }, '"cluster_ids" lists 25 cluster ids but "num_heads" is 24'],
    [{ cluster_ids: "1,2" }, '"cluster_ids" must be an array'],
    [
      { cluster_ids: [1, -2] },
      '"cluster_ids" entries must be integers from 0 to 9007199254740991: [1] is the number -2',
    ],
    [{ mh_projection_id: 3 }, '"mh_projection_id" is 3 but the file name says 1'],
    [{ mh_projection_id: 1.5 }, '"mh_projection_id" must be an integer from 0 to 9007199254740991'],
  ] as const)("mh_<id>.json with %j", async (overrides, message) => {
    const dir = tempDir();
    writeProjectionFiles(dir, projectionFiles(1, { metaOverrides: overrides }));
    await expectLoadError(dir, 1, "BAD_META", join(dir, "mh_1.json"), message);
  });

  it("mh_<id>.json: extra keys are ignored; BAD_META lists every problem, the FormatError is its cause", async () => {
    const ok = tempDir();
    writeProjectionFiles(ok, projectionFiles(1, { metaOverrides: { extra_key: "kept" } }));
    expect(loadProjectionSync({ dir: ok, mhProjectionId: 1 }).numHeads).toBe(H);

    const dir = tempDir();
    writeProjectionFiles(
      dir,
      projectionFiles(1, { metaOverrides: { dimensions: 0, num_heads: 24 } }),
    );
    const path = join(dir, "mh_1.json");
    const problems = [
      '"dimensions" must be a positive integer, got the number 0',
      `"cluster_ids" lists ${H} cluster ids but "num_heads" is 24`,
    ];
    for (const load of [
      async () => loadProjectionSync({ dir, mhProjectionId: 1 }),
      () => loadProjection({ dir, mhProjectionId: 1 }),
    ]) {
      const error = await load().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(SearchError);
      expect(error).toMatchObject({ code: "BAD_META", message: `${path}: ${problems.join("; ")}` });
      const cause = (error as SearchError).cause;
      expect(cause).toBeInstanceOf(FormatError);
      expect(cause).toMatchObject({ code: "INVALID_PROJECTION_META", problems });
    }
  });

  it("cluster listed twice", async () => {
    const dir = tempDir();
    const files = projectionFiles(1);
    writeProjectionFiles(dir, {
      ...files,
      metaOverrides: { cluster_ids: [...files.clusterIds.slice(0, -1), files.clusterIds[0]] },
    });
    await expectLoadError(dir, 1, "BAD_META", "lists cluster");
  });

  it("an empty projection", async () => {
    const dir = tempDir();
    writeProjectionFiles(
      dir,
      projectionFiles(1, { metaOverrides: { num_heads: 0, cluster_ids: [] } }),
    );
    await expectLoadError(dir, 1, "BAD_META", "no heads");
  });

  it("missing head file", async () => {
    const { dir, files } = validFolder();
    const path = join(dir, `mh_1_cluster_${files.clusterIds[7]}_answer.npy`);
    rmSync(path);
    await expectLoadError(dir, 1, "HEAD_FILE_MISSING", path);
  });

  it("head file of the wrong dimension", async () => {
    const { dir, files } = validFolder();
    const path = join(dir, `mh_1_cluster_${files.clusterIds[3]}_centroid.npy`);
    writeFileSync(path, encodeNpy({ data: new Float32Array(D + 1).fill(1) }));
    await expectLoadError(dir, 1, "DIMENSION_MISMATCH", path, `(${D + 1},)`, `${D} dimensions`);
  });

  it("head file with metadata dimensions that disagree with every file", async () => {
    const dir = tempDir();
    writeProjectionFiles(dir, projectionFiles(1, { metaOverrides: { dimensions: D + 4 } }));
    await expectLoadError(dir, 1, "DIMENSION_MISMATCH", `${D + 4} dimensions`);
  });

  it("head file that is a matrix", async () => {
    const { dir, files } = validFolder();
    const path = join(dir, `mh_1_cluster_${files.clusterIds[0]}_answer.npy`);
    writeFileSync(path, encodeNpy({ data: new Float32Array(D).fill(1), shape: [1, D] }));
    await expectLoadError(dir, 1, "BAD_HEAD_FILE", path, `(1, ${D})`);
  });

  it("head file of integers", async () => {
    const { dir, files } = validFolder();
    const path = join(dir, `mh_1_cluster_${files.clusterIds[0]}_answer.npy`);
    writeFileSync(path, encodeNpy({ data: new Int32Array(D).fill(1) }));
    await expectLoadError(dir, 1, "BAD_HEAD_FILE", path, "<i4");
  });

  it("head file that is not NPY", async () => {
    const { dir, files } = validFolder();
    const path = join(dir, `mh_1_cluster_${files.clusterIds[2]}_centroid.npy`);
    writeFileSync(path, "not an npy file at all");
    await expectLoadError(dir, 1, "BAD_HEAD_FILE", path);
  });

  it("NaN in a head file", async () => {
    const { dir, files } = validFolder();
    const path = join(dir, `mh_1_cluster_${files.clusterIds[4]}_answer.npy`);
    const data = new Float64Array(D).fill(0.5);
    data[9] = Number.NaN;
    writeFileSync(path, encodeNpy({ data }));
    await expectLoadError(dir, 1, "NOT_FINITE", path, "[9] is NaN");
  });

  it("infinity in a head file", async () => {
    const { dir, files } = validFolder();
    const path = join(dir, `mh_1_cluster_${files.clusterIds[4]}_centroid.npy`);
    const data = new Float32Array(D).fill(0.5);
    data[0] = Number.NEGATIVE_INFINITY;
    writeFileSync(path, encodeNpy({ data, dtype: ">f4" }));
    await expectLoadError(dir, 1, "NOT_FINITE", path, "[0] is -Infinity");
  });

  it("all-zero head vector", async () => {
    const { dir, files } = validFolder();
    const path = join(dir, `mh_1_cluster_${files.clusterIds[5]}_answer.npy`);
    writeFileSync(path, encodeNpy({ data: new Float32Array(D) }));
    await expectLoadError(dir, 1, "ZERO_VECTOR", path);
  });

  it("bad arguments", async () => {
    expect(() => loadProjectionSync({ dir: "", mhProjectionId: 1 })).toThrow(
      /dir must be a folder/,
    );
    expect(() => loadProjectionSync({ dir: tempDir(), mhProjectionId: -1 })).toThrow(
      /mhProjectionId must be/,
    );
    await expect(loadProjection({ dir: tempDir(), mhProjectionId: 1.5 })).rejects.toMatchObject({
      code: "BAD_ARGUMENT",
    });
  });
});

describe("head files the metadata does not list", () => {
  function withExtra() {
    const { dir, files } = validFolder();
    // a stray head of projection 1 and a head of another projection (not stray for mh 1)
    copyFileSync(
      join(dir, `mh_1_cluster_${files.clusterIds[0]}_answer.npy`),
      join(dir, "mh_1_cluster_99999_answer.npy"),
    );
    copyFileSync(
      join(dir, `mh_1_cluster_${files.clusterIds[0]}_answer.npy`),
      join(dir, "mh_2_cluster_5_answer.npy"),
    );
    return dir;
  }

  it("are reported in warnings and ignored", async () => {
    const dir = withExtra();
    for (const p of [
      await loadProjection({ dir, mhProjectionId: 1 }),
      loadProjectionSync({ dir, mhProjectionId: 1 }),
    ]) {
      expect(p.numHeads).toBe(H);
      expect(p.warnings).toHaveLength(1);
      expect(p.warnings[0]).toContain(join(dir, "mh_1_cluster_99999_answer.npy"));
      expect(p.warnings[0]).toContain(join(dir, "mh_1.json"));
      expect(p.warnings[0]).not.toContain("mh_2_cluster_5");
    }
  });

  it("fail a strict load", async () => {
    const dir = withExtra();
    expect(() => loadProjectionSync({ dir, mhProjectionId: 1, strict: true })).toThrow(
      expect.objectContaining({ code: "EXTRA_HEAD_FILE" }),
    );
    await expect(loadProjection({ dir, mhProjectionId: 1, strict: true })).rejects.toThrow(
      "mh_1_cluster_99999_answer.npy",
    );
  });
});

describe("discoverProjections", () => {
  it("lists the mh ids that have an mh_<id>.json, ascending", () => {
    const dir = tempDir();
    for (const id of [10, 2, 1])
      writeProjectionFiles(dir, projectionFiles(id, { mhProjectionId: id }));
    writeFileSync(join(dir, "mh_02.json"), "{}"); // not a canonical name
    writeFileSync(join(dir, "mh_3_cluster_1_answer.npy"), "heads without metadata");
    writeFileSync(join(dir, "q_001.npy"), "");
    writeFileSync(join(dir, "mh_4.json.tmp"), "");
    expect(discoverProjections(dir)).toEqual([1, 2, 10]);
    const loaded: Projection[] = discoverProjections(dir).map((mhProjectionId) =>
      loadProjectionSync({ dir, mhProjectionId }),
    );
    expect(loaded.map((p) => p.mhProjectionId)).toEqual([1, 2, 10]);
    for (const p of loaded) expect(p.warnings).toEqual([]);
  });

  it("empty folder, missing folder", () => {
    expect(discoverProjections(tempDir())).toEqual([]);
    expect(() => discoverProjections(join(tempDir(), "missing"))).toThrow(
      expect.objectContaining({ code: "NOT_FOUND" }),
    );
  });
});

describe("the query adapter and the blend (edition 2)", () => {
  const W = randomMatrix(D, D, 4242);
  const queriesPath = (dir: string) =>
    saveMatrix(join(dir, "queries.npy"), randomMatrix(4, D, 77), 4, D);

  it.each([
    ["<f4", false],
    ["<f8", false],
    [">f4", false],
    [">f8", false],
    ["<f8", true],
  ] as const)(
    "reads a %s adapter (Fortran order: %s) and agrees with NumPy reading the files",
    async (dtype, fortran) => {
      const dir = tempDir();
      writeProjectionFiles(
        dir,
        projectionFiles(1, {
          adapter: W,
          adapterDtype: dtype,
          adapterFortran: fortran,
          blend: 0.25,
        }),
      );
      const q = queriesPath(dir);
      const [reference] = runReference([{ cmd: "files", dir, mh_id: 1, queries: q, top_k: H }]);
      const queries = randomMatrix(4, D, 77);
      for (const p of [
        await loadProjection({ dir, mhProjectionId: 1 }),
        loadProjectionSync({ dir, mhProjectionId: 1 }),
      ]) {
        expect(p.blend).toBe(0.25);
        expect(Array.from(p.adapter as Float32Array)).toEqual(Array.from(Float32Array.from(W)));
        for (let i = 0; i < 4; i++) {
          const ref = reference?.[i];
          if (!ref) throw new Error("no reference result");
          const qi = queries.subarray(i * D, (i + 1) * D);
          const { weights, projected } = p.project(qi);
          expect(maxAbsDiff(weights, ref.weights)).toBeLessThan(1e-5);
          expect(maxAbsDiff(projected, ref.projected)).toBeLessThan(1e-5);
          const ranked = p.search(qi, { topK: H }).results;
          for (const hit of ranked) {
            expect(Math.abs(hit.score - (ref.scores[hit.headIndex] as number))).toBeLessThan(1e-5);
          }
        }
      }
    },
  );

  it("β = 1 without an adapter is edition 1, bit for bit (edition-2 file with the defaults, fromArrays)", async () => {
    const plain = validFolder();
    const defaults = tempDir();
    writeProjectionFiles(
      defaults,
      projectionFiles(1, { metaOverrides: { format: "ldakit.mh/2", adapter: null, blend: 1 } }),
    );
    const a = loadProjectionSync({ dir: plain.dir, mhProjectionId: 1 });
    const b = await loadProjection({ dir: defaults, mhProjectionId: 1 });
    expect(a.adapter).toBeNull();
    expect(b.adapter).toBeNull();
    expect(b.blend).toBe(1);
    const queries = randomMatrix(40, D, 5);
    const opts = { topK: H, routingTop: H };
    expect(b.searchBatch(queries, opts)).toEqual(a.searchBatch(queries, opts));
    for (let i = 0; i < 40; i++) {
      const q = queries.subarray(i * D, (i + 1) * D);
      expect(b.project(q)).toEqual(a.project(q));
    }
  });

  it.each([
    ["the adapter file is missing", "missing", "ADAPTER_FILE_MISSING", "adapter file not found"],
    ["W is (d, d + 1)", "wide", "DIMENSION_MISMATCH", `shape (${D}, ${D + 1}) but the adapter`],
    ["W is a vector", "vector", "BAD_ADAPTER_FILE", `is not a matrix (${D}, ${D})`],
    ["W holds integers", "ints", "BAD_ADAPTER_FILE", "is not a float32 or float64"],
    ["W is not NPY", "junk", "BAD_ADAPTER_FILE", "mh_1_W.npy"],
    ["W holds NaN", "nan", "NOT_FINITE", "W[2, 3] is NaN; the adapter must be finite"],
    ["W holds -Infinity", "inf", "NOT_FINITE", "W[2, 3] is -Infinity"],
    ["W holds a float64 past float32", "huge", "NOT_FINITE", "(beyond float32's range)"],
  ] as const)("refuses a projection where %s", async (_, how, code, message) => {
    const dir = tempDir();
    writeProjectionFiles(dir, projectionFiles(1, { adapter: W }));
    const path = join(dir, "mh_1_W.npy");
    const bad = Float64Array.from(W);
    bad[2 * D + 3] = how === "nan" ? Number.NaN : how === "inf" ? Number.NEGATIVE_INFINITY : 1e300;
    if (how === "missing") rmSync(path);
    if (how === "wide")
      writeFileSync(path, encodeNpy({ data: new Float32Array(D * (D + 1)), shape: [D, D + 1] }));
    if (how === "vector") writeFileSync(path, encodeNpy({ data: new Float32Array(D) }));
    if (how === "ints")
      writeFileSync(path, encodeNpy({ data: new Int32Array(D * D), shape: [D, D] }));
    if (how === "junk") writeFileSync(path, "not an npy file");
    if (how === "nan" || how === "inf" || how === "huge") {
      writeFileSync(path, encodeNpy({ data: bad, shape: [D, D] }));
    }
    await expectLoadError(dir, 1, code, path, message);
  });

  it("an adapter file that the metadata does not name is reported and ignored; strict refuses it", async () => {
    const { dir } = validFolder();
    writeFileSync(
      join(dir, "mh_1_W.npy"),
      encodeNpy({ data: new Float32Array(D * D), shape: [D, D] }),
    );
    const p = loadProjectionSync({ dir, mhProjectionId: 1 });
    expect(p.adapter).toBeNull();
    expect(p.warnings).toEqual([
      `${join(dir, "mh_1_W.npy")} is an adapter file but ${join(dir, "mh_1.json")} names no adapter; ignored`,
    ]);
    await expect(loadProjection({ dir, mhProjectionId: 1, strict: true })).rejects.toMatchObject({
      code: "EXTRA_HEAD_FILE",
    });
  });

  it("discoverProjections lists a projection with an adapter once, and not an adapter alone", () => {
    const dir = tempDir();
    writeProjectionFiles(dir, projectionFiles(1, { adapter: W }));
    writeProjectionFiles(dir, projectionFiles(3, { mhProjectionId: 3, blend: 0 }));
    writeFileSync(join(dir, "mh_5_W.npy"), "an adapter without metadata");
    expect(discoverProjections(dir)).toEqual([1, 3]);
    const [one, three] = discoverProjections(dir).map((mhProjectionId) =>
      loadProjectionSync({ dir, mhProjectionId }),
    );
    expect(one?.adapter).toHaveLength(D * D);
    expect(three?.adapter).toBeNull();
    expect(three?.blend).toBe(0);
  });
});
