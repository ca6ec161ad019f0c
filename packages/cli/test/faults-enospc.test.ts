/**
 * A real full disk while processing: the store lives on a tiny tmpfs (we mount one where the
 * machine allows it), else the process runs under a file-size limit (`ulimit -f`, SIGXFSZ
 * ignored, so writes past it fail with EFBIG as on a full disk). Either way the failure must
 * name the batch and the file, exit non-zero, and leave the batch to retry once there is space.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const CLI = join(import.meta.dirname, "..", "dist", "main.js");
const work = mkdtempSync(join(tmpdir(), "ldakit-enospc-"));
let mounted: string | undefined;
afterAll(() => {
  if (mounted) spawnSync("umount", [mounted]);
  rmSync(work, { recursive: true, force: true });
});

function ldakit(db: string, args: string[], fileSizeLimitKb?: number) {
  const command =
    fileSizeLimitKb === undefined
      ? { file: process.execPath, args: [CLI, "--db", db, ...args] }
      : {
          file: "bash",
          args: [
            "-c",
            `trap '' XFSZ; ulimit -f ${fileSizeLimitKb}; exec "$0" "$@"`,
            process.execPath,
            CLI,
            "--db",
            db,
            ...args,
          ],
        };
  const r = spawnSync(command.file, command.args, { encoding: "utf8" });
  return { code: r.status, output: `${r.stdout}\n${r.stderr}` };
}

describe("a full disk while processing", () => {
  it("names the batch and the file, exits non-zero, and the batch completes once there is space", () => {
    const raw = join(work, "raw");
    mkdirSync(raw);
    const input = join(raw, "many.json");
    writeFileSync(
      input,
      JSON.stringify({
        clusters: Array.from({ length: 80 }, (_, c) => ({
          answer: `Answer ${c}: the widget number ${c} is configured in its settings page`,
          answer_id: `r${c}`,
          questions: Array.from({ length: 5 }, (_, q) => `how do I set up widget ${c}, way ${q}?`),
        })),
      }),
    );
    const storeDir = join(work, "store");
    mkdirSync(storeDir);
    const mount = spawnSync("mount", ["-t", "tmpfs", "-o", "size=400k", "tmpfs", storeDir]);
    const mode = mount.status === 0 ? "tmpfs" : "ulimit";
    if (mode === "tmpfs") mounted = storeDir;
    console.log(
      mode === "tmpfs"
        ? "full-disk test: a 400 KiB tmpfs holds the store"
        : `full-disk test: mount is not allowed here (${mount.stderr.toString().trim()}); a file-size limit stands in`,
    );
    const db = join(storeDir, "lda.db");
    expect(ldakit(db, ["migrate", "--scan", "--input", raw]).code).toBe(0);

    let limit: number | undefined;
    if (mode === "ulimit") {
      const size = (p: string) => {
        try {
          return statSync(p).size;
        } catch {
          return 0;
        }
      };
      limit = Math.ceil((size(db) + size(`${db}-wal`)) / 1024) + 8;
    }
    // 400 questions and 80 answers need far more than 400 KiB of 4 KiB tmpfs pages.
    const full = ldakit(db, ["migrate", "--process-pending"], limit);
    expect(full.code, full.output).not.toBe(0);
    expect(full.output).toMatch(/[Bb]atch 1\b/);
    expect(full.output).toMatch(
      /no space left on device|ENOSPC|EFBIG|disk is full|disk I\/O error/i,
    );
    // The file it could not write: a vector file of the store, or the database itself.
    expect(full.output).toMatch(
      new RegExp(
        `${storeDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/(embeddings/\\S+\\.npy|lda\\.db)`,
      ),
    );
    expect(full.output).not.toMatch(/^\s+at /m); // no stack trace

    if (mode === "tmpfs") {
      expect(spawnSync("mount", ["-o", "remount,size=64m", storeDir]).status).toBe(0);
    }
    const retried = ldakit(db, ["--json", "migrate", "--retry-failed"]);
    expect(retried.code, retried.output).toBe(0);
    const stats = JSON.parse(ldakit(db, ["--json", "stats"]).output.trim()) as {
      questions: number;
      embeddings: number;
      batches: Record<string, number>;
    };
    expect(stats).toMatchObject({ questions: 400, embeddings: 480 });
    expect(stats.batches).toMatchObject({ completed: 1, failed: 0, pending: 0 });
    const verify = ldakit(db, ["verify"]);
    expect(verify.code, verify.output).toBe(0);
  }, 120_000);
});
