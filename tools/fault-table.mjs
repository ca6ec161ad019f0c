// The table `pnpm test:faults` prints from the rows the fault tests record (tools/fault-report.mjs),
// and the figures in it that break a guarantee. Kept apart from scripts/test-faults.mjs, which
// builds and runs the tests, so that the judging can be tested without running them.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The columns of each kind of row: the figure, its heading, and whether it must be zero. A row
 * missing a figure, or with one that is not a non-negative integer, is itself a problem.
 */
export const KINDS = {
  crash: {
    title: "crash scenarios",
    name: "scenario",
    columns: [
      ["pointsWalked", "points walked", false],
      ["kills", "kills", false],
      ["rowsLost", "rows lost", true],
      ["rowsDuplicated", "rows duplicated", true],
      ["orphanFiles", "orphan files", true],
      ["verifyFailures", "verify failures", true],
    ],
  },
  fuzz: {
    title: "fuzz targets",
    name: "target",
    columns: [
      ["tried", "inputs tried", false],
      ["values", "values", false],
      ["cleanErrors", "clean errors", false],
      ["otherErrors", "other errors", true],
      ["hangs", "hangs", true],
    ],
  },
  concurrency: {
    title: "concurrency runs",
    name: "run",
    columns: [
      ["processes", "processes", false],
      ["rowsLost", "rows lost", true],
      ["rowsDuplicated", "rows duplicated", true],
      ["orphanFiles", "orphan files", true],
      ["failedCommands", "failed commands", true],
    ],
  },
};

/** Every row recorded in `dir` (one JSON file each), sorted by kind and name. */
export function readRows(dir) {
  let names;
  try {
    names = readdirSync(dir);
  } catch (error) {
    if (error.code === "ENOENT") return [];
    throw error;
  }
  return names
    .filter((name) => name.endsWith(".json"))
    .sort()
    .map((name) => {
      const text = readFileSync(join(dir, name), "utf8");
      try {
        return { file: name, ...JSON.parse(text) };
      } catch (error) {
        return { file: name, kind: "unreadable", name, error: error.message };
      }
    });
}

/**
 * What in `rows` breaks a guarantee, one sentence each: no rows at all, a row of an unknown kind,
 * a figure missing or not a count, a must-be-zero figure that is not zero, a crash walk that
 * walked no point, and a fuzz row whose outcomes do not add up to the inputs tried.
 */
export function problems(rows) {
  if (rows.length === 0) {
    return ["no figures were recorded: no fault or fuzz test ran, or none called fault-report"];
  }
  const found = [];
  for (const row of rows) {
    const kind = KINDS[row.kind];
    const label = `${row.kind} ${JSON.stringify(row.name)}`;
    if (!kind) {
      found.push(
        `${row.file}: ${row.error ? `not JSON (${row.error})` : `unknown kind ${JSON.stringify(row.kind)}`}`,
      );
      continue;
    }
    for (const [key, heading, mustBeZero] of kind.columns) {
      const value = row[key];
      if (!Number.isInteger(value) || value < 0) {
        found.push(`${label}: ${heading} is ${JSON.stringify(value)}, not a count`);
      } else if (mustBeZero && value !== 0) {
        found.push(`${label}: ${value} ${heading}`);
      }
    }
    if (row.kind === "crash" && row.pointsWalked === 0) {
      found.push(`${label}: walked no crash point`);
    }
    if (row.kind === "crash" && row.kills < row.pointsWalked) {
      found.push(`${label}: ${row.kills} kills for ${row.pointsWalked} points walked`);
    }
    if (row.kind === "fuzz") {
      const ended = row.values + row.cleanErrors + row.otherErrors + row.hangs;
      if (row.tried === 0) found.push(`${label}: tried no input`);
      else if (ended !== row.tried) {
        found.push(`${label}: ${ended} outcomes for ${row.tried} inputs tried`);
      }
    }
  }
  return found;
}

/** Rows as plain text, aligned: a title, a heading line, a rule, then one line per row. */
export function alignedTable(title, headings, rows) {
  const cells = rows.map((row) => row.map((cell) => String(cell)));
  const widths = headings.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  // Names read left-aligned, figures right-aligned, as in a spreadsheet.
  const line = (row) =>
    row
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join("  ")
      .trimEnd();
  return [title, line(headings), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)]
    .join("\n")
    .concat("\n");
}

/** The whole report: one table per kind that has rows, in the order of {@link KINDS}. */
export function faultTables(rows) {
  const tables = [];
  for (const [kind, { title, name, columns }] of Object.entries(KINDS)) {
    const ofKind = rows.filter((row) => row.kind === kind);
    if (ofKind.length === 0) continue;
    tables.push(
      alignedTable(
        title,
        [name, ...columns.map(([, heading]) => heading)],
        ofKind.map((row) => [row.name, ...columns.map(([key]) => row[key] ?? "?")]),
      ),
    );
  }
  return tables.join("\n");
}
