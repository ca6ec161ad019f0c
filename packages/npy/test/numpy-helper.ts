/**
 * Runs NumPy (through python3) for the tests: it writes reference files and loads the files
 * @ldakit/npy writes. NumPy is required — a missing NumPy fails the suite, it never skips.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("./numpy_helper.py", import.meta.url));
const INSTALL_HINT = "python3 -m pip install -r tools/requirements.txt";

/** The Python interpreter: `LDAKIT_PYTHON` when set, else `python3` from PATH. */
export const PYTHON = process.env.LDAKIT_PYTHON || "python3";

export interface GenerateCase {
  name: string;
  /** NumPy descr of the file, e.g. '>f4'. */
  descr: string;
  shape: number[];
  order?: "C" | "F";
  /** `save` = np.save; v1/v2/v3 = np.lib.format.write_array(version=...); v2-long = header > 64 KiB. */
  writer?: "save" | "v1" | "v2" | "v3" | "v2-long";
  seed?: number;
}

export interface GeneratedFile {
  name: string;
  file: string;
  /** Expected in-memory data: little-endian bytes in the file's element order. */
  raw: string;
  /** descr in the file header. */
  descr: string;
  /** descr of the data once read into memory (native little-endian). */
  nativeDescr: string;
  shape: number[];
  fortranOrder: boolean;
  version: [number, number];
  dataOffset: number;
}

export interface CheckSpec {
  file: string;
  /** Expected values, little-endian, C order. */
  raw: string;
}

export interface CheckResult {
  file: string;
  ok: boolean;
  error?: string;
  descr: string;
  shape: number[];
  fortranOrder: boolean;
  version: [number, number];
  fContiguous: boolean;
  cContiguous: boolean;
  /** NumPy's values equal the expected values byte for byte (NaN payloads and -0 included). */
  valuesEqual: boolean;
  /** np.save of the loaded array writes exactly the bytes of the file. */
  resaveEqual: boolean;
}

export interface TryLoadResult {
  ok: boolean;
  error?: string;
  descr?: string;
  shape?: number[];
  /** Values at the requested flat (C-order) indices. */
  values?: (number | boolean)[];
}

export interface Summary {
  descr: string;
  shape: number[];
  fortranOrder: boolean;
  sum: number;
  samples: [number, number][];
}

/** Runs one request through numpy_helper.py and returns its `result`. */
export function runNumpy<T>(request: Record<string, unknown>): T {
  const proc = spawnSync(PYTHON, [SCRIPT], {
    input: JSON.stringify(request),
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" },
  });
  if (proc.error) {
    throw new Error(
      `Cannot run ${PYTHON} (${proc.error.message}). The @ldakit/npy tests need Python 3 with ` +
        `NumPy: install python3 (or set LDAKIT_PYTHON), then run \`${INSTALL_HINT}\`.`,
    );
  }
  if (proc.status !== 0) {
    if (proc.stderr.includes("LDAKIT_NUMPY_MISSING")) {
      throw new Error(
        `NumPy is not installed for ${PYTHON}. The @ldakit/npy tests compare against NumPy; ` +
          `run \`${INSTALL_HINT}\` (from the repository root) and run the tests again.`,
      );
    }
    throw new Error(
      `numpy_helper.py ${String(request.cmd)} failed (exit ${proc.status}):\n${proc.stderr}`,
    );
  }
  const answer = JSON.parse(proc.stdout) as { numpy: string; result: T };
  const major = Number.parseInt(answer.numpy.split(".")[0] ?? "0", 10);
  if (major < 2) {
    throw new Error(
      `NumPy ${answer.numpy} is too old: @ldakit/npy matches NumPy 2.x. Run \`${INSTALL_HINT}\`.`,
    );
  }
  return answer.result;
}

export function numpyVersion(): string {
  return runNumpy<{ numpy: string }>({ cmd: "version" }).numpy;
}

/** Writes NumPy reference files into `dir` (one Python run for all cases). */
export function generateWithNumpy(dir: string, cases: GenerateCase[]): GeneratedFile[] {
  return runNumpy<GeneratedFile[]>({ cmd: "generate", dir, cases });
}

/** Loads files written by @ldakit/npy with np.load and compares them (one Python run). */
export function checkWithNumpy(files: CheckSpec[]): CheckResult[] {
  return runNumpy<CheckResult[]>({ cmd: "check", files });
}

/** Whether np.load(allow_pickle=False) accepts each file (optionally memory-mapped). */
export function tryLoadWithNumpy(
  files: { file: string; maxHeaderSize?: number; mmap?: boolean; probe?: number[] }[],
): TryLoadResult[] {
  return runNumpy<TryLoadResult[]>({ cmd: "tryload", files });
}

/** dtype, shape, sum and a few C-order samples of a file, as NumPy reads it. */
export function summarizeWithNumpy(file: string): Summary {
  return runNumpy<Summary>({ cmd: "summary", file });
}
