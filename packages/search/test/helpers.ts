/** Shared test helpers: seeded random data, temporary folders, projection files. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { projectionMetaFormatFor } from "@ldakit/format";
import { encodeNpy, writeNpySync } from "@ldakit/npy";
import { afterAll, expect } from "vitest";

/** A seeded uniform generator in [0, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** rows × cols standard normal values (Box-Muller), row-major. */
export function randomMatrix(rows: number, cols: number, seed: number): Float64Array {
  const u = rng(seed);
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < out.length; i++) {
    const r = Math.sqrt(-2 * Math.log(1 - u()));
    out[i] = r * Math.cos(2 * Math.PI * u());
  }
  return out;
}

/** Distinct cluster ids in a scrambled order (head order is not id order). */
export function scrambledIds(n: number, seed: number): number[] {
  const ids = Array.from({ length: n }, (_, i) => i * 7 + 3);
  const u = rng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u() * (i + 1));
    [ids[i], ids[j]] = [ids[j] as number, ids[i] as number];
  }
  return ids;
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary folder, removed after the test file. */
export function tempDir(prefix = "ldakit-search-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** Writes an (n, d) matrix as an .npy file (float64, so the reference sees the exact values). */
export function saveMatrix(
  path: string,
  data: Float64Array | Float32Array,
  rows: number,
  cols: number,
) {
  writeNpySync(path, { data, shape: [rows, cols] });
  return path;
}

export type HeadDtype = "<f4" | "<f8" | ">f4" | ">f8";

export interface ProjectionFiles {
  mhProjectionId: number;
  model?: string;
  temperature: number;
  clusterIds: number[];
  dims: number;
  centroids: Float64Array;
  answers: Float64Array;
  dtype?: HeadDtype;
  /** W, d×d row-major: written as mh_<id>_W.npy and named in the json (edition 2). */
  adapter?: Float64Array;
  /** The dtype of the adapter file (default `<f4`, what ldakit writes). */
  adapterDtype?: HeadDtype;
  /** Write the adapter file in Fortran order (the same matrix, bytes by column). */
  adapterFortran?: boolean;
  /** β, written when given (edition 2 unless 1). */
  blend?: number;
  /** Fields to put in (or, when undefined, drop from) the json. */
  metaOverrides?: Record<string, unknown>;
}

/** Writes mh_<id>.json and the head files of a projection into `dir`. */
export function writeProjectionFiles(dir: string, p: ProjectionFiles): void {
  const dtype = p.dtype ?? "<f4";
  const meta: Record<string, unknown> = {
    format: projectionMetaFormatFor({ adapter: p.adapter, blend: p.blend }),
    mh_projection_id: p.mhProjectionId,
    model: p.model ?? "test-model",
    dimensions: p.dims,
    temperature: p.temperature,
    num_heads: p.clusterIds.length,
    cluster_ids: p.clusterIds,
  };
  if (p.adapter !== undefined) meta.adapter = `mh_${p.mhProjectionId}_W.npy`;
  if (p.blend !== undefined) meta.blend = p.blend;
  for (const [key, value] of Object.entries(p.metaOverrides ?? {})) {
    if (value === undefined) delete meta[key];
    else meta[key] = value;
  }
  writeFileSync(join(dir, `mh_${p.mhProjectionId}.json`), JSON.stringify(meta));
  const d = p.dims;
  if (p.adapter !== undefined) {
    const w = p.adapter;
    const adapterDtype = p.adapterDtype ?? "<f4";
    const values = p.adapterFortran
      ? Float64Array.from({ length: d * d }, (_, x) => w[(x % d) * d + Math.floor(x / d)] as number)
      : w;
    const data = adapterDtype.endsWith("f4")
      ? Float32Array.from(values)
      : Float64Array.from(values);
    writeFileSync(
      join(dir, `mh_${p.mhProjectionId}_W.npy`),
      encodeNpy({ data, dtype: adapterDtype, shape: [d, d], fortranOrder: !!p.adapterFortran }),
    );
  }
  p.clusterIds.forEach((cid, k) => {
    for (const [kind, m] of [
      ["centroid", p.centroids],
      ["answer", p.answers],
    ] as const) {
      const row = m.subarray(k * d, (k + 1) * d);
      const data = dtype.endsWith("f4") ? Float32Array.from(row) : Float64Array.from(row);
      writeFileSync(
        join(dir, `mh_${p.mhProjectionId}_cluster_${cid}_${kind}.npy`),
        encodeNpy({ data, dtype }),
      );
    }
  });
}

/** max |a[i] - b[i]| */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/**
 * Our ranking equals the reference's, except that two entries whose reference scores differ by
 * less than `tieTolerance` may swap (float32 rounding can order near-ties either way).
 */
export function expectSameRanking(
  ours: number[],
  reference: number[],
  referenceScoreOf: (clusterId: number) => number,
  tieTolerance = 1e-6,
): void {
  expect(ours.length).toBe(reference.length);
  for (let i = 0; i < ours.length; i++) {
    if (ours[i] !== reference[i]) {
      const gap = Math.abs(
        referenceScoreOf(ours[i] as number) - referenceScoreOf(reference[i] as number),
      );
      expect(gap, `rank ${i}: ${ours[i]} vs reference ${reference[i]}`).toBeLessThan(tieTolerance);
    }
  }
}
