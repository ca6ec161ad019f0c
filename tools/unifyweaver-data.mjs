// The UnifyWeaver Q-A data is real data nobody on this project wrote, and it is not part of the
// repository: tests that use it as extra evidence find it through LDAKIT_UNIFYWEAVER_DATA (set by
// .ci/run when the data lies beside the checkout) and are skipped without it. One function serves
// every package's tests so that they all skip, or fail on a wrong value, the same way.
import { statSync } from "node:fs";
import { resolve } from "node:path";

/**
 * The UnifyWeaver Q-A data folder (LDAKIT_UNIFYWEAVER_DATA, resolved against the working
 * directory), or undefined when the variable is unset, after printing that the tests using it are
 * skipped and what in the repository stands in for them. A value that names no folder is an
 * error, not a skip: a typo must not turn a CI run's evidence into a silent skip.
 *
 * @param {string} standIn what proves the same on data in the repository
 * @returns {string | undefined}
 */
export function unifyWeaverData(standIn) {
  const value = process.env.LDAKIT_UNIFYWEAVER_DATA;
  if (!value) {
    console.warn(
      `skipped: LDAKIT_UNIFYWEAVER_DATA is not set (the UnifyWeaver Q-A data folder); ${standIn}`,
    );
    return undefined;
  }
  const dir = resolve(value);
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new Error(`LDAKIT_UNIFYWEAVER_DATA=${value}: ${dir} is not a folder`);
  }
  return dir;
}
