/**
 * The crash-point walk (docs/ARCHITECTURE.md §3.1): each scenario's command is run once with
 * LDAKIT_CRASH_TRACE to list the crash points it passes, then, for each point and occurrence, on a
 * fresh copy of the store with LDAKIT_CRASH_AT so the process SIGKILLs itself there; the command
 * is run again without a crash, and the store must equal the store of a run that never crashed:
 * the same rows (by content, not ids), no file that no row names, `verify` clean.
 *
 * By default each point is walked at its first, middle and last occurrence; LDAKIT_CRASH_WALK=full
 * (set by `pnpm test:faults`) walks every occurrence.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LDAProjectionDB } from "@ldakit/store";
import { afterAll, describe, expect, it } from "vitest";
import { recordCrashFigures } from "../../../tools/fault-report.mjs";
import { filesBelow } from "./store-files.js";

const CLI = join(import.meta.dirname, "..", "dist", "main.js");
const FULL = process.env.LDAKIT_CRASH_WALK === "full";
/** Runs at once: each is a child process or two. */
const PARALLEL = 3;

const work = mkdtempSync(join(tmpdir(), "ldakit-crash-walk-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function ldakit(db: string, args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (!("LDAKIT_CRASH_AT" in env)) delete childEnv.LDAKIT_CRASH_AT;
  if (!("LDAKIT_CRASH_TRACE" in env)) delete childEnv.LDAKIT_CRASH_TRACE;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, "--db", db, ...args],
      { env: childEnv, encoding: "utf8", maxBuffer: 1 << 24 },
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

async function ok(db: string, args: string[]): Promise<Outcome> {
  const r = await ldakit(db, args);
  if (r.code !== 0 && !(args.includes("--process-pending") && r.code === 1)) {
    throw new Error(`ldakit ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  }
  return r;
}

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
  /** Builds `dir/raw` and the store `dir/store` the step starts from. */
  prepare(dir: string): Promise<void>;
  step: string[];
  /**
   * Whether a killed step had already committed its result, so the rerun adds a second one
   * (train never overwrites a projection): then the store must equal two runs without a crash.
   */
  committed?(store: LDAProjectionDB): boolean;
}

const scenarios: Scenario[] = [
  {
    name: "process-pending",
    async prepare(dir) {
      mkdirSync(join(dir, "raw"));
      writeFileSync(join(dir, "raw", "a.json"), qa("a", ["kettle", "toaster", "blender"]));
      // A batch that fails: its failure path is walked too.
      writeFileSync(join(dir, "raw", "bad.json"), '{"clusters": [{"questions": ["q?"]}]}');
      await ok(db(dir), ["migrate", "--scan", "--input", join(dir, "raw")]);
    },
    step: ["migrate", "--process-pending"],
  },
  {
    name: "superseding re-import",
    async prepare(dir) {
      mkdirSync(join(dir, "raw"));
      writeFileSync(join(dir, "raw", "a.json"), qa("a", ["kettle", "toaster", "blender"]));
      await ok(db(dir), ["migrate", "--scan", "--input", join(dir, "raw")]);
      await ok(db(dir), ["migrate", "--process-pending"]);
      writeFileSync(join(dir, "raw", "a.json"), qa("a2", ["kettle", "toaster", "mixer", "grill"]));
      await ok(db(dir), ["migrate", "--scan", "--input", join(dir, "raw")]);
    },
    step: ["migrate", "--process-pending"],
  },
  {
    name: "retry-failed",
    async prepare(dir) {
      mkdirSync(join(dir, "raw"));
      const text = qa("c", ["kettle", "toaster", "blender"]);
      writeFileSync(join(dir, "raw", "c.json"), text);
      await ok(db(dir), ["migrate", "--scan", "--input", join(dir, "raw")]);
      // The file is away while processing (the batch fails), and back for the retry.
      unlinkSync(join(dir, "raw", "c.json"));
      await ok(db(dir), ["migrate", "--process-pending"]);
      writeFileSync(join(dir, "raw", "c.json"), text);
    },
    step: ["migrate", "--retry-failed"],
  },
  {
    name: "train",
    async prepare(dir) {
      mkdirSync(join(dir, "raw"));
      writeFileSync(
        join(dir, "raw", "a.json"),
        qa("a", ["kettle", "toaster", "blender", "fridge"]),
      );
      await ok(db(dir), ["migrate", "--scan", "--input", join(dir, "raw")]);
      await ok(db(dir), ["migrate", "--process-pending"]);
    },
    step: ["train", "--temperature", "0.1", "--adapter", "none", "--blend", "1", "--folds", "2"],
    committed: (store) =>
      (
        store.sqlite.prepare("SELECT count(*) AS n FROM multi_head_projections").get() as {
          n: number;
        }
      ).n > 0,
  },
];

const db = (dir: string) => join(dir, "store", "lda.db");

const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

/** The store's content without ids: each entry a line, sorted, so lost and extra rows can be counted. */
async function snapshot(
  dir: string,
): Promise<{ rows: string[]; orphans: string[]; problems: string[] }> {
  const store = await LDAProjectionDB.open(db(dir));
  try {
    const q = <T>(sql: string) => store.sqlite.prepare(sql).all() as T[];
    const file = (p: string) => sha(store.vectors.absolute(p));
    const rows: string[] = [];
    for (const b of q<Record<string, unknown>>(
      "SELECT file_path, status, num_clusters, num_questions, error_message FROM training_batches ORDER BY batch_id",
    )) {
      rows.push(`batch ${JSON.stringify(b)}`);
    }
    for (const c of q<Record<string, unknown>>(
      "SELECT c.answer_text, c.answer_record_id, b.file_path FROM clusters c LEFT JOIN training_batches b USING (batch_id)",
    )) {
      rows.push(`cluster ${JSON.stringify(c)}`);
    }
    for (const r of q<Record<string, unknown>>(
      "SELECT c.answer_text, q.question_text FROM questions q JOIN clusters c USING (cluster_id)",
    )) {
      rows.push(`question ${JSON.stringify(r)}`);
    }
    for (const e of q<{ t: string; text: string; vector_path: string }>(
      `SELECT e.entity_type AS t, coalesce(q.question_text, c.answer_text) AS text, e.vector_path
       FROM embeddings e
       LEFT JOIN questions q ON e.entity_type = 'question' AND q.question_id = e.entity_id
       LEFT JOIN clusters c ON e.entity_type = 'answer' AND c.cluster_id = e.entity_id`,
    )) {
      rows.push(`embedding ${e.t} ${JSON.stringify(e.text)} ${file(e.vector_path)}`);
    }
    for (const p of q<{ mh_projection_id: number; num_heads: number; temperature: number }>(
      "SELECT mh_projection_id, num_heads, temperature FROM multi_head_projections",
    )) {
      rows.push(`projection ${p.num_heads} heads, temperature ${p.temperature}`);
      for (const h of q<{ answer_text: string; centroid_path: string; answer_emb_path: string }>(
        `SELECT c.answer_text, h.centroid_path, h.answer_emb_path FROM cluster_heads h
         JOIN clusters c USING (cluster_id) WHERE h.mh_projection_id = ${p.mh_projection_id}`,
      )) {
        rows.push(
          `head ${JSON.stringify(h.answer_text)} ${file(h.centroid_path)} ${file(h.answer_emb_path)}`,
        );
      }
    }
    for (const r of q<{ path: string }>("SELECT path FROM file_removals"))
      rows.push(`pending removal ${r.path}`);
    for (const r of q<{ owner: string | null }>(
      "SELECT owner FROM projection_reservations WHERE owner IS NOT NULL",
    ))
      rows.push(`live reservation ${r.owner}`);
    rows.sort();

    const named = new Set<string>(["lda.db", "lda.db-wal", "lda.db-shm"]);
    for (const r of q<{ p: string }>(
      `SELECT vector_path AS p FROM embeddings UNION SELECT centroid_path FROM cluster_heads
       UNION SELECT answer_emb_path FROM cluster_heads
       UNION SELECT adapter_path FROM multi_head_projections WHERE adapter_path IS NOT NULL`,
    ))
      named.add(r.p);
    for (const p of q<{ id: number; name: string }>(
      "SELECT p.mh_projection_id AS id, m.name FROM multi_head_projections p JOIN models m USING (model_id)",
    ))
      named.add(`embeddings/${p.name.replaceAll("/", "__")}/mh_${p.id}.json`);
    const root = join(dir, "store");
    const onDisk = filesBelow(root);
    const orphans = onDisk.filter((p) => !named.has(p)).sort();
    const problems = (await store.verify()).problems.map((p) => `${p.path}: ${p.problem}`);
    return { rows, orphans, problems };
  } finally {
    await store.close();
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
async function pool<T>(tasks: Array<() => Promise<T>>): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await (tasks[i] as () => Promise<T>)();
      }
    }),
  );
  return results;
}

function occurrencesToWalk(count: number): number[] {
  if (FULL) return Array.from({ length: count }, (_, i) => i + 1);
  return [...new Set([1, Math.ceil(count / 2), count])];
}

describe("the crash-point walk", () => {
  for (const scenario of scenarios) {
    it(`${scenario.name}: a SIGKILL at every crash point, then a rerun, leaves the store a run without a crash leaves`, async () => {
      const base = join(work, scenario.name.replaceAll(" ", "-"));
      const template = join(base, "template");
      mkdirSync(template, { recursive: true });
      await scenario.prepare(template);
      // Copies of the prepared store share its raw folder, whose paths the batches hold.
      const fresh = (name: string): string => {
        const dir = join(base, name);
        cpSync(join(template, "store"), join(dir, "store"), { recursive: true });
        return dir;
      };

      const reference = fresh("reference");
      const trace = join(base, "trace.txt");
      const traced = await ldakit(db(reference), scenario.step, { LDAKIT_CRASH_TRACE: trace });
      expect(traced.signal, traced.stderr).toBeNull();
      const expected = await snapshot(reference);
      expect(expected.problems).toEqual([]);
      expect(expected.orphans).toEqual([]);
      let expectedTwice: Awaited<ReturnType<typeof snapshot>> | undefined;
      if (scenario.committed) {
        const again = await ldakit(db(reference), scenario.step);
        expect(again.code, again.stderr).toBe(0);
        expectedTwice = await snapshot(reference);
      }

      const counts = new Map<string, number>();
      for (const point of readFileSync(trace, "utf8").split("\n").filter(Boolean))
        counts.set(point, (counts.get(point) ?? 0) + 1);
      const walk = [...counts].flatMap(([point, count]) =>
        occurrencesToWalk(count).map((n) => `${point}#${n}`),
      );
      expect(walk.length).toBeGreaterThan(3);

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
        walk.map((at, i) => async () => {
          const dir = fresh(`run-${i}`);
          const crashed = await ldakit(db(dir), scenario.step, { LDAKIT_CRASH_AT: at });
          if (crashed.signal !== "SIGKILL") {
            failures.push(`${at}: the process was not killed (${crashed.code}): ${crashed.stderr}`);
            return;
          }
          figures.kills++;
          let twice = false;
          if (scenario.committed) {
            const store = await LDAProjectionDB.open(db(dir));
            twice = scenario.committed(store);
            await store.close();
          }
          const rerun = await ldakit(db(dir), scenario.step);
          if (rerun.signal !== null) failures.push(`${at}: the rerun died: ${rerun.signal}`);
          const got = await snapshot(dir);
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
          rmSync(dir, { recursive: true, force: true });
        }),
      );
      recordCrashFigures(scenario.name, figures);
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
