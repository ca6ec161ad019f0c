import { spawnSync } from "node:child_process";
import { join } from "node:path";

const PYTHON = process.env.LDAKIT_PYTHON ?? "python3";

/** Runs one job of the float64 NumPy reference (test/reference.py) and returns its answer. */
export function reference<T>(job: unknown): T {
  const result = spawnSync(PYTHON, [join(import.meta.dirname, "reference.py")], {
    input: JSON.stringify(job),
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  if (result.status !== 0) {
    throw new Error(
      `the NumPy reference failed (python3 -m pip install -r tools/requirements.txt): ${result.stderr || result.error}`,
    );
  }
  return JSON.parse(result.stdout) as T;
}
