import { describe, expect, it } from "vitest";
import {
  assertTransition,
  BATCH_STATUSES,
  BATCH_TRANSITIONS,
  type BatchStatus,
  BatchTransitionError,
  batchStatusSchema,
  canTransition,
  IN_PROGRESS_BATCH_STATUSES,
  isBatchStatus,
} from "../src/index.js";

const ALLOWED: Array<[BatchStatus, BatchStatus]> = [
  ["pending", "importing"],
  ["importing", "embedding"],
  ["embedding", "completed"],
  ["importing", "failed"],
  ["embedding", "failed"],
  ["failed", "pending"],
  ["importing", "pending"],
  ["embedding", "pending"],
];

describe("the batch status machine", () => {
  it("has the five statuses of the batch state machine", () => {
    expect(BATCH_STATUSES).toEqual(["pending", "importing", "embedding", "completed", "failed"]);
    expect(IN_PROGRESS_BATCH_STATUSES).toEqual(["importing", "embedding"]);
    expect(Object.keys(BATCH_TRANSITIONS).sort()).toEqual([...BATCH_STATUSES].sort());
  });

  it("allows exactly the listed transitions", () => {
    const allowed = new Set(ALLOWED.map(([from, to]) => `${from}>${to}`));
    for (const from of BATCH_STATUSES) {
      for (const to of BATCH_STATUSES) {
        expect(canTransition(from, to), `${from} → ${to}`).toBe(allowed.has(`${from}>${to}`));
      }
    }
  });

  it("is read-only data", () => {
    expect(Object.isFrozen(BATCH_TRANSITIONS)).toBe(true);
    expect(Object.isFrozen(BATCH_TRANSITIONS.importing)).toBe(true);
  });

  it("never stays in place, and completed is final", () => {
    for (const status of BATCH_STATUSES) expect(canTransition(status, status)).toBe(false);
    expect(BATCH_TRANSITIONS.completed).toEqual([]);
  });

  it("assertTransition throws a clear error", () => {
    expect(() => assertTransition("pending", "importing")).not.toThrow();
    expect(() => assertTransition("completed", "pending", 7)).toThrow(
      'batch 7: cannot change status from "completed" to "pending" ("completed" is final)',
    );
    expect(() => assertTransition("pending", "completed")).toThrow(
      'batch: cannot change status from "pending" to "completed" (from "pending" only "importing")',
    );
    expect(() => assertTransition("importing", "importing")).toThrow(BatchTransitionError);
    const error = (() => {
      try {
        assertTransition("failed", "embedding", 3);
      } catch (e) {
        return e as BatchTransitionError;
      }
    })();
    expect(error).toMatchObject({
      name: "BatchTransitionError",
      from: "failed",
      to: "embedding",
      batchId: 3,
    });
  });

  it("rejects unknown statuses (e.g. read from an old database) with a message", () => {
    expect(canTransition("training" as BatchStatus, "completed")).toBe(false);
    expect(() => assertTransition("training" as BatchStatus, "completed")).toThrow(
      'batch: unknown status "training" (expected one of pending, importing, embedding, completed, failed)',
    );
    expect(isBatchStatus("failed")).toBe(true);
    expect(isBatchStatus("FAILED")).toBe(false);
    expect(isBatchStatus(undefined)).toBe(false);
    expect(batchStatusSchema.safeParse("embedding").success).toBe(true);
    expect(batchStatusSchema.safeParse("done").success).toBe(false);
  });
});
