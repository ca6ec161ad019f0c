import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { createHashEmbedder } from "@ldakit/embed";
import { afterEach, describe, expect, it } from "vitest";
import type { ScanResult } from "../src/index.js";
import { backends, type TestBackend } from "./backends.js";
import { formA, tempDir } from "./helpers.js";

const WORKER = join(import.meta.dirname, "workers", "scan.mjs");

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** The paths of a scan's queued files, and the skipped ones with their reasons. */
function summary(result: ScanResult) {
  return {
    new: result.new.map((f) => f.path),
    skipped: result.skipped.map((s) => [s.path, s.reason, s.error]),
  };
}

async function scanInto(
  backend: TestBackend,
  input: string,
  recursive = false,
): Promise<ScanResult> {
  const db = await (await backend.newStore()).open();
  try {
    return await db.scan(input, { recursive });
  } finally {
    await db.close();
  }
}

function mkfifo(path: string): void {
  execFileSync("mkfifo", [path]);
}

describe.each(backends)("scan on $name: inputs that are not plain readable files", (backend) => {
  it("follows a symbolic link to a file, inside or outside the folder, queued under the link's path", async () => {
    const input = tempDir();
    const elsewhere = tempDir();
    writeFileSync(join(input, "a.json"), formA(1, 1, "a"));
    writeFileSync(join(input, "inside.json.txt"), formA(1, 1, "in"));
    writeFileSync(join(elsewhere, "outside.json"), formA(1, 1, "out"));
    symlinkSync(join(input, "inside.json.txt"), join(input, "b-inside.json"));
    symlinkSync(join(elsewhere, "outside.json"), join(input, "c-outside.json"));
    writeFileSync(join(input, "d.json"), formA(1, 1, "d"));
    const result = await scanInto(backend, input);
    expect(summary(result)).toEqual({
      new: ["a.json", "b-inside.json", "c-outside.json", "d.json"].map((f) => join(input, f)),
      skipped: [],
    });
    // The hash is of the file the link points to.
    const { createHash } = await import("node:crypto");
    expect(result.new[2]?.hash).toBe(
      createHash("sha256")
        .update(readFileSync(join(elsewhere, "outside.json")))
        .digest("hex"),
    );
  });

  it("reports a FIFO, a link to a FIFO, a socket and a broken link per file, without opening them, and queues the rest", async () => {
    const input = tempDir();
    writeFileSync(join(input, "a.json"), formA(1, 1, "a"));
    mkfifo(join(input, "b-fifo.json"));
    symlinkSync(join(input, "b-fifo.json"), join(input, "c-link-to-fifo.json"));
    const server = createServer();
    servers.push(server);
    await new Promise<void>((r) => server.listen(join(input, "d-socket.json"), r));
    symlinkSync(join(input, "gone.json"), join(input, "e-broken.json"));
    writeFileSync(join(input, "f.json"), formA(1, 1, "f"));
    // Not *.json: not an input, not reported.
    mkfifo(join(input, "pipe.txt"));
    const result = await scanInto(backend, input);
    expect(summary(result)).toEqual({
      new: [join(input, "a.json"), join(input, "f.json")],
      skipped: [
        [join(input, "b-fifo.json"), "a FIFO (named pipe), not a regular file", true],
        [
          join(input, "c-link-to-fifo.json"),
          "a symbolic link to a FIFO (named pipe), not to a regular file",
          true,
        ],
        [join(input, "d-socket.json"), "a socket, not a regular file", true],
        [
          join(input, "e-broken.json"),
          "a broken symbolic link (what it points to does not exist)",
          true,
        ],
      ],
    });
  });

  it("recursive: reports a linked folder as not followed (no error), so a link loop cannot trap it", async () => {
    const input = tempDir();
    mkdirSync(join(input, "sub"));
    writeFileSync(join(input, "sub", "a.json"), formA(1, 1, "a"));
    symlinkSync(input, join(input, "sub", "loop"));
    const result = await scanInto(backend, input, true);
    expect(summary(result)).toEqual({
      new: [join(input, "sub", "a.json")],
      skipped: [
        [
          join(input, "sub", "loop"),
          "a symbolic link to a folder, not followed (scan that folder itself)",
          false,
        ],
      ],
    });
    // Without --recursive, folders are not looked into, linked or not.
    expect(summary(await scanInto(backend, input))).toEqual({ new: [], skipped: [] });
  });

  it("an unreadable file or folder is reported with the reason, and the files after it are queued", async (ctx) => {
    const root = process.getuid?.() === 0;
    const asOther = root ? ["runuser", "-u", "nobody", "--"] : [];
    if (root && spawnSync("runuser", ["-u", "nobody", "--", "true"]).status !== 0) {
      // Root reads every file; without another user to run as, there is nothing to test.
      ctx.skip("running as root without runuser/nobody: no user to whom a file is unreadable");
    }
    const base = tempDir();
    chmodSync(base, 0o755);
    const input = join(base, "raw");
    const store = await backend.newStore();
    mkdirSync(join(input, "sub", "locked"), { recursive: true });
    writeFileSync(join(input, "a.json"), formA(1, 1, "a"));
    writeFileSync(join(input, "b-unreadable.json"), formA(1, 1, "b"));
    writeFileSync(join(input, "c.json"), formA(1, 1, "c"));
    writeFileSync(join(input, "sub", "locked", "hidden.json"), formA(1, 1, "h"));
    writeFileSync(join(input, "sub", "z.json"), formA(1, 1, "z"));
    chmodSync(join(input, "b-unreadable.json"), 0o000);
    chmodSync(join(input, "sub", "locked"), 0o000);
    // nobody writes the store (its root: the SQLite file's folder, or the folder PostgreSQL's
    // store records), and reads what others may
    if (root) chownSync(store.root, 65534, 65534);
    const run = spawnSync(
      asOther[0] ?? process.execPath,
      [
        ...asOther.slice(1),
        ...(root ? [process.execPath] : []),
        WORKER,
        store.location,
        input,
        "recursive",
        `--store-root=${store.root}`,
      ],
      { encoding: "utf8" },
    );
    chmodSync(join(input, "sub", "locked"), 0o755); // so the temporary folder can be removed
    expect(run.status, run.stderr + run.stdout).toBe(0);
    const result = JSON.parse(run.stdout) as ScanResult;
    expect(summary(result)).toEqual({
      new: ["a.json", "c.json", "sub/z.json"].map((f) => join(input, f)),
      skipped: [
        [join(input, "b-unreadable.json"), "cannot open: permission denied (EACCES)", true],
        [join(input, "sub", "locked"), "cannot list this folder: permission denied (EACCES)", true],
      ],
    });
  });
});

describe.each(backends)("process-pending on $name: an input replaced since the scan", (backend) => {
  it("by a FIFO fails its batch at once, naming what it found, instead of blocking on the read", async () => {
    const input = join(tempDir(), "raw");
    mkdirSync(input);
    writeFileSync(join(input, "a.json"), formA(3, 2, "a"));
    writeFileSync(join(input, "b.json"), formA(3, 2, "b"));
    const db = await (await backend.newStore()).open();
    let unblocker: ReturnType<typeof spawn> | undefined;
    try {
      await db.scan(input);
      execFileSync("rm", [join(input, "a.json")]);
      mkfifo(join(input, "a.json"));
      // Frees a reader stuck on the FIFO after 3 s, so that a regression fails instead of hanging.
      unblocker = spawn("sh", ["-c", `sleep 3; echo > "${join(input, "a.json")}"`], {
        stdio: "ignore",
      });
      const result = await db.processPending({
        embedder: createHashEmbedder(16),
        writerThreads: 0,
      });
      expect(result.completed.map((c) => c.batchId)).toEqual([2]);
      expect(result.failed).toHaveLength(1);
      expect(result.failed[0]?.batchId).toBe(1);
      expect(result.failed[0]?.error).toMatch(
        /FIFO \(named pipe\), not a regular file; run scan again/,
      );
    } finally {
      unblocker?.kill();
      await db.close();
    }
  }, 20_000);
});
