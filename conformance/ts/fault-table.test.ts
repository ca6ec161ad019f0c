// The judging half of `pnpm test:faults` (tools/fault-table.mjs): which recorded figures break a
// guarantee, and the table it prints — on rows written by the same recorders the fault tests use.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  recordConcurrencyFigures,
  recordCrashFigures,
  recordFuzzFigures,
} from "../../tools/fault-report.mjs";
import { alignedTable, faultTables, problems, readRows } from "../../tools/fault-table.mjs";

let dir: string;
const saved = process.env.LDAKIT_FAULT_REPORT_DIR;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ldakit-fault-table-"));
  process.env.LDAKIT_FAULT_REPORT_DIR = dir;
});
afterEach(() => {
  if (saved === undefined) delete process.env.LDAKIT_FAULT_REPORT_DIR;
  else process.env.LDAKIT_FAULT_REPORT_DIR = saved;
  rmSync(dir, { recursive: true, force: true });
});

const clean = {
  crash: {
    pointsWalked: 14,
    kills: 14,
    rowsLost: 0,
    rowsDuplicated: 0,
    orphanFiles: 0,
    verifyFailures: 0,
  },
  fuzz: { tried: 20000, values: 1200, cleanErrors: 18800, otherErrors: 0, hangs: 0 },
  concurrency: { processes: 5, rowsLost: 0, rowsDuplicated: 0, orphanFiles: 0, failedCommands: 0 },
};

function recordClean() {
  recordCrashFigures("process-pending", clean.crash);
  recordFuzzFigures("npy", clean.fuzz);
  recordConcurrencyFigures("4 processors", clean.concurrency);
}

describe("the fault table", () => {
  it("reads back what the recorders wrote, finds nothing wrong, and prints one table per kind", () => {
    recordClean();
    const rows = readRows(dir);
    expect(rows.map((r) => [r.kind, r.name])).toEqual([
      ["concurrency", "4 processors"],
      ["crash", "process-pending"],
      ["fuzz", "npy"],
    ]);
    expect(problems(rows)).toEqual([]);
    expect(faultTables(rows)).toBe(
      [
        "crash scenarios",
        "scenario         points walked  kills  rows lost  rows duplicated  orphan files  verify failures",
        "---------------  -------------  -----  ---------  ---------------  ------------  ---------------",
        "process-pending             14     14          0                0             0                0",
        "",
        "fuzz targets",
        "target  inputs tried  values  clean errors  other errors  hangs",
        "------  ------------  ------  ------------  ------------  -----",
        "npy            20000    1200         18800             0      0",
        "",
        "concurrency runs",
        "run           processes  rows lost  rows duplicated  orphan files  failed commands",
        "------------  ---------  ---------  ---------------  ------------  ---------------",
        "4 processors          5          0                0             0                0",
        "",
      ].join("\n"),
    );
  });

  it("records nothing when LDAKIT_FAULT_REPORT_DIR is not set", () => {
    delete process.env.LDAKIT_FAULT_REPORT_DIR;
    recordClean();
    expect(readRows(dir)).toEqual([]);
  });

  it("fails with no rows at all rather than print an empty table", () => {
    expect(problems(readRows(dir))).toEqual([
      "no figures were recorded: no fault or fuzz test ran, or none called fault-report",
    ]);
    expect(problems(readRows(join(dir, "missing")))).toHaveLength(1);
  });

  it("names every figure that must be zero and is not, and every row that does not add up", () => {
    recordCrashFigures("retry-failed", { ...clean.crash, rowsLost: 2, orphanFiles: 1332 });
    recordCrashFigures("train", { ...clean.crash, pointsWalked: 0, kills: 0 });
    recordCrashFigures("re-import", { ...clean.crash, kills: 3 });
    recordFuzzFigures("json", { ...clean.fuzz, otherErrors: 1, hangs: 2 });
    recordFuzzFigures("npy", { ...clean.fuzz, values: 1000 });
    recordFuzzFigures("empty", { tried: 0, values: 0, cleanErrors: 0, otherErrors: 0, hangs: 0 });
    recordConcurrencyFigures("train while processing", { ...clean.concurrency, failedCommands: 1 });
    recordConcurrencyFigures("scan", { ...clean.concurrency, rowsDuplicated: 4 });
    // A row whose figure is missing, one that is not a count, a file that is not JSON, and a kind
    // the table does not know.
    const { orphanFiles: _, ...noOrphans } = clean.concurrency;
    recordConcurrencyFigures("partial", noOrphans as typeof clean.concurrency);
    recordConcurrencyFigures("fraction", { ...clean.concurrency, rowsLost: 0.5 });
    writeFileSync(join(dir, "crash-broken.json"), "{");
    writeFileSync(join(dir, "bench-x.json"), JSON.stringify({ kind: "bench", name: "x" }));
    expect(problems(readRows(dir))).toEqual([
      'bench-x.json: unknown kind "bench"',
      'concurrency "fraction": rows lost is 0.5, not a count',
      'concurrency "partial": orphan files is undefined, not a count',
      'concurrency "scan": 4 rows duplicated',
      'concurrency "train while processing": 1 failed commands',
      expect.stringMatching(/^crash-broken\.json: not JSON \(.+\)$/),
      'crash "re-import": 3 kills for 14 points walked',
      'crash "retry-failed": 2 rows lost',
      'crash "retry-failed": 1332 orphan files',
      'crash "train": walked no crash point',
      'fuzz "empty": tried no input',
      'fuzz "json": 1 other errors',
      'fuzz "json": 2 hangs',
      'fuzz "json": 20003 outcomes for 20000 inputs tried',
      'fuzz "npy": 19800 outcomes for 20000 inputs tried',
    ]);
    // The table still shows every row, with "?" for a missing figure.
    expect(faultTables(readRows(dir))).toMatch(/^partial\s+5\s+0\s+0\s+\?\s+0$/m);
  });

  it("aligns names left and figures right", () => {
    expect(
      alignedTable(
        "t",
        ["name", "n"],
        [
          ["a", 1],
          ["bbbbbb", 12345],
        ],
      ),
    ).toBe("t\nname        n\n------  -----\na           1\nbbbbbb  12345\n");
  });
});
