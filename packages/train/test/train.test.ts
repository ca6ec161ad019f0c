import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHashEmbedder } from "@ldakit/embed";
import { readNpySync } from "@ldakit/npy";
import { LDAProjectionDB } from "@ldakit/store";
import { afterEach, expect, it } from "vitest";
import { pickChoice, selectionRecord, trainProjection } from "../src/index.js";
import { backendUnderTest, describeOnBackend, tfUnderTest } from "./backends.js";

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

describeOnBackend("trainProjection", () => {
  it("writes a new projection: rows, head files and mh_<id>.json, with held-out metrics", async () => {
    const { db, root } = await storeWithClusters();
    const result = await trainProjection(db, {
      temperature: "auto",
      folds: 5,
      adapter: "none",
      blend: 1,
    });
    if (backendUnderTest !== "auto") expect(result.backend.split(" ")[0]).toBe(backendUnderTest);
    expect(result.numHeads).toBe(10);
    expect(result.numQuestions).toBe(50);
    expect(result.curve.map((p) => p.temperature)).toEqual([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1]);
    expect(result.curve.every((p) => p.adapter === "none" && p.blend === 1)).toBe(true);
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
      adapter_path: null,
      blend: 1,
    });
    expect(JSON.parse(row.selection as string)).toEqual(selectionRecord(result.selection));
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
      adapter: "none",
      blend: 1,
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

  it("chooses adapter, λ, target, τ and β on held-out questions and records the choice", async () => {
    const { db, root } = await storeWithClusters();
    const tf = await tfUnderTest();
    const result = await trainProjection(db, { adapterMaxSteps: 40, adapterBatchSize: 16 });
    // none × 7 τ × 5 β, then linear × 2 targets × 2 λ × 7 τ × 5 β.
    expect(result.curve).toHaveLength(35 + 4 * 35);
    expect(new Set(result.curve.map((p) => p.blend))).toEqual(new Set([1, 0.75, 0.5, 0.25, 0]));
    expect(new Set(result.curve.map((p) => `${p.adapter} ${p.lambda} ${p.target}`))).toEqual(
      new Set([
        "none null null",
        "linear 0.1 centroids",
        "linear 0.01 centroids",
        "linear 0.1 answers",
        "linear 0.01 answers",
      ]),
    );
    const chosen = pickChoice(result.curve);
    expect(result.heldOut.mrr).toBe(Math.max(...result.curve.map((p) => p.mrr)));
    expect([result.temperature, result.blend, result.heldOut.mrr]).toEqual([
      chosen.temperature,
      chosen.blend,
      chosen.mrr,
    ]);
    // β = 0 is direct search: its held-out figures are direct's, on the same questions.
    const directPoint = result.curve.find((p) => p.adapter === "none" && p.blend === 0);
    expect(directPoint?.mrr).toBeCloseTo(result.direct.mrr, 12);
    expect(result.selection).toMatchObject({
      adapter: result.adapter,
      temperature: result.temperature,
      blend: result.blend,
      folds: 5,
      heldOut: result.heldOut,
      direct: result.direct,
    });
    const row = db.sqlite
      .prepare("select adapter_path, blend, selection from multi_head_projections")
      .get() as { adapter_path: string | null; blend: number; selection: string };
    expect(JSON.parse(row.selection)).toEqual({
      adapter: result.selection.adapter,
      lambda: result.selection.lambda,
      target: result.selection.target,
      steps: result.selection.steps,
      temperature: result.temperature,
      blend: result.blend,
      folds: 5,
      held_out: {
        recall_at_1: result.heldOut.recallAt1,
        recall_at_5: result.heldOut.recallAt5,
        mrr: result.heldOut.mrr,
        queries: result.heldOut.queries,
      },
      direct: {
        recall_at_1: result.direct.recallAt1,
        recall_at_5: result.direct.recallAt5,
        mrr: result.direct.mrr,
        queries: result.direct.queries,
      },
      adapter_fallback: null,
    });
    expect(row.blend).toBe(result.blend);
    expect(row.adapter_path === null).toBe(result.adapter === "none");

    // Forced: a linear adapter trained with a fixed seed writes the same W bytes again.
    const before = tf.memory();
    const forced: number[] = [];
    for (let run = 0; run < 2; run++) {
      const linear = await trainProjection(db, {
        adapter: "linear",
        blend: 0.5,
        temperature: 0.05,
        lambdas: [0.01],
        adapterTargets: ["centroids"],
        adapterMaxSteps: 30,
        adapterBatchSize: 16,
      });
      expect(linear.adapter).toBe("linear");
      expect(linear.blend).toBe(0.5);
      expect(linear.selection.steps).toBeGreaterThan(0);
      forced.push(linear.mhProjectionId);
    }
    const after = tf.memory();
    expect([after.numTensors, after.numBytes]).toEqual([before.numTensors, before.numBytes]);
    const paths = forced.map(
      (id) =>
        (
          db.sqlite
            .prepare("select adapter_path from multi_head_projections where mh_projection_id = ?")
            .get(id) as { adapter_path: string }
        ).adapter_path,
    );
    const bytes = paths.map((p) => readFileSync(join(root, p)));
    expect(bytes[0]?.equals(bytes[1] as Buffer)).toBe(true);
    const w = readNpySync(join(root, paths[0] as string));
    expect([w.dtype, w.shape]).toEqual(["<f4", [64, 64]]);
    const [query] = await createHashEmbedder(64).embed(["how do I make soup"]);
    const search = await db.searchWithProjection(query as Float32Array, forced[0] as number);
    expect(search.results[0]?.answerRecordId).toBe("recipe-3");
    await db.close();
  });

  it("falls back to no adapter, and says why, when clusters have one question each", async () => {
    const root = mkdtempSync(join(tmpdir(), "ldakit-train-"));
    dirs.push(root);
    const raw = join(root, "raw");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(raw);
    const clusters = topics.map((t, i) => ({
      answer: `How to make ${t}: cook the ${t}.`,
      answer_id: `recipe-${i}`,
      questions: [`how do I make ${t}`],
    }));
    writeFileSync(join(raw, "recipes.json"), JSON.stringify({ clusters }));
    const db = await LDAProjectionDB.open(join(root, "lda.db"));
    await db.scan(raw);
    await db.processPending({ embedder: createHashEmbedder(64) });
    const messages: string[] = [];
    const result = await trainProjection(db, {
      adapter: "linear",
      onProgress: (m) => messages.push(m),
    });
    expect(result.adapter).toBe("none");
    expect(result.selection.adapterFallback).toBe(
      "every cluster has a single question: none can be held out to choose an adapter",
    );
    expect(messages).toContain(
      "no adapter: every cluster has a single question: none can be held out to choose an adapter",
    );
    await db.close();
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

  it("refuses a temperature that is not a positive number, and a selection that is not a JSON object", async () => {
    const { db } = await storeWithClusters();
    await expect(trainProjection(db, { temperature: 0 })).rejects.toThrow(/positive number/);
    await expect(trainProjection(db, { blend: 2 })).rejects.toThrow(
      /blend must be a number from 0 to 1, not 2/,
    );
    const [model] = await db.listModels();
    const head = new Float32Array(64).fill(1);
    const projection = (selection: string) => ({
      modelId: (model as { model_id: number }).model_id,
      temperature: 0.1,
      centroidMethod: "mean" as const,
      selection,
      heads: [{ clusterId: 1, centroid: head, answer: head, numQuestions: 1 }],
    });
    await expect(async () => db.createProjection(projection("adapter: none"))).rejects.toThrow(
      /selection must be the JSON text of an object: /,
    );
    await expect(async () => db.createProjection(projection("[1]"))).rejects.toThrow(
      /selection must be the JSON text of an object, or null/,
    );
    await db.close();
  });
});
