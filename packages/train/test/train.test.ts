import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHashEmbedder } from "@ldakit/embed";
import { readNpySync } from "@ldakit/npy";
import { LDAProjectionDB } from "@ldakit/store";
import { afterEach, describe, expect, it } from "vitest";
import { trainProjection } from "../src/index.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const topics = [
  "tea",
  "coffee",
  "bread",
  "soup",
  "rice",
  "pasta",
  "salad",
  "cake",
  "jam",
  "pickles",
];

async function storeWithClusters() {
  const root = mkdtempSync(join(tmpdir(), "ldakit-train-"));
  dirs.push(root);
  const raw = join(root, "raw");
  const clusters = topics.map((t, i) => ({
    answer: `How to make ${t}: prepare the ${t} ingredients, cook the ${t} gently, serve the ${t} warm.`,
    answer_id: `recipe-${i}`,
    questions: [
      `how do I make ${t}`,
      `${t} recipe please`,
      `best way to cook ${t} at home`,
      `making ${t} for dinner tonight`,
      `${t} steps`,
    ],
  }));
  const { mkdirSync } = await import("node:fs");
  mkdirSync(raw);
  writeFileSync(join(raw, "recipes.json"), JSON.stringify({ clusters }));
  const db = await LDAProjectionDB.open(join(root, "lda.db"));
  await db.scan(raw);
  await db.processPending({ embedder: createHashEmbedder(64) });
  return { db, root };
}

describe("trainProjection", () => {
  it("writes a new projection: rows, head files and mh_<id>.json, with held-out metrics", async () => {
    const { db, root } = await storeWithClusters();
    const result = await trainProjection(db, { temperature: "auto", folds: 5 });
    expect(result.numHeads).toBe(10);
    expect(result.numQuestions).toBe(50);
    expect(result.curve.map((p) => p.temperature)).toEqual([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1]);
    const best = Math.max(...result.curve.map((p) => p.mrr));
    expect(result.heldOut.mrr).toBe(best);
    expect(result.heldOut.queries).toBe(50);

    const row = db.sqlite
      .prepare("select * from multi_head_projections where mh_projection_id = ?")
      .get(result.mhProjectionId) as Record<string, unknown>;
    expect(row).toMatchObject({
      num_heads: 10,
      temperature: result.temperature,
      centroid_method: "weighted",
      recall_at_1: result.heldOut.recallAt1,
      mrr: result.heldOut.mrr,
    });
    const heads = db.sqlite
      .prepare("select * from cluster_heads where mh_projection_id = ? order by cluster_id")
      .all(result.mhProjectionId) as Array<Record<string, string | number>>;
    expect(heads).toHaveLength(10);
    expect(heads[0]?.centroid_path).toBe(
      `embeddings/hash-64/mh_${result.mhProjectionId}_cluster_${heads[0]?.cluster_id}_centroid.npy`,
    );
    expect(heads.every((h) => h.num_questions === 5)).toBe(true);

    const meta = JSON.parse(
      readFileSync(join(root, "embeddings", "hash-64", `mh_${result.mhProjectionId}.json`), "utf8"),
    );
    expect(meta).toEqual({
      format: "ldakit.mh/1",
      mh_projection_id: result.mhProjectionId,
      model: "hash-64",
      dimensions: 64,
      temperature: result.temperature,
      num_heads: 10,
      cluster_ids: heads.map((h) => h.cluster_id),
    });
    const centroid = readNpySync(join(root, heads[0]?.centroid_path as string));
    expect([centroid.dtype, centroid.shape]).toEqual(["<f4", [64]]);
    expect(Math.hypot(...(centroid.data as Float32Array))).toBeCloseTo(1, 5);

    // Another run makes another projection and leaves the first alone.
    const second = await trainProjection(db, {
      temperature: 0.1,
      centroid: "mean",
      name: "mean-0.1",
    });
    expect(second.mhProjectionId).toBe(result.mhProjectionId + 1);
    expect(second.curve.map((p) => p.temperature)).toEqual([0.1]);
    const files = readdirSync(join(root, "embeddings", "hash-64")).filter((f) =>
      f.startsWith("mh_"),
    );
    expect(files).toHaveLength(2 * (10 * 2 + 1));
    await db.close();
    // The sqlite3 shell, a real peer, finds the file whole, no dangling keys, both projections.
    const shell = spawnSync(
      "sqlite3",
      [
        join(root, "lda.db"),
        "PRAGMA integrity_check; PRAGMA foreign_key_check; " +
          "SELECT count(*) FROM multi_head_projections; SELECT count(*) FROM cluster_heads;",
      ],
      { encoding: "utf8" },
    );
    expect(shell.error?.message, "the sqlite3 shell must run (apt-get install sqlite3)").toBe(
      undefined,
    );
    expect(shell.status, shell.stderr).toBe(0);
    expect(shell.stderr).toBe("");
    expect(shell.stdout.trim().split("\n")).toEqual(["ok", "2", "20"]);
  });

  it("explains what is missing instead of training on nothing", async () => {
    const root = mkdtempSync(join(tmpdir(), "ldakit-train-"));
    dirs.push(root);
    const db = await LDAProjectionDB.open(join(root, "lda.db"));
    await expect(trainProjection(db)).rejects.toThrow(
      /no embedded clusters yet; run `ldakit migrate/,
    );
    await expect(trainProjection(db, { model: "all-MiniLM-L6-v2" })).rejects.toThrow(
      /no vectors for model "all-MiniLM-L6-v2"/,
    );
    await db.close();
  });

  it("refuses a temperature that is not a positive number", async () => {
    const { db } = await storeWithClusters();
    await expect(trainProjection(db, { temperature: 0 })).rejects.toThrow(/positive number/);
    await db.close();
  });
});
