import { Command, CommanderError } from "commander";
import { registerBackend } from "./commands/backend.js";
import { registerEmbed } from "./commands/embed.js";
import { registerEval } from "./commands/eval.js";
import { registerMigrate } from "./commands/migrate.js";
import { registerModels } from "./commands/models.js";
import { registerSearch } from "./commands/search.js";
import { registerStats } from "./commands/stats.js";
import { registerStore } from "./commands/store.js";
import { registerTrain } from "./commands/train.js";
import { registerVerify } from "./commands/verify.js";
import { ReportedFailure, UsageError } from "./context.js";

export function buildProgram(): Command {
  const program = new Command("ldakit")
    .description(
      "multi-head LDA projections for semantic search, stored as SQLite or PostgreSQL + NumPy .npy files",
    )
    .option(
      "--db <path|url>",
      "the store's database: a SQLite file, or a postgres:// URL (default: $LDAKIT_DATABASE_URL, else $LDAKIT_DB, else ./lda.db)",
    )
    .option(
      "--store-root <dir>",
      "PostgreSQL: the folder of the store's vector files, recorded on first use (default: $LDAKIT_STORE_ROOT, else the recorded one)",
    )
    .option("--json", "machine-readable output on stdout")
    .option(
      "--busy-timeout <ms>",
      "how long to wait for another process's write lock on the store (default: $LDAKIT_BUSY_TIMEOUT, else 10000)",
    )
    .showHelpAfterError()
    .exitOverride();
  registerMigrate(program);
  registerTrain(program);
  registerSearch(program);
  registerEval(program);
  registerStats(program);
  registerModels(program);
  registerEmbed(program);
  registerVerify(program);
  registerStore(program);
  registerBackend(program);
  for (const command of program.commands) command.exitOverride();
  return program;
}

/** Runs the CLI and returns its exit code: 0 success, 1 failure, 2 usage. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are "errors" to commander; anything else is a usage error.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`ldakit: ${error.message}\n`);
      return 2;
    }
    if (error instanceof ReportedFailure) return 1;
    process.stderr.write(`ldakit: ${error instanceof Error ? error.message : String(error)}\n`);
    if (process.env.LDAKIT_DEBUG && error instanceof Error)
      process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}
