/**
 * Leases and machine ids, on both backends: what lets workers of several machines share a queue
 * and a store root. A worker "of another machine" is one started with `LDAKIT_MACHINE_ID` set:
 * its pid means nothing here, so only its lease can free what it holds.
 */
import { spawnSync } from "node:child_process";
import { utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createHashEmbedder } from "@ldakit/embed";
import { afterEach, describe, expect, it } from "vitest";
import { machineTag } from "../src/machine.js";
import { backends } from "./backends.js";
import { expectStoreError } from "./helpers.js";
import { inputFolder, startWorker, statusesOf } from "./worker-processes.js";

const OTHER = "other-machine";

/** A pid no process has: that of a process that has exited. */
function deadPidOf(): number {
  return Number(spawnSync(process.execPath, ["-e", "console.log(process.pid)"]).stdout.toString());
}

afterEach(() => {
  delete process.env.LDAKIT_MACHINE_ID;
});

describe.each(backends)("leases ($name)", (backend) => {
  it("a worker's timer keeps its claim while one chunk takes longer than the lease", async () => {
    const store = await backend.newStore();
    const db = await store.open();
    await db.scan(inputFolder(1, 2, 5));
    const worker = startWorker(store, {
      delayMs: 2500,
      chunkSize: 50,
      leaseMs: 1500,
      env: { LDAKIT_MACHINE_ID: OTHER },
    });
    await worker.waitFor((e) => e.event === "progress");
    // Runs that would take the batch over the moment its lease lapsed, all the while.
    let exited = false;
    void worker.exited.then(() => {
      exited = true;
    });
    let runs = 0;
    while (!exited) {
      const result = await db.processPending({ embedder: createHashEmbedder(32), leaseMs: 1500 });
      expect(result.completed).toEqual([]);
      runs++;
      await sleep(100);
    }
    expect(runs).toBeGreaterThan(5);
    expect((await worker.exited).code, worker.stderr()).toBe(0);
    expect(worker.events.at(-1)).toMatchObject({ event: "result", completed: [1], failed: [] });
    expect(await statusesOf(db, 1)).toEqual(["pending", "importing", "embedding", "completed"]);
    await db.close();
  });

  it("a renewal that finds its batch taken over stops the work on it before the next chunk, recording nothing", async () => {
    const store = await backend.newStore();
    const db = await store.open();
    // Two embed calls of 4 s each: the 30 questions, then the 3 answers.
    await db.scan(inputFolder(1, 3, 10));
    const worker = startWorker(store, { delayMs: 4000, chunkSize: 50, leaseMs: 900 });
    // Taken over while the questions are being embedded, after the import committed.
    for (;;) {
      const [row] = await store.query<{ status: string }>(
        "SELECT status FROM training_batches WHERE batch_id = 1",
      );
      if (row?.status === "embedding") break;
      await sleep(20);
    }
    // As a worker of another machine that took it over would: its claim, its lease.
    const theirLease = new Date(Date.now() + 600_000).toISOString();
    await store.query(
      "UPDATE training_batches SET claimed_by = ?, lease_expires_at = ? WHERE batch_id = 1",
      [`${OTHER}:1:takeover`, theirLease],
    );
    const takenOverAt = Date.now();
    expect((await worker.exited).code, worker.stderr()).toBe(0);
    // A renewal every 300 ms finds the claim gone, and the answers' embed call is never made:
    // without the renewal the worker would find out only when it records, after that 4 s call.
    expect(Date.now() - takenOverAt).toBeLessThan(6000);
    expect(worker.events.at(-1)).toMatchObject({ event: "result", completed: [], failed: [] });
    expect(worker.events.filter((e) => e.phase === "embedding")).toEqual([]);
    const [batch] = await db.listBatches();
    expect(batch).toMatchObject({
      status: "embedding",
      claimed_by: `${OTHER}:1:takeover`,
      lease_expires_at: theirLease,
    });
    expect(await statusesOf(db, 1)).toEqual(["pending", "importing", "embedding"]);
    expect((await db.stats()).embeddings).toBe(0);
    await db.close();
  });

  it("a temporary file of another machine goes only when an hour old; one of this machine when its pid is dead", async () => {
    const store = await backend.newStore();
    const db = await store.open();
    await db.scan(inputFolder(1, 1, 2));
    await db.processPending({ embedder: createHashEmbedder(32), writerThreads: 0 });
    const folder = join(db.root, "embeddings", "hash-32");
    const pid = deadPidOf();
    const names = {
      ours: `.q_900.npy.${pid}.${machineTag()}-0123456789ab.tmp`,
      theirs: `.q_901.npy.${pid}.${machineTag(OTHER)}-0123456789ab.tmp`,
      theirsOld: `.q_902.npy.${pid}.${machineTag(OTHER)}-0123456789ab.tmp`,
    };
    for (const name of Object.values(names)) writeFileSync(join(folder, name), "partial");
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    utimesSync(join(folder, names.theirsOld), twoHoursAgo, twoHoursAgo);
    const swept = (await db.repair()).map((f) => f.path).sort();
    expect(swept).toEqual([
      `embeddings/hash-32/${names.ours}`,
      `embeddings/hash-32/${names.theirsOld}`,
    ]);
    await db.close();
  });

  it("a projection reservation of another machine is released when its lease has ended, kept while it runs", async () => {
    const store = await backend.newStore();
    const db = await store.open();
    await db.scan(inputFolder(1, 1, 2));
    await db.processPending({ embedder: createHashEmbedder(32), writerThreads: 0 });
    const past = new Date(Date.now() - 60_000).toISOString();
    const future = new Date(Date.now() + 600_000).toISOString();
    const reserve = (id: number, owner: string, lease: string | null) =>
      store.query(
        "INSERT INTO projection_reservations (mh_projection_id, model_id, owner, reserved_at, lease_expires_at) VALUES (?, 1, ?, ?, ?)",
        [id, owner, past, lease],
      );
    await reserve(1, `${OTHER}:10:lapsed`, past);
    await reserve(2, `${OTHER}:11:running`, future);
    // Written before leases: another machine's owner and no lease; nothing can tell it is gone.
    await reserve(3, `${OTHER}:12:legacy`, null);
    await db.repair();
    expect(
      await store.query(
        "SELECT mh_projection_id AS id, owner, lease_expires_at AS lease FROM projection_reservations ORDER BY mh_projection_id",
      ),
    ).toEqual([
      { id: 1, owner: null, lease: null },
      { id: 2, owner: `${OTHER}:11:running`, lease: future },
      { id: 3, owner: `${OTHER}:12:legacy`, lease: null },
    ]);
    // The released id is not handed out again; the new projection's reservation is gone at commit.
    const id = await db.createProjection({
      modelId: 1,
      temperature: 0.1,
      centroidMethod: "mean",
      heads: [{ clusterId: 1, centroid: unit(32), answer: unit(32), numQuestions: 2 }],
    });
    expect(id).toBe(4);
    await db.close();
  });

  it("an LDAKIT_MACHINE_ID that cannot stand in an owner token is refused", async () => {
    const store = await backend.newStore();
    const db = await store.open();
    await db.scan(inputFolder(1, 1, 2));
    process.env.LDAKIT_MACHINE_ID = "rack 4:node 2";
    await expectStoreError(
      db.processPending({ embedder: createHashEmbedder(32) }),
      "BAD_ARGUMENT",
      /LDAKIT_MACHINE_ID must be 1 to 128 letters, digits or \. _ \/ ~ \+ -, not "rack 4:node 2"/,
    );
    delete process.env.LDAKIT_MACHINE_ID;
    expect((await db.listBatches()).map((b) => b.status)).toEqual(["pending"]);
    await db.close();
  });
});

function unit(d: number): Float32Array {
  const v = new Float32Array(d);
  v[0] = 1;
  return v;
}
