import { describe, expect, it } from "vitest";
import { backends } from "./backends.js";
import { expectStoreError } from "./helpers.js";

describe.each(backends)("searchWithProjection on $name", (backend) => {
  it("returns the answers of the best heads for a projected query, with routing weights", async () => {
    const store = await backend.newStore();
    const db = await store.open();
    const model = await db.getOrCreateModel("toy", { dimensions: 3 });
    const texts = ["Use the red valve.", "Call the front desk.", "Check the fuse box."];
    const ids: number[] = [];
    for (const [i, text] of texts.entries()) {
      ids.push(
        await db.addCluster({ answerText: text, answerRecordId: `r${i}`, modelId: model.model_id }),
      );
    }
    const axes = [
      new Float32Array([1, 0, 0]),
      new Float32Array([0, 1, 0]),
      new Float32Array([0, 0, 1]),
    ];
    const mhId = await db.createProjection({
      modelId: model.model_id,
      temperature: 0.1,
      centroidMethod: "mean",
      heads: ids.map((clusterId, i) => ({
        clusterId,
        centroid: axes[i] as Float32Array,
        answer: axes[(i + 1) % 3] as Float32Array,
        numQuestions: 1,
      })),
    });
    expect(await db.latestProjectionId()).toBe(mhId);
    expect(await db.latestProjectionId("other")).toBeUndefined();

    // A query near head 0's centroid routes to head 0, whose answer vector is axis 1.
    const result = await db.searchWithProjection(new Float32Array([0.9, 0.1, 0]), mhId, {
      topK: 2,
    });
    expect(result.mhProjectionId).toBe(mhId);
    expect(Object.keys(result.routing[0] ?? {}).sort()).toEqual(["clusterId", "weight"]);
    expect(result.routing[0]).toMatchObject({ clusterId: ids[0] });
    expect(result.routing[0]?.weight).toBeGreaterThan(0.99);
    expect(result.results[0]).toEqual({
      clusterId: ids[0],
      answerRecordId: "r0",
      answerText: "Use the red valve.",
      score: expect.any(Number),
    });
    expect(result.results[0]?.score).toBeCloseTo(1, 3);
    expect(result.results).toHaveLength(2);

    // Direct search compares the query with the answers themselves: axis 0 is head 2's answer.
    const direct = await db.directSearch(new Float32Array([0.9, 0.1, 0]), mhId, { topK: 1 });
    expect(direct.results.map((r) => r.answerText)).toEqual(["Check the fuse box."]);
    expect(direct.mhProjectionId).toBeNull();
    expect(direct.routing).toEqual([]);
    // Without options, the five best (here: all three heads).
    expect((await db.searchWithProjection(new Float32Array([0, 0, 1]), mhId)).results).toHaveLength(
      3,
    );
    await expectStoreError(
      db.searchWithProjection(new Float32Array(3), 99),
      "PROJECTION_NOT_FOUND",
      /no projection 99/,
    );
    const query = new Float32Array([0.2, 0.3, 0.9]);
    const written = await db.searchWithProjection(query, mhId, { topK: 3 });
    await db.close();
    // A store opened only to read searches the same.
    const reader = await store.open({ mode: "read" });
    expect(await reader.searchWithProjection(query, mhId, { topK: 3 })).toEqual(written);
    await reader.close();
  });
});
