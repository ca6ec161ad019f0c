import { readdirSync } from "node:fs";
import { join } from "node:path";
import { createHashEmbedder } from "@ldakit/embed";
import { readNpyHeader } from "@ldakit/npy";
import { describe, expect, it } from "vitest";
import { LDAProjectionDB } from "../src/index.js";
import { SHARED_DATA, sqlite3, tempDir, vectorFilesOnDisk } from "./helpers.js";

describe("end to end on the UnifyWeaver data", () => {
  it("imports the five good files with hash-384 and fails the two others with validation messages", async () => {
    const root = tempDir();
    const dbPath = join(root, "lda.db");
    const db = await LDAProjectionDB.open(dbPath);
    const scan = await db.scan(SHARED_DATA);
    expect(scan.new).toHaveLength(
      readdirSync(SHARED_DATA).filter((f) => f.endsWith(".json")).length,
    );

    const result = await db.processPending({ embedder: createHashEmbedder(384) });
    const name = (p: string) => p.split("/").pop();
    expect(result.completed.map((o) => name(o.filePath)).sort()).toEqual([
      "qa_pairs_v1.json",
      "qa_pairs_v2.json",
      "qa_pairs_v3.json",
      "qa_pairs_v4.json",
      "qa_pairs_v5.json",
    ]);
    expect(result.failed.map((o) => name(o.filePath)).sort()).toEqual([
      "relations.json",
      "smoothing_test_data.json",
    ]);
    for (const failure of result.failed) {
      // A validation message names the field, not a crash's stack.
      expect(failure.error).toMatch(/clusters/);
      expect(failure.error).not.toMatch(/TypeError|undefined/);
    }

    const stats = await db.stats();
    expect(stats).toMatchObject({ clusters: 30, questions: 240, embeddings: 270 });
    expect(stats.batches).toMatchObject({ completed: 5, failed: 2, pending: 0 });

    const files = vectorFilesOnDisk(root);
    expect(files).toHaveLength(270);
    expect(files.filter((f) => /^embeddings\/hash-384\/q_\d{3,}\.npy$/.test(f))).toHaveLength(240);
    expect(files.filter((f) => /^embeddings\/hash-384\/a_\d{3,}\.npy$/.test(f))).toHaveLength(30);
    const header = await readNpyHeader(join(root, files[0] as string));
    expect([header.dtype, header.shape]).toEqual(["<f4", [384]]);

    const again = await db.scan(SHARED_DATA);
    expect([again.new.length, again.modified.length]).toEqual([0, 0]);
    await db.close();

    const tables = sqlite3(dbPath, ".tables").split(/\s+/);
    for (const table of [
      "models",
      "clusters",
      "questions",
      "embeddings",
      "multi_head_projections",
      "cluster_heads",
      "training_batches",
      "batch_status_history",
    ]) {
      expect(tables).toContain(table);
    }
    expect(sqlite3(dbPath, "PRAGMA integrity_check; PRAGMA foreign_key_check;")).toBe("ok");
  });
});
