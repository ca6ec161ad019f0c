import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHashEmbedder } from "@ldakit/embed";
import { LDAProjectionDB } from "@ldakit/store";
import { afterEach, expect, it } from "vitest";
import { trainProjection } from "../src/index.js";
import { backendUnderTest, describeOnBackend } from "./backends.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * 100 clusters of 6 questions drawn from overlapping word sets, embedded with hash-384: big
 * enough (600 × 384 questions, 100 heads) that TensorFlow splits its products and sums across
 * threads, where a reordered sum would show as different bytes.
 */
function clusters() {
  let s = 7;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const vocabulary = Array.from({ length: 300 }, (_, i) => `w${i.toString(36)}`);
  const pick = (words: string[]) => words[Math.floor(rand() * words.length)] as string;
  return Array.from({ length: 100 }, (_, k) => {
    const topic = Array.from({ length: 5 }, () => pick(vocabulary));
    const sentence = (n: number) =>
      Array.from({ length: n }, () => (rand() < 0.6 ? pick(topic) : pick(vocabulary))).join(" ");
    return {
      answer: sentence(14),
      answer_id: `answer-${k}`,
      questions: Array.from({ length: 6 }, () => sentence(6)),
    };
  });
}

async function trainedStore(data: unknown) {
  const root = mkdtempSync(join(tmpdir(), "ldakit-train-determinism-"));
  dirs.push(root);
  mkdirSync(join(root, "raw"));
  writeFileSync(join(root, "raw", "data.json"), JSON.stringify({ clusters: data }));
  const db = await LDAProjectionDB.open(join(root, "lda.db"));
  await db.scan(join(root, "raw"));
  await db.processPending({ embedder: createHashEmbedder(384) });
  const result = await trainProjection(db, {
    // One λ and target on 3 folds: the adapter is trained 3 times in the selection, then once.
    adapter: "linear",
    lambdas: [0.01],
    adapterTargets: ["answers"],
    folds: 3,
    adapterMaxSteps: 30,
    adapterBatchSize: 128,
    seed: 3,
  });
  const row = db.sqlite
    .prepare(
      "select temperature, centroid_method, recall_at_1, mrr, blend, selection, adapter_path from multi_head_projections where mh_projection_id = ?",
    )
    .get(result.mhProjectionId);
  await db.close();
  const folder = join(root, "embeddings", "hash-384");
  const files = Object.fromEntries(
    readdirSync(folder)
      .filter((f) => f.startsWith("mh_"))
      .sort()
      .map((f) => [f, readFileSync(join(folder, f))]),
  );
  const { seconds: _, ...rest } = result;
  return { result: rest, row, files };
}

describeOnBackend("a training run with the same seed", () => {
  it("writes the same bytes twice: head and adapter .npy files, metrics, the whole curve", async () => {
    const data = clusters();
    const first = await trainedStore(data);
    const second = await trainedStore(data);
    expect(first.result.backend.split(" ")[0]).toBe(
      backendUnderTest === "auto" ? first.result.backend.split(" ")[0] : backendUnderTest,
    );
    expect(first.result.adapter).toBe("linear");
    // 100 heads × (centroid + answer), W and mh_<id>.json.
    expect(Object.keys(first.files)).toHaveLength(2 * 100 + 2);
    expect(Object.keys(second.files)).toEqual(Object.keys(first.files));
    const differing = Object.keys(first.files).filter(
      (f) => !(first.files[f] as Buffer).equals(second.files[f] as Buffer),
    );
    expect(differing).toEqual([]);
    expect(second.row).toEqual(first.row);
    // toEqual would let -0 and 0 or 1e-17 apart pass as numbers; JSON text is exact for doubles.
    expect(JSON.stringify(second.result)).toBe(JSON.stringify(first.result));
  });
});
