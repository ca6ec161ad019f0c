import type { Embedder } from "@ldakit/embed";
import { modelEmbeddingsDir } from "@ldakit/format";
import {
  type Database,
  type NormalizedCluster,
  parseRawJson,
  type TrainingBatch,
} from "@ldakit/schema";
import type { Insertable } from "kysely";
import type { StoreContext } from "../context.js";
import { holdLifecycle } from "../lifecycle.js";
import { transition } from "./batches.js";
import { assertOwner } from "./claims.js";
import { BatchFailure, failureMessage } from "./failures.js";
import { readRegularFile, sha256 } from "./scan.js";
import { type PipelineTimings, timed, timedAsync } from "./timings.js";

/** Rows per multi-row INSERT: under both backends' limits on bound parameters (6 columns each). */
const ROWS_PER_INSERT = 500;

/** What a batch's import put in the database, for the embedding step. */
export interface ImportedBatch {
  modelId: number;
  modelDir: string;
  /** Every imported question, in file order. */
  questions: Array<{ id: number; text: string }>;
  /** Every imported cluster with its answer text and the answer variant for the embedding model. */
  clusters: Array<{ id: number; answer: string; variant: string | undefined }>;
}

/** Parses and inserts a claimed batch's file in one transaction, moving it to `embedding`. */
export async function importBatch(
  ctx: StoreContext,
  batch: TrainingBatch,
  me: string,
  embedder: Embedder,
  timings?: PipelineTimings,
): Promise<ImportedBatch> {
  // Opened as a regular file only: a FIFO put in its place since the scan would block the read.
  const read = readRegularFile(batch.file_path);
  if ("reason" in read) {
    throw new BatchFailure(
      read.code === "ENOENT" ? "file not found; run scan again" : `${read.reason}; run scan again`,
    );
  }
  const { bytes } = read;
  if (timed(timings, "hashing", () => sha256(bytes)) !== batch.file_hash) {
    throw new BatchFailure("changed since scan; run scan again");
  }
  let clusters: NormalizedCluster[];
  try {
    // the bytes, not a decoded string: decoding would turn invalid UTF-8 into U+FFFD unseen
    clusters = timed(timings, "parsing", () => parseRawJson(bytes).clusters);
  } catch (error) {
    throw new BatchFailure(failureMessage(error));
  }
  const questionCount = clusters.reduce((n, c) => n + c.questions.length, 0);
  return timedAsync(timings, "sqlite", () =>
    ctx.db.transaction("import", async (q) => {
      await assertOwner(ctx, q, batch.batch_id, me);
      await holdLifecycle(ctx, q);
      let model: { model_id: number };
      try {
        model = await ctx.ensureModel(q, embedder.name, embedder.dimensions, embedder.backend);
      } catch (error) {
        throw new BatchFailure(failureMessage(error));
      }
      const imported: ImportedBatch = {
        modelId: model.model_id,
        modelDir: modelEmbeddingsDir(embedder.name),
        questions: [],
        clusters: [],
      };
      const clusterIds = await ctx.db.allocateIds(q, "clusters", "cluster_id", clusters.length);
      const questionIds = await ctx.db.allocateIds(q, "questions", "question_id", questionCount);
      const clusterRows: Insertable<Database["clusters"]>[] = [];
      const questionRows: Insertable<Database["questions"]>[] = [];
      clusters.forEach((cluster, c) => {
        const clusterId = clusterIds[c] as number;
        clusterRows.push({
          cluster_id: clusterId,
          answer_text: cluster.answerText,
          answer_record_id: cluster.recordId,
          model_id: model.model_id,
          batch_id: batch.batch_id,
          answer_source: cluster.answerSource,
        });
        imported.clusters.push({
          id: clusterId,
          answer: cluster.answerText,
          variant: cluster.answerVariants[embedder.name],
        });
        for (const question of cluster.questions) {
          const id = questionIds[imported.questions.length] as number;
          questionRows.push({
            question_id: id,
            cluster_id: clusterId,
            question_text: question.text,
            length_type: question.lengthType,
          });
          imported.questions.push({ id, text: question.text });
        }
      });
      for (let i = 0; i < clusterRows.length; i += ROWS_PER_INSERT) {
        await q
          .insertInto("clusters")
          .values(clusterRows.slice(i, i + ROWS_PER_INSERT))
          .execute();
      }
      for (let i = 0; i < questionRows.length; i += ROWS_PER_INSERT) {
        await q
          .insertInto("questions")
          .values(questionRows.slice(i, i + ROWS_PER_INSERT))
          .execute();
      }
      await transition(ctx, q, batch.batch_id, "importing", "embedding", {
        model_name: embedder.name,
        num_clusters: imported.clusters.length,
        num_questions: imported.questions.length,
      });
      return imported;
    }),
  );
}
