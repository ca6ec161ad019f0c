import { readFileSync } from "node:fs";
import { resolveEmbedder } from "@ldakit/embed";
import { parseQueryJson } from "@ldakit/schema";
import { evaluateQueries, type Metrics, type QueryEvaluation } from "@ldakit/train";
import type { Command } from "commander";
import { type GlobalOptions, printJson, printTable, withStore } from "../context.js";
import { mhIdOption } from "../options.js";
import { chooseProjection } from "./search.js";

interface EvalCliOptions extends GlobalOptions {
  queries: string;
  mhId?: number;
  modelDir?: string;
}

export function registerEval(program: Command): void {
  program
    .command("eval")
    .description(
      "Recall@1, Recall@5 and MRR of direct search, the book's projection (no adapter, β = 1) and the trained projection on a file of labelled queries",
    )
    .requiredOption(
      "--queries <file>",
      "queries in either raw form (answers optional); each query's answer is its cluster's id",
    )
    .addOption(mhIdOption("projection to evaluate (default: the newest)"))
    .option(
      "--model-dir <dir>",
      "folder of the model (default: $LDAKIT_MODEL_DIR, then the model cache)",
    )
    .action(async (options: EvalCliOptions, command: Command) => {
      const all = { ...command.optsWithGlobals(), ...options } as EvalCliOptions;
      // bytes, so that the reader can refuse invalid UTF-8 instead of reading it as U+FFFD
      let bytes: Buffer;
      try {
        bytes = readFileSync(all.queries);
      } catch (error) {
        throw new Error(`cannot read ${all.queries}: ${(error as Error).message}`);
      }
      const queries = parseQueryJson(bytes, all.queries);
      await withStore(all, "read", async (db) => {
        const { mhProjectionId, model } = await chooseProjection(db, all.mhId);
        const embedder = await resolveEmbedder(
          model,
          all.modelDir ? { modelDir: all.modelDir } : {},
        );
        let evaluation: QueryEvaluation;
        try {
          evaluation = await evaluateQueries(db, mhProjectionId, queries, embedder);
        } finally {
          await embedder.dispose();
        }
        const unmatched = evaluation.unmatchedIds;
        const snake = (m: Metrics) => ({
          recall_at_1: m.recallAt1,
          recall_at_5: m.recallAt5,
          mrr: m.mrr,
        });
        const report = {
          queries: evaluation.direct.queries,
          direct: snake(evaluation.direct),
          projected: snake(evaluation.projected),
          projected_without_adapter: snake(evaluation.projectedWithoutAdapter),
        };
        if (all.json) {
          printJson({
            ...report,
            mh_projection_id: mhProjectionId,
            model,
            unmatched_ids: unmatched,
          });
          return;
        }
        const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
        console.log(
          `projection ${mhProjectionId} (${model}), τ = ${evaluation.temperature}, ${evaluation.hasAdapter ? "adapter" : "no adapter"}, β = ${evaluation.blend}: ${report.queries} queries from ${all.queries}`,
        );
        printTable(
          ["search", "Recall@1", "Recall@5", "MRR"],
          [
            [
              "direct",
              pct(report.direct.recall_at_1),
              pct(report.direct.recall_at_5),
              report.direct.mrr.toFixed(3),
            ],
            [
              "book (no adapter, β = 1)",
              pct(report.projected_without_adapter.recall_at_1),
              pct(report.projected_without_adapter.recall_at_5),
              report.projected_without_adapter.mrr.toFixed(3),
            ],
            [
              "trained",
              pct(report.projected.recall_at_1),
              pct(report.projected.recall_at_5),
              report.projected.mrr.toFixed(3),
            ],
          ],
        );
        if (unmatched.length > 0) {
          console.log(
            `skipped queries of ${unmatched.length} id(s) with no answer in the projection: ${unmatched.slice(0, 5).join(", ")}${unmatched.length > 5 ? ", …" : ""}`,
          );
        }
      });
    });
}
