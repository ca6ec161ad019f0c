/**
 * A FIFO in place of a head file used to hang loading (and so `ldakit search`) in open(2). It is
 * now a BAD_HEAD_FILE that names the file. A helper process opens the FIFO after a delay, so a
 * loader that blocks is released and fails on its time instead of hanging the suite.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { headFileName, projectionMetaFileName } from "@ldakit/format";
import { afterAll, describe, expect, it } from "vitest";
import { loadProjection, loadProjectionSync, SearchError } from "../src/index.js";
import { randomMatrix, scrambledIds, tempDir, writeProjectionFiles } from "./helpers.js";

// Far below the 3 s after which the helper frees a blocked reader, far above a real load.
const BLOCKED_MS = 2500;
const releasers: ChildProcess[] = [];
afterAll(() => {
  for (const child of releasers) child.kill("SIGKILL");
});

/** Opens the FIFO read-write after 3 s: never blocks itself, and frees a reader stuck in open. */
function releaseLater(fifo: string): void {
  releasers.push(
    spawn("sh", ["-c", 'sleep 3; exec 3<>"$0"; sleep 0.2', fifo], { stdio: "ignore" }),
  );
}

function folderWithFifoHead(): { dir: string; fifo: string } {
  const dir = tempDir();
  const clusterIds = scrambledIds(6, 1);
  writeProjectionFiles(dir, {
    mhProjectionId: 1,
    temperature: 0.1,
    clusterIds,
    dims: 8,
    centroids: randomMatrix(6, 8, 1),
    answers: randomMatrix(6, 8, 2),
  });
  const fifo = join(dir, headFileName(1, clusterIds[3] as number, "answer"));
  rmSync(fifo);
  execFileSync("mkfifo", [fifo]);
  return { dir, fifo };
}

describe("a FIFO in place of a head file", () => {
  it("loadProjectionSync refuses it at once as BAD_HEAD_FILE, naming it", () => {
    const { dir, fifo } = folderWithFifoHead();
    releaseLater(fifo);
    const started = performance.now();
    let error: unknown;
    try {
      loadProjectionSync({ dir, mhProjectionId: 1 });
    } catch (e) {
      error = e;
    }
    expect(performance.now() - started, "the loader blocked").toBeLessThan(BLOCKED_MS);
    expect(error).toBeInstanceOf(SearchError);
    expect((error as SearchError).code).toBe("BAD_HEAD_FILE");
    expect((error as SearchError).message).toContain(fifo);
    expect((error as SearchError).message).toContain("FIFO");
  });

  it("loadProjection refuses it at once as BAD_HEAD_FILE", async () => {
    const { dir, fifo } = folderWithFifoHead();
    releaseLater(fifo);
    const started = performance.now();
    await expect(loadProjection({ dir, mhProjectionId: 1 })).rejects.toMatchObject({
      code: "BAD_HEAD_FILE",
      message: expect.stringContaining("FIFO"),
    });
    expect(performance.now() - started, "the loader blocked").toBeLessThan(BLOCKED_MS);
  });
});

describe("a FIFO in place of mh_<id>.json", () => {
  function folderWithFifoMeta(): string {
    const { dir } = folderWithFifoHead();
    const meta = join(dir, projectionMetaFileName(1));
    rmSync(meta);
    execFileSync("mkfifo", [meta]);
    releaseLater(meta);
    return meta;
  }

  it.each([
    [
      "loadProjectionSync",
      (dir: string) => Promise.resolve().then(() => loadProjectionSync({ dir, mhProjectionId: 1 })),
    ],
    ["loadProjection", (dir: string) => loadProjection({ dir, mhProjectionId: 1 })],
  ])("%s refuses it at once as BAD_META, naming it", async (_, load) => {
    const meta = folderWithFifoMeta();
    const started = performance.now();
    await expect(load(dirname(meta))).rejects.toMatchObject({
      code: "BAD_META",
      message: `${meta}: not a regular file`,
    });
    expect(performance.now() - started, "the loader blocked").toBeLessThan(BLOCKED_MS);
  });
});
