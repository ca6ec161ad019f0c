import {
  defaultTfCacheDir,
  installTensorflowBackend,
  listTfBackends,
  readTensorflowInstallRecord,
  removeTensorflowBackend,
  TENSORFLOW_WHEEL,
  TfInstallError,
} from "@ldakit/tf";
import type { Command } from "commander";
import { type GlobalOptions, printJson, printTable, UsageError } from "../context.js";
import { Progress } from "../progress.js";

interface InstallCliOptions extends GlobalOptions {
  wheel?: string;
  force?: boolean;
  nodedir?: string;
  python?: string;
}

interface RemoveCliOptions extends GlobalOptions {
  keepCache?: boolean;
}

const MB = 1e6;

function onlyTensorflow(name: string): void {
  if (name !== "tensorflow") {
    throw new UsageError(
      `only the tensorflow backend is installed separately (wasm and cpu come with ldakit); got ${JSON.stringify(name)}`,
    );
  }
}

export function registerBackend(program: Command): void {
  const backend = program
    .command("backend")
    .description(
      "TensorFlow.js backends: which load here, and installing native TensorFlow for tfjs-node",
    );

  backend
    .command("list")
    .description("each TensorFlow.js backend: available or not and why, version, threads")
    .action(async (_options: GlobalOptions, command: Command) => {
      const all = command.optsWithGlobals() as GlobalOptions;
      const [backends, record] = await Promise.all([
        listTfBackends(),
        readTensorflowInstallRecord(),
      ]);
      const chosen = backends.find((b) => b.available)?.name ?? null;
      if (all.json) {
        printJson({
          default: chosen,
          forced: process.env.LDAKIT_TF_BACKEND || null,
          backends: backends.map((b) => ({
            name: b.name,
            available: b.available,
            reason: b.reason ?? null,
            version: b.version ?? null,
            threads: b.threads ?? null,
            default: b.name === chosen,
          })),
          tensorflow_install: record ?? null,
        });
        return;
      }
      printTable(
        ["backend", "available", "version", "threads", "note"],
        backends.map((b) => [
          b.name,
          b.available ? "yes" : "no",
          b.version ?? null,
          b.threads ?? null,
          b.available ? (b.name === chosen ? "chosen by default" : "") : (b.reason ?? ""),
        ]),
      );
      if (record !== undefined) {
        console.log(
          `tensorflow: installed by ldakit from ${record.wheel} on ${record.installedAt}; libraries in ${record.cacheDir}`,
        );
      }
      console.log("LDAKIT_TF_BACKEND=node|wasm|cpu forces one.");
    });

  backend
    .command("install")
    .description(
      `build native TensorFlow for tfjs-node from the PyPI wheel ${TENSORFLOW_WHEEL.requirement} (259 MB download, about 780 MB on disk)`,
    )
    .argument("<name>", "tensorflow")
    .option(
      "--wheel <file>",
      "use this wheel file instead of downloading it (its SHA-256 is checked)",
    )
    .option("--force", "build again even when a working install is there")
    .option(
      "--nodedir <dir>",
      "Node's installation prefix, holding include/node (default: the running Node's)",
    )
    .option(
      "--python <cmd>",
      "the Python with pip that fetches the wheel and runs gyp (default: python3)",
    )
    .action(async (name: string, options: InstallCliOptions, command: Command) => {
      onlyTensorflow(name);
      const all = { ...command.optsWithGlobals(), ...options } as InstallCliOptions;
      const bar = new Progress();
      let lastStep = "";
      try {
        const result = await installTensorflowBackend({
          ...(all.wheel !== undefined ? { wheel: all.wheel } : {}),
          ...(all.nodedir !== undefined ? { nodeDir: all.nodedir } : {}),
          ...(all.python !== undefined ? { python: all.python } : {}),
          force: all.force ?? false,
          onProgress: (p) => {
            if (p.done !== undefined && p.total !== undefined && p.total > 0) {
              bar.update(p.step, Math.round(p.done / MB), Math.round(p.total / MB));
              if (p.step === lastStep) return;
            } else {
              bar.stop();
            }
            if (p.step !== lastStep || p.done === undefined) {
              lastStep = p.step;
              if (!all.json) process.stderr.write(`  ${p.step}: ${p.message}\n`);
            }
          },
        });
        bar.stop();
        if (all.json) {
          printJson({
            status: result.status,
            tensorflow: result.tensorflowVersion,
            addon: result.addon,
            cache: result.cacheDir,
            downloaded_bytes: result.downloadedBytes,
            disk_bytes: result.diskBytes,
            seconds: Number(result.seconds.toFixed(1)),
          });
          return;
        }
        const what =
          result.status === "installed" ? "installed" : "already installed (nothing to do)";
        console.log(`tensorflow ${result.tensorflowVersion}: ${what}`);
        console.log(`  addon: ${result.addon}`);
        console.log(
          `  libraries: ${result.cacheDir} (${(result.diskBytes / MB).toFixed(0)} MB on disk)`,
        );
        if (result.downloadedBytes > 0)
          console.log(`  downloaded: ${(result.downloadedBytes / MB).toFixed(0)} MB`);
        console.log(`  took ${result.seconds.toFixed(1)} s; ldakit now uses it by default`);
      } catch (e) {
        bar.stop();
        if (e instanceof TfInstallError)
          throw new Error(`backend install: ${e.code}: ${e.message}`);
        throw e;
      }
    });

  backend
    .command("remove")
    .description("undo `backend install tensorflow`: the addon, its libraries and the cached copy")
    .argument("<name>", "tensorflow")
    .option("--keep-cache", `keep the unpacked libraries in ${defaultTfCacheDir()}/tensorflow`)
    .action(async (name: string, options: RemoveCliOptions, command: Command) => {
      onlyTensorflow(name);
      const all = { ...command.optsWithGlobals(), ...options } as RemoveCliOptions;
      const removed = await removeTensorflowBackend({ keepCache: all.keepCache ?? false });
      if (all.json) {
        printJson({ removed });
        return;
      }
      if (removed.length === 0) {
        console.log("tensorflow: nothing to remove (it was not installed)");
        return;
      }
      console.log("tensorflow: removed");
      for (const p of removed) console.log(`  ${p}`);
    });
}
