// A projection with a query adapter W and a blend β, as training will record them: the CLI's
// search, stats and verify report them (snake_case `adapter_path`, `blend`) and rank as the API does.
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHashEmbedder } from "@ldakit/embed";
import { LDAProjectionDB } from "@ldakit/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appliancesFolder } from "./appliances.js";

const CLI = join(import.meta.dirname, "..", "dist", "main.js");
const D = 32;
const BLEND = 0.625;

let cwd: string;
function ldakit(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A non-symmetric adapter near the identity, row-major: W[i, j] = δ_ij + (i − 2j)/(2d). */
function nonSymmetricAdapter(d: number): Float32Array {
  const w = new Float32Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) w[i * d + j] = (i === j ? 1 : 0) + (i - 2 * j) / (2 * d);
  }
  return w;
}

let plainId: number;
let adaptedId: number;

beforeAll(async () => {
  cwd = appliancesFolder("ldakit-cli-adapter-");
  const built = ldakit([
    "migrate",
    "--scan",
    "--input",
    "raw",
    "--process-pending",
    "--model",
    "hash-32",
  ]);
  expect(built.code, built.stderr).toBe(0);
  const db = await LDAProjectionDB.open(join(cwd, "lda.db"));
  try {
    const set = await db.loadTrainingSet("hash-32");
    const heads = set.clusters.map((cluster, k) => ({
      clusterId: cluster.clusterId,
      centroid: set.questions.slice(
        set.questionCluster.indexOf(k) * D,
        (set.questionCluster.indexOf(k) + 1) * D,
      ),
      answer: set.answers.slice(k * D, (k + 1) * D),
      numQuestions: cluster.numQuestions,
    }));
    const base = { modelId: set.modelId, temperature: 0.1, centroidMethod: "mean" as const };
    plainId = await db.createProjection({ ...base, heads });
    adaptedId = await db.createProjection({
      ...base,
      heads,
      adapter: nonSymmetricAdapter(D),
      blend: BLEND,
    });
  } finally {
    await db.close();
  }
});
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

const W_PATH = () => `embeddings/hash-32/mh_${adaptedId}_W.npy`;

describe("a projection with a query adapter and a blend", () => {
  it("search --json reports adapter_path and blend, and ranks as the store's API", async () => {
    const query = "how do I clean my toaster?";
    const r = ldakit(["--json", "search", query, "--mh-id", String(adaptedId), "--top-k", "4"]);
    expect(r.code, r.stderr).toBe(0);
    const cli = JSON.parse(r.stdout);
    const db = await LDAProjectionDB.open(join(cwd, "lda.db"));
    try {
      const [vector] = await createHashEmbedder(D).embed([query]);
      const api = await db.searchWithProjection(vector as Float32Array, adaptedId, { topK: 4 });
      expect(cli).toEqual({
        query,
        model: "hash-32",
        direct: false,
        mh_projection_id: adaptedId,
        adapter_path: W_PATH(),
        blend: BLEND,
        results: api.results.map((h) => ({
          cluster_id: h.clusterId,
          answer_record_id: h.answerRecordId,
          answer_text: h.answerText,
          score: h.score,
        })),
        routing: api.routing.map((x) => ({ cluster_id: x.clusterId, weight: x.weight })),
      });
      const plain = await db.searchWithProjection(vector as Float32Array, plainId, { topK: 4 });
      expect(plain.results.map((h) => h.score)).not.toEqual(api.results.map((h) => h.score));
    } finally {
      await db.close();
    }
    const text = ldakit(["search", query, "--mh-id", String(adaptedId)]);
    expect(text.stdout.split("\n")[0]).toBe(
      `projection ${adaptedId} (hash-32, adapter ${W_PATH()}, blend β = ${BLEND}): "${query}"`,
    );
    const direct = JSON.parse(
      ldakit(["--json", "search", query, "--mh-id", String(adaptedId), "--direct"]).stdout,
    );
    expect(direct).toMatchObject({ direct: true, adapter_path: null, blend: null });
  });

  it("stats shows which projections have an adapter, and their β", () => {
    const json = JSON.parse(ldakit(["--json", "stats"]).stdout);
    expect(
      json.projection_list.map((p: Record<string, unknown>) => [p.id, p.adapter_path, p.blend]),
    ).toEqual([
      [plainId, null, 1],
      [adaptedId, W_PATH(), BLEND],
    ]);
    const lines = ldakit(["stats"]).stdout.split("\n");
    const header = lines.find((l) => l.startsWith("projection"));
    expect(header).toMatch(/\badapter\s+blend\b/);
    const row = (id: number) => lines.find((l) => l.startsWith(`${id} `)) ?? "";
    expect(row(plainId)).toMatch(/\sno\s+1\s/);
    expect(row(adaptedId)).toMatch(new RegExp(`\\syes\\s+${BLEND}\\s`));
  });

  it("verify checks the adapter file", () => {
    expect(ldakit(["verify"])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^ok: /) });
    const w = join(cwd, ...W_PATH().split("/"));
    const saved = readFileSync(w);
    try {
      writeFileSync(w, "not an npy file");
      const bad = ldakit(["verify", "--mh-id", String(adaptedId)]);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(
        new RegExp(
          `^${W_PATH()}: not a valid NPY file \\(BAD_MAGIC\\): .*\\(query adapter of projection ${adaptedId}\\)\\n$`,
        ),
      );
    } finally {
      writeFileSync(w, saved);
    }
    expect(ldakit(["verify"]).code).toBe(0);
  });
});
