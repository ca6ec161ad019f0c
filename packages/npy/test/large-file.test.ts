/**
 * Files over 2 GiB: Node's readFile stops at 2 GiB (ERR_FS_FILE_TOO_LARGE), readNpy must use
 * positioned reads. The file is sparse (a header, a few marker bytes, then truncate), so the
 * disk cost is nil; reading it allocates ~2.3 GB once, freed at the end.
 */
import { closeSync, openSync, truncateSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type NpyArray, readNpy, readNpyHeader } from "../src/index.js";
import { makeTempDir, numpyDict } from "./helpers.js";
import { tryLoadWithNumpy } from "./numpy-helper.js";

const N = 2_300_000_000;
const MARKERS: [number, number][] = [
  [0, 11],
  [2 ** 31 - 1, 22],
  [2 ** 31, 33],
  [2 ** 31 + 4097, 44],
  [N - 1, 55],
];

describe("a 2.3 GB file", () => {
  const tmp = makeTempDir();
  afterAll(() => tmp.cleanup());
  const path = join(tmp.dir, "big.npy");

  // NumPy's header layout for '|u1' (2300000000,): dict + growth spaces, padded to 64 with '\n'.
  const dict = numpyDict("|u1", false, [N]) + " ".repeat(21 - String(N).length);
  const pad = 64 - ((10 + dict.length + 1) % 64);
  const header = `${dict}${" ".repeat(pad)}\n`;
  const dataOffset = 10 + header.length;

  it("has a header NumPy accepts", () => {
    const prefix = Buffer.alloc(10);
    Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(prefix);
    prefix.writeUInt16LE(header.length, 8);
    const fd = openSync(path, "w");
    try {
      writeSync(fd, Buffer.concat([prefix, Buffer.from(header, "latin1")]), 0, dataOffset, 0);
      for (const [at, value] of MARKERS) writeSync(fd, Buffer.from([value]), 0, 1, dataOffset + at);
    } finally {
      closeSync(fd);
    }
    truncateSync(path, dataOffset + N);
    // memory-mapped, so NumPy checks the header and the markers without reading 2.3 GB
    const [np] = tryLoadWithNumpy([{ file: path, mmap: true, probe: MARKERS.map(([at]) => at) }]);
    expect(np?.ok, np?.error).toBe(true);
    expect(np?.shape).toEqual([N]);
    expect(np?.values).toEqual(MARKERS.map(([, value]) => value));
  }, 120_000);

  it("readNpyHeader reads its header", async () => {
    const info = await readNpyHeader(path);
    expect(info.dtype).toBe("|u1");
    expect(info.shape).toEqual([N]);
    expect(info.fortranOrder).toBe(false);
    expect(info.version).toEqual([1, 0]);
    expect(info.dataOffset).toBe(dataOffset);
    expect(info.headerLength).toBe(dataOffset - 10);
  });

  it("readNpy reads past 2 GiB", async () => {
    let arr: NpyArray | undefined = await readNpy(path);
    try {
      expect(arr.dtype).toBe("|u1");
      expect(arr.shape).toEqual([N]);
      expect(arr.data.length).toBe(N);
      for (const [at, value] of MARKERS) expect(arr.data[at], `byte ${at}`).toBe(value);
      expect(arr.data[2 ** 31 + 1]).toBe(0);
      expect(arr.data[N - 2]).toBe(0);
    } finally {
      arr = undefined;
    }
  }, 120_000);
});
