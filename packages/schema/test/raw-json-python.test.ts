import { describe, expect, it } from "vitest";
import { parseQueryJson, parseRawJson, RawDataError } from "../src/index.js";
import { readWithPython } from "./python-json.js";

// The raw files of docs/ARCHITECTURE.md §2.1 as Python's `json` reads the same bytes: what ldakit
// keeps, it keeps exactly as Python does; what it refuses, Python reads wrongly or not at all.

const PROTO = `{"clusters": [
  {"id": "c1",
   "answers": {"default": "Inflate to the sidewall pressure.", "constructor": "a variant"},
   "queries": {"short": ["tyre pressure"],
               "__proto__": ["how hard should tyres be", "what psi for my tyres"],
               "constructor": ["tyres soft"]}},
  {"answer_id": 2, "answer": "Oil the chain.", "questions": ["chain squeaks", "toString"]}
]}`;

const DUPLICATE = `{"clusters": [
  {"answer_id": 1, "answer": "Oil the chain.",
   "questions": ["chain squeaks"],
   "questions": ["chain is noisy"]}
]}`;

const SURROGATE = `{"clusters": [{"answer_id": 1, "answer": "Oil the chain.", "questions": ["chain \\ud800 squeaks"]}]}`;
const NUL = `{"clusters": [{"answer_id": 1, "answer": "Oil the chain.", "questions": ["chain\\u0000squeaks"]}]}`;
const BOM = `\uFEFF{"clusters": [{"answer_id": 1, "answer": "Oil the chain.", "questions": ["chain squeaks"]}]}`;
const LATIN1 = Buffer.from(
  `{"clusters": [{"answer_id": 1, "answer": "Serve the caf\xe9 hot.", "questions": ["coffee"]}]}`,
  "latin1",
);

/** What Python reads, in ldakit's normalized shape (only for the simple files above). */
function pythonClusters(json: string) {
  const value = JSON.parse(json) as {
    clusters: Array<Record<string, unknown> & { queries?: Record<string, string[]> }>;
  };
  return value.clusters.map((c) =>
    c.queries
      ? {
          recordId: String(c.id),
          answerText: (c.answers as Record<string, string>).default,
          answerVariants: Object.fromEntries(
            Object.entries(c.answers as Record<string, string>).filter(([k]) => k !== "default"),
          ),
          questions: Object.entries(c.queries).flatMap(([lengthType, list]) =>
            list.map((text) => ({ text, lengthType })),
          ),
        }
      : {
          recordId: String(c.answer_id),
          answerText: c.answer,
          answerVariants: {},
          questions: (c.questions as string[]).map((text) => ({ text, lengthType: null })),
        },
  );
}

function refusal(source: Uint8Array): RawDataError {
  try {
    parseRawJson(source, "data.json");
  } catch (error) {
    expect(error).toBeInstanceOf(RawDataError);
    return error as RawDataError;
  }
  throw new Error("expected a RawDataError");
}

describe("raw files as Python's json reads them", () => {
  const files = [PROTO, DUPLICATE, SURROGATE, NUL, BOM].map((t) => Buffer.from(t, "utf8"));
  const [proto, duplicate, surrogate, nul, bom] = files as [Buffer, Buffer, Buffer, Buffer, Buffer];
  const [pyProto, pyDuplicate, pySurrogate, pyNul, pyBom, pyLatin1] = readWithPython([
    ...files,
    LATIN1,
  ]);

  it("keeps __proto__ and constructor keys as Python does: every question is imported", () => {
    expect(pyProto?.verdict).toBe("ok");
    const ours = parseRawJson(proto).clusters.map(
      ({ recordId, answerText, answerVariants, questions }) => ({
        recordId,
        answerText,
        answerVariants: { ...answerVariants },
        questions,
      }),
    );
    expect(ours).toEqual(pythonClusters(pyProto?.value as string));
    expect(ours[0]?.questions.map((q) => q.lengthType)).toEqual([
      "short",
      "__proto__",
      "__proto__",
      "constructor",
    ]);
    // the variants object has no prototype: a model named "toString" finds nothing
    const [first, second] = parseRawJson(proto).clusters;
    expect(first?.answerVariants.constructor).toBe("a variant");
    expect(second?.answerVariants.toString).toBeUndefined();
    // a query file reads them the same way
    expect(parseQueryJson(proto).map((q) => q.text)).toEqual([
      "tyre pressure",
      "how hard should tyres be",
      "what psi for my tyres",
      "tyres soft",
      "chain squeaks",
      "toString",
    ]);
  });

  it("refuses a repeated key, which Python reads by silently keeping the last", () => {
    expect(pyDuplicate?.verdict).toBe("refused");
    expect(pyDuplicate?.kind).toBe("duplicate");
    expect(JSON.parse(pyDuplicate?.lax as string).clusters[0].questions).toEqual([
      "chain is noisy",
    ]);
    const error = refusal(duplicate);
    expect(error.message).toBe(
      'data.json: JSON parse error at line 4, column 4: duplicate key "questions" in one object (a reader would keep only one of its values)',
    );
    expect(error).toMatchObject({ kind: "syntax", line: 4, column: 4 });
  });

  it("refuses a lone surrogate, which Python reads into a string it cannot encode as UTF-8", () => {
    expect(pySurrogate).toMatchObject({ verdict: "refused", kind: "surrogate" });
    expect(JSON.parse(pySurrogate?.lax as string).clusters[0].questions).toEqual([
      "chain \ud800 squeaks",
    ]);
    expect(refusal(surrogate).message).toBe(
      "data.json: JSON parse error at line 1, column 81: lone surrogate \\ud800: a high surrogate must be followed by a low one (\\udc00-\\udfff)",
    );
  });

  it("refuses NUL, which Python keeps", () => {
    expect(pyNul).toMatchObject({ verdict: "refused", kind: "nul" });
    expect(JSON.parse(pyNul?.lax as string).clusters[0].questions).toEqual(["chain\u0000squeaks"]);
    expect(refusal(nul).message).toBe(
      "data.json: JSON parse error at line 1, column 80: \\u0000 (NUL) in a string; ldakit refuses NUL in texts",
    );
  });

  it("ignores a UTF-8 byte-order mark, as Python's utf-8-sig does", () => {
    expect(pyBom?.verdict).toBe("ok");
    expect(parseRawJson(bom).clusters).toEqual(
      parseRawJson(bom.subarray(3)).clusters.map((c) => ({ ...c })),
    );
    expect(parseRawJson(bom).clusters[0]?.questions).toEqual([
      { text: "chain squeaks", lengthType: null },
    ]);
  });

  it("refuses invalid UTF-8 at the byte Python's decoder stops at", () => {
    expect(pyLatin1).toMatchObject({ verdict: "refused", kind: "decode", byteOffset: 55 });
    const error = refusal(LATIN1);
    expect(error.byteOffset).toBe(pyLatin1?.byteOffset);
    expect(error.message).toBe(
      "data.json: JSON parse error at line 1, column 56: invalid UTF-8 at byte offset 55: byte 0xE9 starts a 3-byte character that is cut short; save the file as UTF-8",
    );
  });
});
