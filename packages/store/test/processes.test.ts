import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createHashEmbedder } from "@ldakit/embed";
import { describe, expect, it } from "vitest";
import { LDAProjectionDB } from "../src/index.js";
import { formA, tempDir, vectorFilesOnDisk, writeFiles } from "./helpers.js";

const WORKER = join(import.meta.dirname, "workers", "process.mjs");

interface WorkerEvent {
  event: "progress" | "result";
  batchId?: number;
  phase?: string;
  done?: number;
  completed?: number[];
  failed?: number[];
}

function startWorker(dbPath: string, delayMs: number, chunkSize: number) {
  const child = spawn(process.execPath, [WORKER, dbPath, String(delayMs), String(chunkSize)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const events: WorkerEvent[] = [];
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const listeners: Array<(e: WorkerEvent) => void> = [];
  lines.on("line", (line) => {
    const event = JSON.parse(line) as WorkerEvent;
    events.push(event);
    for (const l of listeners) l(event);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    events,
    exited,
    stderr: () => stderr,
    waitFor: (predicate: (e: WorkerEvent) => boolean) =>
      new Promise<WorkerEvent>((resolve, reject) => {
        listeners.push((e) => predicate(e) && resolve(e));
        child.on("exit", () =>
          reject(new Error(`worker exited before the awaited event; stderr: ${stderr}`)),
        );
      }),
  };
}

async function setUp(files: number, clusters: number, questions: number) {
  const root = tempDir();
  const dbPath = join(root, "store", "lda.db");
  const input = join(root, "raw");
  writeFiles(
    input,
    Object.fromEntries(
      Array.from({ length: files }, (_, i) => [
        `f${String(i).padStart(2, "0")}.json`,
        formA(clusters, questions, `f${i}`),
      ]),
    ),
  );
  const db = await LDAProjectionDB.open(dbPath);
  await db.scan(input);
  return { dbPath, db };
}

function kill(child: ChildProcess): void {
  child.kill("SIGKILL");
}

describe("process-pending across processes", () => {
  it("finishes exactly once a batch whose process was killed with SIGKILL while embedding", async () => {
    const { dbPath, db } = await setUp(3, 4, 10);
    const worker = startWorker(dbPath, 150, 8);
    await worker.waitFor(
      (e) => e.event === "progress" && e.phase === "embedding" && (e.done ?? 0) >= 16,
    );
    kill(worker.child);
    expect((await worker.exited).signal).toBe("SIGKILL");

    const [stuck] = await db.listBatches({ status: "embedding" });
    expect(stuck).toBeDefined();
    expect(stuck?.claimed_by).toMatch(/:\d+:/);
    const half = (await db.stats()).embeddings;
    expect(half).toBeGreaterThan(0);

    const result = await db.processPending({ embedder: createHashEmbedder(32) });
    expect(result.completed.map((o) => o.batchId).sort()).toEqual([1, 2, 3]);
    const stats = await db.stats();
    expect(stats).toMatchObject({ clusters: 12, questions: 120, embeddings: 132 });
    expect(stats.batches.completed).toBe(3);
    const rows = db.sqlite
      .prepare("select vector_path from embeddings order by vector_path")
      .pluck()
      .all();
    expect(vectorFilesOnDisk(db.root)).toEqual(rows); // no orphan or temporary files
    const history = await db.batchHistory(stuck?.batch_id as number);
    expect(history.filter((h) => h.new_status === "completed")).toHaveLength(1);
    expect(history.map((h) => h.new_status)).toEqual([
      "pending",
      "importing",
      "embedding",
      "pending",
      "importing",
      "embedding",
      "completed",
    ]);
    expect(history[3]?.message).toMatch(/reclaimed from .*stopped while embedding/);
    await db.close();
  });

  it("never lets two concurrent runs process the same batch", async () => {
    const { dbPath, db } = await setUp(12, 3, 6);
    const workers = [startWorker(dbPath, 20, 4), startWorker(dbPath, 20, 4)];
    const exits = await Promise.all(workers.map((w) => w.exited));
    expect(
      exits.map((e) => e.code),
      workers.map((w) => w.stderr()).join("\n"),
    ).toEqual([0, 0]);
    const results = workers.map((w) => w.events.find((e) => e.event === "result") as WorkerEvent);
    const [a, b] = results.map((r) => r.completed ?? []);
    expect(results.flatMap((r) => r.failed ?? [])).toEqual([]);
    expect([...(a ?? []), ...(b ?? [])].sort((x, y) => x - y)).toEqual(
      Array.from({ length: 12 }, (_, i) => i + 1),
    );
    expect((a ?? []).filter((id) => (b ?? []).includes(id))).toEqual([]);
    expect(a?.length, "both runs took batches").toBeGreaterThan(0);
    expect(b?.length, "both runs took batches").toBeGreaterThan(0);
    for (let id = 1; id <= 12; id++) {
      const claims = (await db.batchHistory(id)).filter((h) => h.new_status === "importing");
      expect(claims).toHaveLength(1);
    }
    expect(await db.stats()).toMatchObject({ clusters: 36, questions: 216, embeddings: 252 });
    await db.close();
  });
});
