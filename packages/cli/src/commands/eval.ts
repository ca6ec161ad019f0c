import { readFileSync } from "node:fs";
import { resolveEmbedder } from "@ldakit/embed";
import { parseQueryJson } from "@ldakit/schema";
import type { Command } from "commander";
import { type GlobalOptions, printJson, printTable, withStore } from "../context.js";
import { chooseProjection } from "./search.js";

interface EvalCliOptions extends GlobalOptions {
  queries: string;
  mhId?: string;
  modelDir?: string;
}

interface Metrics {
  recall_at_1: number;
  recall_at_5: number;
  mrr: number;
}

function metricsOf(ranks: number[]): Metrics {
  const n = Math.max(ranks.length, 1);
  return {
    recall_at_1: ranks.filter((r) => r === 1).length / n,
    recall_at_5: ranks.filter((r) => r <= 5).length / n,
    mrr: ranks.reduce((s, r) => s + 1 / r, 0) / n,
  };
}

export function registerEval(program: Command): void {
  program
    .command("eval")
    .description(
      "Recall@1, Recall@5 and MRR of direct and projected search on a file of labelled queries",
    )
    .requiredOption(
      "--queries <file>",
      "queries in either raw form (answers optional); each query's answer is its cluster's id",
    )
    .option("--mh-id <id>", "projection to evaluate (default: the newest)")
    .option(
      "--model-dir <dir>",
      "folder of the model (default: $LDAKIT_MODEL_DIR, then the model cache)",
    )
    .action(async (options: EvalCliOptions, command: Command) => {
      const all = { ...command.optsWithGlobals(), ...options } as EvalCliOptions;
      let text: string;
      try {
        text = readFileSync(all.queries, "utf8");
      } catch (error) {
        throw new Error(`cannot read ${all.queries}: ${(error as Error).message}`);
      }
      const queries = parseQueryJson(text, all.queries);
      await withStore(all, async (db) => {
        const { mhId, model } = chooseProjection(db, all.mhId);
        const projection = db.loadProjection(mhId);
        // A query's expected answer: the head whose cluster has the query's record id.
        const headOfRecord = new Map<string, number>();
        for (const c of await db.listClusters()) {
          const head = projection.headIndex(c.cluster_id);
          if (head !== undefined && c.answer_record_id !== null)
            headOfRecord.set(c.answer_record_id, c.cluster_id);
        }
        const labelled = queries.filter((q) => headOfRecord.has(q.recordId));
        const unmatched = [
          ...new Set(queries.filter((q) => !headOfRecord.has(q.recordId)).map((q) => q.recordId)),
        ];
        if (labelled.length === 0) {
          throw new Error(
            `none of the ${queries.length} queries' ids match an answer of projection ${mhId} (ids such as ${unmatched.slice(0, 3).join(", ")})`,
          );
        }
        const embedder = await resolveEmbedder(
          model,
          all.modelDir ? { modelDir: all.modelDir } : {},
        );
        let vectors: Float32Array[];
        try {
          vectors = await embedder.embed(labelled.map((q) => q.text));
        } finally {
          await embedder.dispose();
        }
        const topK = projection.clusterIds.length;
        // Rank of each query's expected cluster among all answers (1 = first).
        const ranks = (results: Array<{ results: Array<{ clusterId: number }> }>) =>
          results.map((r, i) => {
            const expected = headOfRecord.get((labelled[i] as { recordId: string }).recordId);
            return r.results.findIndex((h) => h.clusterId === expected) + 1;
          });
        const projectedRanks = ranks(projection.searchBatch(vectors, { topK }));
        const directRanks = ranks(projection.directSearchBatch(vectors, { topK }));
        const report = {
          queries: labelled.length,
          direct: metricsOf(directRanks),
          projected: metricsOf(projectedRanks),
        };
        if (all.json) {
          printJson({ ...report, mh_projection_id: mhId, model, unmatched_ids: unmatched });
          return;
        }
        const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
        console.log(
          `projection ${mhId} (${model}), τ = ${projection.temperature}: ${labelled.length} queries from ${all.queries}`,
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
              "projected",
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
