import type { Command } from "commander";
import { type GlobalOptions, printJson, ReportedFailure, withStore } from "../context.js";
import { mhIdOption } from "../options.js";

interface VerifyCliOptions extends GlobalOptions {
  mhId?: number;
}

export function registerVerify(program: Command): void {
  program
    .command("verify")
    .description(
      "check the store folder against the on-disk format: file names, shapes and dtypes, orphan and temporary files, mh_<id>.json against the files and the database",
    )
    .addOption(mhIdOption("check only this projection (its mh_<id>.json and head files)"))
    .action(async (_options: VerifyCliOptions, command: Command) => {
      const options = command.optsWithGlobals() as VerifyCliOptions;
      const mhProjectionId = options.mhId;
      const result = await withStore(options, "read", (db) =>
        db.verify(mhProjectionId === undefined ? {} : { mhProjectionId }),
      );
      const { files, projections } = result.checked;
      if (options.json) {
        printJson({ ok: result.problems.length === 0, ...result });
      } else if (result.problems.length === 0) {
        console.log(`ok: ${files} files, ${projections} projections checked`);
      } else {
        for (const p of result.problems) console.log(`${p.path}: ${p.problem}`);
        process.stderr.write(
          `verify: ${result.problems.length} problem${result.problems.length === 1 ? "" : "s"} (${files} files, ${projections} projections checked)\n`,
        );
      }
      if (result.problems.length > 0) throw new ReportedFailure("the store has problems");
    });
}
