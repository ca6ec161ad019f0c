import { modelEmbeddingsDir, vectorFileName } from "@ldakit/format";
import type { StoreContext } from "../context.js";

/** SQLite binds at most 32 766 parameters per statement; stay well below. */
const ID_CHUNK = 5000;
function chunks<T>(items: T[], size = ID_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Deletes the clusters a batch imported, their questions and vector rows (in the caller's
 * transaction) and returns the vector files to delete after it commits. Files the batch may have
 * written before recording them are found by their names, which follow from the ids.
 */
export function discardBatchData(ctx: StoreContext, batchId: number): string[] {
  const ids = ctx.sql
    .all(ctx.kysely.selectFrom("clusters").select("cluster_id").where("batch_id", "=", batchId))
    .map((c) => c.cluster_id);
  return discardClusters(ctx, ids);
}

/** {@link discardBatchData} for given clusters. */
export function discardClusters(ctx: StoreContext, clusterIds: number[]): string[] {
  const { sql, kysely } = ctx;
  const files: string[] = [];
  for (const ids of chunks(clusterIds)) {
    const clusters = sql.all(
      kysely
        .selectFrom("clusters")
        .innerJoin("models", "models.model_id", "clusters.model_id")
        .select(["clusters.cluster_id", "models.name"])
        .where("clusters.cluster_id", "in", ids),
    );
    const dirOfCluster = new Map<number, string>();
    const dirOfModel = new Map<string, string>();
    for (const { cluster_id, name } of clusters) {
      let dir = dirOfModel.get(name);
      if (dir === undefined) {
        dir = modelEmbeddingsDir(name);
        dirOfModel.set(name, dir);
      }
      dirOfCluster.set(cluster_id, dir);
      files.push(`${dir}/${vectorFileName("answer", cluster_id)}`);
    }
    const questions = sql.all(
      kysely
        .selectFrom("questions")
        .select(["question_id", "cluster_id"])
        .where("cluster_id", "in", ids),
    );
    for (const q of questions)
      files.push(`${dirOfCluster.get(q.cluster_id)}/${vectorFileName("question", q.question_id)}`);
    for (const qids of chunks(questions.map((q) => q.question_id))) {
      sql.run(
        kysely
          .deleteFrom("embeddings")
          .where("entity_type", "=", "question")
          .where("entity_id", "in", qids),
      );
    }
    sql.run(
      kysely
        .deleteFrom("embeddings")
        .where("entity_type", "=", "answer")
        .where("entity_id", "in", ids),
    );
    sql.run(kysely.deleteFrom("questions").where("cluster_id", "in", ids));
    // A cluster that is a head of a trained projection stays as that projection's answer (its
    // head files are the projection's own); it loses its questions and batch, so it is retired.
    const heads = new Set(
      sql
        .all(
          kysely
            .selectFrom("cluster_heads")
            .select("cluster_id")
            .distinct()
            .where("cluster_id", "in", ids),
        )
        .map((h) => h.cluster_id),
    );
    const retired = ids.filter((id) => heads.has(id));
    const deleted = ids.filter((id) => !heads.has(id));
    if (retired.length > 0) {
      sql.run(
        kysely.updateTable("clusters").set({ batch_id: null }).where("cluster_id", "in", retired),
      );
    }
    if (deleted.length > 0)
      sql.run(kysely.deleteFrom("clusters").where("cluster_id", "in", deleted));
  }
  return files;
}
