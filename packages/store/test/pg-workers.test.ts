/**
 * PostgreSQL only: workers in separate processes sharing one database — a worker of another
 * machine killed mid-batch, the server going away and coming back mid-run — and a role that may
 * only read. Each test checks that nothing was lost or done twice, and that `verify` finds the
 * store sound.
 */
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createHashEmbedder } from "@ldakit/embed";
import { describe, expect, it } from "vitest";
import { startPostgres } from "../../../tools/postgres.mjs";
import { createDatabase, createReadOnlyRole } from "../../../tools/postgres-databases.mjs";
import { LDAProjectionDB } from "../src/index.js";
import { machineTag } from "../src/machine.js";
import { backends, type TestStore } from "./backends.js";
import { expectStoreError, tempDir, vectorFilesOnDisk } from "./helpers.js";
import {
  contentOf,
  inputFolder,
  startWorker,
  statusesOf,
  type Worker,
  type WorkerEvent,
} from "./worker-processes.js";

const postgres = backends.find((b) => b.name === "postgres");
if (postgres === undefined) throw new Error("test/backends.ts has no postgres backend");

const OTHER = "other-machine";
const embedder = createHashEmbedder(32);

/** What the same input makes with one worker on SQLite: the content every run must end with. */
async function referenceContent(input: string): Promise<string[]> {
  const db = await LDAProjectionDB.open(join(tempDir(), "lda.db"));
  await db.scan(input);
  await db.processPending({ embedder, writerThreads: 0 });
  const content = await contentOf(db);
  await db.close();
  return content;
}

/** The store's files apart from temporary ones, and its temporary files. */
function filesOf(root: string): { files: string[]; temporary: string[] } {
  const all = vectorFilesOnDisk(root);
  return {
    files: all.filter((p) => !p.endsWith(".tmp")),
    temporary: all.filter((p) => p.endsWith(".tmp")),
  };
}

async function rowPaths(db: LDAProjectionDB): Promise<string[]> {
  return (
    await db.kysely.selectFrom("embeddings").select("vector_path").orderBy("vector_path").execute()
  ).map((r) => r.vector_path);
}

function resultOf(worker: Worker): WorkerEvent | undefined {
  return worker.events.find((e) => e.event === "result" || e.event === "error");
}

describe("workers on PostgreSQL", () => {
  it("a worker of another machine killed mid-batch: its batch is taken over only once its lease has lapsed", async () => {
    const store = await postgres.newStore();
    const db = await store.open();
    const input = inputFolder(3, 4, 10);
    await db.scan(input);
    const leaseMs = 8000;
    const remote = startWorker(store, {
      delayMs: 150,
      chunkSize: 8,
      leaseMs,
      env: { LDAKIT_MACHINE_ID: OTHER },
    });
    await remote.waitFor(
      (e) => e.event === "progress" && e.phase === "embedding" && (e.done ?? 0) >= 16,
    );
    remote.child.kill("SIGKILL");
    expect((await remote.exited).signal).toBe("SIGKILL");
    const [stuck] = await db.listBatches({ status: "embedding" });
    expect(stuck?.claimed_by).toMatch(new RegExp(`^${OTHER}:${remote.child.pid}:`));
    const lease = stuck?.lease_expires_at as string;
    expect(lease).not.toBeNull();

    // Its pid means nothing on this machine (the process is dead, but that is not known here):
    // a run before the lease ends does the other batches and leaves that one alone.
    const early = await db.processPending({ embedder, leaseMs });
    expect(early.completed.map((o) => o.batchId).sort()).toEqual(
      [1, 2, 3].filter((id) => id !== stuck?.batch_id),
    );
    expect(Date.now(), "the early run ended before the lease").toBeLessThan(Date.parse(lease));
    const [still] = await db.listBatches({ status: "embedding" });
    expect(still).toMatchObject({ batch_id: stuck?.batch_id, claimed_by: stuck?.claimed_by });

    await sleep(Date.parse(lease) - Date.now() + 300);
    const local = startWorker(store, { delayMs: 0, chunkSize: 8, leaseMs });
    expect((await local.exited).code, local.stderr()).toBe(0);
    expect(resultOf(local)).toMatchObject({ completed: [stuck?.batch_id], failed: [] });

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
    expect(history[3]?.message).toMatch(
      new RegExp(`^reclaimed from ${OTHER}:\\d+:\\w+, which stopped while embedding$`),
    );
    expect((history[3]?.changed_at ?? "") >= lease, "reclaimed after the lease ended").toBe(true);
    expect(await contentOf(db)).toEqual(await referenceContent(input));
    const { files, temporary } = filesOf(db.root);
    expect(files).toEqual(await rowPaths(db));
    // A temporary file the killed worker left is another machine's: only its age removes it.
    for (const path of temporary) expect(path).toContain(`.${machineTag(OTHER)}-`);
    expect((await db.verify()).problems).toEqual([]);
    await db.close();
  });

  it("the server stopped and started again mid-run: workers stop with CONNECTION_LOST or carry on, and the next run completes every batch once", async () => {
    const server = await startPostgres();
    try {
      const url = await createDatabase(server.url);
      const root = tempDir();
      const store = { backend: "postgres", location: url, root } as TestStore;
      const input = inputFolder(8, 3, 8);
      const setup = await LDAProjectionDB.open(url, { storeRoot: root });
      await setup.scan(input);
      await setup.close();
      const workers = [0, 1].map(() =>
        startWorker(store, { delayMs: 100, chunkSize: 4, leaseMs: 60_000 }),
      );
      await Promise.all(
        workers.map((w) => w.waitFor((e) => e.event === "progress" && e.phase === "embedding")),
      );
      await server.stopServer();
      await sleep(1500);
      await server.startServer();
      const exits = await Promise.all(workers.map((w) => w.exited));

      const outcomes = workers.map(resultOf);
      for (const [i, outcome] of outcomes.entries()) {
        const why = `worker ${i}: ${JSON.stringify(outcome)} ${workers[i]?.stderr()}`;
        if (outcome?.event === "result") {
          expect(exits[i]?.code, why).toBe(0);
          expect(outcome.failed, why).toEqual([]);
        } else {
          expect(exits[i]?.code, why).toBe(1);
          expect(outcome, why).toMatchObject({ event: "error", code: "CONNECTION_LOST" });
          expect(outcome?.message, why).toMatch(/connection/i);
          expect(outcome?.message, why).toContain(url.replace(/^postgres:\/\/postgres@/, ""));
        }
      }
      // 1.5 s without a server while both record a chunk every few hundred ms: both noticed.
      expect(outcomes.filter((o) => o?.event === "error").length).toBeGreaterThan(0);

      // The workers that stopped are dead processes of this machine: the next run takes their
      // batches back at once, whatever their lease.
      const db = await LDAProjectionDB.open(url, { storeRoot: root });
      const rest = await db.processPending({ embedder, writerThreads: 0 });
      expect(rest.failed).toEqual([]);
      const stats = await db.stats();
      expect(stats.batches).toMatchObject({ completed: 8, pending: 0, importing: 0, embedding: 0 });
      for (let id = 1; id <= 8; id++) {
        const statuses = await statusesOf(db, id);
        expect(
          statuses.filter((s) => s === "completed"),
          `batch ${id}: ${statuses}`,
        ).toHaveLength(1);
        expect(statuses.at(-1)).toBe("completed");
      }
      expect(await contentOf(db)).toEqual(await referenceContent(input));
      expect(filesOf(root)).toEqual({ files: await rowPaths(db), temporary: [] });
      expect((await db.verify()).problems).toEqual([]);
      await db.close();
    } finally {
      await server.stop();
    }
  });
});

describe("a role that may only read", () => {
  it("opens the store to read — stats, search, verify — and is refused a write-mode open", async () => {
    const store = await postgres.newStore();
    const db = await store.open();
    await db.scan(inputFolder(2, 3, 4));
    await db.processPending({ embedder, writerThreads: 0 });
    const clusters = await db.listClusters();
    const heads = await Promise.all(
      clusters.map(async (c) => ({
        clusterId: c.cluster_id,
        centroid: (await embedder.embed([`centroid ${c.cluster_id}`]))[0] as Float32Array,
        answer: (await embedder.embed([c.answer_text]))[0] as Float32Array,
        numQuestions: 4,
      })),
    );
    const mhId = await db.createProjection({
      modelId: 1,
      temperature: 0.1,
      centroidMethod: "mean",
      heads,
    });
    const query = (await embedder.embed([clusters[1]?.answer_text as string]))[0] as Float32Array;
    const expected = await db.searchWithProjection(query, mhId, { topK: 3 });
    const stats = await db.stats();
    await db.close();

    const readerUrl = await createReadOnlyRole(store.location);
    const reader = await LDAProjectionDB.open(readerUrl, { mode: "read" });
    expect(reader.root).toBe(db.root);
    expect(await reader.stats()).toEqual(stats);
    expect(await reader.searchWithProjection(query, mhId, { topK: 3 })).toEqual(expected);
    expect((await reader.directSearch(query, mhId, { topK: 1 })).results[0]?.clusterId).toBe(
      clusters[1]?.cluster_id,
    );
    expect(await reader.verify()).toMatchObject({ problems: [] });
    await reader.close();

    const password = new URL(readerUrl).password;
    for (const mode of ["write", "create"] as const) {
      const refused = await expectStoreError(
        LDAProjectionDB.open(readerUrl, { mode }),
        "READ_ONLY",
        /^the store postgres:\/\/ldakit_reader_\w+:\*\*\*@[^ ]+ is not writable by this role: it may not insert, update and delete in batch_status_history, cluster_heads, clusters, embeddings, file_removals, models, multi_head_projections, projection_reservations, questions, store_settings, training_batches; a command that only reads it/,
      );
      expect(refused.message).not.toContain(password);
    }
    // Refused before anything was written: the store is as the writer left it.
    const after = await store.open({ mode: "read" });
    expect(await after.stats()).toEqual(stats);
    await after.close();
  });
});
