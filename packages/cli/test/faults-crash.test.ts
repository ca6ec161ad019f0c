/// <reference path="../../../tools/postgres-global-setup.d.mts" />
/**
 * The crash-point walk (docs/ARCHITECTURE.md §3.1), on both backends: each scenario's command is
 * run once with LDAKIT_CRASH_TRACE to list the crash points it passes, then, for each point and
 * occurrence, on a fresh copy of the store with LDAKIT_CRASH_AT so the process SIGKILLs itself
 * there; the command is run again without a crash, and the store must equal the store of a run
 * that never crashed: the same rows (by content, not ids), no file that no row names, `verify`
 * clean. A SQLite copy is the store's folder copied; a PostgreSQL copy is a database made from the
 * prepared one as template, beside a copy of its store root, the root it records moved to the
 * copy's. On PostgreSQL the kill drops the process's connections and the server rolls back the
 * transaction it had open.
 *
 * LDAKIT_CRASH_WALK=full (set by `pnpm test:faults`) walks every occurrence of every point on both
 * backends. Otherwise each point is walked at its first, middle and last occurrence on SQLite, and
 * at its first and last on PostgreSQL, whose CLI runs are slower: every point is still walked
 * there, in fewer places.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, readFileSync, realpathSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LDAProjectionDB } from "@ldakit/store";
import { sql } from "kysely";
import pg from "pg";
import { afterEach, describe, expect, inject, it } from "vitest";
import { recordCrashFigures } from "../../../tools/fault-report.mjs";
import { createDatabase, dropDatabase } from "../../../tools/postgres-databases.mjs";
import { backends, CLI, type CliBackend, tempDir } from "./backends.js";
import { filesBelow } from "./store-files.js";

const FULL = process.env.LDAKIT_CRASH_WALK === "full";
/** Runs at once: each is a child process or two. */
const PARALLEL = 3;

/** A store as the walk handles it: where its database and its files are, and how `--db` names it. */
interface WalkStore {
  backend: CliBackend["name"];
  location: string;
  root: string;
  args: string[];
}

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function ldakit(
  store: WalkStore,
  args: string[],
  env: Record<string, string> = {},
): Promise<Outcome> {
  // The store comes from the arguments alone, and a kill or a trace only where the walk asks.
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    LDAKIT_DB: "",
    LDAKIT_DATABASE_URL: "",
    LDAKIT_STORE_ROOT: "",
  };
  delete childEnv.LDAKIT_CRASH_AT;
  delete childEnv.LDAKIT_CRASH_TRACE;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...store.args, ...args],
      { env: { ...childEnv, ...env }, encoding: "utf8", maxBuffer: 1 << 24 },
      (error, stdout, stderr) => {
        const e = error as (Error & { code?: number; signal?: NodeJS.Signals }) | null;
        resolve({
          code: e ? (typeof e.code === "number" ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stdout,
          stderr,
        });
      },
    );
  });
}

async function ok(store: WalkStore, args: string[]): Promise<Outcome> {
  const r = await ldakit(store, args);
  if (r.code !== 0 && !(args.includes("--process-pending") && r.code === 1)) {
    throw new Error(`ldakit ${args.join(" ")} on ${store.backend} failed (${r.code}): ${r.stderr}`);
  }
  return r;
}

const open = (store: WalkStore) =>
  LDAProjectionDB.open(store.location, {
    storeRoot: store.backend === "postgres" ? store.root : undefined,
  });

function qa(tag: string, things: string[]): string {
  return JSON.stringify({
    clusters: things.map((thing, c) => ({
      answer: `Answer ${tag}${c}: descale the ${thing} with vinegar once a month`,
      answer_id: `${tag}${c}`,
      questions: [0, 1, 2].map((q) => `how do I clean my ${thing} (${tag}), way ${q}?`),
    })),
  });
}

/** A command whose every crash point is walked, after `prepare` made the store it starts from. */
interface Scenario {
  name: string;
  /** Fills the new store `store`; input files go to `raw`, which every copy shares. */
  prepare(store: WalkStore, raw: string): Promise<void>;
  step: string[];
  /**
   * Whether a killed step had already committed its result, so the rerun adds a second one
   * (train never overwrites a projection): then the store must equal two runs without a crash.
   */
  committed?(db: LDAProjectionDB): Promise<boolean>;
}

const scenarios: Scenario[] = [
  {
    name: "process-pending",
    async prepare(store, raw) {
      writeFileSync(join(raw, "a.json"), qa("a", ["kettle", "toaster", "blender"]));
      // A batch that fails: its failure path is walked too.
      writeFileSync(join(raw, "bad.json"), '{"clusters": [{"questions": ["q?"]}]}');
      await ok(store, ["migrate", "--scan", "--input", raw]);
    },
    step: ["migrate", "--process-pending"],
  },
  {
    name: "superseding re-import",
    async prepare(store, raw) {
      writeFileSync(join(raw, "a.json"), qa("a", ["kettle", "toaster", "blender"]));
      await ok(store, ["migrate", "--scan", "--input", raw]);
      await ok(store, ["migrate", "--process-pending"]);
      writeFileSync(join(raw, "a.json"), qa("a2", ["kettle", "toaster", "mixer", "grill"]));
      await ok(store, ["migrate", "--scan", "--input", raw]);
    },
    step: ["migrate", "--process-pending"],
  },
  {
    name: "retry-failed",
    async prepare(store, raw) {
      const text = qa("c", ["kettle", "toaster", "blender"]);
      writeFileSync(join(raw, "c.json"), text);
      await ok(store, ["migrate", "--scan", "--input", raw]);
      // The file is away while processing (the batch fails), and back for the retry.
      unlinkSync(join(raw, "c.json"));
      await ok(store, ["migrate", "--process-pending"]);
      writeFileSync(join(raw, "c.json"), text);
    },
    step: ["migrate", "--retry-failed"],
  },
  {
    name: "train",
    async prepare(store, raw) {
      writeFileSync(join(raw, "a.json"), qa("a", ["kettle", "toaster", "blender", "fridge"]));
      await ok(store, ["migrate", "--scan", "--input", raw]);
      await ok(store, ["migrate", "--process-pending"]);
    },
    step: ["train", "--temperature", "0.1", "--adapter", "none", "--blend", "1", "--folds", "2"],
    committed: async (db) =>
      (await db.kysely.selectFrom("multi_head_projections").select("mh_projection_id").execute())
        .length > 0,
  },
];

/** The databases made for a test's PostgreSQL copies that are still there, dropped after it. */
const databases = new Set<string>();
afterEach(async () => {
  for (const url of databases) await dropDatabase(url);
  databases.clear();
});

/** One copy at a time: `CREATE DATABASE … TEMPLATE` refuses while the template is being read. */
let copying: Promise<unknown> = Promise.resolve();

/**
 * A copy of `template` (no process has it open) with a store root of its own: the SQLite folder,
 * or a database made from the template database beside a copy of its root, the root it records
 * moved to the copy's (a store's paths are relative to its root, so a moved store is whole).
 */
function copyStore(template: WalkStore): Promise<WalkStore> {
  const next = copying.then(async (): Promise<WalkStore> => {
    const root = realpathSync(tempDir("ldakit-crash-walk-"));
    cpSync(template.root, root, { recursive: true });
    if (template.backend === "sqlite") {
      const location = join(root, "lda.db");
      return { backend: "sqlite", location, root, args: ["--db", location] };
    }
    const name = decodeURIComponent(new URL(template.location).pathname.slice(1));
    const location = await createDatabase(inject("ldakitPostgresUrl"), { template: name });
    databases.add(location);
    const client = new pg.Client({ connectionString: location });
    await client.connect();
    try {
      await client.query("UPDATE store_settings SET value = $1 WHERE key = 'store_root'", [root]);
    } finally {
      await client.end();
    }
    return {
      backend: "postgres",
      location,
      root,
      args: ["--db", location, "--store-root", root],
    };
  });
  copying = next.catch(() => {});
  return next;
}

/** Drops a copy's database now rather than after the test: a full walk makes a hundred. */
async function dropCopy(store: WalkStore): Promise<void> {
  if (store.backend !== "postgres") return;
  await dropDatabase(store.location);
  databases.delete(store.location);
}

const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

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
    const orphans = filesBelow(store.root).filter((p) => !named.has(p));
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

function occurrencesToWalk(count: number, backend: CliBackend["name"]): number[] {
  if (FULL) return Array.from({ length: count }, (_, i) => i + 1);
  if (backend === "postgres") return [...new Set([1, count])];
  return [...new Set([1, Math.ceil(count / 2), count])];
}

describe.each(backends)("the crash-point walk on $name", (backend) => {
  for (const scenario of scenarios) {
    it(`${scenario.name}: a SIGKILL at every crash point, then a rerun, leaves the store a run without a crash leaves`, async () => {
      const raw = tempDir("ldakit-crash-walk-raw-");
      const made = await backend.newStore();
      const root = realpathSync(made.root);
      // Copies of the prepared store share its raw folder, whose paths the batches hold.
      const template: WalkStore = {
        backend: made.backend,
        location: made.backend === "sqlite" ? join(root, "lda.db") : made.location,
        root,
        args:
          made.backend === "sqlite"
            ? ["--db", join(root, "lda.db")]
            : ["--db", made.location, "--store-root", root],
      };
      mkdirSync(raw, { recursive: true });
      await scenario.prepare(template, raw);

      const reference = await copyStore(template);
      const trace = join(tempDir("ldakit-crash-walk-trace-"), "trace.txt");
      const traced = await ldakit(reference, scenario.step, { LDAKIT_CRASH_TRACE: trace });
      expect(traced.signal, traced.stderr).toBeNull();
      const expected = await snapshot(reference);
      expect(expected.problems).toEqual([]);
      expect(expected.orphans).toEqual([]);
      let expectedTwice: Awaited<ReturnType<typeof snapshot>> | undefined;
      if (scenario.committed) {
        const again = await ldakit(reference, scenario.step);
        expect(again.code, again.stderr).toBe(0);
        expectedTwice = await snapshot(reference);
      }

      const counts = new Map<string, number>();
      for (const point of readFileSync(trace, "utf8").split("\n").filter(Boolean))
        counts.set(point, (counts.get(point) ?? 0) + 1);
      const walk = [...counts].flatMap(([point, count]) =>
        occurrencesToWalk(count, backend.name).map((n) => `${point}#${n}`),
      );
      // Every command writes in transactions and files: a walk of a handful of points walked nothing.
      expect(walk.length).toBeGreaterThan(3);
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
          try {
            const crashed = await ldakit(store, scenario.step, { LDAKIT_CRASH_AT: at });
            if (crashed.signal !== "SIGKILL") {
              failures.push(
                `${at}: the process was not killed (${crashed.code}): ${crashed.stderr}`,
              );
              return;
            }
            figures.kills++;
            let twice = false;
            if (scenario.committed) {
              const db = await open(store);
              try {
                twice = await scenario.committed(db);
              } finally {
                await db.close();
              }
            }
            const rerun = await ldakit(store, scenario.step);
            if (rerun.signal !== null) failures.push(`${at}: the rerun died: ${rerun.signal}`);
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
          } finally {
            await dropCopy(store);
          }
        }),
      );
      recordCrashFigures(`${scenario.name} (${backend.name})`, figures);
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
