/**
 * The temporary file a write goes through: its name carries the writer's pid and, when given, a
 * tag naming the writer's machine (a cleaner of a shared folder must know whose pid it reads).
 */
import { readdirSync, watch } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { writeNpy, writeNpySync } from "../src/index.js";
import { makeTempDir } from "./helpers.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** The names that appeared in `dir` while `write` ran (inotify reports them after they are gone). */
async function namesCreatedBy(dir: string, write: () => Promise<void>): Promise<string[]> {
  const seen = new Set<string>();
  const watcher = watch(dir, (_event, name) => {
    if (name) seen.add(String(name));
  });
  try {
    await write();
    await sleep(100);
  } finally {
    watcher.close();
  }
  return [...seen].sort();
}

describe("temporary file names", () => {
  it("are .<name>.<pid>.<random>.tmp without a tag and .<name>.<pid>.<tag>-<random>.tmp with one", async () => {
    const tmp = makeTempDir();
    cleanups.push(tmp.cleanup);
    const data = new Float32Array([1, 2, 3]);
    const untagged = await namesCreatedBy(tmp.dir, () =>
      writeNpy(join(tmp.dir, "a.npy"), { data }),
    );
    expect(untagged.filter((n) => n.endsWith(".tmp"))).toEqual([
      expect.stringMatching(new RegExp(`^\\.a\\.npy\\.${process.pid}\\.[0-9a-f]{12}\\.tmp$`)),
    ]);
    const tagged = await namesCreatedBy(tmp.dir, () =>
      writeNpy(join(tmp.dir, "b.npy"), { data }, { temporaryTag: "m_3f2a" }),
    );
    expect(tagged.filter((n) => n.endsWith(".tmp"))).toEqual([
      expect.stringMatching(
        new RegExp(`^\\.b\\.npy\\.${process.pid}\\.m_3f2a-[0-9a-f]{12}\\.tmp$`),
      ),
    ]);
    expect(readdirSync(tmp.dir).sort()).toEqual(["a.npy", "b.npy"]);
  });

  it("a tag that could break the name is refused before anything is written", async () => {
    const tmp = makeTempDir();
    cleanups.push(tmp.cleanup);
    const data = new Float32Array([1]);
    for (const tag of ["", "a.b", "a-b", "../x", "x".repeat(65)]) {
      expect(() => writeNpySync(join(tmp.dir, "c.npy"), { data }, { temporaryTag: tag })).toThrow(
        /temporaryTag must be 1 to 64 letters, digits or _/,
      );
      await expect(
        writeNpy(join(tmp.dir, "c.npy"), { data }, { temporaryTag: tag }),
      ).rejects.toThrow(TypeError);
    }
    expect(readdirSync(tmp.dir)).toEqual([]);
  });
});
