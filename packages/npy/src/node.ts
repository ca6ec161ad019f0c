import { constants as bufferConstants } from "node:buffer";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import {
  arrayFromData,
  checkDataLength,
  encodePlanned,
  type NpyArrayInput,
  planEncode,
} from "./codec.js";
import { swapBytesInPlace } from "./dtype.js";
import { NpyError } from "./errors.js";
import {
  checkHeaderSize,
  type DecodeOptions,
  type NpyHeader,
  type NpyVersion,
  parseHeader,
  readHeaderPrefix,
} from "./header.js";
import type { NpyArray } from "./types.js";

/** A single read or write call moves at most this much; the OS caps one call below 2 GiB. */
export const IO_CHUNK = 1 << 30;
/** Big-endian output is swapped through a buffer of this size rather than a copy of it all. */
const SWAP_CHUNK = 1 << 24;
/** Data up to this size is written together with its header in one call. */
const SMALL_FILE = 1 << 20;
/** The first read takes this much, which holds the whole header of nearly every file. */
const FIRST_READ = 4096;

/** What the header of an `.npy` file says, and where its data starts. */
export interface NpyFileInfo {
  /** The dtype as written in the file, e.g. `>f4`. */
  dtype: string;
  shape: number[];
  fortranOrder: boolean;
  version: NpyVersion;
  headerLength: number;
  dataOffset: number;
  /** Size of the file in bytes. */
  fileSize: number;
}

export interface WriteOptions {
  /** Flush the file to stable storage before renaming it into place (slower; survives power loss). */
  fsync?: boolean;
  /**
   * Written into the temporary file's name (`.<name>.<pid>.<tag>-<random>.tmp`): letters, digits
   * and `_`, at most 64. A writer on a folder several machines share puts its machine's tag there,
   * so that a cleaner on another machine does not judge the file by a process id of the wrong
   * machine.
   */
  temporaryTag?: string;
}

const TEMPORARY_TAG = /^[A-Za-z0-9_]{1,64}$/;

/** One positioned read a step function asks for; the driver answers with the bytes read. */
interface ReadRequest {
  position: number;
  into: Uint8Array;
}
/** Step functions yield reads that may run concurrently and receive the bytes each one read. */
type ReadSteps<T> = Generator<ReadRequest[], T, number[]>;

/** Large reads are split into this many concurrent parts: page faults on the fresh buffer then run on several cores. */
const READ_PARTS = 4;
const PARALLEL_READ_MIN = 16 << 20;

function* readFully(position: number, into: Uint8Array, path: string): ReadSteps<void> {
  const partSize =
    into.length >= PARALLEL_READ_MIN ? Math.ceil(into.length / READ_PARTS) : into.length;
  const parts: Array<{ start: number; end: number }> = [];
  for (let start = 0; start < into.length; start += partSize) {
    parts.push({ start, end: Math.min(into.length, start + partSize) });
  }
  while (parts.length > 0) {
    const requests = parts.map((p) => ({
      position: position + p.start,
      into: into.subarray(p.start, Math.min(p.end, p.start + IO_CHUNK)),
    }));
    const counts = yield requests;
    for (let i = parts.length - 1; i >= 0; i--) {
      const n = counts[i] as number;
      if (n === 0) throw new NpyError("TRUNCATED", `${path}: file ended while it was being read`);
      const part = parts[i] as { start: number; end: number };
      part.start += n;
      if (part.start >= part.end) parts.splice(i, 1);
    }
  }
}

/** Reads and parses the header, without reading any data. */
function* headerSteps(
  fileSize: number,
  path: string,
  options: DecodeOptions,
): ReadSteps<NpyHeader> {
  let bytes = new Uint8Array(Math.min(fileSize, FIRST_READ));
  yield* readFully(0, bytes, path);
  const dataOffset = withPath(path, () => {
    const prefix = readHeaderPrefix(bytes);
    checkHeaderSize(prefix.headerLength, options);
    return prefix.dataOffset;
  });
  if (dataOffset > bytes.length && fileSize > bytes.length) {
    bytes = allocate(Math.min(fileSize, dataOffset), path);
    yield* readFully(0, bytes, path);
  }
  return withPath(path, () => parseHeader(bytes, options));
}

function* arraySteps(fileSize: number, path: string, options: DecodeOptions): ReadSteps<NpyArray> {
  const header = yield* headerSteps(fileSize, path, options);
  withPath(path, () => checkDataLength(header, fileSize - header.dataOffset));
  if (header.dataLength > bufferConstants.MAX_LENGTH) {
    throw new NpyError(
      "TOO_LARGE",
      `${path}: its ${header.dataLength} bytes of data exceed the ${bufferConstants.MAX_LENGTH} bytes one array can hold in this Node.js`,
    );
  }
  const data = allocate(header.dataLength, path);
  yield* readFully(header.dataOffset, data, path);
  return arrayFromData(header, data, true);
}

/**
 * A fresh buffer for `length` bytes the file really holds. allocUnsafeSlow: not pooled (so offset
 * 0, aligned for every dtype) and not zero-filled. Memory can still run out below MAX_LENGTH.
 */
function allocate(length: number, path: string): Uint8Array<ArrayBuffer> {
  try {
    return new Uint8Array(Buffer.allocUnsafeSlow(length).buffer as ArrayBuffer, 0, length);
  } catch (cause) {
    throw new NpyError("TOO_LARGE", `${path}: cannot allocate ${length} bytes to read it`, {
      cause,
    });
  }
}

function withPath<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof NpyError) {
      throw new NpyError(error.code, `${path}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/**
 * Opening a FIFO for reading blocks until a writer appears, so files are opened non-blocking (a
 * no-op for regular files) and the descriptor's own type is checked: no race with a swapped path.
 * `O_NOCTTY` keeps a terminal device from becoming the controlling terminal. Windows has neither.
 */
const READ_FLAGS =
  fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0) | (fs.constants.O_NOCTTY ?? 0);

function notAFile(path: string, stats: fs.Stats): NpyError {
  const kind = stats.isFIFO()
    ? "a FIFO (named pipe)"
    : stats.isSocket()
      ? "a socket"
      : stats.isCharacterDevice()
        ? "a character device"
        : stats.isBlockDevice()
          ? "a block device"
          : stats.isDirectory()
            ? "a directory"
            : "not a regular file";
  return new NpyError("NOT_A_FILE", `${path}: is ${kind}; an NPY file must be a regular file`);
}

/** open(2) refuses a Unix socket with ENXIO; say what the path is instead of the bare code. */
function refusedOpen(path: string, error: unknown): unknown {
  if ((error as NodeJS.ErrnoException | undefined)?.code !== "ENXIO") return error;
  try {
    const stats = fs.statSync(path);
    return stats.isFile() ? error : notAFile(path, stats);
  } catch {
    return error;
  }
}

async function runAsync<T>(path: string, steps: (fileSize: number) => ReadSteps<T>): Promise<T> {
  const handle = await fsp.open(path, READ_FLAGS).catch((error: unknown) => {
    throw refusedOpen(path, error);
  });
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw notAFile(path, stats);
    const gen = steps(stats.size);
    let next = gen.next([]);
    while (!next.done) {
      const reads = next.value.map(({ position, into }) =>
        handle.read(into, 0, into.length, position),
      );
      next = gen.next((await Promise.all(reads)).map((r) => r.bytesRead));
    }
    return next.value;
  } finally {
    await handle.close();
  }
}

function runSync<T>(path: string, steps: (fileSize: number) => ReadSteps<T>): T {
  let fd: number;
  try {
    fd = fs.openSync(path, READ_FLAGS);
  } catch (error) {
    throw refusedOpen(path, error);
  }
  try {
    const stats = fs.fstatSync(fd);
    if (!stats.isFile()) throw notAFile(path, stats);
    const gen = steps(stats.size);
    let next = gen.next([]);
    while (!next.done) {
      next = gen.next(
        next.value.map(({ position, into }) => fs.readSync(fd, into, 0, into.length, position)),
      );
    }
    return next.value;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads an `.npy` file. Uses positioned reads, so files past the 2 GiB that `fs.readFile` stops at
 * load too; the data lands in a fresh, aligned buffer with no further copy.
 */
export function readNpy(path: string, options: DecodeOptions = {}): Promise<NpyArray> {
  return runAsync(path, (size) => arraySteps(size, path, options));
}

/** Synchronous {@link readNpy}, for loading many small files in a loop. */
export function readNpySync(path: string, options: DecodeOptions = {}): NpyArray {
  return runSync(path, (size) => arraySteps(size, path, options));
}

function toFileInfo(header: NpyHeader, fileSize: number): NpyFileInfo {
  return {
    dtype: header.descr,
    shape: header.shape,
    fortranOrder: header.fortranOrder,
    version: header.version,
    headerLength: header.headerLength,
    dataOffset: header.dataOffset,
    fileSize,
  };
}

/** Reads only the header of an `.npy` file: dtype, shape and order, without loading data. */
export function readNpyHeader(path: string, options: DecodeOptions = {}): Promise<NpyFileInfo> {
  return runAsync(path, function* (size) {
    return toFileInfo(yield* headerSteps(size, path, options), size);
  });
}

/** Synchronous {@link readNpyHeader}. */
export function readNpyHeaderSync(path: string, options: DecodeOptions = {}): NpyFileInfo {
  return runSync(path, function* (size) {
    return toFileInfo(yield* headerSteps(size, path, options), size);
  });
}

/** The pieces of an encoded file in order: the header, then the data in chunks a write can take. */
function* encodedChunks(array: NpyArrayInput): Generator<Uint8Array> {
  const plan = planEncode(array);
  if (plan.data.length <= SMALL_FILE) {
    // One write call instead of two: most vector files are a few KiB, where calls dominate.
    yield encodePlanned(plan);
    return;
  }
  yield plan.header;
  const chunk = plan.swapItemSize ? SWAP_CHUNK : IO_CHUNK;
  for (let start = 0; start < plan.data.length; start += chunk) {
    const piece = plan.data.subarray(start, start + chunk);
    if (plan.swapItemSize) {
      const swapped = piece.slice();
      swapBytesInPlace(swapped, plan.swapItemSize);
      yield swapped;
    } else {
      yield piece;
    }
  }
}

/**
 * A unique name in the same folder, so the final rename never crosses file systems:
 * `.<name>.<pid>.<nonce>.tmp`, the nonce random hex, after `<tag>-` when a tag is given.
 */
export function temporaryPathFor(path: string, tag?: string): string {
  if (tag !== undefined && !TEMPORARY_TAG.test(tag)) {
    throw new TypeError(
      `temporaryTag must be 1 to 64 letters, digits or _, not ${JSON.stringify(tag)}`,
    );
  }
  const random = randomBytes(6).toString("hex");
  return join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${tag === undefined ? random : `${tag}-${random}`}.tmp`,
  );
}

/**
 * Writes `array` as an `.npy` file byte-identical to NumPy's `np.save`. The bytes go to a
 * temporary file in the same folder that is renamed into place, so readers never see half a file.
 */
export async function writeNpy(
  path: string,
  array: NpyArrayInput,
  options: WriteOptions = {},
): Promise<void> {
  const chunks = encodedChunks(array);
  const tmp = temporaryPathFor(path, options.temporaryTag);
  const handle = await fsp.open(tmp, "wx");
  try {
    for (const chunk of chunks) {
      for (let done = 0; done < chunk.length; ) {
        const { bytesWritten } = await handle.write(chunk, done, chunk.length - done);
        done += bytesWritten;
      }
    }
    if (options.fsync) await handle.sync();
    await handle.close();
    await fsp.rename(tmp, path);
  } catch (error) {
    await handle.close().catch(() => {});
    await fsp.rm(tmp, { force: true });
    throw error;
  }
}

/** Synchronous {@link writeNpy}. */
export function writeNpySync(path: string, array: NpyArrayInput, options: WriteOptions = {}): void {
  const chunks = encodedChunks(array);
  const tmp = temporaryPathFor(path, options.temporaryTag);
  const fd = fs.openSync(tmp, "wx");
  try {
    for (const chunk of chunks) {
      for (let done = 0; done < chunk.length; ) {
        done += fs.writeSync(fd, chunk, done, chunk.length - done);
      }
    }
    if (options.fsync) fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, path);
  } catch (error) {
    try {
      fs.closeSync(fd);
    } catch {}
    fs.rmSync(tmp, { force: true });
    throw error;
  }
}
