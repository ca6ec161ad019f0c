import { readdirSync } from "node:fs";
import { join } from "node:path";
import { createHashEmbedder } from "@ldakit/embed";
import { readNpyHeader } from "@ldakit/npy";
import { describe, expect, it } from "vitest";
import { backends, type TestStore } from "./backends.js";
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

/** The tables a store has, as a peer sees them. */
const STORE_TABLES = [
  "models",
  "clusters",
  "questions",
  "embeddings",
  "multi_head_projections",
  "cluster_heads",
  "training_batches",
  "batch_status_history",
];

/**
 * Imports every file of `input` with hash-384 and checks what a whole run must leave: the good
 * files completed, the others failed with validation messages, one vector file per question and
 * answer, a rescan that finds nothing, and a database its own tools find whole.
 */
async function importAll(store: TestStore, input: string, want: Expected): Promise<void> {
  const { root } = store;
  const db = await store.open();
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

  if (store.backend === "sqlite") {
    const tables = sqlite3(store.location, ".tables").split(/\s+/);
    for (const table of STORE_TABLES) expect(tables).toContain(table);
    expect(sqlite3(store.location, "PRAGMA integrity_check; PRAGMA foreign_key_check;")).toBe("ok");
  } else {
    // PostgreSQL checks foreign keys on every write; a peer counts what the store says it holds.
    const tables = await store.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()",
    );
    expect(tables.map((t) => t.table_name)).toEqual(expect.arrayContaining(STORE_TABLES));
    const [counts] = await store.query(
      `SELECT (SELECT CAST(count(*) AS INTEGER) FROM clusters) AS clusters,
              (SELECT CAST(count(*) AS INTEGER) FROM questions) AS questions,
              (SELECT CAST(count(*) AS INTEGER) FROM embeddings) AS embeddings`,
    );
    expect(counts).toEqual({
      clusters: want.clusters,
      questions: want.questions,
      embeddings: vectors,
    });
  }
}

describe.each(backends)("end to end on the repository's data ($name)", (backend) => {
  it("imports the example's three files with hash-384 and fails the two of other shapes with validation messages", async () => {
    const input = tempDir("ldakit-store-input-");
    copyRepositoryData(input);
    await importAll(await backend.newStore(), input, {
      completed: ["gear.json", "maintenance.json", "riding.json"],
      failed: ["relations.json", "topics.json"],
      clusters: 28,
      questions: 224,
    });
  });
});

describe.skipIf(!UNIFYWEAVER).each(backends)(
  "end to end on the UnifyWeaver data (LDAKIT_UNIFYWEAVER_DATA, $name)",
  (backend) => {
    it("imports the five good files with hash-384 and fails the two others with validation messages", async () => {
      await importAll(await backend.newStore(), UNIFYWEAVER as string, {
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
