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
    [{ format: "ldakit.mh/2" }, '"format" must be "ldakit.mh/1"'],
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
