/** A row as tools/fault-report.mjs records it, with the name of the file it was read from. */
export interface FaultRow {
  file?: string;
  kind: string;
  name: string;
  [figure: string]: unknown;
}

export interface FaultKind {
  title: string;
  /** Heading of the first column (the scenario, target or run). */
  name: string;
  /** Each figure's key in the row, its heading, and whether it must be zero. */
  columns: Array<[key: string, heading: string, mustBeZero: boolean]>;
}

/** The columns of each kind of row: crash, fuzz, concurrency. */
export declare const KINDS: Record<"crash" | "fuzz" | "concurrency", FaultKind>;

/** Every row recorded in `dir` (one JSON file each), sorted by file name; [] when `dir` is missing. */
export declare function readRows(dir: string): FaultRow[];

/** What in `rows` breaks a guarantee, one sentence each; [] when nothing does. */
export declare function problems(rows: FaultRow[]): string[];

/** Plain aligned text: a title, headings, a rule, and the rows (first column left-aligned). */
export declare function alignedTable(
  title: string,
  headings: string[],
  rows: Array<Array<string | number>>,
): string;

/** One aligned table per kind that has rows. */
export declare function faultTables(rows: FaultRow[]): string;
