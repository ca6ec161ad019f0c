import { appendFileSync } from "node:fs";

/**
 * The fault-injection hook of the crash tests (docs/RELIABILITY.md). Two environment variables,
 * read once:
 * - `LDAKIT_CRASH_AT=<point>#<n>` makes the process SIGKILL itself the n-th time (from 1) it
 *   reaches the named point, so a test can stop a real run at an exact place rather than after
 *   a guessed delay;
 * - `LDAKIT_CRASH_TRACE=<file>` appends the name of every point reached, one per line, so a test
 *   can list the points a run passes before walking them.
 * With neither set a point costs one comparison.
 */
let armed: boolean | undefined;
let target: { point: string; n: number } | undefined;
let tracePath: string | undefined;
let reached = 0;

function arm(): boolean {
  const at = process.env.LDAKIT_CRASH_AT;
  tracePath = process.env.LDAKIT_CRASH_TRACE || undefined;
  if (at) {
    const hash = at.lastIndexOf("#");
    const n = hash < 0 ? 1 : Number(at.slice(hash + 1));
    if (!Number.isInteger(n) || n < 1) {
      throw new Error(`LDAKIT_CRASH_AT must be <point>#<n> with n ≥ 1, not ${JSON.stringify(at)}`);
    }
    target = { point: hash < 0 ? at : at.slice(0, hash), n };
  }
  return target !== undefined || tracePath !== undefined;
}

/** Marks a named place where a crash must leave the store recoverable (see the module comment). */
export function crashPoint(point: string): void {
  armed ??= arm();
  if (!armed) return;
  if (tracePath !== undefined) appendFileSync(tracePath, `${point}\n`);
  if (target !== undefined && target.point === point && ++reached === target.n) {
    process.kill(process.pid, "SIGKILL");
  }
}
