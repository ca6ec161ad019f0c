import { describe, expect, it } from "vitest";
import {
  answerVectorPath,
  EMBEDDINGS_DIR,
  entityVectorPath,
  FormatError,
  headAnswerPath,
  headCentroidPath,
  modelEmbeddingsDir,
  parseEmbeddingFileName,
  projectionAdapterPath,
  projectionMetaPath,
  questionVectorPath,
} from "../src/index.js";

describe("paths relative to the store root", () => {
  it("put every file in embeddings/<model folder>/", () => {
    expect(EMBEDDINGS_DIR).toBe("embeddings");
    expect(modelEmbeddingsDir("org/m")).toBe("embeddings/org__m");
    expect(questionVectorPath("hash-384", 1)).toBe("embeddings/hash-384/q_001.npy");
    expect(questionVectorPath("hash-384", 1234)).toBe("embeddings/hash-384/q_1234.npy");
    expect(answerVectorPath("org/m", 17)).toBe("embeddings/org__m/a_017.npy");
    expect(entityVectorPath("m", "question", 5)).toBe("embeddings/m/q_005.npy");
    expect(entityVectorPath("m", "answer", 5)).toBe("embeddings/m/a_005.npy");
    expect(headCentroidPath("m", 2, 17)).toBe("embeddings/m/mh_2_cluster_17_centroid.npy");
    expect(headAnswerPath("m", 2, 17)).toBe("embeddings/m/mh_2_cluster_17_answer.npy");
    expect(projectionMetaPath("org/m", 12)).toBe("embeddings/org__m/mh_12.json");
    expect(projectionAdapterPath("org/m", 12)).toBe("embeddings/org__m/mh_12_W.npy");
  });

  it("are POSIX paths of three parts whose base name parses back", () => {
    for (const model of ["org/m", "a.b_c/d/e", "..__x", "../x"]) {
      for (const p of [
        questionVectorPath(model, 1),
        answerVectorPath(model, 1000),
        headCentroidPath(model, 1, 1),
        headAnswerPath(model, 0, 3),
        projectionMetaPath(model, 1),
        projectionAdapterPath(model, 0),
      ]) {
        const parts = p.split("/");
        expect(parts, p).toHaveLength(3);
        expect(parts[0]).toBe("embeddings");
        expect(parts[1]).not.toMatch(/^\.\.?$/);
        expect(p).not.toContain("\\");
        expect(parseEmbeddingFileName(parts[2] as string), p).not.toBeNull();
      }
    }
  });

  it("refuse bad model names and ids with a FormatError naming them", () => {
    expect(() => questionVectorPath("m m", 1)).toThrow(FormatError);
    expect(() => questionVectorPath("a//b", 1)).toThrow(
      'invalid model name "a//b": "//" at position 2 leaves an empty part; separate parts with a single "/"',
    );
    expect(() => questionVectorPath("m", -1)).toThrow(
      "question_id must be a non-negative integer, got -1",
    );
    expect(() => answerVectorPath("m", 1.5)).toThrow(
      "cluster_id must be a non-negative integer, got 1.5",
    );
    expect(() => headCentroidPath("m", Number.NaN, 1)).toThrow(
      "mh_projection_id must be a non-negative integer, got NaN",
    );
    expect(() => headAnswerPath("m", 1, -2)).toThrow("cluster_id must be a non-negative integer");
    expect(() => projectionMetaPath("..", 1)).toThrow('".." is not a usable folder name');
    expect(() => entityVectorPath("m", "centroid" as "answer", 1)).toThrow(
      expect.objectContaining({ code: "INVALID_FILE_KIND" }),
    );
  });
});
