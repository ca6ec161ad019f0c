import apg from "apg-js";
import { describe, expect, it } from "vitest";
import {
  adapterFileName,
  EMBEDDING_FILE_ABNF,
  EMBEDDING_FILE_PATTERNS,
  type EmbeddingFileName,
  embeddingFileName,
  FormatError,
  type FormatErrorCode,
  headFileName,
  isTemporaryFileName,
  MAX_ID,
  padId,
  parseEmbeddingFileName,
  projectionMetaFileName,
  vectorFileName,
} from "../src/index.js";
import { rng } from "./helpers.js";

function thrownBy(f: () => unknown): FormatError {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(FormatError);
    return error as FormatError;
  }
  throw new Error("expected a FormatError, nothing was thrown");
}

function expectFormatError(f: () => unknown, code: FormatErrorCode, message: string) {
  const error = thrownBy(f);
  expect(error.code).toBe(code);
  expect(error.message).toBe(message);
}

describe("file-name builders", () => {
  it("pad q_ and a_ ids to at least 3 digits, and write mh_ ids as plain decimals", () => {
    expect(padId(0)).toBe("000");
    expect(padId(7)).toBe("007");
    expect(padId(42)).toBe("042");
    expect(padId(1234)).toBe("1234");
    expect(vectorFileName("question", 1)).toBe("q_001.npy");
    expect(vectorFileName("question", 1234)).toBe("q_1234.npy");
    expect(vectorFileName("answer", 17)).toBe("a_017.npy");
    expect(headFileName(2, 17, "centroid")).toBe("mh_2_cluster_17_centroid.npy");
    expect(headFileName(0, 0, "answer")).toBe("mh_0_cluster_0_answer.npy");
    expect(projectionMetaFileName(12)).toBe("mh_12.json");
    expect(adapterFileName(12)).toBe("mh_12_W.npy");
    expect(adapterFileName(0)).toBe("mh_0_W.npy");
    expect(vectorFileName("answer", MAX_ID)).toBe(`a_${MAX_ID}.npy`);
  });

  it("refuse ids that are not integers in 0 … 2^53 − 1, naming the id", () => {
    expectFormatError(() => padId(-1), "INVALID_ID", "id must be a non-negative integer, got -1");
    expectFormatError(
      () => vectorFileName("question", 1.5),
      "INVALID_ID",
      "question_id must be a non-negative integer, got 1.5",
    );
    expectFormatError(
      () => vectorFileName("answer", Number.NaN),
      "INVALID_ID",
      "cluster_id must be a non-negative integer, got NaN",
    );
    expectFormatError(
      () => headFileName(Number.POSITIVE_INFINITY, 1, "centroid"),
      "INVALID_ID",
      "mh_projection_id must be a non-negative integer, got Infinity",
    );
    expectFormatError(
      () => headFileName(1, 2 ** 53, "answer"),
      "INVALID_ID",
      "cluster_id must be at most 9007199254740991 (2^53 - 1), got 9007199254740992",
    );
    expectFormatError(
      () => projectionMetaFileName("3" as unknown as number),
      "INVALID_ID",
      'mh_projection_id must be a non-negative integer, got the string "3"',
    );
    expectFormatError(
      () => adapterFileName(-3),
      "INVALID_ID",
      "mh_projection_id must be a non-negative integer, got -3",
    );
    expectFormatError(
      () => adapterFileName(2 ** 53),
      "INVALID_ID",
      "mh_projection_id must be at most 9007199254740991 (2^53 - 1), got 9007199254740992",
    );
    expect(thrownBy(() => padId(-0.5)).value).toBe(-0.5);
  });

  it("refuse an unknown entity type or head role", () => {
    expectFormatError(
      () => vectorFileName("centroid" as "question", 1),
      "INVALID_FILE_KIND",
      'the entity type of a vector file must be "question" or "answer", got the string "centroid"',
    );
    expectFormatError(
      () => headFileName(1, 1, "W" as "answer"),
      "INVALID_FILE_KIND",
      'the role of a head file must be "centroid" or "answer", got the string "W"',
    );
    expectFormatError(
      () => embeddingFileName({ kind: "weights" } as unknown as EmbeddingFileName),
      "INVALID_FILE_KIND",
      'unknown kind of embedding file: the string "weights"',
    );
  });
});

describe("parseEmbeddingFileName", () => {
  it("reads back every kind of name", () => {
    expect(parseEmbeddingFileName("q_001.npy")).toEqual({ kind: "question", questionId: 1 });
    expect(parseEmbeddingFileName("q_000.npy")).toEqual({ kind: "question", questionId: 0 });
    expect(parseEmbeddingFileName("q_1234.npy")).toEqual({ kind: "question", questionId: 1234 });
    expect(parseEmbeddingFileName("a_017.npy")).toEqual({ kind: "answer", clusterId: 17 });
    expect(parseEmbeddingFileName("mh_2_cluster_17_centroid.npy")).toEqual({
      kind: "head-centroid",
      mhProjectionId: 2,
      clusterId: 17,
    });
    expect(parseEmbeddingFileName("mh_2_cluster_17_answer.npy")).toEqual({
      kind: "head-answer",
      mhProjectionId: 2,
      clusterId: 17,
    });
    expect(parseEmbeddingFileName("mh_0.json")).toEqual({
      kind: "projection-meta",
      mhProjectionId: 0,
    });
    expect(parseEmbeddingFileName("mh_2_W.npy")).toEqual({
      kind: "projection-adapter",
      mhProjectionId: 2,
    });
    expect(parseEmbeddingFileName(`mh_${MAX_ID}_W.npy`)).toEqual({
      kind: "projection-adapter",
      mhProjectionId: MAX_ID,
    });
    expect(parseEmbeddingFileName(`mh_${MAX_ID}.json`)).toEqual({
      kind: "projection-meta",
      mhProjectionId: MAX_ID,
    });
  });

  it("refuses other and non-canonical names (each file has exactly one name)", () => {
    for (const name of [
      "q_01.npy",
      "q_1.npy",
      "q_0001.npy",
      "q_0123.npy",
      "a_1.npy",
      "Q_001.npy",
      "q_001.NPY",
      "q_001.npy.tmp",
      ".q_001.npy.1234.abcd.tmp",
      "q_001",
      "q_-01.npy",
      "q_+01.npy",
      "q_1e3.npy",
      "q_ 001.npy",
      "q_٠٠١.npy", // Arabic-Indic digits
      "mh_02_cluster_1_answer.npy",
      "mh_2_cluster_01_answer.npy",
      "mh_2_cluster_1_W.npy",
      "mh_2_cluster_1_centroid.json",
      "mh_2_cluster__centroid.npy",
      "mh__cluster_1_centroid.npy",
      "mh_02.json",
      "mh_02_W.npy",
      "mh_2_w.npy",
      "mh_2_W.NPY",
      "mh_2_W.npy.tmp",
      "mh_2__W.npy",
      "mh_2_W_.npy",
      "mh_2_W.json",
      "mh__W.npy",
      "mh_W.npy",
      "mh_2_W",
      "sub/mh_2_W.npy",
      "mh_9007199254740992_W.npy",
      "mh_2.JSON",
      "mh_2.json/",
      "mh_-1.json",
      "mh_.json",
      "mh_2",
      "W_matrix.npy",
      "sub/q_001.npy",
      "",
      // ids past 2^53 − 1 would not read back exactly
      "mh_9007199254740992.json",
      "q_9007199254740992.npy",
      "mh_1_cluster_99999999999999999999_answer.npy",
    ]) {
      expect(parseEmbeddingFileName(name), name).toBeNull();
    }
    expect(parseEmbeddingFileName(7 as unknown as string)).toBeNull();
  });

  it("round trips builder → parser → builder", () => {
    const random = rng(11);
    const someIds = [0, 1, 9, 10, 99, 100, 999, 1000, 12345, MAX_ID - 1, MAX_ID];
    for (let i = 0; i < 200; i++) someIds.push(Math.floor(random() * 10 ** (1 + (i % 15))));
    for (const id of someIds) {
      const files: EmbeddingFileName[] = [
        { kind: "question", questionId: id },
        { kind: "answer", clusterId: id },
        { kind: "head-centroid", mhProjectionId: id, clusterId: (id * 7) % 1000 },
        { kind: "head-answer", mhProjectionId: (id * 3) % 50, clusterId: id },
        { kind: "projection-meta", mhProjectionId: id },
        { kind: "projection-adapter", mhProjectionId: id },
      ];
      for (const file of files) {
        const name = embeddingFileName(file);
        expect(parseEmbeddingFileName(name), name).toEqual(file);
      }
    }
    expect(embeddingFileName({ kind: "question", questionId: 7 })).toBe(
      vectorFileName("question", 7),
    );
  });

  it("tells temporary files of an atomic write", () => {
    expect(isTemporaryFileName(".q_005.npy.1234.abcd.tmp")).toBe(true);
    expect(isTemporaryFileName("mh_1.json.99.tmp")).toBe(true);
    expect(isTemporaryFileName("q_005.npy")).toBe(false);
    expect(isTemporaryFileName("tmp")).toBe(false);
  });
});

describe("the grammar as data", () => {
  const api = new apg.apgApi(EMBEDDING_FILE_ABNF);
  api.generate();
  const parser = new apg.apgLib.parser();
  const abnfAccepts = (rule: string, name: string) =>
    parser.parse(api.toObject(), rule, apg.apgLib.utils.stringToChars(name)).success;

  it("EMBEDDING_FILE_ABNF is valid ABNF (an independent ABNF implementation, apg-js, compiles it)", () => {
    expect(api.errors, api.errors.length > 0 ? api.errorsToAscii() : "").toEqual([]);
  });

  it("the ABNF, the regular expressions and the parser agree on canonical and mutated names", () => {
    const random = rng(2024);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const digits = () => String(Math.floor(random() * 10 ** (1 + Math.floor(random() * 6))));
    const seeds = () => [
      vectorFileName("question", Number(digits())),
      vectorFileName("answer", Number(digits())),
      headFileName(Number(digits()), Number(digits()), pick(["centroid", "answer"] as const)),
      projectionMetaFileName(Number(digits())),
      adapterFileName(Number(digits())),
    ];
    const alphabet = [..."0123456789qamhcluster_.npyjsonQ-W"];
    const mutate = (name: string): string => {
      const at = Math.floor(random() * (name.length + 1));
      switch (Math.floor(random() * 4)) {
        case 0:
          return name.slice(0, at) + pick(alphabet) + name.slice(at);
        case 1:
          return name.slice(0, at) + name.slice(at + 1);
        case 2:
          return name.slice(0, at) + pick(alphabet) + name.slice(at + 1);
        default:
          return (
            name.slice(0, at) +
            pick(["0", "00", "_", "mh_", "_cluster_", ".npy", "_W", "_W.npy"]) +
            name.slice(at)
          );
      }
    };
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 1500; i++) {
      for (const seed of seeds()) {
        let name = seed;
        const rounds = Math.floor(random() * 3);
        for (let r = 0; r < rounds; r++) name = mutate(name);
        const parsed = parseEmbeddingFileName(name);
        // ids stay far below 2^53 here, so the grammar alone decides
        expect(abnfAccepts("embedding-file", name), name).toBe(parsed !== null);
        const matching = Object.entries(EMBEDDING_FILE_PATTERNS)
          .filter(([, pattern]) => pattern.test(name))
          .map(([kind]) => kind);
        expect(matching, name).toEqual(parsed === null ? [] : [parsed.kind]);
        if (parsed !== null) {
          expect(abnfAccepts(ABNF_RULE[parsed.kind], name), name).toBe(true);
          expect(embeddingFileName(parsed)).toBe(name);
          accepted++;
        } else refused++;
      }
    }
    // the corpus exercises both sides
    expect(accepted).toBeGreaterThan(1000);
    expect(refused).toBeGreaterThan(1000);
  });
});

const ABNF_RULE: Record<EmbeddingFileName["kind"], string> = {
  question: "question-vector",
  answer: "answer-vector",
  "head-centroid": "head-centroid",
  "head-answer": "head-answer",
  "projection-meta": "projection-meta",
  "projection-adapter": "projection-adapter",
};
