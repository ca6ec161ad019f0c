import { existsSync } from "node:fs";
import type { Command } from "commander";
import {
  databasePath,
  type GlobalOptions,
  printJson,
  ReportedFailure,
  UsageError,
  withStore,
} from "../context.js";

interface VerifyCliOptions extends GlobalOptions {
  mhId?: string;
  repair?: boolean;
}

export function registerVerify(program: Command): void {
  program
    .command("verify")
    .description(
      "check the store folder against the on-disk format: file names, shapes and dtypes, orphan and temporary files, mh_<id>.json against the files and the database",
    )
    .option("--mh-id <id>", "check only this projection (its mh_<id>.json and head files)")
    .option(
      "--repair",
      "first remove what interrupted commands left (recorded removals, stale temporary files, files no row names; batches of dead processes go back to pending), listing each file",
    )
    .action(async (_options: VerifyCliOptions, command: Command) => {
      const options = command.optsWithGlobals() as VerifyCliOptions;
      let mhProjectionId: number | undefined;
      if (options.mhId !== undefined) {
        mhProjectionId = Number(options.mhId);
        if (!Number.isInteger(mhProjectionId) || mhProjectionId < 0 || options.mhId.trim() === "")
          throw new UsageError(`--mh-id must be a projection id, not "${options.mhId}"`);
      }
      const path = databasePath(options);
      // Opening a store creates it; verifying a path that holds none is a mistake.
      if (!existsSync(path)) {
        throw new Error(`no store at ${path} (give --db PATH or set LDAKIT_DB)`);
      }
      const { repaired, result } = await withStore(options, async (db) => {
        const repaired = options.repair ? await db.repair() : undefined;
        const result = await db.verify(mhProjectionId === undefined ? {} : { mhProjectionId });
        return { repaired, result };
      });
      const { files, projections } = result.checked;
      const unremoved = repaired?.filter((f) => f.error !== undefined) ?? [];
      if (options.json) {
        printJson({
          ok: result.problems.length === 0 && unremoved.length === 0,
          ...(repaired ? { repaired } : {}),
          ...result,
        });
      } else {
        for (const f of repaired ?? []) {
          console.log(
            f.error === undefined
              ? `removed ${f.path}: ${f.reason}`
              : `not removed ${f.path}: ${f.reason}; ${f.error}`,
          );
        }
        if (repaired) {
          const n = repaired.length - unremoved.length;
          console.log(`repair: ${n} file${n === 1 ? "" : "s"} removed`);
        }
        if (result.problems.length === 0) {
          console.log(`ok: ${files} files, ${projections} projections checked`);
        } else {
          for (const p of result.problems) console.log(`${p.path}: ${p.problem}`);
          process.stderr.write(
            `verify: ${result.problems.length} problem${result.problems.length === 1 ? "" : "s"} (${files} files, ${projections} projections checked)\n`,
          );
        }
      }
      if (result.problems.length > 0 || unremoved.length > 0)
        throw new ReportedFailure("the store has problems");
    });
}
