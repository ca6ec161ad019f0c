import { resolveEmbedder } from "@ldakit/embed";
import type { LDAProjectionDB } from "@ldakit/store";
import type { Command } from "commander";
import { type GlobalOptions, printJson, withStore } from "../context.js";
import { mhIdOption, topKOption } from "../options.js";

interface SearchCliOptions extends GlobalOptions {
  mhId?: number;
  topK: number;
  direct?: boolean;
  modelDir?: string;
}

/** The projection a command works on: `--mh-id`, else the newest one. */
export async function chooseProjection(
  db: LDAProjectionDB,
  mhId: number | undefined,
): Promise<{ mhProjectionId: number; model: string }> {
  let id = mhId;
  if (id === undefined) {
    id = await db.latestProjectionId();
    if (id === undefined)
      throw new Error(`the store ${db.path} has no projection yet; run \`ldakit train\` first`);
  }
  return { mhProjectionId: id, model: (await db.loadProjection(id)).model };
}

export function registerSearch(program: Command): void {
  program
    .command("search")
    .description(
      "answer a question: embed it with the projection's model and rank the stored answers",
    )
    .argument("<text>", "the question")
    .addOption(mhIdOption("projection to use (default: the newest)"))
    .addOption(topKOption())
    .option("--direct", "plain cosine search against the answers, without the projection")
    .option(
      "--model-dir <dir>",
      "folder of the model (default: $LDAKIT_MODEL_DIR, then the model cache)",
    )
    .action(async (text: string, options: SearchCliOptions, command: Command) => {
      const all = { ...command.optsWithGlobals(), ...options } as SearchCliOptions;
      const topK = all.topK;
      await withStore(all, "read", async (db) => {
        const { mhProjectionId, model } = await chooseProjection(db, all.mhId);
        const embedder = await resolveEmbedder(
          model,
          all.modelDir ? { modelDir: all.modelDir } : {},
        );
        try {
          const [query] = await embedder.embed([text]);
          const result = all.direct
            ? await db.directSearch(query as Float32Array, mhProjectionId, { topK })
            : await db.searchWithProjection(query as Float32Array, mhProjectionId, { topK });
          if (all.json) {
            // snake_case like the database (see the README); a direct search names the
            // projection whose answers it ranked, and used no adapter and no blend (null).
            printJson({
              query: text,
              model,
              direct: Boolean(all.direct),
              mh_projection_id: mhProjectionId,
              adapter_path: result.adapterPath,
              blend: result.blend,
              results: result.results.map((hit) => ({
                cluster_id: hit.clusterId,
                answer_record_id: hit.answerRecordId,
                answer_text: hit.answerText,
                score: hit.score,
              })),
              routing: result.routing.map((r) => ({ cluster_id: r.clusterId, weight: r.weight })),
            });
            return;
          }
          const adapted = [
            ...(result.adapterPath === null ? [] : [`adapter ${result.adapterPath}`]),
            ...(result.blend === null || result.blend === 1 ? [] : [`blend β = ${result.blend}`]),
          ];
          console.log(
            `${all.direct ? "direct search" : `projection ${mhProjectionId}`} (${[model, ...adapted].join(", ")}): "${text}"`,
          );
          for (const [i, hit] of result.results.entries()) {
            const id = hit.answerRecordId ? ` [${hit.answerRecordId}]` : "";
            console.log(
              `${String(i + 1).padStart(3)}. ${hit.score.toFixed(4)}${id} ${hit.answerText}`,
            );
          }
          if (result.routing.length > 0) {
            const routing = result.routing
              .map((r) => `cluster ${r.clusterId}: ${r.weight.toFixed(3)}`)
              .join(", ");
            console.log(`routed to ${routing}`);
          }
        } finally {
          await embedder.dispose();
        }
      });
    });
}
