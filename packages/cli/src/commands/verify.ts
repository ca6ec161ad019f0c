import type { Command } from "commander";
import { type GlobalOptions, printJson, ReportedFailure, withStore } from "../context.js";
import { mhIdOption } from "../options.js";

interface VerifyCliOptions extends GlobalOptions {
  mhId?: number;
  repair?: boolean;
}

export function registerVerify(program: Command): void {
  program
    .command("verify")
    .description(
      "check the store folder against the on-disk format: file names, shapes and dtypes, orphan and temporary files, mh_<id>.json against the files and the database",
    )
    .addOption(mhIdOption("check only this projection (its mh_<id>.json and head files)"))
    .option(
      "--repair",
      "first remove what interrupted commands left (recorded removals, stale temporary files, files no row names; batches of dead processes go back to pending), listing each file",
    )
    .action(async (_options: VerifyCliOptions, command: Command) => {
      const options = command.optsWithGlobals() as VerifyCliOptions;
      const mhProjectionId = options.mhId;
      // Only a repair writes: plain verify opens read-only and works on a store it cannot write.
      const { repaired, result } = await withStore(
        options,
        options.repair ? "write" : "read",
        async (db) => {
          const repaired = options.repair ? await db.repair() : undefined;
          const result = await db.verify(mhProjectionId === undefined ? {} : { mhProjectionId });
          return { repaired, result };
        },
      );
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
