import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fuzzRuns, recordFuzzFigures } from "../../../tools/fault-report.mjs";
import {
  type LabelledQuery,
  type NormalizedData,
  parseQueryJson,
  parseRawJson,
  parseStrictJson,
  RawDataError,
  validateQueryData,
  validateRawData,
} from "../src/index.js";
import { type PythonReading, readWithPython } from "./python-json.js";

// Mutated raw files of both forms and mutated query files, each read by ldakit and by Python's
// json (tools: python-json.ts). Every input must give either the value Python reads (and the
// normalized data a JSON.parse-based reading of that value gives), or a RawDataError that says
// where; Python must refuse (or be unable to read) every input the JSON reader refuses.

const SEED = Number(process.env.LDAKIT_FUZZ_SEED ?? 1_300_013);
const RUNS = fuzzRuns(2000);
/** A parse slower than this is counted as a hang (the reader is linear: it takes milliseconds). */
const HANG_MS = 2000;

const EXAMPLE = join(import.meta.dirname, "../../../examples/bike-care");

const RAW_BASES: string[] = [
  `{"clusters": [{"answer_id": 1, "answer": "Oil the chain.", "questions": ["chain squeaks", "noisy chain"]},
  {"answer_id": "two", "answer": "Check the brake pads.", "questions": ["brakes squeal"]}]}`,
  JSON.stringify(
    {
      version: 2,
      clusters: [
        {
          id: "tyres",
          answer_source: "docs/tyres.md",
          answers: { default: "Pump to the sidewall pressure.", "hash-16": "Pump them up." },
          queries: { short: ["tyre pressure"], medium: ["how hard should my tyres be?"], long: [] },
        },
        {
          answer_id: 7,
          answer: "Café racer: é, ü, 😀, \u2028.",
          questions: ["what is a café racer"],
        },
      ],
    },
    null,
    2,
  ),
  // the first clusters of a real example file, as its author wrote them
  JSON.stringify(
    {
      clusters: (
        JSON.parse(readFileSync(join(EXAMPLE, "raw", "gear.json"), "utf8")) as {
          clusters: unknown[];
        }
      ).clusters.slice(0, 2),
    },
    null,
    2,
  ).replaceAll("\n", "\r\n"),
];

const QUERY_BASES: string[] = [
  `{"clusters": [{"id": "tyres", "queries": {"novel": ["tires feel squishy", "firm tyres?"]}},
  {"answer_id": 3, "questions": ["chain \\u00e9 \\ud83d\\ude00"]}]}`,
  JSON.stringify(
    {
      clusters: (
        JSON.parse(readFileSync(join(EXAMPLE, "eval-queries.json"), "utf8")) as {
          clusters: unknown[];
        }
      ).clusters.slice(0, 3),
    },
    null,
    "\t",
  ),
];

/** Byte strings that break or bend a file: invalid UTF-8, NUL, BOMs, escapes, nesting. */
const BYTE_SNIPPETS: number[][] = [
  [0x00],
  [0x80],
  [0xbf],
  [0xc0, 0xaf],
  [0xc3],
  [0xc3, 0xa9],
  [0xe2, 0x82],
  [0xed, 0xa0, 0x80],
  [0xed, 0xb0, 0x80],
  [0xef, 0xbb, 0xbf],
  [0xf0, 0x9f, 0x98, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xff],
  [0xfe, 0xff],
  [0x0d],
  [0x0a],
  [0x09],
];
/** Escapes put inside a string (key or value), where they decide what the string holds. */
const STRING_SNIPPETS = [
  "\\ud800",
  "\\udbff\\u0041",
  "\\udc00",
  "\\ud83d\\ude00",
  "\\u0000",
  "\u0000",
  "\\u00e9",
  "é",
];
const TEXT_SNIPPETS = [
  "\\ud800",
  "\\udc00",
  "\\ud83d\\ude00",
  "\\ud83d",
  "\\u0000",
  "\\u00e9",
  "\\",
  '"',
  ",",
  "}",
  "]",
  "[",
  "{",
  ":",
  "1e400",
  "-0",
  "NaN",
  "Infinity",
  "null",
  '"__proto__": ["p"], ',
  '"constructor": "c", ',
  '"toString": ["t"], ',
];

type Mutation =
  | { op: "flip"; at: number; byte: number }
  | { op: "insertBytes"; at: number; bytes: number[] }
  | { op: "insertText"; at: number; text: string }
  | { op: "insertInString"; which: number; text: string }
  | { op: "delete"; at: number; length: number }
  | { op: "truncate"; at: number }
  | { op: "duplicateKey"; which: number; value: string }
  | { op: "prefix"; bytes: number[] }
  | { op: "encode"; as: "utf16le" | "utf16be" | "utf32be" }
  | { op: "nest"; which: number; depth: number; closed: boolean };

/** Where in the file, as a fraction of its length: uniform (fast-check's bias would keep to the ends). */
const position = fc.noBias(fc.integer({ min: 0, max: 1_000_000 })).map((k) => k / 1_000_000);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("flip" as const),
      at: position,
      byte: fc.integer({ min: 0, max: 255 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("insertBytes" as const),
      at: position,
      bytes: fc.constantFrom(...BYTE_SNIPPETS),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("insertText" as const),
      at: position,
      text: fc.constantFrom(...TEXT_SNIPPETS),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("insertInString" as const),
      which: fc.nat(),
      text: fc.constantFrom(...STRING_SNIPPETS),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("delete" as const),
      at: position,
      length: fc.integer({ min: 1, max: 12 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("truncate" as const), at: position }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("duplicateKey" as const),
      which: fc.nat(),
      value: fc.constantFrom('"v"', '["q"]', "1", "{}"),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("prefix" as const),
      bytes: fc.constantFrom<number[]>(
        [0xef, 0xbb, 0xbf],
        [0xff, 0xfe],
        [0xfe, 0xff],
        [0, 0, 0xfe, 0xff],
        [0xef, 0xbb],
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("encode" as const),
      as: fc.constantFrom("utf16le" as const, "utf16be" as const, "utf32be" as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("nest" as const),
      which: fc.nat(),
      depth: fc.constantFrom(2, 50, 5000, 100_000),
      closed: fc.boolean(),
    }),
  },
);

function at(bytes: Buffer, where: number): number {
  return Math.min(bytes.length, Math.floor(where * (bytes.length + 1)));
}

/** The byte offsets where `pattern` matches the (latin1-decoded) bytes. */
function offsets(bytes: Buffer, pattern: RegExp): number[] {
  return [...bytes.toString("latin1").matchAll(pattern)].map((m) => m.index);
}

function mutate(base: string, mutations: Mutation[]): Buffer {
  let b = Buffer.from(base, "utf8");
  for (const m of mutations) {
    switch (m.op) {
      case "flip": {
        if (b.length === 0) break;
        b = Buffer.from(b);
        b[Math.min(b.length - 1, at(b, m.at))] = m.byte;
        break;
      }
      case "insertBytes":
      case "insertText": {
        const i = at(b, m.at);
        const piece = m.op === "insertBytes" ? Buffer.from(m.bytes) : Buffer.from(m.text, "utf8");
        b = Buffer.concat([b.subarray(0, i), piece, b.subarray(i)]);
        break;
      }
      case "delete": {
        const i = at(b, m.at);
        b = Buffer.concat([b.subarray(0, i), b.subarray(i + m.length)]);
        break;
      }
      case "truncate":
        b = b.subarray(0, at(b, m.at));
        break;
      case "insertInString": {
        const strings = offsets(b, /"[^"\\]*"/g);
        if (strings.length === 0) break;
        const i = (strings[m.which % strings.length] as number) + 1;
        b = Buffer.concat([b.subarray(0, i), Buffer.from(m.text, "utf8"), b.subarray(i)]);
        break;
      }
      case "duplicateKey": {
        // `"k": <value>, ` right before an existing `"k":`: the same key twice in one object
        const keys = [...b.toString("latin1").matchAll(/"([A-Za-z_]+)"\s*:/g)];
        const key = keys[m.which % Math.max(1, keys.length)];
        if (!key) break;
        const piece = Buffer.from(`"${key[1]}": ${m.value}, `);
        b = Buffer.concat([b.subarray(0, key.index), piece, b.subarray(key.index)]);
        break;
      }
      case "prefix":
        b = Buffer.concat([Buffer.from(m.bytes), b]);
        break;
      case "encode": {
        const text = b.toString("utf8");
        if (m.as === "utf32be") {
          const out = Buffer.alloc(4 * [...text].length);
          let k = 0;
          for (const ch of text) out.writeUInt32BE(ch.codePointAt(0) ?? 0, 4 * k++);
          b = out;
        } else {
          b = Buffer.from(text, "utf16le");
          if (m.as === "utf16be") b.swap16();
        }
        break;
      }
      case "nest": {
        // a string value wrapped in `depth` arrays (or the arrays left open)
        const strings = offsets(b, /"[^"\\]*"(?=\s*[,\]}])/g);
        const open = "[".repeat(m.depth);
        const close = m.closed ? "]".repeat(m.depth) : "";
        if (strings.length === 0) {
          b = Buffer.from(open + close);
          break;
        }
        const i = strings[m.which % strings.length] as number;
        const end = b.indexOf(0x22, i + 1) + 1;
        b = Buffer.concat([
          b.subarray(0, i),
          Buffer.from(open),
          b.subarray(i, end),
          Buffer.from(close),
          b.subarray(end),
        ]);
        break;
      }
    }
  }
  return b;
}

type Outcome =
  | { kind: "value"; result: unknown }
  | { kind: "error"; error: unknown }
  | { kind: "strict"; value: unknown };

const SYNTAX_MESSAGE = /^data\.json: JSON parse error at line \d+, column \d+: \S/;

/** JSON.parse's value with objects rebuilt without a prototype, as the strict reader builds them. */
function nullPrototype(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(nullPrototype);
  if (value !== null && typeof value === "object") {
    const out = Object.create(null) as Record<string, unknown>;
    for (const [k, v] of Object.entries(value)) out[k] = nullPrototype(v);
    return out;
  }
  return value;
}

function outcomeOf(f: () => unknown): Outcome {
  try {
    return { kind: "value", result: f() };
  } catch (error) {
    return { kind: "error", error };
  }
}

/** What a format parser must give for a value Python read: the same as validating JSON.parse's reading. */
function expectedFor(reference: (value: unknown) => unknown, pythonValue: string): Outcome {
  return outcomeOf(() => reference(JSON.parse(pythonValue)));
}

function sameOutcome(a: Outcome, b: Outcome): boolean {
  if (a.kind === "value" && b.kind === "value") {
    return JSON.stringify(a.result) === JSON.stringify(b.result);
  }
  if (a.kind === "error" && b.kind === "error") {
    return (a.error as Error).message === (b.error as Error).message;
  }
  return false;
}

/**
 * Checks one input; returns `null` when it was read correctly or refused cleanly, else what
 * went wrong. `figures` counts it.
 */
function check(
  input: Buffer,
  python: PythonReading,
  parse: (bytes: Buffer) => unknown,
  reference: (value: unknown) => unknown,
  figures: { values: number; cleanErrors: number; otherErrors: number; hangs: number },
): string | null {
  const started = performance.now();
  const got = outcomeOf(() => parse(input));
  if (performance.now() - started > HANG_MS) {
    figures.hangs++;
    return `took ${Math.round(performance.now() - started)} ms`;
  }
  const problem = ((): string | null => {
    if (got.kind === "error") {
      const error = got.error;
      if (!(error instanceof RawDataError)) return `threw ${String(error)}`;
      if (error.kind === "syntax") {
        if (
          !SYNTAX_MESSAGE.test(error.message) ||
          error.line === undefined ||
          error.column === undefined
        ) {
          return `syntax error without line and column: ${error.message}`;
        }
        if (python.verdict === "ok" || python.verdict === "nonfinite") {
          return `refused what Python reads: ${error.message}`;
        }
        if (error.message.includes("invalid UTF-8") && python.byteOffset !== error.byteOffset) {
          return `invalid UTF-8 at byte ${error.byteOffset}, Python says ${python.byteOffset}`;
        }
        return null;
      }
    } else if (python.verdict === "refused") {
      return `read what Python refuses (${python.kind}: ${python.message})`;
    }
    // read as JSON (data, or a shape error): the value must be Python's, and the outcome that
    // of a JSON.parse-based reading of it
    if (python.verdict !== "ok") return null;
    const value = python.value as string;
    let strict: unknown;
    try {
      strict = parseStrictJson(input);
    } catch (error) {
      return `parseStrictJson threw ${String(error)}`;
    }
    try {
      expect(strict).toStrictEqual(nullPrototype(JSON.parse(value)));
    } catch {
      return `value differs from Python's: ${value.slice(0, 200)}`;
    }
    const bom = input[0] === 0xef && input[1] === 0xbb && input[2] === 0xbf ? 3 : 0;
    const viaJsonParse = outcomeOf(() =>
      reference(JSON.parse(input.subarray(bom).toString("utf8"))),
    );
    const viaPython = expectedFor(reference, value);
    if (!sameOutcome(got, viaPython) || !sameOutcome(got, viaJsonParse)) {
      return "normalized data differs from a JSON.parse-based reading";
    }
    return null;
  })();
  if (problem !== null) figures.otherErrors++;
  else if (got.kind === "value") figures.values++;
  else figures.cleanErrors++;
  return problem;
}

function fuzz(
  target: string,
  bases: string[],
  parse: (bytes: Buffer) => unknown,
  reference: (value: unknown) => unknown,
) {
  const cases = fc.sample(
    fc.tuple(fc.constantFrom(...bases), fc.array(mutation, { minLength: 0, maxLength: 3 })),
    { seed: SEED, numRuns: RUNS },
  );
  const inputs = cases.map(([base, mutations]) => mutate(base, mutations));
  const readings = readWithPython(inputs);
  const figures = { values: 0, cleanErrors: 0, otherErrors: 0, hangs: 0 };
  const failures: string[] = [];
  inputs.forEach((input, k) => {
    const problem = check(input, readings[k] as PythonReading, parse, reference, figures);
    if (problem !== null && failures.length < 5) {
      failures.push(
        `input ${k} (${JSON.stringify(input.toString("latin1").slice(0, 300))}): ${problem}`,
      );
    }
  });
  recordFuzzFigures(target, { tried: inputs.length, ...figures });
  const python = new Map<string, number>();
  for (const r of readings) {
    const what = r.verdict === "refused" ? `refused (${r.kind})` : r.verdict;
    python.set(what, (python.get(what) ?? 0) + 1);
  }
  console.log(
    `${target}: seed ${SEED} (LDAKIT_FUZZ_SEED), ${inputs.length} inputs: ${figures.values} values, ${figures.cleanErrors} clean errors, ${figures.otherErrors} other errors, ${figures.hangs} hangs; Python: ${[...python].map(([k, v]) => `${v} ${k}`).join(", ")}`,
  );
  expect(failures).toEqual([]);
  expect(figures.otherErrors + figures.hangs).toBe(0);
  // the mutations reach both outcomes: a fuzzer that only ever refuses proves little
  expect(figures.values).toBeGreaterThan(inputs.length / 20);
  expect(figures.cleanErrors).toBeGreaterThan(inputs.length / 4);
}

describe("JSON fuzzer", () => {
  it("raw-json: mutated raw files of both forms give Python's reading or a RawDataError with line and column", () => {
    fuzz(
      "raw-json",
      RAW_BASES,
      (bytes) => parseRawJson(bytes, "data.json") as NormalizedData,
      (value) => validateRawData(value, "data.json"),
    );
  });

  it("query-json: mutated query files give Python's reading or a RawDataError with line and column", () => {
    fuzz(
      "query-json",
      QUERY_BASES,
      (bytes) => parseQueryJson(bytes, "data.json") as LabelledQuery[],
      (value) => validateQueryData(value, "data.json"),
    );
  });

  it("deep nesting is a clean error, not a stack overflow", () => {
    const open = Buffer.from(`{"clusters": ${"[".repeat(100_000)}`);
    expect(() => parseRawJson(open, "data.json")).toThrow(
      /^data\.json: JSON parse error at line 1, column 100014: Unexpected end of JSON input$/,
    );
    const closed = Buffer.from(`{"clusters": ${"[".repeat(100_000)}${"]".repeat(100_000)}}`);
    expect(() => parseRawJson(closed, "data.json")).toThrow(
      "data.json: clusters[0]: expected object, received array",
    );
    expect(() => parseQueryJson(closed, "data.json")).toThrow(RawDataError);
  });
});
