// Concurrency runs: real `ldakit` processes on one store at once — four processors, a train
// while batches are still being processed, searches and evals while a train writes a projection,
// and a scan of a modified file while processing runs. After each run the store is compared, by
// content (never by id), with a store one process built from the same input; every file under
// `embeddings/` must be named by a row, and `ldakit verify` must be clean. The figures go to the
// table of `pnpm test:faults` (tools/fault-report.mjs); here they are asserted to be zero.
//
// The store is read through the sqlite3 shell in read-only mode rather than through
// `LDAProjectionDB`, so that checking a store can never repair or sweep what it checks.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { recordConcurrencyFigures } from "../../../tools/fault-report.mjs";
import { filesBelow } from "./store-files.js";

const CLI = join(import.meta.dirname, "..", "dist", "main.js");
const execFileAsync = promisify(execFile);

interface Finished {
  args: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

// A crash hook left in the environment would kill the processes of this test, not test them.
const childEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !name.startsWith("LDAKIT_CRASH")),
);

/** Starts `ldakit --db <dbPath> <args>`; `done` resolves when it exits, whatever the exit code. */
function ldakit(dbPath: string, args: string[]): { child: ChildProcess; done: Promise<Finished> } {
  const child = spawn(process.execPath, [CLI, "--db", dbPath, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: childEnv,
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += d;
  });
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const done = new Promise<Finished>((resolve) =>
    child.on("close", (code, signal) => resolve({ args, code, signal, stdout, stderr })),
  );
  return { child, done };
}

function describeRun(r: Finished): string {
  return `ldakit ${r.args.join(" ")} → exit ${r.code ?? r.signal}\n${r.stdout.slice(0, 2000)}\n${r.stderr.slice(0, 2000)}`;
}

/** Rows of a read-only query through the sqlite3 shell: the database as another program sees it. */
async function query<T>(dbPath: string, sql: string): Promise<T[]> {
  const { stdout } = await execFileAsync(
    "sqlite3",
    ["-readonly", "-json", "-cmd", ".timeout 20000", dbPath, sql],
    { maxBuffer: 256 * 1024 * 1024 },
  ).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT")
      throw new Error("these tests need the sqlite3 shell (apt-get install sqlite3)");
    throw error;
  });
  return stdout.trim() === "" ? [] : (JSON.parse(stdout) as T[]);
}

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function workspace(name: string): { dbPath: string; input: string } {
  const dir = mkdtempSync(join(tmpdir(), `ldakit-${name}-`));
  made.push(dir);
  mkdirSync(join(dir, "raw"));
  return { dbPath: join(dir, "store", "lda.db"), input: join(dir, "raw") };
}

/** A raw form (a) file whose every answer and question names its file and version. */
function writeInput(input: string, file: number, clusters: number, questions: number, v = 1) {
  const tag = `file ${file} version ${v}`;
  writeFileSync(
    join(input, `f${String(file).padStart(2, "0")}.json`),
    JSON.stringify({
      clusters: Array.from({ length: clusters }, (_, c) => ({
        answer: `Answer ${c} of ${tag}: turn the dial of gadget ${c} to position ${(c * 7) % 11}`,
        answer_id: `f${file}-c${c}`,
        questions: Array.from(
          { length: questions },
          (_, q) => `How do I set gadget ${c} for task ${q} (${tag})?`,
        ),
      })),
    }),
  );
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/**
 * The store's content as a multiset of keys that hold no ids: every cluster, question and vector
 * under the file and answer id it came from, vectors by the SHA-256 of their file. A row whose
 * vector file is missing contributes no vector key, so it counts as lost.
 */
async function contentOf(dbPath: string): Promise<Map<string, number>> {
  const root = dirname(dbPath);
  const keys = new Map<string, number>();
  const add = (key: string) => keys.set(key, (keys.get(key) ?? 0) + 1);
  const vector = (path: string | null) => {
    if (path === null) return undefined;
    try {
      return sha256(readFileSync(join(root, ...path.split("/"))));
    } catch {
      return undefined;
    }
  };
  const clusters = await query<{
    file_path: string;
    answer_record_id: string;
    answer_text: string;
    vector_path: string | null;
  }>(
    dbPath,
    `select b.file_path, c.answer_record_id, c.answer_text, e.vector_path
       from clusters c join training_batches b on b.batch_id = c.batch_id
       left join embeddings e on e.entity_type = 'answer' and e.entity_id = c.cluster_id
                             and e.model_id = c.model_id`,
  );
  for (const c of clusters) {
    const where = `${basename(c.file_path)} ${c.answer_record_id}`;
    add(`cluster ${where} ${c.answer_text}`);
    const hash = vector(c.vector_path);
    if (hash) add(`answer vector ${where} ${hash}`);
  }
  const questions = await query<{
    file_path: string;
    answer_record_id: string;
    question_text: string;
    vector_path: string | null;
  }>(
    dbPath,
    `select b.file_path, c.answer_record_id, q.question_text, e.vector_path
       from questions q join clusters c on c.cluster_id = q.cluster_id
       join training_batches b on b.batch_id = c.batch_id
       left join embeddings e on e.entity_type = 'question' and e.entity_id = q.question_id
                             and e.model_id = c.model_id`,
  );
  for (const q of questions) {
    const where = `${basename(q.file_path)} ${q.answer_record_id}`;
    add(`question ${where} ${q.question_text}`);
    const hash = vector(q.vector_path);
    if (hash) add(`question vector ${where} ${hash}`);
  }
  // Vector rows of no question or cluster exist in no single-process store: each is one too many.
  const [stray] = await query<{ n: number }>(
    dbPath,
    `select count(*) as n from embeddings e
      where (e.entity_type = 'question'
             and not exists (select 1 from questions q where q.question_id = e.entity_id))
         or (e.entity_type = 'answer'
             and not exists (select 1 from clusters c where c.cluster_id = e.entity_id))`,
  );
  for (let i = 0; i < (stray?.n ?? 0); i++) add(`stray vector row ${i}`);
  return keys;
}

function compare(expected: Map<string, number>, actual: Map<string, number>) {
  let lost = 0;
  let duplicated = 0;
  const examples: string[] = [];
  for (const key of new Set([...expected.keys(), ...actual.keys()])) {
    const diff = (actual.get(key) ?? 0) - (expected.get(key) ?? 0);
    if (diff < 0) lost -= diff;
    if (diff > 0) duplicated += diff;
    if (diff !== 0 && examples.length < 5) examples.push(`${diff > 0 ? "+" : ""}${diff} ${key}`);
  }
  return { lost, duplicated, examples };
}

/** Files under `embeddings/` that no row names: orphans and temporary files. */
async function orphanFiles(dbPath: string): Promise<string[]> {
  const root = dirname(dbPath);
  const named = new Set(
    (
      await query<{ path: string }>(
        dbPath,
        `select vector_path as path from embeddings
         union select centroid_path from cluster_heads
         union select answer_emb_path from cluster_heads
         union select adapter_path from multi_head_projections where adapter_path is not null
         union select 'embeddings/' || replace(m.name, '/', '__') || '/mh_' || p.mh_projection_id || '.json'
           from multi_head_projections p join models m on m.model_id = p.model_id`,
      )
    ).map((r) => r.path),
  );
  return filesBelow(root, "embeddings").filter((path) => !named.has(path));
}

/** Every batch with its status and how often it was claimed and completed. */
async function batchOutcomes(dbPath: string) {
  return query<{ batch_id: number; status: string; claims: number; completions: number }>(
    dbPath,
    `select b.batch_id, b.status,
            (select count(*) from batch_status_history h
              where h.batch_id = b.batch_id and h.new_status = 'importing') as claims,
            (select count(*) from batch_status_history h
              where h.batch_id = b.batch_id and h.new_status = 'completed') as completions
       from training_batches b order by b.batch_id`,
  );
}

/** The content one process gives: `migrate --scan --process-pending` of `input` in a new store. */
async function singleProcessContent(input: string): Promise<Map<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), "ldakit-conc-reference-"));
  made.push(dir);
  const dbPath = join(dir, "lda.db");
  const r = await ldakit(dbPath, ["migrate", "--scan", "--input", input, "--process-pending"]).done;
  expect(r.code, describeRun(r)).toBe(0);
  return contentOf(dbPath);
}

/**
 * Checks a store after a run and records the run's figures (before asserting, so that the table
 * shows what went wrong): content against a single-process run on the same input, orphan and
 * temporary files, `verify`, and the commands that failed.
 */
async function settle(
  run: string,
  dbPath: string,
  input: string,
  failures: Finished[],
  processes: number,
) {
  const { lost, duplicated, examples } = compare(
    await singleProcessContent(input),
    await contentOf(dbPath),
  );
  const orphans = await orphanFiles(dbPath);
  const verify = await ldakit(dbPath, ["verify", "--json"]).done;
  const verified = verify.code === 0 && JSON.parse(verify.stdout).ok === true;
  const failed = [...failures, ...(verified ? [] : [verify])];
  recordConcurrencyFigures(run, {
    processes: processes + 1,
    rowsLost: lost,
    rowsDuplicated: duplicated,
    orphanFiles: orphans.length,
    failedCommands: failed.length,
  });
  expect(failed.map(describeRun)).toEqual([]);
  expect({ lost, duplicated }, examples.join("\n")).toEqual({ lost: 0, duplicated: 0 });
  expect(orphans).toEqual([]);
  const batches = await batchOutcomes(dbPath);
  expect(batches.length).toBeGreaterThan(0);
  for (const b of batches)
    expect(b, `batch ${b.batch_id}`).toMatchObject({
      status: "completed",
      claims: 1,
      completions: 1,
    });
}

async function batchStatuses(dbPath: string) {
  return query<{ batch_id: number; file_path: string; status: string }>(
    dbPath,
    "select batch_id, file_path, status from training_batches order by batch_id",
  );
}

/**
 * Polls the store until `ready` holds for its batches, and returns the time just before the read
 * that saw it: whatever that read saw unfinished was still unfinished at that time. Fails when
 * every batch is done first — the run would then not be concurrent at all.
 */
async function waitForBatches(
  dbPath: string,
  ready: (batches: Awaited<ReturnType<typeof batchStatuses>>) => boolean,
): Promise<string> {
  for (;;) {
    const before = new Date().toISOString();
    const batches = await batchStatuses(dbPath);
    if (ready(batches)) return before;
    if (
      batches.length > 0 &&
      batches.every((b) => b.status === "completed" || b.status === "failed")
    )
      throw new Error(
        "every batch finished before the concurrent step could start; use more input",
      );
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const completed = (batches: Array<{ status: string }>) =>
  batches.filter((b) => b.status === "completed").length;

describe("concurrent ldakit processes on one store", () => {
  it("four processors at once complete every batch exactly once, as one process would", async () => {
    const { dbPath, input } = workspace("conc-processors");
    for (let f = 0; f < 16; f++) writeInput(input, f, 12, 6);
    const scan = await ldakit(dbPath, ["migrate", "--scan", "--input", input]).done;
    expect(scan.code, describeRun(scan)).toBe(0);

    const runs = await Promise.all(
      Array.from(
        { length: 4 },
        () => ldakit(dbPath, ["migrate", "--process-pending", "--json"]).done,
      ),
    );
    const taken = runs.map((r) =>
      r.code === 0
        ? (JSON.parse(r.stdout).processed.completed as Array<{ batch_id: number }>).map(
            (o) => o.batch_id,
          )
        : [],
    );
    await settle(
      "4 processors",
      dbPath,
      input,
      runs.filter((r) => r.code !== 0),
      5,
    );
    const all = taken.flat().sort((a, b) => a - b);
    expect(all, "every batch completed by exactly one processor").toEqual(
      Array.from({ length: 16 }, (_, i) => i + 1),
    );
    expect(
      taken.filter((ids) => ids.length > 0).length,
      "processors that got work",
    ).toBeGreaterThanOrEqual(2);
  });

  it("trains on the completed batches only while others are still being processed", async () => {
    const { dbPath, input } = workspace("conc-train");
    for (let f = 0; f < 12; f++) writeInput(input, f, 20, 8);
    const scan = await ldakit(dbPath, ["migrate", "--scan", "--input", input]).done;
    expect(scan.code, describeRun(scan)).toBe(0);

    const processors = [0, 1].map(() => ldakit(dbPath, ["migrate", "--process-pending"]).done);
    const trainStart = await waitForBatches(
      dbPath,
      (batches) => completed(batches) >= 2 && completed(batches) < batches.length,
    );
    const train = await ldakit(dbPath, [
      "train",
      ...["--temperature", "0.1", "--adapter", "none", "--blend", "1", "--folds", "2", "--json"],
    ]).done;
    const runs = [...(await Promise.all(processors)), train];
    await settle(
      "train while processing",
      dbPath,
      input,
      runs.filter((r) => r.code !== 0),
      3,
    );

    const id = JSON.parse(train.stdout).mh_projection_id as number;
    const heads = await query<{
      cluster_id: number;
      batch_id: number | null;
      num_questions: number;
      questions: number;
      completed_at: string | null;
      created_at: string;
    }>(
      dbPath,
      `select h.cluster_id, c.batch_id, h.num_questions, p.created_at,
              (select count(*) from questions q where q.cluster_id = h.cluster_id) as questions,
              (select min(x.changed_at) from batch_status_history x
                where x.batch_id = c.batch_id and x.new_status = 'completed') as completed_at
         from cluster_heads h join multi_head_projections p on p.mh_projection_id = h.mh_projection_id
         join clusters c on c.cluster_id = h.cluster_id
        where h.mh_projection_id = ${id}`,
    );
    expect(heads.length).toBeGreaterThan(0);
    for (const h of heads) {
      // A head's batch had completed before the projection was written, and the head's centroid
      // was built from all of its cluster's questions.
      expect(h.completed_at, `cluster ${h.cluster_id}`).not.toBeNull();
      expect((h.completed_at as string) <= h.created_at, `cluster ${h.cluster_id}`).toBe(true);
      expect(h.num_questions, `cluster ${h.cluster_id}`).toBe(h.questions);
    }
    // Every cluster of a batch completed before train started is a head: nothing was skipped.
    const early = await query<{ cluster_id: number }>(
      dbPath,
      `select c.cluster_id from clusters c join batch_status_history x on x.batch_id = c.batch_id
        where x.new_status = 'completed' and x.changed_at < '${trainStart}'`,
    );
    expect(early.length).toBeGreaterThan(0);
    const headIds = new Set(heads.map((h) => h.cluster_id));
    expect(early.filter((c) => !headIds.has(c.cluster_id))).toEqual([]);
    // The run was concurrent: some batch completed only after train had started.
    const late = await query<{ n: number }>(
      dbPath,
      `select count(*) as n from batch_status_history
        where new_status = 'completed' and changed_at >= '${trainStart}'`,
    );
    expect(late[0]?.n).toBeGreaterThan(0);
  });

  it("answers every search and eval while train writes a new projection", async () => {
    const { dbPath, input } = workspace("conc-search");
    for (let f = 0; f < 6; f++) writeInput(input, f, 16, 5);
    const setup = await ldakit(dbPath, ["migrate", "--scan", "--input", input, "--process-pending"])
      .done;
    expect(setup.code, describeRun(setup)).toBe(0);
    const first = await ldakit(dbPath, [
      "train",
      ...["--temperature", "0.1", "--adapter", "none", "--blend", "1", "--folds", "2"],
    ]).done;
    expect(first.code, describeRun(first)).toBe(0);

    // τ and β chosen on 3 folds: seconds of work, with the projection written at the end.
    const training = ldakit(dbPath, ["train", "--adapter", "none", "--folds", "3", "--json"]);
    let trainDone = false;
    void training.done.then(() => {
      trainDone = true;
    });
    const reads: Finished[] = [];
    const wrong: Finished[] = [];
    const check = (r: Finished, ok: (out: Record<string, unknown>) => boolean) => {
      reads.push(r);
      let good = false;
      try {
        good = r.code === 0 && ok(JSON.parse(r.stdout));
      } catch {
        good = false;
      }
      if (!good) wrong.push(r);
    };
    const search = (out: Record<string, unknown>) => {
      const results = out.results as Array<{ answer_text: string; score: number }>;
      return (
        [1, 2].includes(out.mh_projection_id as number) &&
        results.length === 3 &&
        results.every((a) => a.answer_text.startsWith("Answer ") && Number.isFinite(a.score))
      );
    };
    const evaluate = (out: Record<string, unknown>) => {
      const projected = out.projected as { mrr: number };
      return (
        [1, 2].includes(out.mh_projection_id as number) &&
        out.queries === 80 &&
        projected.mrr >= 0 &&
        projected.mrr <= 1
      );
    };
    for (let i = 0; !trainDone; i++) {
      if (i % 2 === 0) {
        const text = `How do I set gadget ${i % 16} for task 1 (file ${i % 6} version 1)?`;
        check(await ldakit(dbPath, ["search", text, "--json", "--top-k", "3"]).done, search);
      } else {
        const queries = join(input, `f0${i % 6}.json`);
        check(await ldakit(dbPath, ["eval", "--queries", queries, "--json"]).done, evaluate);
      }
    }
    const train = await training.done;
    const after = await ldakit(dbPath, ["search", "gadget 3", "--json", "--top-k", "3"]).done;
    check(after, search);
    await settle(
      "searches during train",
      dbPath,
      input,
      [...(train.code === 0 ? [] : [train]), ...wrong],
      4 + reads.length,
    );
    expect(JSON.parse(train.stdout).mh_projection_id).toBe(2);
    expect(JSON.parse(after.stdout).mh_projection_id).toBe(2);
    expect(reads.length, "searches and evals run during train").toBeGreaterThanOrEqual(2);
  });

  it("queues a modified file scanned while processing runs, and replaces its old rows once", async () => {
    const { dbPath, input } = workspace("conc-scan");
    for (let f = 0; f < 12; f++) writeInput(input, f, 20, 8);
    const scan = await ldakit(dbPath, ["migrate", "--scan", "--input", input]).done;
    expect(scan.code, describeRun(scan)).toBe(0);

    const processors = [0, 1].map(() => ldakit(dbPath, ["migrate", "--process-pending"]).done);
    await waitForBatches(
      dbPath,
      (batches) =>
        batches.find((b) => basename(b.file_path) === "f00.json")?.status === "completed" &&
        completed(batches) < batches.length,
    );
    writeInput(input, 0, 22, 7, 2);
    const rescan = await ldakit(dbPath, ["migrate", "--scan", "--input", input, "--json"]).done;
    const runs = [rescan, ...(await Promise.all(processors))];
    // Whatever the processors left (the new batch, if they had stopped before the scan).
    const finish = await ldakit(dbPath, ["migrate", "--process-pending"]).done;
    runs.push(finish);
    await settle(
      "scan while processing",
      dbPath,
      input,
      runs.filter((r) => r.code !== 0),
      5,
    );
    const report = JSON.parse(rescan.stdout).scan;
    expect(report.new).toEqual([]);
    expect(report.modified.map((f: { file: string }) => basename(f.file))).toEqual(["f00.json"]);
    expect(report.unchanged).toBe(11);
  });

  it("sees lost, duplicated and orphaned data, so that the runs above can fail", async () => {
    const { dbPath, input } = workspace("conc-damage");
    for (let f = 0; f < 2; f++) writeInput(input, f, 3, 2);
    const r = await ldakit(dbPath, ["migrate", "--scan", "--input", input, "--process-pending"])
      .done;
    expect(r.code, describeRun(r)).toBe(0);
    const reference = await singleProcessContent(input);
    expect(compare(reference, await contentOf(dbPath))).toMatchObject({ lost: 0, duplicated: 0 });
    expect(await orphanFiles(dbPath)).toEqual([]);

    const [{ vector_path } = { vector_path: "" }] = await query<{ vector_path: string }>(
      dbPath,
      "select vector_path from embeddings where entity_type = 'question' limit 1",
    );
    rmSync(join(dirname(dbPath), ...vector_path.split("/")));
    await execFileAsync("sqlite3", [
      dbPath,
      `insert into questions (cluster_id, question_text)
         select cluster_id, question_text from questions order by question_id limit 1`,
    ]);
    const folder = join(dirname(dbPath), "embeddings", "hash-384");
    writeFileSync(join(folder, ".q_9.npy.123.abcd.tmp"), "partial");
    writeFileSync(join(folder, "q_999999.npy"), "orphan");
    // The removed file is one lost vector; the copied question row is one question too many.
    expect(compare(reference, await contentOf(dbPath))).toMatchObject({ lost: 1, duplicated: 1 });
    expect(await orphanFiles(dbPath)).toEqual([
      "embeddings/hash-384/.q_9.npy.123.abcd.tmp",
      "embeddings/hash-384/q_999999.npy",
    ]);
  });
});
