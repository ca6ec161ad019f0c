/// <reference path="../../../tools/postgres-global-setup.d.mts" />
/**
 * The crash-point walk of the store's own steps, on both backends (docs/RELIABILITY.md): each
 * scenario's step runs once in a worker process with LDAKIT_CRASH_TRACE to list the crash points
 * it passes, then, for each point and occurrence, on a fresh copy of the prepared store with
 * LDAKIT_CRASH_AT so the process SIGKILLs itself there; the step runs again without a crash, and
 * the store must equal the store of a run that never crashed: the same rows (by content, not
 * ids), no file that no row names, `verify` clean. On PostgreSQL the SIGKILL drops the worker's
 * connections and the server rolls back whatever transaction was open.
 *
 * By default each point is walked at its first, middle and last occurrence; LDAKIT_CRASH_WALK=full
 * (set by `pnpm test:faults`) walks every occurrence.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  type Dirent,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { createHashEmbedder } from "@ldakit/embed";
import { sql } from "kysely";
import pg from "pg";
import { afterEach, describe, expect, inject, it } from "vitest";
import { recordCrashFigures } from "../../../tools/fault-report.mjs";
import { createDatabase, dropDatabase } from "../../../tools/postgres-databases.mjs";
import { LDAProjectionDB } from "../src/index.js";
import { backends, type TestBackend } from "./backends.js";
import { formA, tempDir } from "./helpers.js";

const WORKERS = join(import.meta.dirname, "workers");
const FULL = process.env.LDAKIT_CRASH_WALK === "full";
/** Walks at once: each is two worker processes. The machine has two cores. */
const PARALLEL = 2;

/** A store as the walk handles it: where its database is and where its files are. */
interface WalkStore {
  backend: TestBackend["name"];
  location: string;
  root: string;
}

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Runs a worker of test/workers on `store`, with `env` added (crash points, tracing). */
function worker(
  store: WalkStore,
  script: string,
  env: Record<string, string> = {},
): Promise<Outcome> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  delete childEnv.LDAKIT_CRASH_AT;
  delete childEnv.LDAKIT_CRASH_TRACE;
  delete childEnv.LDAKIT_STORE_ROOT;
  if (store.backend === "postgres") childEnv.LDAKIT_STORE_ROOT = store.root;
  const args = script === "process.mjs" ? [store.location, "0", "4"] : [store.location];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(WORKERS, script), ...args],
      { env: { ...childEnv, ...env }, encoding: "utf8", maxBuffer: 1 << 24 },
      (error, _stdout, stderr) => {
        const e = error as (Error & { code?: number; signal?: NodeJS.Signals }) | null;
        resolve({
          code: e ? (typeof e.code === "number" ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stderr,
        });
      },
    );
  });
}

const open = (store: WalkStore) =>
  LDAProjectionDB.open(store.location, {
    storeRoot: store.backend === "postgres" ? store.root : undefined,
  });

/** A step whose every crash point is walked, after `prepare` made the store it starts from. */
interface Scenario {
  name: string;
  /** Fills the new store `store`; input files go to `input`, which every copy shares. */
  prepare(db: LDAProjectionDB, input: string): Promise<void>;
  /** The worker that runs the step. */
  step: "process.mjs" | "project.mjs";
  /**
   * Whether a killed step had already committed its result, so the rerun adds a second one (a
   * projection is never overwritten): then the store must equal two runs without a crash.
   */
  committed?(db: LDAProjectionDB): Promise<boolean>;
}

const hash32 = () => createHashEmbedder(32);

const scenarios: Scenario[] = [
  {
    name: "process-pending",
    async prepare(db, input) {
      writeFileSync(join(input, "a.json"), formA(3, 3, "a"));
      // A batch that fails: its failure path is walked too.
      writeFileSync(join(input, "bad.json"), '{"clusters": [{"questions": ["q?"]}]}');
      await db.scan(input);
    },
    step: "process.mjs",
  },
  {
    name: "superseding re-import",
    async prepare(db, input) {
      writeFileSync(join(input, "a.json"), formA(3, 3, "a"));
      await db.scan(input);
      await db.processPending({ embedder: hash32(), writerThreads: 0 });
      writeFileSync(join(input, "a.json"), formA(4, 3, "a2"));
      await db.scan(input);
    },
    step: "process.mjs",
  },
  {
    name: "createProjection",
    async prepare(db, input) {
      writeFileSync(join(input, "a.json"), formA(4, 2, "p"));
      await db.scan(input);
      await db.processPending({ embedder: hash32(), writerThreads: 0 });
    },
    step: "project.mjs",
    committed: async (db) =>
      (await db.kysely.selectFrom("multi_head_projections").select("mh_projection_id").execute())
        .length > 0,
  },
];

/** The databases made for a test's PostgreSQL copies, dropped after it. */
const databases: string[] = [];
afterEach(async () => {
  for (const url of databases.splice(0)) await dropDatabase(url);
});

/** One copy at a time: `CREATE DATABASE … TEMPLATE` refuses while the template is being read. */
let copying: Promise<unknown> = Promise.resolve();

/**
 * A copy of `template` (closed) with a store root of its own: the SQLite folder, or a database
 * made from the template database beside a copy of its root, the root it records moved to the
 * copy's (a store's paths are relative to its root, so a moved store is whole).
 */
function copyStore(template: WalkStore): Promise<WalkStore> {
  const next = copying.then(async (): Promise<WalkStore> => {
    const root = realpathSync(tempDir("ldakit-walk-"));
    cpSync(template.root, root, { recursive: true });
    if (template.backend === "sqlite") {
      return { backend: "sqlite", location: join(root, "lda.db"), root };
    }
    const name = decodeURIComponent(new URL(template.location).pathname.slice(1));
    const location = await createDatabase(inject("ldakitPostgresUrl"), { template: name });
    databases.push(location);
    const client = new pg.Client({ connectionString: location });
    await client.connect();
    try {
      await client.query("UPDATE store_settings SET value = $1 WHERE key = 'store_root'", [root]);
    } finally {
      await client.end();
    }
    return { backend: "postgres", location, root };
  });
  copying = next.catch(() => {});
  return next;
}

const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

/** Every file below the store root (POSIX, relative), sorted. */
function filesOf(root: string): string[] {
  return (readdirSync(root, { recursive: true, withFileTypes: true }) as Dirent[])
    .filter((e) => !e.isDirectory())
    .map((e) =>
      join(e.parentPath, e.name)
        .slice(root.length + 1)
        .split("\\")
        .join("/"),
    )
    .sort();
}

/** The store's content without ids: each entry a line, sorted, so lost and extra rows can be counted. */
async function snapshot(
  store: WalkStore,
): Promise<{ rows: string[]; orphans: string[]; problems: string[] }> {
  const db = await open(store);
  try {
    const q = async <T>(text: string) => (await sql.raw<T>(text).execute(db.kysely)).rows;
    const file = (p: string) => sha(db.vectors.absolute(p));
    const rows: string[] = [];
    for (const b of await q<Record<string, unknown>>(
      "SELECT file_path, status, num_clusters, num_questions, error_message FROM training_batches",
    ))
      rows.push(`batch ${JSON.stringify(b)}`);
    for (const c of await q<Record<string, unknown>>(
      "SELECT c.answer_text, c.answer_record_id, b.file_path FROM clusters c LEFT JOIN training_batches b ON b.batch_id = c.batch_id",
    ))
      rows.push(`cluster ${JSON.stringify(c)}`);
    for (const r of await q<Record<string, unknown>>(
      "SELECT c.answer_text, q.question_text FROM questions q JOIN clusters c ON c.cluster_id = q.cluster_id",
    ))
      rows.push(`question ${JSON.stringify(r)}`);
    for (const e of await q<{ t: string; text: string; vector_path: string }>(
      `SELECT e.entity_type AS t, coalesce(q.question_text, c.answer_text) AS text, e.vector_path
       FROM embeddings e
       LEFT JOIN questions q ON e.entity_type = 'question' AND q.question_id = e.entity_id
       LEFT JOIN clusters c ON e.entity_type = 'answer' AND c.cluster_id = e.entity_id`,
    ))
      rows.push(`embedding ${e.t} ${JSON.stringify(e.text)} ${file(e.vector_path)}`);
    for (const p of await q<{ mh_projection_id: number; num_heads: number; temperature: number }>(
      "SELECT mh_projection_id, num_heads, temperature FROM multi_head_projections",
    )) {
      rows.push(`projection ${p.num_heads} heads, temperature ${p.temperature}`);
      for (const h of await q<{
        answer_text: string;
        centroid_path: string;
        answer_emb_path: string;
      }>(
        `SELECT c.answer_text, h.centroid_path, h.answer_emb_path FROM cluster_heads h
         JOIN clusters c ON c.cluster_id = h.cluster_id WHERE h.mh_projection_id = ${Number(p.mh_projection_id)}`,
      ))
        rows.push(
          `head ${JSON.stringify(h.answer_text)} ${file(h.centroid_path)} ${file(h.answer_emb_path)}`,
        );
    }
    for (const r of await q<{ path: string }>("SELECT path FROM file_removals"))
      rows.push(`pending removal ${r.path}`);
    for (const r of await q<{ owner: string }>(
      "SELECT owner FROM projection_reservations WHERE owner IS NOT NULL",
    ))
      rows.push(`live reservation ${r.owner}`);
    for (const r of await q<{ owner: string; status: string }>(
      "SELECT claimed_by AS owner, status FROM training_batches WHERE claimed_by IS NOT NULL",
    ))
      rows.push(`claimed batch ${r.status} ${r.owner}`);
    rows.sort();

    const named = new Set<string>(["lda.db", "lda.db-wal", "lda.db-shm"]);
    for (const r of await q<{ p: string }>(
      `SELECT vector_path AS p FROM embeddings UNION SELECT centroid_path FROM cluster_heads
       UNION SELECT answer_emb_path FROM cluster_heads
       UNION SELECT adapter_path FROM multi_head_projections WHERE adapter_path IS NOT NULL`,
    ))
      named.add(r.p);
    for (const p of await q<{ id: number; name: string }>(
      "SELECT p.mh_projection_id AS id, m.name FROM multi_head_projections p JOIN models m ON m.model_id = p.model_id",
    ))
      named.add(`embeddings/${p.name.replaceAll("/", "__")}/mh_${p.id}.json`);
    const orphans = filesOf(store.root).filter((p) => !named.has(p));
    const problems = (await db.verify()).problems.map((p) => `${p.path}: ${p.problem}`);
    return { rows, orphans, problems };
  } finally {
    await db.close();
  }
}

/** How many lines of `expected` are missing from `actual`, and how many are extra. */
function diff(expected: string[], actual: string[]): { lost: number; duplicated: number } {
  const counts = new Map<string, number>();
  for (const line of expected) counts.set(line, (counts.get(line) ?? 0) + 1);
  let duplicated = 0;
  for (const line of actual) {
    const n = counts.get(line) ?? 0;
    if (n > 0) counts.set(line, n - 1);
    else duplicated++;
  }
  let lost = 0;
  for (const n of counts.values()) lost += n;
  return { lost, duplicated };
}

/** Runs `tasks` with at most {@link PARALLEL} at once. */
async function pool(tasks: Array<() => Promise<void>>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < tasks.length) await (tasks[next++] as () => Promise<void>)();
    }),
  );
}

function occurrencesToWalk(count: number): number[] {
  if (FULL) return Array.from({ length: count }, (_, i) => i + 1);
  return [...new Set([1, Math.ceil(count / 2), count])];
}

describe.each(backends)("the store's crash-point walk on $name", (backend) => {
  for (const scenario of scenarios) {
    it(`${scenario.name}: a SIGKILL at every crash point, then a rerun, leaves the store a run without a crash leaves`, async () => {
      const input = tempDir("ldakit-walk-input-");
      mkdirSync(input, { recursive: true });
      const made = await backend.newStore();
      const template: WalkStore = {
        backend: made.backend,
        location: made.location,
        root: made.root,
      };
      const db = await made.open();
      try {
        await scenario.prepare(db, input);
      } finally {
        await db.close();
      }

      const reference = await copyStore(template);
      const trace = join(tempDir("ldakit-walk-trace-"), "trace.txt");
      const traced = await worker(reference, scenario.step, { LDAKIT_CRASH_TRACE: trace });
      expect(traced.code, traced.stderr).toBe(0);
      const expected = await snapshot(reference);
      expect(expected.problems).toEqual([]);
      expect(expected.orphans).toEqual([]);
      let expectedTwice: Awaited<ReturnType<typeof snapshot>> | undefined;
      if (scenario.committed) {
        const again = await worker(reference, scenario.step);
        expect(again.code, again.stderr).toBe(0);
        expectedTwice = await snapshot(reference);
      }

      const counts = new Map<string, number>();
      for (const point of readFileSync(trace, "utf8").split("\n").filter(Boolean))
        counts.set(point, (counts.get(point) ?? 0) + 1);
      const walk = [...counts].flatMap(([point, count]) =>
        occurrencesToWalk(count).map((n) => `${point}#${n}`),
      );
      // Every step writes in transactions and files: a walk of a handful of points walked nothing.
      expect(walk.length).toBeGreaterThan(6);
      expect(walk.some((at) => at.includes(":before-commit"))).toBe(true);

      const figures = {
        pointsWalked: walk.length,
        kills: 0,
        rowsLost: 0,
        rowsDuplicated: 0,
        orphanFiles: 0,
        verifyFailures: 0,
      };
      const failures: string[] = [];
      await pool(
        walk.map((at) => async () => {
          const store = await copyStore(template);
          const crashed = await worker(store, scenario.step, { LDAKIT_CRASH_AT: at });
          if (crashed.signal !== "SIGKILL") {
            failures.push(`${at}: the process was not killed (${crashed.code}): ${crashed.stderr}`);
            return;
          }
          figures.kills++;
          let twice = false;
          if (scenario.committed) {
            const db = await open(store);
            twice = await scenario.committed(db);
            await db.close();
          }
          const rerun = await worker(store, scenario.step);
          if (rerun.code !== 0) failures.push(`${at}: the rerun failed: ${rerun.stderr}`);
          const got = await snapshot(store);
          const want = twice && expectedTwice ? expectedTwice : expected;
          const { lost, duplicated } = diff(want.rows, got.rows);
          figures.rowsLost += lost;
          figures.rowsDuplicated += duplicated;
          figures.orphanFiles += got.orphans.length;
          if (got.problems.length > 0) figures.verifyFailures++;
          if (lost + duplicated + got.orphans.length + got.problems.length > 0) {
            const missing = want.rows.filter((r) => !got.rows.includes(r)).slice(0, 3);
            const extra = got.rows.filter((r) => !want.rows.includes(r)).slice(0, 3);
            const { orphans, problems } = got;
            failures.push(
              `${at}: ${JSON.stringify({ lost, duplicated, missing, extra, orphans, problems })}`,
            );
          }
        }),
      );
      recordCrashFigures(`store ${scenario.name} (${backend.name})`, figures);
      expect(failures).toEqual([]);
      expect(figures).toMatchObject({
        kills: walk.length,
        rowsLost: 0,
        rowsDuplicated: 0,
        orphanFiles: 0,
        verifyFailures: 0,
      });
    }, 900_000);
  }
});
