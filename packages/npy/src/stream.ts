import * as fsp from "node:fs/promises";
import {
  type DtypeInfo,
  formatDtype,
  HOST_LITTLE_ENDIAN,
  matchesArrayType,
  parseDtype,
  swapBytesInPlace,
} from "./dtype.js";
import { NpyError } from "./errors.js";
import { formatHeader } from "./header.js";
import { temporaryPathFor } from "./node.js";
import type { NpyTypedArray } from "./types.js";

export interface NpyStreamWriterOptions {
  /** dtype of the file, e.g. `<f4` (the default) or `>f8`. */
  dtype?: string;
  /** Shape of one row: `[384]` makes an (n, 384) file; `[]` a 1-d file of n scalars. */
  rowShape?: readonly number[];
}

/**
 * Writes an (n, ...rowShape) `.npy` file row by row, for arrays too large to hold in memory.
 * The header is written first with room for any row count (NumPy reserves 21 digits for it) and
 * patched on `close()`, which renames the finished file into place; the result is byte-identical
 * to `np.save` of the whole array.
 */
export class NpyStreamWriter {
  private rows = 0;
  private position: number;
  private closed = false;

  private constructor(
    private readonly handle: fsp.FileHandle,
    private readonly path: string,
    private readonly tmp: string,
    private readonly format: RowFormat,
  ) {
    this.position = format.headerLength;
  }

  static async create(
    path: string,
    options: NpyStreamWriterOptions = {},
  ): Promise<NpyStreamWriter> {
    const dtype = parseDtype(options.dtype ?? "<f4");
    const rowShape = [...(options.rowShape ?? [])];
    let rowSize = 1;
    for (const [axis, dim] of rowShape.entries()) {
      if (!Number.isSafeInteger(dim) || dim <= 0) {
        throw new NpyError(
          "BAD_SHAPE",
          `rowShape axis ${axis} is ${dim}; expected a positive integer`,
        );
      }
      rowSize *= dim;
    }
    const descr = formatDtype(dtype.code, dtype.littleEndian);
    const header = formatHeader(descr, [0, ...rowShape], false);
    const tmp = temporaryPathFor(path);
    const handle = await fsp.open(tmp, "wx");
    try {
      await handle.write(header, 0, header.length, 0);
    } catch (error) {
      await handle.close().catch(() => {});
      await fsp.rm(tmp, { force: true });
      throw error;
    }
    return new NpyStreamWriter(handle, path, tmp, {
      descr,
      dtype,
      rowShape,
      rowSize,
      headerLength: header.length,
    });
  }

  /** Rows written so far. */
  get rowCount(): number {
    return this.rows;
  }

  /** Appends whole rows, given in C order and host byte order. */
  async append(data: NpyTypedArray): Promise<void> {
    const { descr, dtype, rowShape, rowSize } = this.format;
    if (this.closed) throw new NpyError("BAD_ARRAY", `${this.path}: append after close or abort`);
    if (!matchesArrayType(data, dtype)) {
      throw new NpyError(
        "BAD_ARRAY",
        `${descr} rows are appended as a ${dtype.arrayType.name}, not a ${data.constructor.name}`,
      );
    }
    if (data.length % rowSize !== 0) {
      throw new NpyError(
        "BAD_ARRAY",
        `${data.length} values are not a whole number of rows of ${rowSize} (row shape (${rowShape.join(", ")}))`,
      );
    }
    let bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (dtype.itemSize > 1 && dtype.littleEndian !== HOST_LITTLE_ENDIAN) {
      bytes = bytes.slice();
      swapBytesInPlace(bytes, dtype.itemSize);
    }
    for (let done = 0; done < bytes.length; ) {
      const { bytesWritten } = await this.handle.write(
        bytes,
        done,
        bytes.length - done,
        this.position,
      );
      done += bytesWritten;
      this.position += bytesWritten;
    }
    this.rows += data.length / rowSize;
  }

  /** Patches the row count into the header and renames the file into place. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      // NumPy's 21-digit growth room keeps the header the same length for any row count.
      const header = formatHeader(this.format.descr, [this.rows, ...this.format.rowShape], false);
      await this.handle.write(header, 0, header.length, 0);
      await this.handle.close();
      await fsp.rename(this.tmp, this.path);
    } catch (error) {
      await this.handle.close().catch(() => {});
      await fsp.rm(this.tmp, { force: true });
      throw error;
    }
  }

  /** Discards everything written; no file appears at the path. */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close().catch(() => {});
    await fsp.rm(this.tmp, { force: true });
  }
}

interface RowFormat {
  descr: string;
  dtype: DtypeInfo;
  rowShape: number[];
  rowSize: number;
  headerLength: number;
}
