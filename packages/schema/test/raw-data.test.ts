import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { unifyWeaverData } from "../../../tools/unifyweaver-data.mjs";
import {
  formatIssuePath,
  type NormalizedData,
  normalizeRawData,
  parseRawJson,
  RawDataError,
  rawClusterASchema,
  rawClusterBSchema,
  rawDataSchema,
  rawFormASchema,
  rawFormBSchema,
  validateRawData,
} from "../src/index.js";

const HERE = dirname(fileURLToPath(import.meta.url));
/** The example's raw files (form (b)) and test files of other shapes, both in the repository. */
const EXAMPLE_RAW = resolve(HERE, "../../../examples/bike-care/raw");
const NOT_QA = resolve(HERE, "fixtures/not-qa");
const UNIFYWEAVER = unifyWeaverData(
  "the seed chapter's files are not read; examples/bike-care and test/fixtures/not-qa stand in for them",
);

function shapeError(value: unknown, fileLabel?: string): RawDataError {
  try {
    validateRawData(value, fileLabel);
  } catch (error) {
    expect(error).toBeInstanceOf(RawDataError);
    expect((error as RawDataError).kind).toBe("shape");
    return error as RawDataError;
  }
  throw new Error(`expected ${JSON.stringify(value)} to be rejected`);
}

const formA = {
  clusters: [
    {
      answer: "  Use a CSV source. ",
      answer_id: 7,
      questions: ["How do I read CSV?", " csv input "],
    },
    { answer: "Use jq.", answer_id: "jq", questions: ["json tool"] },
  ],
};

const formB = {
  version: "1.1",
  embedding_models: ["all-MiniLM-L6-v2"],
  clusters: [
    {
      id: "csv_data_source",
      answer_source: "playbooks/csv.md",
      answers: { default: "CSV Data Source Example", "all-MiniLM-L6-v2": "CSV source: …" },
      queries: {
        short: ["csv source", "read csv"],
        medium: [],
        long: ["How do I define a CSV source?"],
      },
    },
    { id: 12, answers: { default: "Twelve" }, queries: { custom: ["q12"] } },
  ],
};

describe("form (a)", () => {
  it("is accepted and normalized", () => {
    expect(rawFormASchema.safeParse(formA).success).toBe(true);
    expect(validateRawData(formA)).toEqual({
      clusters: [
        {
          recordId: "7",
          answerText: "Use a CSV source.",
          answerSource: null,
          answerVariants: {},
          questions: [
            { text: "How do I read CSV?", lengthType: null },
            { text: "csv input", lengthType: null },
          ],
        },
        {
          recordId: "jq",
          answerText: "Use jq.",
          answerSource: null,
          answerVariants: {},
          questions: [{ text: "json tool", lengthType: null }],
        },
      ],
    } satisfies NormalizedData);
  });
});

describe("form (b)", () => {
  it("is accepted and normalized: default answer, variants, length types in key order", () => {
    expect(rawFormBSchema.safeParse(formB).success).toBe(true);
    expect(validateRawData(formB)).toEqual({
      clusters: [
        {
          recordId: "csv_data_source",
          answerText: "CSV Data Source Example",
          answerSource: "playbooks/csv.md",
          answerVariants: { "all-MiniLM-L6-v2": "CSV source: …" },
          questions: [
            { text: "csv source", lengthType: "short" },
            { text: "read csv", lengthType: "short" },
            { text: "How do I define a CSV source?", lengthType: "long" },
          ],
        },
        {
          recordId: "12",
          answerText: "Twelve",
          answerSource: null,
          answerVariants: {},
          questions: [{ text: "q12", lengthType: "custom" }],
        },
      ],
    } satisfies NormalizedData);
  });

  it("treats a null or blank answer_source as none", () => {
    const data = {
      clusters: [
        { id: "a", answer_source: null, answers: { default: "A" }, queries: { short: ["qa"] } },
        { id: "b", answer_source: "  ", answers: { default: "B" }, queries: { short: ["qb"] } },
      ],
    };
    expect(validateRawData(data).clusters.map((c) => c.answerSource)).toEqual([null, null]);
  });
});

describe("schemas", () => {
  it("have cluster schemas of each form, and a file may mix the forms", () => {
    expect(rawClusterASchema.safeParse(formA.clusters[0]).success).toBe(true);
    expect(rawClusterBSchema.safeParse(formA.clusters[0]).success).toBe(false);
    expect(rawClusterBSchema.safeParse(formB.clusters[0]).success).toBe(true);
    const mixed = { clusters: [formA.clusters[0], formB.clusters[0]] };
    expect(rawDataSchema.safeParse(mixed).success).toBe(true);
    expect(validateRawData(mixed).clusters.map((c) => c.recordId)).toEqual([
      "7",
      "csv_data_source",
    ]);
  });

  it("normalizeRawData works on parsed data", () => {
    expect(normalizeRawData(rawDataSchema.parse(formA)).clusters).toHaveLength(2);
  });
});

describe("shape errors name the field path", () => {
  const cluster = { answer: "a", answer_id: "x", questions: ["q"] };
  const cases: Array<[string, unknown, string]> = [
    [
      "questions not an array",
      { clusters: [cluster, cluster, { ...cluster, answer_id: "y", questions: "q" }] },
      "clusters[2].questions: expected array, received string",
    ],
    ["no clusters", { clusters: [] }, "clusters: expected at least one cluster"],
    ["clusters not an array", { clusters: { a: 1 } }, "clusters: expected array, received object"],
    [
      "not an object",
      [cluster],
      '(root): expected an object with a "clusters" array, received array',
    ],
    ["null", null, '(root): expected an object with a "clusters" array, received null'],
    [
      "no clusters key",
      {},
      "clusters: missing; expected an array of Q-A clusters (this does not look like Q-A training data: the object is empty)",
    ],
    [
      "empty question list",
      { clusters: [{ ...cluster, questions: [] }] },
      "clusters[0].questions: expected at least one question",
    ],
    [
      "blank question",
      { clusters: [{ ...cluster, questions: ["ok", "  "] }] },
      "clusters[0].questions[1]: expected a non-empty string",
    ],
    [
      "question not a string",
      { clusters: [{ ...cluster, questions: ["ok", 3] }] },
      "clusters[0].questions[1]: expected string, received number",
    ],
    [
      "missing answer",
      { clusters: [{ answer_id: 1, questions: ["q"] }] },
      "clusters[0].answer: missing (expected string)",
    ],
    [
      "boolean id",
      { clusters: [{ ...cluster, answer_id: true }] },
      "clusters[0].answer_id: expected string or number, received boolean",
    ],
    [
      "fractional id",
      { clusters: [{ ...cluster, answer_id: 1.5 }] },
      "clusters[0].answer_id: expected an integer or a string id",
    ],
    [
      "duplicate ids",
      { clusters: [cluster, { ...cluster, answer_id: " x " }] },
      'clusters[1].answer_id: duplicate id "x" (also the id of clusters[0])',
    ],
    [
      "unknown key",
      { clusters: [{ ...cluster, answers_text: "b" }] },
      'clusters[0]: unrecognized key "answers_text" (a cluster has either "answer", "answer_id" and "questions" (form a) or "id", "answers", "queries" and optionally "answer_source" (form b))',
    ],
    [
      "not a cluster",
      { clusters: [{ text: "t" }] },
      'clusters[0]: not a cluster: a cluster has either "answer", "answer_id" and "questions" (form a) or "id", "answers", "queries" and optionally "answer_source" (form b); its keys are "text"',
    ],
    ["cluster not an object", { clusters: ["q"] }, "clusters[0]: expected object, received string"],
    [
      "form (b) without default answer",
      { clusters: [{ id: "x", answers: { "all-MiniLM-L6-v2": "a" }, queries: { short: ["q"] } }] },
      "clusters[0].answers.default: missing (expected string)",
    ],
    [
      "form (b) variant not a string",
      {
        clusters: [
          { id: "x", answers: { default: "a", "e5-small-v2": ["a"] }, queries: { short: ["q"] } },
        ],
      },
      'clusters[0].answers["e5-small-v2"]: expected string, received array',
    ],
    [
      "form (b) query list not an array",
      { clusters: [{ id: "x", answers: { default: "a" }, queries: { short: "q" } }] },
      "clusters[0].queries.short: expected array, received string",
    ],
    [
      "form (b) without questions",
      { clusters: [{ id: "x", answers: { default: "a" }, queries: { short: [], long: [] } }] },
      "clusters[0].queries: expected at least one question",
    ],
    [
      "form (b) with a form (a) key",
      {
        clusters: [
          { id: "x", answers: { default: "a" }, queries: { short: ["q"] }, questions: [] },
        ],
      },
      'clusters[0]: unrecognized key "questions" (a cluster has either "answer", "answer_id" and "questions" (form a) or "id", "answers", "queries" and optionally "answer_source" (form b))',
    ],
  ];
  for (const [name, value, message] of cases) {
    it(name, () => {
      const error = shapeError(value);
      expect(error.message).toBe(message);
      expect(error.issues[0]).toBe(message);
    });
  }

  it("list the first three problems, the rest counted; all of them in `issues`", () => {
    const bad = { answer: "", answer_id: "", questions: [""] };
    const error = shapeError({ clusters: [bad] }, "x.json");
    expect(error.issues).toEqual([
      "clusters[0].answer: expected a non-empty string",
      "clusters[0].answer_id: expected a non-empty string",
      "clusters[0].questions[0]: expected a non-empty string",
    ]);
    const many = shapeError({
      clusters: [{ answer: 1, answer_id: 2, questions: [3, 4, 5] }],
    });
    expect(many.issues).toHaveLength(4);
    expect(many.message).toBe(
      "clusters[0].answer: expected string, received number; clusters[0].questions[0]: expected string, received number; clusters[0].questions[1]: expected string, received number; and 1 more problem",
    );
  });

  it("tell the same problem in several clusters once", () => {
    const error = shapeError({
      clusters: [0, 1, 2, 3, 4, 5].map((i) =>
        i === 3
          ? { answer: "a", answer_id: i, questions: ["q"] }
          : { answer: "a", answer_id: i, questions: [], topic: "t" },
      ),
    });
    expect(error.issues).toHaveLength(10);
    expect(error.message).toBe(
      'clusters[0-2, 4-5].questions: expected at least one question; clusters[0-2, 4-5]: unrecognized key "topic" (a cluster has either "answer", "answer_id" and "questions" (form a) or "id", "answers", "queries" and optionally "answer_source" (form b))',
    );
  });

  it("start with the file label when given", () => {
    expect(shapeError({ clusters: [] }, "data/qa.json").message).toBe(
      "data/qa.json: clusters: expected at least one cluster",
    );
  });
});

describe("parseRawJson", () => {
  it("parses, validates and normalizes", () => {
    expect(parseRawJson(JSON.stringify(formB))).toEqual(validateRawData(formB));
    expect(parseRawJson(`\uFEFF${JSON.stringify(formA)}`)).toEqual(validateRawData(formA));
  });

  it("reports shape errors of parsed text", () => {
    expect(() => parseRawJson('{"clusters": []}', "a.json")).toThrow(
      "a.json: clusters: expected at least one cluster",
    );
  });
});

describe("formatIssuePath", () => {
  it("writes identifiers with dots and other keys in brackets", () => {
    expect(formatIssuePath([])).toBe("(root)");
    expect(formatIssuePath(["clusters", 2, "questions"])).toBe("clusters[2].questions");
    expect(formatIssuePath(["clusters", 0, "answers", "all-MiniLM-L6-v2"])).toBe(
      'clusters[0].answers["all-MiniLM-L6-v2"]',
    );
  });
});

describe("the repository's data files", () => {
  it("accepts the example's three files (form (b)): 28 clusters, 224 questions", () => {
    const files = readdirSync(EXAMPLE_RAW).sort();
    expect(files).toEqual(["gear.json", "maintenance.json", "riding.json"]);
    let clusters = 0;
    let questions = 0;
    for (const file of files) {
      const data = parseRawJson(readFileSync(join(EXAMPLE_RAW, file), "utf8"), file);
      clusters += data.clusters.length;
      for (const c of data.clusters) {
        questions += c.questions.length;
        expect(c.answerText.length).toBeGreaterThan(0);
        expect(c.answerSource).toBe("ldakit example data");
        expect(new Set(c.questions.map((q) => q.lengthType))).toEqual(
          new Set(["short", "medium", "long"]),
        );
      }
    }
    expect({ clusters, questions }).toEqual({ clusters: 28, questions: 224 });
  });

  it("rejects not-qa/relations.json: it has no clusters", () => {
    expect(() =>
      parseRawJson(readFileSync(join(NOT_QA, "relations.json"), "utf8"), "relations.json"),
    ).toThrow(
      'relations.json: clusters: missing; expected an array of Q-A clusters (this does not look like Q-A training data: its keys are "description", "relations")',
    );
  });

  it("rejects not-qa/topics.json: its clusters have a key of neither form", () => {
    let error: unknown;
    try {
      parseRawJson(readFileSync(join(NOT_QA, "topics.json"), "utf8"), "topics.json");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RawDataError);
    expect((error as RawDataError).message).toBe(
      'topics.json: clusters[0-2]: unrecognized key "topic" (a cluster has either "answer", "answer_id" and "questions" (form a) or "id", "answers", "queries" and optionally "answer_source" (form b))',
    );
    expect((error as RawDataError).issues).toHaveLength(3);
  });
});

describe.skipIf(!UNIFYWEAVER)("the seed chapter's data files (LDAKIT_UNIFYWEAVER_DATA)", () => {
  const read = (name: string) => readFileSync(join(UNIFYWEAVER as string, name), "utf8");

  it("accepts all five qa_pairs files (form (b)): 30 clusters, 240 questions", () => {
    const files = readdirSync(UNIFYWEAVER as string)
      .filter((f) => /^qa_pairs_v\d+\.json$/.test(f))
      .sort();
    expect(files).toHaveLength(5);
    let clusters = 0;
    let questions = 0;
    for (const file of files) {
      const data = parseRawJson(read(file), file);
      clusters += data.clusters.length;
      for (const c of data.clusters) {
        questions += c.questions.length;
        expect(c.answerText.length).toBeGreaterThan(0);
        expect(c.answerSource).toMatch(/\.md$/);
        expect(Object.keys(c.answerVariants).sort()).toEqual(["all-MiniLM-L6-v2", "e5-small-v2"]);
        expect(new Set(c.questions.map((q) => q.lengthType))).toEqual(
          new Set(["short", "medium", "long"]),
        );
      }
    }
    expect({ clusters, questions }).toEqual({ clusters: 30, questions: 240 });
  });

  it("rejects relations.json: it has no clusters", () => {
    expect(() => parseRawJson(read("relations.json"))).toThrow(
      'clusters: missing; expected an array of Q-A clusters (this does not look like Q-A training data: its keys are "description", "note", "relation_types", "answers", "relations")',
    );
  });

  it("rejects smoothing_test_data.json: its clusters have a key of neither form", () => {
    let error: unknown;
    try {
      parseRawJson(read("smoothing_test_data.json"), "smoothing_test_data.json");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RawDataError);
    expect((error as RawDataError).message).toBe(
      'smoothing_test_data.json: clusters[0-17]: unrecognized key "topic" (a cluster has either "answer", "answer_id" and "questions" (form a) or "id", "answers", "queries" and optionally "answer_source" (form b))',
    );
    expect((error as RawDataError).issues).toHaveLength(18);
  });
});

describe("parseQueryJson", () => {
  it("reads query files of either form with the answers left out", async () => {
    const { parseQueryJson } = await import("../src/index.js");
    const queries = parseQueryJson(
      JSON.stringify({
        clusters: [
          { answer_id: 4, questions: ["first?", " second? "] },
          { id: "b", queries: { novel: ["third?"] } },
          { id: "c", answers: { default: "kept but unused" }, queries: { short: ["fourth?"] } },
        ],
      }),
    );
    expect(queries).toEqual([
      { recordId: "4", text: "first?", lengthType: null },
      { recordId: "4", text: "second?", lengthType: null },
      { recordId: "b", text: "third?", lengthType: "novel" },
      { recordId: "c", text: "fourth?", lengthType: "short" },
    ]);
  });

  it("still names what is wrong", async () => {
    const { parseQueryJson } = await import("../src/index.js");
    expect(() =>
      parseQueryJson('{"clusters": [{"id": "a", "queries": {"novel": "not a list"}}]}'),
    ).toThrow(/clusters\[0\]/);
    expect(() => parseQueryJson('{"clusters": [')).toThrow(/JSON parse error at line 1/);
  });
});
