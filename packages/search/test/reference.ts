/**
 * Runs the float64 NumPy reference (reference.py) through python3. NumPy is required: a missing
 * NumPy fails the suite with the install command, it never skips.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("./reference.py", import.meta.url));
const INSTALL_HINT = "python3 -m pip install -r tools/requirements.txt";

/** The Python interpreter: `LDAKIT_PYTHON` when set, else `python3` from PATH. */
export const PYTHON = process.env.LDAKIT_PYTHON || "python3";

export interface ReferenceResult {
  weights: number[];
  /** the vector answers are ranked against: p, blended with q when β < 1 */
  projected: number[];
  scores: number[];
  /** top-k cluster ids, ties by the smaller id */
  order: number[];
  direct_scores: number[];
  direct_order: number[];
}

export type ReferenceRequest =
  | {
      cmd: "arrays";
      centroids: string;
      answers: string;
      cluster_ids: number[];
      temperature: number;
      queries: string;
      top_k: number;
      /** W, a (d, d) .npy file */
      adapter?: string;
      /** β (default 1) */
      blend?: number;
    }
  | { cmd: "files"; dir: string; mh_id: number; queries: string; top_k: number };

/** Runs every request in one Python process; returns, per request, the results per query. */
export function runReference(requests: ReferenceRequest[]): ReferenceResult[][] {
  const proc = spawnSync(PYTHON, [SCRIPT], {
    input: JSON.stringify(requests),
    encoding: "utf8",
    maxBuffer: 512 * 1024 * 1024,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" },
  });
  if (proc.error) {
    throw new Error(
      `Cannot run ${PYTHON} (${proc.error.message}). The @ldakit/search tests compare against a ` +
        `NumPy reference: install python3 (or set LDAKIT_PYTHON), then run \`${INSTALL_HINT}\`.`,
    );
  }
  if (proc.status !== 0) {
    if (proc.stderr.includes("LDAKIT_NUMPY_MISSING")) {
      throw new Error(
        `NumPy is not installed for ${PYTHON}. The @ldakit/search tests compare against a float64 ` +
          `NumPy reference; run \`${INSTALL_HINT}\` (from the repository root) and run the tests again.`,
      );
    }
    throw new Error(`reference.py failed (exit ${proc.status}):\n${proc.stderr}`);
  }
  const answer = JSON.parse(proc.stdout) as { numpy: string; results: ReferenceResult[][] };
  if (Number.parseInt(answer.numpy, 10) < 2) {
    throw new Error(`NumPy ${answer.numpy} is too old for the reference; run \`${INSTALL_HINT}\`.`);
  }
  return answer.results;
}
