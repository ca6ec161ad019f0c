/**
 * Only regular files are read as NPY. A FIFO in place of a file used to hang every reader in
 * open(2); a directory or a device gave a bare EISDIR or a misleading TRUNCATED.
 *
 * A reader that blocks in a synchronous open cannot be interrupted by a test timeout, so each
 * FIFO case starts a helper process that opens the FIFO itself after a delay: a reader that
 * blocks is then released (and the test fails on its time and its error) instead of hanging.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  encodeNpy,
  type NpyError,
  readNpy,
  readNpyHeader,
  readNpyHeaderSync,
  readNpySync,
} from "../src/index.js";
import { expectNpyError, expectNpyErrorAsync, makeTempDir } from "./helpers.js";

/** A reader that takes longer than this was blocked, not working. */
const BLOCKED_MS = 1000;
/** The helper opens the FIFO after this long, well past BLOCKED_MS. */
const RELEASE_AFTER_S = 3;

const READERS: Array<{ name: string; read: (path: string) => unknown }> = [
  { name: "readNpySync", read: (path) => readNpySync(path) },
  { name: "readNpyHeaderSync", read: (path) => readNpyHeaderSync(path) },
  { name: "readNpy", read: (path) => readNpy(path) },
  { name: "readNpyHeader", read: (path) => readNpyHeader(path) },
];

async function expectNotAFile(read: () => unknown, kind: string): Promise<NpyError> {
  const started = performance.now();
  const error = await expectNpyErrorAsync(async () => read(), "NOT_A_FILE");
  expect(performance.now() - started, "the reader blocked").toBeLessThan(BLOCKED_MS);
  expect(error.message).toContain(kind);
  expect(error.message).toContain("regular file");
  return error;
}

const tmp = makeTempDir();
let fifo = "";
let socketPath = "";
let server: Server | undefined;
const releasers: ChildProcess[] = [];

beforeAll(async () => {
  fifo = join(tmp.dir, "head.npy");
  execFileSync("mkfifo", [fifo]);
  socketPath = join(tmp.dir, "socket.npy");
  const listening = createServer();
  await new Promise<void>((resolve) => listening.listen(socketPath, resolve));
  server = listening;
  mkdirSync(join(tmp.dir, "folder.npy"));
  writeFileSync(join(tmp.dir, "good.npy"), encodeNpy({ data: new Float32Array([1, 2, 3]) }));
});

afterAll(async () => {
  for (const child of releasers) child.kill("SIGKILL");
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  tmp.cleanup();
});

/**
 * Opens the FIFO read-write after a delay: on Linux that never blocks, and it lets a reader
 * stuck in open(2) go on (it then sees an empty pipe once the helper exits).
 */
function releaseFifoLater(path: string): void {
  const child = spawn("sh", ["-c", `sleep ${RELEASE_AFTER_S}; exec 3<>"$0"; sleep 0.2`, path], {
    stdio: "ignore",
  });
  releasers.push(child);
}

describe("a FIFO in place of an NPY file is refused at once, never waited on", () => {
  it.each(READERS)("$name", async ({ read }) => {
    releaseFifoLater(fifo);
    const error = await expectNotAFile(() => read(fifo), "FIFO");
    expect(error.message).toContain(fifo);
  });
});

describe("other files that are not regular files are refused with NOT_A_FILE", () => {
  it.each(READERS)("$name: a directory", async ({ read }) => {
    await expectNotAFile(() => read(join(tmp.dir, "folder.npy")), "directory");
  });
  it.each(READERS)("$name: a character device (/dev/null)", async ({ read }) => {
    await expectNotAFile(() => read("/dev/null"), "character device");
  });
  it.each(READERS)("$name: a Unix socket", async ({ read }) => {
    await expectNotAFile(() => read(socketPath), "socket");
  });
});

describe("regular files and symbolic links to them are still read", () => {
  it("a regular file, and a symbolic link to it", () => {
    const good = join(tmp.dir, "good.npy");
    const link = join(tmp.dir, "link.npy");
    symlinkSync(good, link);
    for (const path of [good, link]) {
      expect(Array.from(readNpySync(path).data as Float32Array)).toEqual([1, 2, 3]);
    }
  });
  it("a symbolic link to a FIFO is refused like the FIFO", () => {
    const link = join(tmp.dir, "fifo-link.npy");
    symlinkSync(fifo, link);
    releaseFifoLater(fifo);
    const started = performance.now();
    expectNpyError(() => readNpySync(link), "NOT_A_FILE");
    expect(performance.now() - started, "the reader blocked").toBeLessThan(BLOCKED_MS);
  });
  it("a missing file is Node's own ENOENT, with the path", () => {
    const missing = join(tmp.dir, "missing.npy");
    expect(() => readNpySync(missing)).toThrow(/ENOENT.*missing\.npy/);
  });
});
