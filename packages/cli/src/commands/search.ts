import { resolveEmbedder } from "@ldakit/embed";
import type { LDAProjectionDB } from "@ldakit/store";
import type { Command } from "commander";
import { type GlobalOptions, printJson, UsageError, withStore } from "../context.js";

interface SearchCliOptions extends GlobalOptions {
  mhId?: string;
  topK: string;
  direct?: boolean;
  modelDir?: string;
}

/** The projection a command works on: `--mh-id`, else the newest one. */
export function chooseProjection(
  db: LDAProjectionDB,
  mhId: string | undefined,
): { mhId: number; model: string } {
  let id: number | undefined;
  if (mhId !== undefined) {
    id = Number(mhId);
    if (!Number.isInteger(id) || id < 1)
      throw new UsageError(`--mh-id must be a projection id, not "${mhId}"`);
  } else {
    id = db.latestProjectionId();
    if (id === undefined)
      throw new Error(`the store ${db.path} has no projection yet; run \`ldakit train\` first`);
  }
  return { mhId: id, model: db.loadProjection(id).model };
}

export function parseTopK(value: string): number {
  const topK = Number(value);
  if (!Number.isInteger(topK) || topK < 1)
    throw new UsageError(`--top-k must be a positive integer, not "${value}"`);
  return topK;
}

export function registerSearch(program: Command): void {
  program
    .command("search")
    .description(
      "answer a question: embed it with the projection's model and rank the stored answers",
    )
    .argument("<text>", "the question")
    .option("--mh-id <id>", "projection to use (default: the newest)")
    .option("--top-k <k>", "how many answers to show", "5")
    .option("--direct", "plain cosine search against the answers, without the projection")
    .option(
      "--model-dir <dir>",
      "folder of the model (default: $LDAKIT_MODEL_DIR, then the model cache)",
    )
    .action(async (text: string, options: SearchCliOptions, command: Command) => {
      const all = { ...command.optsWithGlobals(), ...options } as SearchCliOptions;
      const topK = parseTopK(all.topK);
      await withStore(all, async (db) => {
        const { mhId, model } = chooseProjection(db, all.mhId);
        const embedder = await resolveEmbedder(
          model,
          all.modelDir ? { modelDir: all.modelDir } : {},
        );
        try {
          const [query] = await embedder.embed([text]);
          const result = all.direct
            ? await db.directSearch(query as Float32Array, mhId, topK)
            : await db.searchWithProjection(query as Float32Array, mhId, topK);
          if (all.json) {
            printJson({ query: text, model, direct: Boolean(all.direct), ...result });
            return;
          }
          console.log(
            `${all.direct ? "direct search" : `projection ${mhId}`} (${model}): "${text}"`,
          );
          for (const [i, hit] of result.results.entries()) {
            const id = hit.answer_record_id ? ` [${hit.answer_record_id}]` : "";
            console.log(
              `${String(i + 1).padStart(3)}. ${hit.score.toFixed(4)}${id} ${hit.answer_text}`,
            );
          }
          if (result.routing.length > 0) {
            const routing = result.routing
              .map((r) => `cluster ${r.cluster_id}: ${r.weight.toFixed(3)}`)
              .join(", ");
            console.log(`routed to ${routing}`);
          }
        } finally {
          await embedder.dispose();
        }
      });
    });
}
