import type { Embedder } from "@ldakit/embed";
import { modelEmbeddingsDir } from "@ldakit/format";
import { type NormalizedCluster, parseRawJson, type TrainingBatch } from "@ldakit/schema";
import type { StoreContext } from "../context.js";
import { transition } from "./batches.js";
import { assertOwner } from "./claims.js";
import { BatchFailure, failureMessage } from "./failures.js";
import { readRegularFile, sha256 } from "./scan.js";
import { type PipelineTimings, timed } from "./timings.js";

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
export function importBatch(
  ctx: StoreContext,
  batch: TrainingBatch,
  me: string,
  embedder: Embedder,
  timings?: PipelineTimings,
): ImportedBatch {
  const { sql, kysely } = ctx;
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
  const insertCluster = sql.statement(
    kysely.insertInto("clusters").values({
      answer_text: "",
      answer_record_id: "",
      model_id: 0,
      batch_id: 0,
      answer_source: null,
    }),
  );
  const insertQuestion = sql.statement(
    kysely.insertInto("questions").values({ cluster_id: 0, question_text: "", length_type: null }),
  );
  return timed(timings, "sqlite", () =>
    sql.immediate("import", () => {
      assertOwner(ctx, batch.batch_id, me);
      let model: { model_id: number };
      try {
        model = ctx.ensureModel(embedder.name, embedder.dimensions, embedder.backend);
      } catch (error) {
        throw new BatchFailure(failureMessage(error));
      }
      const imported: ImportedBatch = {
        modelId: model.model_id,
        modelDir: modelEmbeddingsDir(embedder.name),
        questions: [],
        clusters: [],
      };
      for (const cluster of clusters) {
        const clusterId = Number(
          insertCluster.run(
            cluster.answerText,
            cluster.recordId,
            model.model_id,
            batch.batch_id,
            cluster.answerSource,
          ).lastInsertRowid,
        );
        imported.clusters.push({
          id: clusterId,
          answer: cluster.answerText,
          variant: cluster.answerVariants[embedder.name],
        });
        for (const question of cluster.questions) {
          const id = Number(
            insertQuestion.run(clusterId, question.text, question.lengthType).lastInsertRowid,
          );
          imported.questions.push({ id, text: question.text });
        }
      }
      transition(ctx, batch.batch_id, "importing", "embedding", {
        model_name: embedder.name,
        num_clusters: imported.clusters.length,
        num_questions: imported.questions.length,
      });
      return imported;
    }),
  );
}
