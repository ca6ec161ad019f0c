import { closeSync, fsyncSync, mkdirSync, openSync, rmSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { readNpySync, toCOrder, writeNpySync } from "@ldakit/npy";
import { StoreError } from "./errors.js";
import { machineTag } from "./machine.js";

/**
 * Flushes a folder's entries (the names of files just renamed into it) to disk. Without it a
 * power loss can lose a file whose data was synced: the rename that gave it its name was not.
 */
export function fsyncDirectory(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The `.npy` vector files under a store root. Paths given and returned are POSIX paths relative
 * to the root (docs/FORMAT.md §1.2), so a store can be moved as a folder.
 */
export class VectorFiles {
  private readonly knownDirs = new Set<string>();

  constructor(readonly root: string) {}

  absolute(relativePath: string): string {
    return join(this.root, ...relativePath.split("/"));
  }

  /**
   * Writes a (d,) `<f4` vector; the file appears whole or not at all, its data synced to disk
   * (its folder is not: see {@link syncFolders}).
   * Throws a {@link StoreError} `WRITE_FAILED` naming the file when the system refuses.
   */
  write(relativePath: string, vector: Float32Array): void {
    this.writeAbsolute(this.absolute(relativePath), vector);
  }

  /**
   * Writes a `rows`×`cols` `<f4` matrix in C order (`values` row-major); the file appears whole
   * or not at all. Throws a {@link StoreError} `WRITE_FAILED` naming the file when the system refuses.
   */
  writeMatrix(relativePath: string, values: Float32Array, rows: number, cols: number): void {
    this.writeAbsolute(this.absolute(relativePath), values, [rows, cols]);
  }

  /** {@link write} for a path already made absolute. */
  writeAbsolute(path: string, vector: Float32Array, shape?: number[]): void {
    try {
      const dir = dirname(path);
      if (!this.knownDirs.has(dir)) {
        mkdirSync(dir, { recursive: true });
        this.knownDirs.add(dir);
      }
      writeNpySync(path, shape === undefined ? { data: vector } : { data: vector, shape }, {
        fsync: true,
        // On a store root shared by machines, the sweep trusts the pid in the name only when
        // this tag is its own machine's.
        temporaryTag: machineTag(),
      });
    } catch (cause) {
      throw new StoreError(
        "WRITE_FAILED",
        `cannot write vector file ${path}: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  /**
   * Reads a vector file as float32 (float64 files, as the original Python tooling wrote, are
   * converted). Throws a {@link StoreError}: `VECTOR_FILE_MISSING`, or `BAD_VECTOR_FILE` for a file
   * that is not a `(d,)` float vector of `expectedDimensions`.
   */
  read(relativePath: string, expectedDimensions?: number): Float32Array {
    const array = this.readNpy(relativePath, "vector");
    const { data, shape } = array;
    if (!(data instanceof Float32Array || data instanceof Float64Array) || shape.length !== 1) {
      throw new StoreError(
        "BAD_VECTOR_FILE",
        `${relativePath}: expected a (d,) float32 or float64 vector, found ${array.dtype} of shape (${shape.join(", ")})`,
      );
    }
    if (expectedDimensions !== undefined && data.length !== expectedDimensions) {
      throw new StoreError(
        "BAD_VECTOR_FILE",
        `${relativePath}: vector has ${data.length} dimensions, the model has ${expectedDimensions}`,
      );
    }
    return data instanceof Float32Array ? data : Float32Array.from(data);
  }

  /**
   * Reads a `rows`×`cols` matrix file as row-major float32: `<f4` or `<f8`, either byte order, in
   * C or Fortran order (a Fortran-order file is transposed into C order, so element (i, j) is
   * always the file's row i, column j). Throws a {@link StoreError}: `VECTOR_FILE_MISSING`, or
   * `BAD_VECTOR_FILE` for a file of another shape or dtype, or with a NaN or infinite value.
   */
  readMatrix(relativePath: string, rows: number, cols: number, what = "matrix"): Float32Array {
    const array = this.readNpy(relativePath, what);
    const { data, shape } = array;
    if (
      !(data instanceof Float32Array || data instanceof Float64Array) ||
      shape.length !== 2 ||
      shape[0] !== rows ||
      shape[1] !== cols
    ) {
      throw new StoreError(
        "BAD_VECTOR_FILE",
        `${relativePath}: the ${what} must be a (${rows}, ${cols}) float32 or float64 matrix, found ${array.dtype} of shape (${shape.join(", ")}${shape.length === 1 ? "," : ""})`,
      );
    }
    const ordered = toCOrder(array).data as Float32Array | Float64Array;
    for (let i = 0; i < ordered.length; i++) {
      if (!Number.isFinite(ordered[i] as number)) {
        const row = Math.floor(i / cols);
        throw new StoreError(
          "BAD_VECTOR_FILE",
          `${relativePath}: the ${what}'s element (${row}, ${i - row * cols}) is ${ordered[i]}`,
        );
      }
    }
    return ordered instanceof Float32Array ? ordered : Float32Array.from(ordered);
  }

  /** Reads an NPY file of the store; a missing file and an unreadable one get their own codes. */
  private readNpy(relativePath: string, what: string): ReturnType<typeof readNpySync> {
    try {
      return readNpySync(this.absolute(relativePath));
    } catch (cause) {
      const missing = (cause as NodeJS.ErrnoException).code === "ENOENT";
      throw new StoreError(
        missing ? "VECTOR_FILE_MISSING" : "BAD_VECTOR_FILE",
        `cannot read ${what} file ${relativePath}: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  /**
   * Syncs the folders (store paths of files, or absolute paths of files) so the names of the
   * files written into them survive a power loss; each folder once. Call it before committing
   * the rows that name the files. A `WRITE_FAILED` error names the folder.
   */
  syncFolders(files: Iterable<string>): void {
    const dirs = new Set<string>();
    for (const file of files) dirs.add(dirname(isAbsolute(file) ? file : this.absolute(file)));
    for (const dir of dirs) {
      try {
        fsyncDirectory(dir);
      } catch (cause) {
        throw new StoreError(
          "WRITE_FAILED",
          `cannot sync the folder ${dir} to disk: ${(cause as Error).message}`,
          { cause },
        );
      }
    }
  }

  remove(relativePath: string): void {
    rmSync(this.absolute(relativePath), { force: true });
  }
}
