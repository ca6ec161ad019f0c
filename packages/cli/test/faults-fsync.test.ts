/**
 * The order the power-loss promise rests on (docs/RELIABILITY.md §3), watched from outside the
 * process with strace: a file is synced before it is renamed into place and its folder is synced
 * before the commit that names it; a file is removed only after the commit that dropped its rows
 * is synced. A power cut cannot be caused from a test; the system calls that make it harmless can
 * be seen.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const CLI = join(import.meta.dirname, "..", "dist", "main.js");
// A trial run: strace must be installed (scripts/setup.sh installs it) and allowed to trace.
const hasStrace = spawnSync("strace", ["-f", "-qq", "-o", "/dev/null", "true"]).status === 0;
if (!hasStrace) {
  console.warn(
    "skipped: strace is not installed or may not trace here (scripts/setup.sh installs it); the fsync order is not checked",
  );
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** One system call as strace saw it complete, in the order of completion. */
interface Call {
  name: string;
  /** The path of an fd argument (strace -y) or the first path argument. */
  path: string;
  /** The second path argument (rename's target). */
  target?: string;
}

/** Runs the CLI under strace and returns the calls that matter here, in completion order. */
function traced(cwd: string, args: string[]): Call[] {
  const out = join(cwd, `strace-${Date.now()}.txt`);
  const run = spawnSync(
    "strace",
    [
      "-f",
      "-qq",
      "-y",
      "-s",
      "64",
      "-e",
      "trace=fsync,fdatasync,rename,renameat,renameat2,pwrite64,unlink,unlinkat,write",
      "-o",
      out,
      process.execPath,
      CLI,
      ...args,
    ],
    // The crash points' trace marks each commit in the system calls (docs/RELIABILITY.md §2).
    { cwd, encoding: "utf8", env: { ...process.env, LDAKIT_CRASH_TRACE: join(cwd, "points") } },
  );
  expect(run.status, `${args.join(" ")}: ${run.stderr}`).toBe(0);
  const calls: Call[] = [];
  const pending = new Map<string, string>();
  for (const raw of readFileSync(out, "utf8").split("\n")) {
    const m = /^(\d+)\s+(.*)$/.exec(raw);
    if (!m) continue;
    const [, pid, rest] = m as unknown as [string, string, string];
    let text = rest;
    if (text.endsWith("<unfinished ...>")) {
      pending.set(pid, text);
      continue;
    }
    const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(text);
    if (resumed) text = (pending.get(pid) ?? "").replace("<unfinished ...>", "") + resumed[1];
    if (!/= 0$|= \d+$/.test(text.trim())) continue; // failed calls change nothing
    const call = /^(\w+)\((.*)\)\s*=/.exec(text);
    if (!call) continue;
    const [, name, argText] = call as unknown as [string, string, string];
    const fd = /^\d+<([^>]*)>/.exec(argText);
    const strings = [...argText.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((s) => s[1] as string);
    if (name === "write") {
      if (fd?.[1]?.endsWith("/points") && strings[0]) {
        calls.push({ name: "point", path: (strings[0] as string).replace(/\\n$/, "") });
      }
    } else if (name === "fsync" || name === "fdatasync" || name === "pwrite64") {
      if (fd) calls.push({ name: name === "fdatasync" ? "fsync" : name, path: fd[1] as string });
    } else if (name.startsWith("rename") && strings.length === 2) {
      calls.push({ name: "rename", path: strings[0] as string, target: strings[1] as string });
    } else if (name.startsWith("unlink") && strings.length >= 1) {
      calls.push({ name: "unlink", path: strings[0] as string });
    }
  }
  return calls;
}

const isStoreFile = (path: string) => path.includes("/embeddings/") && !path.endsWith(".tmp");

/** Every file renamed into place was synced under its temporary name first; returns how many. */
function expectSyncedBeforeRename(calls: Call[]): number {
  let checked = 0;
  calls.forEach((call, i) => {
    if (call.name !== "rename" || !isStoreFile(call.target ?? "")) return;
    const synced = calls.slice(0, i).some((c) => c.name === "fsync" && c.path === call.path);
    expect(synced, `${call.target}: not synced before its rename`).toBe(true);
    checked++;
  });
  return checked;
}

/**
 * At each commit that names files (`<step>:before-commit` of `step`), the files `filesOf` says it
 * names were all renamed into place before it, and their folder was synced after the last of
 * those renames and before the commit. Returns the number of files per commit.
 */
function expectFolderSyncedBeforeCommit(
  calls: Call[],
  step: string,
  filesOf: (commit: number, renamed: Array<{ file: string; at: number }>) => string[],
): number[] {
  const counts: number[] = [];
  const renamed: Array<{ file: string; at: number }> = [];
  let commit = 0;
  calls.forEach((call, i) => {
    if (call.name === "rename" && isStoreFile(call.target ?? "")) {
      renamed.push({ file: call.target as string, at: i });
    }
    if (call.name !== "point" || call.path !== `${step}:before-commit`) return;
    const files = filesOf(commit++, renamed);
    counts.push(files.length);
    for (const file of files) {
      const rename = renamed.find((r) => r.file === file);
      expect(rename, `${file}: named by a commit before it was renamed into place`).toBeDefined();
      const folderSynced = calls
        .slice((rename as { at: number }).at + 1, i)
        .some((c) => c.name === "fsync" && c.path === dirname(file));
      expect(folderSynced, `${file}: its folder was not synced before the commit naming it`).toBe(
        true,
      );
    }
  });
  return counts;
}

/** The files of one kind (`q_`, `a_`) renamed since the last claim of a batch. */
function batchFiles(calls: Call[]) {
  const claims = calls.flatMap((c, i) =>
    c.name === "point" && c.path === "claim:after-commit" ? [i] : [],
  );
  // Each batch records its question files, then its answer files (one chunk each here).
  return (commit: number, renamed: Array<{ file: string; at: number }>) => {
    const from = claims[Math.floor(commit / 2)] ?? 0;
    const prefix = commit % 2 === 0 ? "q_" : "a_";
    return renamed
      .filter((r) => r.at > from && r.file.split("/").at(-1)?.startsWith(prefix))
      .map((r) => r.file);
  };
}

/** Every store file removed: the log write before it (the commit dropping its row) was synced. */
function expectRemovedAfterDurableCommit(calls: Call[]): number {
  let checked = 0;
  calls.forEach((call, i) => {
    if (call.name !== "unlink" || !isStoreFile(call.path)) return;
    const lastWrite = calls.findLastIndex(
      (c, j) => j < i && c.name === "pwrite64" && c.path.endsWith("lda.db-wal"),
    );
    expect(lastWrite, `${call.path}: removed with no commit before it`).toBeGreaterThanOrEqual(0);
    const synced = calls
      .slice(lastWrite + 1, i)
      .some((c) => c.name === "fsync" && c.path.endsWith("lda.db-wal"));
    expect(synced, `${call.path}: removed before the commit that dropped its row was synced`).toBe(
      true,
    );
    checked++;
  });
  return checked;
}

function clusters(tag: string) {
  return JSON.stringify({
    clusters: [0, 1, 2].map((c) => ({
      answer: `Answer ${tag}${c}: turn knob ${c} clockwise`,
      answer_id: `${tag}${c}`,
      questions: [0, 1].map((q) => `how do I turn knob ${c} (${tag}), way ${q}?`),
    })),
  });
}

const SCAN_AND_PROCESS = [
  "migrate",
  "--scan",
  "--input",
  "raw",
  "--process-pending",
  "--model",
  "hash-32",
];

describe.skipIf(!hasStrace)("the order of syncs, renames and commits (strace)", () => {
  const cwd = mkdtempSync(join(tmpdir(), "ldakit-fsync-"));
  dirs.push(cwd);
  mkdirSync(join(cwd, "raw"));
  writeFileSync(join(cwd, "raw", "a.json"), clusters("a"));
  writeFileSync(join(cwd, "raw", "b.json"), clusters("b"));

  it("process-pending: every vector file and its folder are synced before the commit that names them", () => {
    const calls = traced(cwd, SCAN_AND_PROCESS);
    // 2 files × (3 answers + 6 questions)
    expect(expectSyncedBeforeRename(calls)).toBe(18);
    expect(expectFolderSyncedBeforeCommit(calls, "record-vectors", batchFiles(calls))).toEqual([
      6, 3, 6, 3,
    ]);
  });

  it("a superseding re-import: the old files go only after the commit that dropped their rows is synced", () => {
    writeFileSync(join(cwd, "raw", "a.json"), clusters("c"));
    const calls = traced(cwd, SCAN_AND_PROCESS);
    expect(expectSyncedBeforeRename(calls)).toBe(9);
    expect(expectFolderSyncedBeforeCommit(calls, "record-vectors", batchFiles(calls))).toEqual([
      6, 3,
    ]);
    expect(expectRemovedAfterDurableCommit(calls)).toBe(9);
  });

  it("train: every head file, the adapter and mh_<id>.json are synced, and their folder, before the projection commits", () => {
    const calls = traced(cwd, [
      "train",
      "--temperature",
      "0.1",
      "--adapter",
      "linear",
      "--folds",
      "2",
    ]);
    // 6 heads × 2 files, the adapter, mh_1.json
    expect(expectSyncedBeforeRename(calls)).toBe(6 * 2 + 2);
    expect(
      expectFolderSyncedBeforeCommit(calls, "commit-projection", (_, renamed) =>
        renamed.map((r) => r.file),
      ),
    ).toEqual([6 * 2 + 2]);
  });
});
