import { readFileSync } from "node:fs";
import { resolveEmbedder } from "@ldakit/embed";
import { writeNpy } from "@ldakit/npy";
import type { Command } from "commander";
import { type GlobalOptions, printJson, UsageError } from "../context.js";
import { embedBatchSizeOption } from "../options.js";
import { Progress } from "../progress.js";

interface EmbedCliOptions extends GlobalOptions {
  model: string;
  modelDir?: string;
  input?: string;
  out?: string;
  batchSize?: number;
}

export function registerEmbed(program: Command): void {
  program
    .command("embed")
    .description("embed texts: an (n, d) float32 .npy file with --out, else JSON on stdout")
    .argument("[texts...]", "texts to embed (or use --input)")
    .requiredOption("--model <name>", "embedding model, e.g. all-MiniLM-L6-v2 or hash-384")
    .option(
      "--model-dir <dir>",
      "folder of the model (default: $LDAKIT_MODEL_DIR, then the model cache)",
    )
    .option("--input <file>", "a file with one text per line")
    .option("--out <file.npy>", "write the vectors as an (n, d) '<f4' NumPy array")
    .addOption(embedBatchSizeOption())
    .action(async (texts: string[], options: EmbedCliOptions, command: Command) => {
      const all = { ...command.optsWithGlobals(), ...options } as EmbedCliOptions;
      if (texts.length > 0 && all.input)
        throw new UsageError("give texts or --input FILE, not both");
      let inputs = texts;
      if (all.input) {
        try {
          inputs = readFileSync(all.input, "utf8").split(/\r?\n/);
        } catch (error) {
          throw new Error(`cannot read ${all.input}: ${(error as Error).message}`);
        }
        // A final newline ends the last line; it does not start an empty text.
        if (inputs.at(-1) === "") inputs.pop();
      }
      if (inputs.length === 0) throw new UsageError("nothing to embed: give texts or --input FILE");
      const batchSize = all.batchSize;
      const embedder = await resolveEmbedder(all.model, {
        ...(all.modelDir ? { modelDir: all.modelDir } : {}),
        ...(batchSize ? { batchSize } : {}),
      });
      const progress = new Progress();
      let vectors: Float32Array[];
      try {
        vectors = await embedder.embed(inputs, {
          onProgress: (done: number, total: number) => progress.update("embedding", done, total),
        });
      } finally {
        progress.stop();
        await embedder.dispose();
      }
      const d = embedder.dimensions;
      if (all.out) {
        const data = new Float32Array(vectors.length * d);
        for (const [i, v] of vectors.entries()) data.set(v, i * d);
        await writeNpy(all.out, { data, shape: [vectors.length, d] });
        if (all.json) printJson({ out: all.out, shape: [vectors.length, d], model: embedder.name });
        else
          process.stderr.write(
            `wrote ${all.out}: (${vectors.length}, ${d}) float32, ${embedder.name}\n`,
          );
        return;
      }
      printJson({
        model: embedder.name,
        dimensions: d,
        vectors: vectors.map((v) => Array.from(v)),
      });
    });
}
