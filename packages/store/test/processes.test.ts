import { createHashEmbedder } from "@ldakit/embed";
import { describe, expect, it } from "vitest";
import { backends } from "./backends.js";
import { vectorFilesOnDisk } from "./helpers.js";
import {
  contentOf,
  inputFolder,
  startWorker,
  statusesOf,
  type WorkerEvent,
} from "./worker-processes.js";

describe.each(backends)("process-pending across processes ($name)", (backend) => {
  it("finishes exactly once a batch whose process was killed with SIGKILL while embedding", async () => {
    const store = await backend.newStore();
    const db = await store.open();
    await db.scan(inputFolder(3, 4, 10));
    const worker = startWorker(store, { delayMs: 150, chunkSize: 8 });
    await worker.waitFor(
      (e) => e.event === "progress" && e.phase === "embedding" && (e.done ?? 0) >= 16,
    );
    worker.child.kill("SIGKILL");
    expect((await worker.exited).signal).toBe("SIGKILL");

    const [stuck] = await db.listBatches({ status: "embedding" });
    expect(stuck).toBeDefined();
    expect(stuck?.claimed_by).toMatch(/:\d+:/);
    // The lease is far away (5 min by default): only the dead pid of this machine frees it now.
    expect(Date.parse(stuck?.lease_expires_at ?? "")).toBeGreaterThan(Date.now() + 60_000);
    const half = (await db.stats()).embeddings;
    expect(half).toBeGreaterThan(0);

    const result = await db.processPending({ embedder: createHashEmbedder(32) });
    expect(result.completed.map((o) => o.batchId).sort()).toEqual([1, 2, 3]);
    const stats = await db.stats();
    expect(stats).toMatchObject({ clusters: 12, questions: 120, embeddings: 132 });
    expect(stats.batches.completed).toBe(3);
    const rows = (
      await db.kysely
        .selectFrom("embeddings")
        .select("vector_path")
        .orderBy("vector_path")
        .execute()
    ).map((r) => r.vector_path);
    expect(vectorFilesOnDisk(db.root)).toEqual(rows); // no orphan or temporary files
    const history = await db.batchHistory(stuck?.batch_id as number);
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
    // A batch nobody owns holds no lease.
    expect((await db.listBatches()).map((b) => [b.claimed_by, b.lease_expires_at])).toEqual([
      [null, null],
      [null, null],
      [null, null],
    ]);
    await db.close();
  });

  it("four workers on one queue: every batch claimed once and completed, the store as one worker builds it", async () => {
    const input = inputFolder(16, 3, 6);
    const store = await backend.newStore();
    const db = await store.open();
    await db.scan(input);
    const workers = Array.from({ length: 4 }, () =>
      startWorker(store, { delayMs: 20, chunkSize: 4 }),
    );
    const exits = await Promise.all(workers.map((w) => w.exited));
    expect(
      exits.map((e) => e.code),
      workers.map((w) => w.stderr() + JSON.stringify(w.events.at(-1))).join("\n"),
    ).toEqual([0, 0, 0, 0]);
    const results = workers.map((w) => w.events.find((e) => e.event === "result") as WorkerEvent);
    expect(results.flatMap((r) => r.failed ?? [])).toEqual([]);
    const completed = results.flatMap((r) => r.completed ?? []);
    // No batch completed by two workers, and every batch by one.
    expect(completed.sort((x, y) => x - y)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(
      results.filter((r) => (r.completed ?? []).length > 0).length,
      "the work was shared",
    ).toBeGreaterThan(1);
    for (let id = 1; id <= 16; id++) {
      expect(await statusesOf(db, id), `batch ${id}`).toEqual([
        "pending",
        "importing",
        "embedding",
        "completed",
      ]);
    }
    const stats = await db.stats();
    expect(stats).toMatchObject({ clusters: 48, questions: 288, embeddings: 336 });
    expect(stats.batches.completed).toBe(16);

    const single = await backend.newStore();
    const reference = await single.open();
    await reference.scan(input);
    await reference.processPending({ embedder: createHashEmbedder(32), writerThreads: 0 });
    expect(await contentOf(db)).toEqual(await contentOf(reference));
    expect(vectorFilesOnDisk(db.root)).toHaveLength(336);
    expect((await db.verify()).problems).toEqual([]);
    await reference.close();
    await db.close();
  });
});
