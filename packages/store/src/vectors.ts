import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { readNpySync, writeNpySync } from "@ldakit/npy";

/** Error for a vector file that is missing, unreadable or not a vector of the expected size. */
export class VectorFileError extends Error {
  override readonly name = "VectorFileError";
}

/**
 * The `.npy` vector files under a store root. Paths given and returned are POSIX paths relative
 * to the root (DESIGN §3), so a store can be moved as a folder.
 */
export class VectorFiles {
  private readonly knownDirs = new Set<string>();

  constructor(readonly root: string) {}

  absolute(relativePath: string): string {
    return join(this.root, ...relativePath.split("/"));
  }

  /** Writes a (d,) `<f4` vector; the file appears whole or not at all. */
  write(relativePath: string, vector: Float32Array): void {
    this.writeAbsolute(this.absolute(relativePath), vector);
  }

  /** {@link write} for a path already made absolute. */
  writeAbsolute(path: string, vector: Float32Array): void {
    const dir = dirname(path);
    if (!this.knownDirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      this.knownDirs.add(dir);
    }
    writeNpySync(path, { data: vector });
  }

  /** Reads a vector file as float32 (float64 files, as the original Python tooling wrote, are converted). */
  read(relativePath: string, expectedDimensions?: number): Float32Array {
    const path = this.absolute(relativePath);
    let array: ReturnType<typeof readNpySync>;
    try {
      array = readNpySync(path);
    } catch (cause) {
      throw new VectorFileError(
        `cannot read vector file ${relativePath}: ${(cause as Error).message}`,
        { cause },
      );
    }
    const { data, shape } = array;
    if (!(data instanceof Float32Array || data instanceof Float64Array) || shape.length !== 1) {
      throw new VectorFileError(
        `${relativePath}: expected a (d,) float32 or float64 vector, found ${array.dtype} of shape (${shape.join(", ")})`,
      );
    }
    if (expectedDimensions !== undefined && data.length !== expectedDimensions) {
      throw new VectorFileError(
        `${relativePath}: vector has ${data.length} dimensions, the model has ${expectedDimensions}`,
      );
    }
    return data instanceof Float32Array ? data : Float32Array.from(data);
  }

  /**
   * Removes the temporary files a dead process left in a folder while writing vectors
   * (`.<name>.<pid>.<nonce>.tmp`, as `@ldakit/npy` names them).
   */
  removeTemporaryFiles(relativeDir: string, pid: number): void {
    const dir = this.absolute(relativeDir);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const parts = name.split(".");
      if (name.startsWith(".") && parts.at(-1) === "tmp" && parts.at(-3) === String(pid)) {
        rmSync(join(dir, name), { force: true });
      }
    }
  }

  remove(relativePath: string): void {
    rmSync(this.absolute(relativePath), { force: true });
  }
}
