import { spawnSync } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHashEmbedder } from "@ldakit/embed";
import Sqlite from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { backends, type TestStore } from "./backends.js";
import { formA, tempDir, vectorFilesOnDisk, writeFiles } from "./helpers.js";

const WORKER = join(import.meta.dirname, "workers", "process.mjs");
const REPAIR_WORKER = join(import.meta.dirname, "workers", "repair.mjs");
const QUERY_WORKER = join(import.meta.dirname, "workers", "query.mjs");
/** The worker embeds with a 32-dimensional hash embedder; so do the in-process runs here. */
const embedder = createHashEmbedder(32);

/**
 * The environment of a process that opens `store`: the store root of a PostgreSQL store in
 * LDAKIT_STORE_ROOT (a SQLite store's root is its file's folder), and no crash point armed
 * unless `extra` arms one.
 */
function workerEnv(store: TestStore, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.LDAKIT_CRASH_AT;
  delete env.LDAKIT_CRASH_TRACE;
  delete env.LDAKIT_STORE_ROOT;
  if (store.backend === "postgres") env.LDAKIT_STORE_ROOT = store.root;
  return { ...env, ...extra };
}

/** Runs process-pending in a child process that SIGKILLs itself at `crashAt` (`point#n`). */
function processKilledAt(store: TestStore, crashAt: string): void {
  const child = spawnSync(process.execPath, [WORKER, store.location, "0", "8"], {
    env: workerEnv(store, { LDAKIT_CRASH_AT: crashAt }),
    encoding: "utf8",
  });
  expect(child.signal, `${crashAt}: ${child.stderr}`).toBe("SIGKILL");
}

/** How many rows `table` has, as the database's own client counts them. */
async function countRows(store: TestStore, table: string): Promise<number> {
  const [row] = await store.query<{ n: number }>(
    `SELECT CAST(count(*) AS INTEGER) AS n FROM ${table}`,
  );
  return Number(row?.n);
}

/** Every file of the store the database names, beside the database files. */
async function namedFiles(store: TestStore): Promise<string[]> {
  const rows = await store.query<{ p: string }>(
    `SELECT vector_path AS p FROM embeddings
     UNION SELECT centroid_path FROM cluster_heads UNION SELECT answer_emb_path FROM cluster_heads
     UNION SELECT adapter_path FROM multi_head_projections WHERE adapter_path IS NOT NULL`,
  );
  const metas = await store.query<{ id: number; name: string }>(
    "SELECT p.mh_projection_id AS id, m.name FROM multi_head_projections p JOIN models m USING (model_id)",
  );
  return [
    ...rows.map((r) => r.p),
    ...metas.map((m) => `embeddings/${m.name.replaceAll("/", "__")}/mh_${m.id}.json`),
  ].sort();
}

/** A store with one processed file `data.json`, then a modified version of it scanned. */
async function storeWithSupersedingImport(
  store: TestStore,
): Promise<{ store: TestStore; input: string }> {
  const input = tempDir("ldakit-store-input-");
  writeFiles(input, { "data.json": formA(12, 4, "v1") });
  const db = await store.open();
  await db.scan(input);
  await db.processPending({ embedder, chunkSize: 8, writerThreads: 0 });
  writeFiles(input, { "data.json": formA(12, 4, "v2") });
  await db.scan(input);
  await db.close();
  return { store, input };
}

describe.each(backends)("files outlive their rows no longer ($name)", (backend) => {
  it("a SIGKILL between the commit that drops a superseded import and the removal of its files leaves the removals recorded, and the next command does them", async () => {
    const { store, input } = await storeWithSupersedingImport(await backend.newStore());
    processKilledAt(store, "complete:after-commit#1");

    const db = await store.open();
    try {
      // The old import's 60 files (48 questions, 12 answers) are still on disk, recorded.
      const recorded = await store.query<{ path: string; reason: string }>(
        "SELECT path, reason FROM file_removals",
      );
      expect(recorded).toHaveLength(60);
      expect(recorded[0]?.reason).toMatch(/^superseded by batch 2 of /);
      const before = await db.verify();
      expect(before.problems.filter((p) => p.problem.startsWith("orphan"))).toHaveLength(60);

      // The next writing command sweeps first: here a scan that finds nothing new.
      await db.scan(input);
      expect(await countRows(store, "file_removals")).toBe(0);
      expect((await db.verify()).problems).toEqual([]);
      expect(vectorFilesOnDisk(db.root)).toEqual(await namedFiles(store));
      expect(await db.listBatches()).toMatchObject([
        { status: "completed" },
        { status: "completed" },
      ]);
    } finally {
      await db.close();
    }
  });

  it("a SIGKILL in the middle of the removals (the flush rolls back) is finished by repair", async () => {
    const { store } = await storeWithSupersedingImport(await backend.newStore());
    processKilledAt(store, "remove-file:after#30");
    const db = await store.open();
    try {
      // 30 files went, their records rolled back with the flush: the rest are still recorded.
      expect(await countRows(store, "file_removals")).toBe(60);
      const repaired = await db.repair();
      expect(repaired).toHaveLength(30);
      for (const f of repaired) expect(f.reason).toMatch(/^superseded by batch 2/);
      expect((await db.verify()).problems).toEqual([]);
      expect(vectorFilesOnDisk(db.root)).toEqual(await namedFiles(store));
    } finally {
      await db.close();
    }
  });

  it("a SIGKILL while a batch is being embedded: the next run puts it back, removes its files, and imports it once", async () => {
    const store = await backend.newStore();
    const input = tempDir("ldakit-store-input-");
    writeFiles(input, { "data.json": formA(10, 3) });
    let db = await store.open();
    await db.scan(input);
    await db.close();
    processKilledAt(store, "vector-files:synced#2");
    db = await store.open();
    try {
      expect((await db.verify()).problems.some((p) => p.problem.startsWith("orphan"))).toBe(true);
      const result = await db.processPending({ embedder, chunkSize: 8, writerThreads: 0 });
      expect(result.completed).toHaveLength(1);
      expect((await db.stats()).questions).toBe(30);
      expect((await db.stats()).embeddings).toBe(40);
      expect((await db.verify()).problems).toEqual([]);
      expect(vectorFilesOnDisk(db.root)).toEqual(await namedFiles(store));
    } finally {
      await db.close();
    }
  });
});

describe.each(backends)("training beside a superseding import ($name)", (backend) => {
  it("reads the rows again when another process removes files they named between the two reads", async () => {
    const { store } = await storeWithSupersedingImport(await backend.newStore());
    const db = await store.open();
    try {
      const read = db.vectors.read.bind(db.vectors);
      let reads = 0;
      db.vectors.read = (path: string, dimensions?: number) => {
        // Right after the first file read, another process completes the newer import of the
        // same file, which drops v1's rows and removes their files.
        if (++reads === 2) {
          const child = spawnSync(process.execPath, [WORKER, store.location, "0", "8"], {
            env: workerEnv(store),
            encoding: "utf8",
          });
          expect(child.status, child.stderr).toBe(0);
        }
        return read(path, dimensions);
      };
      const set = await db.loadTrainingSet(embedder.name);
      expect(set.clusters).toHaveLength(12);
      expect(set.clusters.every((c) => c.answerText.startsWith("Answer v2-"))).toBe(true);
      expect(set.questionIds).toHaveLength(48);
    } finally {
      await db.close();
    }
  });
});

describe.each(backends)("the sweep ($name)", (backend) => {
  it("removes temporary files of dead processes and keeps those of live ones", async () => {
    const store = await backend.newStore();
    const dir = store.root;
    const db = await store.open();
    try {
      const model = await db.getOrCreateModel("m", { dimensions: 4 });
      const folder = join(dir, "embeddings", "m");
      writeFiles(folder, {});
      // A process that has exited: its pid is free (the kernel does not reuse it at once).
      const dead = spawnSync(process.execPath, ["-e", "console.log(process.pid)"], {
        encoding: "utf8",
      });
      const deadPid = Number(dead.stdout.trim());
      const names = {
        deadNpy: `.q_001.npy.${deadPid}.0123456789ab.tmp`,
        deadJson: `mh_1.json.${deadPid}.tmp`,
        liveNpy: `.q_002.npy.${process.pid}.0123456789ab.tmp`,
        liveJson: `mh_2.json.${process.pid}.tmp`,
      };
      for (const name of Object.values(names)) writeFileSync(join(folder, name), "partial");
      const swept = await db.repair();
      expect(swept.map((f) => f.path).sort()).toEqual(
        [names.deadJson, names.deadNpy].map((n) => `embeddings/m/${n}`).sort(),
      );
      for (const f of swept) expect(f.reason).toBe("temporary file of an interrupted write");
      expect(readdirSync(folder).sort()).toEqual([names.liveJson, names.liveNpy].sort());
      // A live writer's temporary files are work in progress, not problems.
      expect((await db.verify()).problems).toEqual([]);
      expect(model.name).toBe("m");
    } finally {
      await db.close();
    }
  });

  it("does not touch the files a live batch has written but not yet recorded", async () => {
    const store = await backend.newStore();
    const dir = store.root;
    const input = tempDir("ldakit-store-input-");
    writeFiles(input, { "data.json": formA(6, 3) });
    const db = await store.open();
    const other = await store.open();
    try {
      await db.scan(input);
      let calls = 0;
      let sweptMeanwhile: string[] | undefined;
      let problemsMeanwhile: unknown[] | undefined;
      let onDiskMeanwhile: string[] = [];
      const slow = {
        name: embedder.name,
        dimensions: embedder.dimensions,
        backend: embedder.backend,
        dispose: async () => {},
        async embed(texts: string[]) {
          // The second chunk: the first chunk's 8 files are written, their rows not yet.
          if (++calls === 2) {
            onDiskMeanwhile = vectorFilesOnDisk(dir);
            sweptMeanwhile = (await other.repair()).map((f) => f.path);
            problemsMeanwhile = (await other.verify()).problems;
          }
          return embedder.embed(texts);
        },
      };
      await db.processPending({ embedder: slow, chunkSize: 8, writerThreads: 0 });
      expect(onDiskMeanwhile).toHaveLength(8);
      expect(sweptMeanwhile).toEqual([]);
      // verify at that moment: the files are the live batch's, not orphans
      expect(problemsMeanwhile).toEqual([]);
      expect((await db.verify()).problems).toEqual([]);
    } finally {
      await other.close();
      await db.close();
    }
  });
});

/**
 * Writes to the store from another connection that does not wait, while this process is blocked
 * in a synchronous hook: "ok", or the error. On SQLite a connection with no busy timeout takes the
 * write lock; PostgreSQL has no store-wide write lock, so a peer process inserts with a lock
 * timeout of 1 ms and lists the store's sessions that are inside a transaction (none may be).
 */
function writeBesideSync(store: TestStore): string {
  if (store.backend === "sqlite") {
    const other = new Sqlite(store.location, { timeout: 0 });
    try {
      other.exec(
        "BEGIN IMMEDIATE; INSERT INTO models (name, dimensions) VALUES ('other', 3); COMMIT",
      );
      return "ok";
    } catch (error) {
      return (error as Error).message;
    } finally {
      other.close();
    }
  }
  const peer = spawnSync(
    process.execPath,
    [
      QUERY_WORKER,
      store.location,
      `SET lock_timeout = 1;
       INSERT INTO models (name, dimensions) VALUES ('other', 3);
       SELECT pid, state, query FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL`,
    ],
    { encoding: "utf8" },
  );
  if (peer.status !== 0) return peer.stderr;
  const open = JSON.parse(peer.stdout) as unknown[];
  return open.length === 0 ? "ok" : `transactions open meanwhile: ${JSON.stringify(open)}`;
}

describe.each(backends)("a projection's write lock ($name)", (backend) => {
  it("is not held while its head files are written: another connection with no busy timeout writes meanwhile, and a sweep keeps the files", async () => {
    const store = await backend.newStore();
    const db = await store.open();
    try {
      const model = await db.getOrCreateModel("m", { dimensions: 4 });
      const heads = [];
      for (let c = 0; c < 40; c++) {
        const clusterId = await db.addCluster({ answerText: `a${c}`, modelId: model.model_id });
        heads.push({
          clusterId,
          centroid: Float32Array.of(1, c, 0, 0),
          answer: Float32Array.of(0, 1, c, 0),
          numQuestions: 1,
        });
      }
      const write = db.vectors.write.bind(db.vectors);
      let calls = 0;
      let concurrentWrite: string | undefined;
      let sweptMeanwhile: string[] | undefined;
      // Between two head files (the 41st of 80), as a concurrent `migrate --scan` would.
      db.vectors.write = (path: string, vector: Float32Array) => {
        write(path, vector);
        if (++calls !== 41) return;
        concurrentWrite = writeBesideSync(store);
        // The reservation makes the 41 files so far a live writer's: a sweep in another process,
        // run to its end while this one waits between two writes, keeps them.
        const repair = spawnSync(process.execPath, [REPAIR_WORKER, store.location], {
          env: workerEnv(store),
          encoding: "utf8",
        });
        if (repair.status !== 0) throw new Error(`repair failed: ${repair.stderr}`);
        sweptMeanwhile = JSON.parse(repair.stdout) as string[];
      };
      const id = await db.createProjection({
        modelId: model.model_id,
        temperature: 0.1,
        centroidMethod: "mean",
        heads,
      });
      expect(concurrentWrite).toBe("ok");
      expect(sweptMeanwhile).toEqual([]);
      expect(id).toBe(1);
      expect((await db.verify()).problems).toEqual([]);
      expect(await countRows(store, "projection_reservations")).toBe(0);
    } finally {
      await db.close();
    }
  });

  it("a SIGKILL while the head files are written leaves files that the next command removes, and the id is not handed out again", async () => {
    const store = await backend.newStore();
    const script = `
      import { LDAProjectionDB } from ${JSON.stringify(join(import.meta.dirname, "../dist/index.js"))};
      const db = await LDAProjectionDB.open(${JSON.stringify(store.location)}, {
        storeRoot: process.env.LDAKIT_STORE_ROOT || undefined,
      });
      const model = await db.getOrCreateModel("m", { dimensions: 4 });
      const heads = [];
      for (let c = 0; c < 5; c++) {
        const clusterId = await db.addCluster({ answerText: "a" + c, modelId: model.model_id });
        heads.push({ clusterId, centroid: Float32Array.of(1, c, 0, 0), answer: Float32Array.of(0, 1, c, 0), numQuestions: 1 });
      }
      await db.createProjection({ modelId: model.model_id, temperature: 0.1, centroidMethod: "mean", heads });
    `;
    const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      env: workerEnv(store, { LDAKIT_CRASH_AT: "head-file:written#7" }),
      encoding: "utf8",
    });
    expect(child.signal, child.stderr).toBe("SIGKILL");
    const db = await store.open();
    try {
      expect(readdirSync(join(store.root, "embeddings", "m"))).toHaveLength(7);
      const swept = await db.repair();
      expect(swept).toHaveLength(7);
      for (const f of swept) expect(f.reason).toMatch(/^orphan/);
      expect((await db.verify()).problems).toEqual([]);
      const model = await db.getModel("m");
      const clusters = await db.listClusters();
      const id = await db.createProjection({
        modelId: model?.model_id as number,
        temperature: 0.1,
        centroidMethod: "mean",
        heads: clusters.map((c) => ({
          clusterId: c.cluster_id,
          centroid: Float32Array.of(1, 0, 0, 0),
          answer: Float32Array.of(0, 1, 0, 0),
          numQuestions: 1,
        })),
      });
      expect(id).toBe(2);
      expect((await db.verify()).problems).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
