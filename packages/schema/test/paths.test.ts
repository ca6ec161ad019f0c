import { describe, expect, it } from "vitest";
import {
  answerVectorPath,
  entityVectorPath,
  headAnswerPath,
  headCentroidPath,
  InvalidModelNameError,
  MODEL_NAME_PATTERN,
  modelEmbeddingsDir,
  modelFolderName,
  modelNameSchema,
  PROJECTION_META_FORMAT,
  padId,
  parseEmbeddingFileName,
  projectionMetaPath,
  projectionMetaSchema,
  questionVectorPath,
  temperatureSchema,
} from "../src/index.js";

describe("modelFolderName", () => {
  it("maps / to __ and keeps [A-Za-z0-9._-]", () => {
    expect(modelFolderName("hash-384")).toBe("hash-384");
    expect(modelFolderName("all-MiniLM-L6-v2")).toBe("all-MiniLM-L6-v2");
    expect(modelFolderName("sentence-transformers/all-MiniLM-L6-v2")).toBe(
      "sentence-transformers__all-MiniLM-L6-v2",
    );
    expect(modelFolderName("a.b_c/d/e")).toBe("a.b_c__d__e");
    expect(MODEL_NAME_PATTERN.test("org/model-1.5")).toBe(true);
  });

  it("rejects any other character with a clear error", () => {
    expect(() => modelFolderName("my model")).toThrow(
      'invalid model name "my model": character " " (U+0020) at position 3 is not allowed; use letters A-Z a-z, digits, ".", "_", "-" and "/"',
    );
    expect(() => modelFolderName("a\\b")).toThrow(/character "\\\\" \(U\+005C\) at position 2/);
    expect(() => modelFolderName("modèle")).toThrow(/character "è" \(U\+00E8\) at position 4/);
    expect(() => modelFolderName("m😀x")).toThrow(/\(U\+1F600\) at position 2/);
    expect(() => modelFolderName("a:b")).toThrow(InvalidModelNameError);
    expect(() => modelFolderName("")).toThrow('invalid model name "": the name is empty');
    expect(() => modelFolderName("..")).toThrow(/"\.\." is not a usable folder name/);
    expect(() => modelFolderName(".")).toThrow(InvalidModelNameError);
  });

  it("has a zod schema with the same rule", () => {
    expect(modelNameSchema.safeParse("org/model").success).toBe(true);
    const result = modelNameSchema.safeParse("bad name");
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/^invalid model name: character " "/);
  });
});

describe("vector file paths", () => {
  it("pad q_ and a_ ids to at least 3 digits", () => {
    expect(padId(0)).toBe("000");
    expect(padId(1)).toBe("001");
    expect(padId(42)).toBe("042");
    expect(padId(1234)).toBe("1234");
    expect(questionVectorPath("hash-384", 1)).toBe("embeddings/hash-384/q_001.npy");
    expect(questionVectorPath("hash-384", 1234)).toBe("embeddings/hash-384/q_1234.npy");
    expect(answerVectorPath("org/m", 17)).toBe("embeddings/org__m/a_017.npy");
    expect(entityVectorPath("m", "question", 5)).toBe("embeddings/m/q_005.npy");
    expect(entityVectorPath("m", "answer", 5)).toBe("embeddings/m/a_005.npy");
    expect(modelEmbeddingsDir("org/m")).toBe("embeddings/org__m");
  });

  it("write mh_ ids as plain decimals", () => {
    expect(headCentroidPath("m", 2, 17)).toBe("embeddings/m/mh_2_cluster_17_centroid.npy");
    expect(headAnswerPath("m", 2, 17)).toBe("embeddings/m/mh_2_cluster_17_answer.npy");
    expect(projectionMetaPath("org/m", 12)).toBe("embeddings/org__m/mh_12.json");
  });

  it("reject ids that are not non-negative integers, and bad model names", () => {
    expect(() => questionVectorPath("m", -1)).toThrow("id must be a non-negative integer, got -1");
    expect(() => answerVectorPath("m", 1.5)).toThrow(RangeError);
    expect(() => headCentroidPath("m", Number.NaN, 1)).toThrow(
      "mh_projection_id must be a non-negative integer, got NaN",
    );
    expect(() => headAnswerPath("m", 1, -2)).toThrow("cluster_id must be a non-negative integer");
    expect(() => questionVectorPath("m m", 1)).toThrow(InvalidModelNameError);
  });

  it("are POSIX paths relative to the store root", () => {
    for (const p of [
      questionVectorPath("org/m", 1),
      headCentroidPath("org/m", 1, 1),
      projectionMetaPath("org/m", 1),
    ]) {
      expect(p.startsWith("embeddings/")).toBe(true);
      expect(p).not.toContain("\\");
      expect(p.split("/")).toHaveLength(3);
    }
  });
});

describe("parseEmbeddingFileName", () => {
  it("reads back every kind of file name", () => {
    expect(parseEmbeddingFileName("q_001.npy")).toEqual({ kind: "question", questionId: 1 });
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
  });

  it("rejects other and non-canonical names", () => {
    for (const name of [
      "q_01.npy",
      "q_0001.npy",
      "a_1.npy",
      "q_001.npy.tmp",
      "mh_02_cluster_1_answer.npy",
      "mh_2_cluster_01_answer.npy",
      "mh_2_cluster_1_W.npy",
      "mh_02.json",
      "W_matrix.npy",
    ]) {
      expect(parseEmbeddingFileName(name), name).toBeNull();
    }
  });
});

describe("config schemas", () => {
  it("temperature: a positive number (also from a string) or auto", () => {
    expect(temperatureSchema.parse("auto")).toBe("auto");
    expect(temperatureSchema.parse("0.1")).toBe(0.1);
    expect(temperatureSchema.parse(1)).toBe(1);
    for (const bad of ["0", "-1", "abc", "", "Infinity"]) {
      expect(temperatureSchema.safeParse(bad).success, bad).toBe(false);
    }
  });

  it("projection metadata (mh_<id>.json)", () => {
    const meta = {
      format: PROJECTION_META_FORMAT,
      mh_projection_id: 2,
      model: "hash-384",
      dimensions: 384,
      temperature: 0.1,
      num_heads: 3,
      cluster_ids: [1, 2, 3],
    };
    expect(projectionMetaSchema.parse(meta)).toEqual(meta);
    expect(projectionMetaSchema.safeParse({ ...meta, format: "ldakit.mh/2" }).success).toBe(false);
    expect(projectionMetaSchema.safeParse({ ...meta, num_heads: 2 }).success).toBe(false);
    expect(projectionMetaSchema.safeParse({ ...meta, temperature: 0 }).success).toBe(false);
  });
});
