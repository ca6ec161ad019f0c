import { modelEmbeddingsDir, vectorFileName } from "@ldakit/format";
import type { Queries } from "../db/store-db.js";

/** SQLite binds at most 32 766 parameters per statement, PostgreSQL 65 535; stay well below. */
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
export async function discardBatchData(q: Queries, batchId: number): Promise<string[]> {
  const ids = (
    await q.selectFrom("clusters").select("cluster_id").where("batch_id", "=", batchId).execute()
  ).map((c) => c.cluster_id);
  return discardClusters(q, ids);
}

/** {@link discardBatchData} for given clusters. */
export async function discardClusters(q: Queries, clusterIds: number[]): Promise<string[]> {
  const files: string[] = [];
  for (const ids of chunks(clusterIds)) {
    const clusters = await q
      .selectFrom("clusters")
      .innerJoin("models", "models.model_id", "clusters.model_id")
      .select(["clusters.cluster_id", "models.name"])
      .where("clusters.cluster_id", "in", ids)
      .execute();
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
    const questions = await q
      .selectFrom("questions")
      .select(["question_id", "cluster_id"])
      .where("cluster_id", "in", ids)
      .execute();
    for (const question of questions) {
      files.push(
        `${dirOfCluster.get(question.cluster_id)}/${vectorFileName("question", question.question_id)}`,
      );
    }
    for (const qids of chunks(questions.map((question) => question.question_id))) {
      await q
        .deleteFrom("embeddings")
        .where("entity_type", "=", "question")
        .where("entity_id", "in", qids)
        .execute();
    }
    await q
      .deleteFrom("embeddings")
      .where("entity_type", "=", "answer")
      .where("entity_id", "in", ids)
      .execute();
    await q.deleteFrom("questions").where("cluster_id", "in", ids).execute();
    // A cluster that is a head of a trained projection stays as that projection's answer (its
    // head files are the projection's own); it loses its questions and batch, so it is retired.
    const heads = new Set(
      (
        await q
          .selectFrom("cluster_heads")
          .select("cluster_id")
          .distinct()
          .where("cluster_id", "in", ids)
          .execute()
      ).map((h) => h.cluster_id),
    );
    const retired = ids.filter((id) => heads.has(id));
    const deleted = ids.filter((id) => !heads.has(id));
    if (retired.length > 0) {
      await q
        .updateTable("clusters")
        .set({ batch_id: null })
        .where("cluster_id", "in", retired)
        .execute();
    }
    if (deleted.length > 0)
      await q.deleteFrom("clusters").where("cluster_id", "in", deleted).execute();
  }
  return files;
}
