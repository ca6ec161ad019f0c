import type { Command } from "commander";
import { type GlobalOptions, printJson, printTable, withStore } from "../context.js";

export function registerStats(program: Command): void {
  program
    .command("stats")
    .description("what the store holds: models, clusters, questions, vectors, projections, batches")
    .action(async (_options: GlobalOptions, command: Command) => {
      const options = command.optsWithGlobals() as GlobalOptions;
      await withStore(options, "read", async (db) => {
        const stats = await db.stats();
        const projections = await db.kysely
          .selectFrom("multi_head_projections as p")
          .innerJoin("models as m", "m.model_id", "p.model_id")
          .select((eb) => [
            "p.mh_projection_id as id",
            "m.name as model",
            "p.name",
            "p.num_heads",
            "p.temperature",
            "p.centroid_method",
            "p.recall_at_1",
            "p.mrr",
            "p.created_at",
            "p.adapter_path",
            eb.fn.coalesce("p.blend", eb.lit(1)).as("blend"),
          ])
          .orderBy("p.mh_projection_id")
          .execute();
        if (options.json) {
          printJson({
            models: stats.models.map((m) => ({
              model_id: m.modelId,
              name: m.name,
              dimensions: m.dimensions,
              backend: m.backend,
              clusters: m.clusters,
              questions: m.questions,
              vectors: m.vectors,
            })),
            clusters: stats.clusters,
            questions: stats.questions,
            embeddings: stats.embeddings,
            projections: stats.projections,
            batches: stats.batches,
            projection_list: projections,
          });
          return;
        }
        console.log(`store: ${db.path}`);
        console.log(
          `${stats.clusters} clusters, ${stats.questions} questions, ${stats.embeddings} vectors, ${stats.projections} projections`,
        );
        const b = stats.batches;
        console.log(
          `batches: ${b.completed} completed, ${b.failed} failed, ${b.pending} pending, ${b.importing + b.embedding} in progress`,
        );
        if (stats.models.length > 0) {
          console.log();
          printTable(
            ["model", "dimensions", "backend", "clusters", "questions", "vectors"],
            stats.models.map((m) => [
              m.name,
              m.dimensions,
              m.backend,
              m.clusters,
              m.questions,
              m.vectors,
            ]),
          );
        }
        if (projections.length > 0) {
          console.log();
          printTable(
            [
              "projection",
              "model",
              "name",
              "heads",
              "temperature",
              "centroids",
              "Recall@1",
              "MRR",
              "adapter",
              "blend",
              "created",
            ],
            projections.map((p) => [
              p.id ?? null,
              p.model ?? null,
              p.name ?? null,
              p.num_heads ?? null,
              p.temperature ?? null,
              p.centroid_method ?? null,
              typeof p.recall_at_1 === "number" ? `${(100 * p.recall_at_1).toFixed(1)}%` : null,
              typeof p.mrr === "number" ? p.mrr.toFixed(3) : null,
              p.adapter_path === null ? "no" : "yes",
              p.blend ?? null,
              p.created_at ?? null,
            ]),
          );
        }
      });
    });
}
