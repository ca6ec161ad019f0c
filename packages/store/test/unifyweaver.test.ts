import { readdirSync } from "node:fs";
import { join } from "node:path";
import { createHashEmbedder } from "@ldakit/embed";
import { readNpyHeader } from "@ldakit/npy";
import { describe, expect, it } from "vitest";
import { LDAProjectionDB } from "../src/index.js";
import {
  copyRepositoryData,
  sqlite3,
  tempDir,
  unifyWeaverData,
  vectorFilesOnDisk,
} from "./helpers.js";

const UNIFYWEAVER = unifyWeaverData(
  "its end-to-end run is made on examples/bike-care with the not-qa test files instead",
);

interface Expected {
  completed: string[];
  failed: string[];
  clusters: number;
  questions: number;
}

/**
 * Imports every file of `input` with hash-384 and checks what a whole run must leave: the good
 * files completed, the others failed with validation messages, one vector file per question and
 * answer, a rescan that finds nothing, and a database the sqlite3 shell finds whole.
 */
async function importAll(input: string, want: Expected): Promise<void> {
  const root = tempDir();
  const dbPath = join(root, "lda.db");
  const db = await LDAProjectionDB.open(dbPath);
  const scan = await db.scan(input);
  expect(scan.new).toHaveLength(readdirSync(input).filter((f) => f.endsWith(".json")).length);
  expect(scan.new).toHaveLength(want.completed.length + want.failed.length);

  const result = await db.processPending({ embedder: createHashEmbedder(384) });
  const name = (p: string) => p.split("/").pop();
  expect(result.completed.map((o) => name(o.filePath)).sort()).toEqual(want.completed);
  expect(result.failed.map((o) => name(o.filePath)).sort()).toEqual(want.failed);
  for (const failure of result.failed) {
    // A validation message names the field, not a crash's stack.
    expect(failure.error).toMatch(/clusters/);
    expect(failure.error).not.toMatch(/TypeError|undefined/);
  }

  const vectors = want.questions + want.clusters;
  const stats = await db.stats();
  expect(stats).toMatchObject({
    clusters: want.clusters,
    questions: want.questions,
    embeddings: vectors,
  });
  expect(stats.batches).toMatchObject({
    completed: want.completed.length,
    failed: want.failed.length,
    pending: 0,
  });

  const files = vectorFilesOnDisk(root);
  expect(files).toHaveLength(vectors);
  expect(files.filter((f) => /^embeddings\/hash-384\/q_\d{3,}\.npy$/.test(f))).toHaveLength(
    want.questions,
  );
  expect(files.filter((f) => /^embeddings\/hash-384\/a_\d{3,}\.npy$/.test(f))).toHaveLength(
    want.clusters,
  );
  const header = await readNpyHeader(join(root, files[0] as string));
  expect([header.dtype, header.shape]).toEqual(["<f4", [384]]);

  const again = await db.scan(input);
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
}

describe("end to end on the repository's data", () => {
  it("imports the example's three files with hash-384 and fails the two of other shapes with validation messages", async () => {
    const input = tempDir("ldakit-store-input-");
    copyRepositoryData(input);
    await importAll(input, {
      completed: ["gear.json", "maintenance.json", "riding.json"],
      failed: ["relations.json", "topics.json"],
      clusters: 28,
      questions: 224,
    });
  });
});

describe.skipIf(!UNIFYWEAVER)(
  "end to end on the UnifyWeaver data (LDAKIT_UNIFYWEAVER_DATA)",
  () => {
    it("imports the five good files with hash-384 and fails the two others with validation messages", async () => {
      await importAll(UNIFYWEAVER as string, {
        completed: [
          "qa_pairs_v1.json",
          "qa_pairs_v2.json",
          "qa_pairs_v3.json",
          "qa_pairs_v4.json",
          "qa_pairs_v5.json",
        ],
        failed: ["relations.json", "smoothing_test_data.json"],
        clusters: 30,
        questions: 240,
      });
    });
  },
);
