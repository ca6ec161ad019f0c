import { spawnSync } from "node:child_process";
import { cpSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Projection } from "@ldakit/search";
import pg from "pg";
import { describe, expect, inject, it, onTestFinished } from "vitest";
import { createDatabase, dropDatabase } from "../../../tools/postgres-databases.mjs";
import { LDAProjectionDB, type StoreErrorCode } from "../src/index.js";
import { backends, type TestBackend, type TestStore } from "./backends.js";
import { expectStoreError, sqlite3, tempDir, vectorFilesOnDisk } from "./helpers.js";

/** The Python with NumPy that cross-checks the files: `LDAKIT_PYTHON`, else `python3`. */
const PYTHON = process.env.LDAKIT_PYTHON || "python3";

const D = 8;
const HEADS = 5;
const TEMPERATURE = 0.2;
const BLEND = 0.375;

/** Deterministic values in [-1, 1): a linear congruential generator, so failures reproduce. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  };
}

function vectors(count: number, d: number, seed: number): Float32Array[] {
  const next = generator(seed);
  return Array.from({ length: count }, () => Float32Array.from({ length: d }, next));
}

/** A non-symmetric d×d adapter, row-major: W[i, j] = δ_ij + (i − 2j)/(4d) + a small jitter. */
function nonSymmetricAdapter(d: number): Float32Array {
  const next = generator(99);
  const w = new Float32Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      w[i * d + j] = (i === j ? 1 : 0) + (i - 2 * j) / (4 * d) + 0.1 * next();
    }
  }
  return w;
}

interface ToyStore {
  /** The backend's store: its location, and the peer client. */
  store: TestStore;
  root: string;
  db: LDAProjectionDB;
  modelId: number;
  clusterIds: number[];
  centroids: Float32Array[];
  answers: Float32Array[];
}

async function toyStore(backend: TestBackend): Promise<ToyStore> {
  const store = await backend.newStore();
  const root = store.root;
  const db = await store.open();
  const model = await db.getOrCreateModel("toy-8", { dimensions: D });
  const clusterIds: number[] = [];
  for (let k = 0; k < HEADS; k++) {
    clusterIds.push(
      await db.addCluster({
        answerText: `Answer ${k}`,
        answerRecordId: `r${k}`,
        modelId: model.model_id,
      }),
    );
  }
  return {
    store,
    root,
    db,
    modelId: model.model_id,
    clusterIds,
    centroids: vectors(HEADS, D, 1),
    answers: vectors(HEADS, D, 2),
  };
}

function newProjection(
  store: ToyStore,
  extra: { adapter?: Float32Array | null; blend?: number } = {},
) {
  return {
    modelId: store.modelId,
    temperature: TEMPERATURE,
    centroidMethod: "mean" as const,
    heads: store.clusterIds.map((clusterId, k) => ({
      clusterId,
      centroid: store.centroids[k] as Float32Array,
      answer: store.answers[k] as Float32Array,
      numQuestions: 2,
    })),
    ...extra,
  };
}

function readJson(store: ToyStore, relativePath: string): Record<string, unknown> {
  return JSON.parse(readFileSync(store.db.vectors.absolute(relativePath), "utf8"));
}

/** Runs a Python program with NumPy on a JSON input; its stdout parsed as JSON. */
function numpy(program: string, input: unknown): unknown {
  const run = spawnSync(PYTHON, ["-c", program], {
    input: JSON.stringify(input),
    encoding: "utf8",
  });
  if (run.error) {
    throw new Error(
      `cannot run ${PYTHON} (${run.error.message}); install python3 with NumPy (python3 -m pip install -r tools/requirements.txt) or set LDAKIT_PYTHON`,
    );
  }
  if (run.status !== 0) throw new Error(`${PYTHON} failed: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

/** The type each projection's blend is stored as, in id order, as the database names it. */
async function blendTypes(store: TestStore): Promise<string[]> {
  const rows = await store.query<{ type: string }>(
    store.backend === "sqlite"
      ? "select typeof(blend) AS type from multi_head_projections order by mh_projection_id"
      : "select CASE WHEN blend IS NULL THEN 'null' ELSE pg_typeof(blend)::text END AS type from multi_head_projections order by mh_projection_id",
  );
  return rows.map((r) => r.type);
}

/** What {@link blendTypes} says of a stored β: a float, never an integer or a decimal. */
function floatType(backend: TestBackend): string {
  return backend.name === "sqlite" ? "real" : "double precision";
}

/**
 * Opens a copy of the store whose files were copied to `copyRoot`. SQLite: the database file
 * travelled with the folder. PostgreSQL: the database is copied too (as a dump and restore would),
 * and the copy records its new store root, which is all a move changes since stored paths are
 * relative to the root.
 */
async function openCopy(store: TestStore, copyRoot: string): Promise<LDAProjectionDB> {
  if (store.backend === "sqlite") return LDAProjectionDB.open(join(copyRoot, "lda.db"));
  const original = decodeURIComponent(new URL(store.location).pathname.slice(1));
  const url = await createDatabase(inject("ldakitPostgresUrl"), { template: original });
  onTestFinished(() => dropDatabase(url));
  const copied = new pg.Client({ connectionString: url });
  await copied.connect();
  try {
    await copied.query("UPDATE store_settings SET value = $1 WHERE key = 'store_root'", [copyRoot]);
  } finally {
    await copied.end();
  }
  return LDAProjectionDB.open(url, { storeRoot: copyRoot });
}

describe.each(backends)("createProjection on $name with a query adapter and a blend", (backend) => {
  it("checks the adapter and the blend before anything is written", async () => {
    const store = await toyStore(backend);
    const zeros = new Float32Array(D * D);
    const nan = nonSymmetricAdapter(D);
    nan[2 * D + 3] = Number.NaN;
    const cases: Array<[object, StoreErrorCode, RegExp]> = [
      [
        { adapter: new Float32Array(D * D - 1) },
        "DIMENSION_MISMATCH",
        /adapter must hold d×d = 8×8 = 64 values for this model, not 63/,
      ],
      [
        { adapter: nan },
        "BAD_ARGUMENT",
        /adapter must be finite, but W\[2, 3\] \(value 19\) is NaN/,
      ],
      [
        { adapter: zeros },
        "BAD_ARGUMENT",
        /adapter is all zeros: it would map every query to nothing/,
      ],
      [{ adapter: [1, 2, 3] }, "BAD_ARGUMENT", /adapter must be a Float32Array of d×d values/],
      [{ blend: 1.5 }, "BAD_ARGUMENT", /blend must be a number from 0 to 1, not 1\.5/],
      [{ blend: -0.125 }, "BAD_ARGUMENT", /blend must be a number from 0 to 1, not -0\.125/],
      [{ blend: Number.NaN }, "BAD_ARGUMENT", /blend must be a number from 0 to 1, not NaN/],
      [{ blend: "0.5" }, "BAD_ARGUMENT", /blend must be a number from 0 to 1, not 0\.5/],
    ];
    for (const [extra, code, message] of cases) {
      await expectStoreError(
        store.db.createProjection({ ...newProjection(store), ...extra } as never),
        code,
        message,
      );
    }
    expect((await store.db.stats()).projections).toBe(0);
    expect(vectorFilesOnDisk(store.root)).toEqual([]);
    await store.db.close();
  });

  it("writes mh_<id>_W.npy as a C-order (d, d) '<f4' matrix that NumPy reads as W", async () => {
    const store = await toyStore(backend);
    const adapter = nonSymmetricAdapter(D);
    const mhId = await store.db.createProjection(newProjection(store, { adapter, blend: BLEND }));
    const w = `embeddings/toy-8/mh_${mhId}_W.npy`;
    expect(vectorFilesOnDisk(store.root)).toContain(w);
    const seen = numpy(
      `
import json, sys
import numpy as np
a = json.load(sys.stdin)
w = np.load(a["path"])
f = open(a["path"], "rb"); f.read(10); header = f.read(118).decode("latin1")
print(json.dumps({"dtype": w.dtype.str, "shape": list(w.shape),
  "fortran": bool(w.flags.f_contiguous and not w.flags.c_contiguous),
  "header_fortran": "'fortran_order': False" in header,
  "w": w.astype(np.float64).tolist(), "symmetric": bool(np.array_equal(w, w.T))}))
`,
      { path: store.db.vectors.absolute(w) },
    ) as {
      dtype: string;
      shape: number[];
      fortran: boolean;
      header_fortran: boolean;
      w: number[][];
      symmetric: boolean;
    };
    expect(seen).toMatchObject({
      dtype: "<f4",
      shape: [D, D],
      fortran: false,
      header_fortran: true,
      symmetric: false,
    });
    // element (i, j) of the array is adapter[i * d + j]
    for (let i = 0; i < D; i++) {
      for (let j = 0; j < D; j++) expect(seen.w[i]?.[j]).toBe(adapter[i * D + j]);
    }
    expect(readJson(store, `embeddings/toy-8/mh_${mhId}.json`)).toMatchObject({
      format: "ldakit.mh/2",
      adapter: `mh_${mhId}_W.npy`,
      blend: BLEND,
    });
    await store.db.close();
    // The peer reads β back as a number (node-postgres would hand a numeric over as text).
    expect(
      await store.store.query("select adapter_path, blend from multi_head_projections"),
    ).toEqual([{ adapter_path: w, blend: BLEND }]);
    expect(await blendTypes(store.store)).toEqual([floatType(backend)]);
    if (backend.name === "sqlite") {
      expect(
        sqlite3(
          store.store.location,
          "select adapter_path, blend, typeof(blend) from multi_head_projections",
        ),
      ).toBe(`${w}|${BLEND}|real`);
    }
  });

  it("writes mh_<id>.json by the edition rule, and records the row to match", async () => {
    const store = await toyStore(backend);
    const plain = await store.db.createProjection(newProjection(store));
    const blendOnly = await store.db.createProjection(newProjection(store, { blend: 0.5 }));
    const adapterOnly = await store.db.createProjection(
      newProjection(store, { adapter: nonSymmetricAdapter(D) }),
    );
    const explicitDefaults = await store.db.createProjection(
      newProjection(store, { adapter: null, blend: 1 }),
    );
    const direct = await store.db.createProjection(newProjection(store, { blend: 0 }));
    const meta = (id: number) => readJson(store, `embeddings/toy-8/mh_${id}.json`);

    // Neither: edition 1 without the two keys, so that readers of edition 1 keep reading it.
    expect(meta(plain).format).toBe("ldakit.mh/1");
    expect(Object.keys(meta(plain))).not.toContain("adapter");
    expect(Object.keys(meta(plain))).not.toContain("blend");
    expect(meta(explicitDefaults)).toEqual({ ...meta(plain), mh_projection_id: explicitDefaults });
    expect(meta(blendOnly)).toMatchObject({ format: "ldakit.mh/2", adapter: null, blend: 0.5 });
    expect(meta(adapterOnly)).toMatchObject({
      format: "ldakit.mh/2",
      adapter: `mh_${adapterOnly}_W.npy`,
      blend: 1,
    });
    expect(meta(direct)).toMatchObject({ format: "ldakit.mh/2", adapter: null, blend: 0 });
    const files = vectorFilesOnDisk(store.root).filter((f) => f.endsWith("_W.npy"));
    expect(files).toEqual([`embeddings/toy-8/mh_${adapterOnly}_W.npy`]);

    expect(
      await store.store.query(
        "select mh_projection_id, adapter_path, blend from multi_head_projections order by 1",
      ),
    ).toEqual([
      { mh_projection_id: plain, adapter_path: null, blend: null },
      { mh_projection_id: blendOnly, adapter_path: null, blend: 0.5 },
      {
        mh_projection_id: adapterOnly,
        adapter_path: `embeddings/toy-8/mh_${adapterOnly}_W.npy`,
        blend: null,
      },
      { mh_projection_id: explicitDefaults, adapter_path: null, blend: 1 },
      { mh_projection_id: direct, adapter_path: null, blend: 0 },
    ]);
    // 1 and 0 are stored as floating-point numbers, not as integers.
    expect(await blendTypes(store.store)).toEqual([
      "null",
      floatType(backend),
      "null",
      floatType(backend),
      floatType(backend),
    ]);
    if (backend.name === "sqlite") {
      expect(
        sqlite3(
          store.store.location,
          "select mh_projection_id, ifnull(adapter_path, '-'), ifnull(blend, '-') from multi_head_projections order by 1",
        ).split("\n"),
      ).toEqual([
        `${plain}|-|-`,
        `${blendOnly}|-|0.5`,
        `${adapterOnly}|embeddings/toy-8/mh_${adapterOnly}_W.npy|-`,
        `${explicitDefaults}|-|1.0`,
        `${direct}|-|0.0`,
      ]);
    }
    expect((await store.db.verify()).problems).toEqual([]);
    await store.db.close();
  });
});

/** The float64 NumPy computation of docs/FORMAT.md §6 with W and β, on the store's own files. */
const REFERENCE = `
import json, sys
import numpy as np
a = json.load(sys.stdin)
unit = lambda v: v / np.linalg.norm(v)
C = np.array([unit(np.load(p).astype(np.float64)) for p in a["centroids"]])
A = np.array([unit(np.load(p).astype(np.float64)) for p in a["answers"]])
W = np.load(a["adapter"]).astype(np.float64) if a["adapter"] else None
out = []
for q in a["queries"]:
    q = unit(np.array(q, dtype=np.float64))
    r = unit(W @ q) if W is not None else q
    logits = C @ r / a["temperature"]
    e = np.exp(logits - logits.max())
    w = e / e.sum()
    m = w @ A
    p = m / np.linalg.norm(m)
    beta = a["blend"]
    b = beta * p + (1 - beta) * q
    b = b / np.linalg.norm(b)
    out.append({"scores": (A @ b).tolist(), "weights": w.tolist()})
print(json.dumps(out))
`;

describe.each(backends)(
  "searching a projection on $name with a query adapter and a blend through the store",
  (backend) => {
    const queries = vectors(6, D, 7);

    async function adaptedStore() {
      const store = await toyStore(backend);
      const adapter = nonSymmetricAdapter(D);
      const mhId = await store.db.createProjection(newProjection(store, { adapter, blend: BLEND }));
      return { store, adapter, mhId };
    }

    it("equals Projection.fromArrays with the same arrays", async () => {
      const { store, adapter, mhId } = await adaptedStore();
      const loaded = await store.db.loadProjection(mhId);
      expect(loaded.blend).toBe(BLEND);
      expect(loaded.adapter).toEqual(adapter);
      const expected = Projection.fromArrays({
        mhProjectionId: mhId,
        model: "toy-8",
        temperature: TEMPERATURE,
        clusterIds: store.clusterIds,
        centroids: store.centroids,
        answers: store.answers,
        adapter: Array.from({ length: D }, (_, i) => adapter.subarray(i * D, (i + 1) * D)),
        blend: BLEND,
      });
      const withoutAdapter = Projection.fromArrays({
        mhProjectionId: mhId,
        model: "toy-8",
        temperature: TEMPERATURE,
        clusterIds: store.clusterIds,
        centroids: store.centroids,
        answers: store.answers,
      });
      let differs = 0;
      for (const q of queries) {
        const want = expected.search(q, { topK: HEADS, routingTop: HEADS });
        const got = await store.db.searchWithProjection(q, mhId, { topK: HEADS });
        expect(got.mhProjectionId).toBe(mhId);
        expect(got.adapterPath).toBe(`embeddings/toy-8/mh_${mhId}_W.npy`);
        expect(got.blend).toBe(BLEND);
        expect(got.results.map((h) => [h.clusterId, h.score])).toEqual(
          want.results.map((h) => [h.clusterId, h.score]),
        );
        expect(got.results.map((h) => h.answerText)).toEqual(
          want.results.map((h) => `Answer ${store.clusterIds.indexOf(h.clusterId)}`),
        );
        expect(got.routing).toEqual(
          want.routing.slice(0, got.routing.length).map((r) => ({
            clusterId: r.clusterId,
            weight: r.weight,
          })),
        );
        const plain = withoutAdapter.search(q, { topK: HEADS });
        if (JSON.stringify(plain.results) !== JSON.stringify(want.results)) differs++;
      }
      // The adapter and the blend change the answer: the store does not ignore them.
      expect(differs).toBeGreaterThan(0);
      await store.db.close();
    });

    it("agrees with a float64 NumPy computation of the math on the stored files", async () => {
      const { store, mhId } = await adaptedStore();
      const [row] = await store.store.query<{
        adapter_path: string;
        blend: number;
        temperature: number;
      }>("select adapter_path, blend, temperature from multi_head_projections");
      if (row === undefined) throw new Error("no projection row");
      const heads = await store.store.query<{ centroid_path: string; answer_emb_path: string }>(
        "select centroid_path, answer_emb_path from cluster_heads order by head_id",
      );
      expect(heads).toHaveLength(HEADS);
      const abs = (p: string) => store.db.vectors.absolute(p);
      const reference = numpy(REFERENCE, {
        centroids: heads.map((h) => abs(h.centroid_path)),
        answers: heads.map((h) => abs(h.answer_emb_path)),
        adapter: abs(row.adapter_path),
        blend: row.blend,
        temperature: row.temperature,
        queries: queries.map((q) => Array.from(q)),
      }) as Array<{ scores: number[]; weights: number[] }>;
      for (const [n, q] of queries.entries()) {
        const got = await store.db.searchWithProjection(q, mhId, { topK: HEADS });
        const want = reference[n] as { scores: number[]; weights: number[] };
        const ranked = store.clusterIds
          .map((clusterId, k) => ({ clusterId, score: want.scores[k] as number }))
          .sort((a, b) => b.score - a.score || a.clusterId - b.clusterId);
        expect(got.results.map((h) => h.clusterId)).toEqual(ranked.map((h) => h.clusterId));
        for (const [i, hit] of got.results.entries()) {
          expect(Math.abs(hit.score - (ranked[i]?.score as number))).toBeLessThan(1e-5);
        }
        for (const r of got.routing) {
          const k = store.clusterIds.indexOf(r.clusterId);
          expect(Math.abs(r.weight - (want.weights[k] as number))).toBeLessThan(1e-5);
        }
      }
      await store.db.close();
    });

    it("searches the same from a copy of the store in another folder", async () => {
      const { store, mhId } = await adaptedStore();
      const before = await Promise.all(
        queries.map((q) => store.db.searchWithProjection(q, mhId, { topK: HEADS })),
      );
      await store.db.close();
      const copy = join(tempDir("ldakit-adapter-copy-"), "moved");
      cpSync(store.root, copy, { recursive: true });
      // Nothing may still be read from the original folder.
      rmSync(store.root, { recursive: true });
      const moved = await openCopy(store.store, copy);
      expect(moved.root).toBe(copy);
      expect((await moved.verify()).problems).toEqual([]);
      const after = await Promise.all(
        queries.map((q) => moved.searchWithProjection(q, mhId, { topK: HEADS })),
      );
      expect(after).toEqual(before);
      await moved.close();
    });

    it("refuses a query that the adapter maps to nothing, saying so", async () => {
      const store = await toyStore(backend);
      // W has rank 1: it maps every query orthogonal to e0 to the zero vector.
      const rank1 = new Float32Array(D * D);
      rank1[0] = 1;
      const mhId = await store.db.createProjection(newProjection(store, { adapter: rank1 }));
      const query = new Float32Array(D);
      query[3] = 1;
      await expect(store.db.searchWithProjection(query, mhId)).rejects.toThrow(/adapter/);
      await store.db.close();
    });
  },
);
