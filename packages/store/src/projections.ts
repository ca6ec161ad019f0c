import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import {
  headAnswerPath,
  headCentroidPath,
  PROJECTION_META_FORMAT,
  projectionMetaPath,
} from "@ldakit/format";
import type { CentroidMethod } from "@ldakit/schema";
import type { StoreContext } from "./context.js";
import { StoreError } from "./errors.js";

/** Everything training needs from the store for one model: vectors as contiguous matrices. */
export interface TrainingSet {
  modelId: number;
  model: string;
  dimensions: number;
  /** One entry per cluster that has an answer vector and at least one question vector, by cluster id. */
  clusters: Array<{
    clusterId: number;
    answerRecordId: string | null;
    answerText: string;
    numQuestions: number;
  }>;
  /** H×d answer vectors, in `clusters` order. */
  answers: Float32Array;
  /** n×d question vectors. */
  questions: Float32Array;
  /** For each question, the index of its cluster in `clusters`. */
  questionCluster: Int32Array;
  /** Question ids, in `questions` order. */
  questionIds: number[];
}

/** Loads the question and answer vectors of every cluster embedded with `model`. */
export function loadTrainingSet(ctx: StoreContext, modelName: string): TrainingSet {
  const { sql, kysely } = ctx;
  const model = sql.first(kysely.selectFrom("models").selectAll().where("name", "=", modelName));
  if (!model) {
    const known = sql.all(kysely.selectFrom("models").select("name")).map((m) => m.name);
    throw new StoreError(
      "MODEL_NOT_FOUND",
      `no vectors for model "${modelName}" in this store${known.length ? ` (it has: ${known.join(", ")})` : ""}; run \`ldakit migrate --process-pending --model ${modelName}\` first`,
    );
  }
  const d = model.dimensions;
  const answerRows = sql.all(
    kysely
      .selectFrom("clusters")
      .innerJoin("embeddings", (join) =>
        join
          .onRef("embeddings.entity_id", "=", "clusters.cluster_id")
          .on("embeddings.entity_type", "=", "answer")
          .on("embeddings.model_id", "=", model.model_id),
      )
      .leftJoin("training_batches", "training_batches.batch_id", "clusters.batch_id")
      .select([
        "clusters.cluster_id",
        "clusters.answer_record_id",
        "clusters.answer_text",
        "embeddings.vector_path",
      ])
      .where("clusters.model_id", "=", model.model_id)
      // Clusters of a batch still being processed are not ready; API-added ones have no batch.
      .where((eb) =>
        eb.or([
          eb("clusters.batch_id", "is", null),
          eb("training_batches.status", "=", "completed"),
        ]),
      )
      .orderBy("clusters.cluster_id"),
  );
  const questionRows = sql.all(
    kysely
      .selectFrom("questions")
      .innerJoin("clusters", "clusters.cluster_id", "questions.cluster_id")
      .innerJoin("embeddings", (join) =>
        join
          .onRef("embeddings.entity_id", "=", "questions.question_id")
          .on("embeddings.entity_type", "=", "question")
          .on("embeddings.model_id", "=", model.model_id),
      )
      .select(["questions.question_id", "questions.cluster_id", "embeddings.vector_path"])
      .where("clusters.model_id", "=", model.model_id)
      .orderBy("questions.cluster_id")
      .orderBy("questions.question_id"),
  );
  const questionCount = new Map<number, number>();
  for (const q of questionRows)
    questionCount.set(q.cluster_id, (questionCount.get(q.cluster_id) ?? 0) + 1);
  const usable = answerRows.filter((a) => (questionCount.get(a.cluster_id) ?? 0) > 0);
  const index = new Map(usable.map((a, i) => [a.cluster_id, i]));
  const answers = new Float32Array(usable.length * d);
  usable.forEach((a, i) => {
    answers.set(ctx.vectors.read(a.vector_path, d), i * d);
  });
  const kept = questionRows.filter((q) => index.has(q.cluster_id));
  const questions = new Float32Array(kept.length * d);
  const questionCluster = new Int32Array(kept.length);
  kept.forEach((q, i) => {
    questions.set(ctx.vectors.read(q.vector_path, d), i * d);
    questionCluster[i] = index.get(q.cluster_id) as number;
  });
  return {
    modelId: model.model_id,
    model: model.name,
    dimensions: d,
    clusters: usable.map((a) => ({
      clusterId: a.cluster_id,
      answerRecordId: a.answer_record_id,
      answerText: a.answer_text,
      numQuestions: questionCount.get(a.cluster_id) ?? 0,
    })),
    answers,
    questions,
    questionCluster,
    questionIds: kept.map((q) => q.question_id),
  };
}

export interface NewProjection {
  modelId: number;
  name?: string | null;
  temperature: number;
  centroidMethod: CentroidMethod;
  /** Held-out metrics to record with it. */
  recallAt1?: number | null;
  mrr?: number | null;
  heads: Array<{
    clusterId: number;
    centroid: Float32Array;
    answer: Float32Array;
    numQuestions: number;
  }>;
}

/**
 * Records a new multi-head projection (never overwriting an older one): its row, a
 * `cluster_heads` row per head, the head files and `mh_<id>.json` (docs/FORMAT.md §4). The row
 * and the heads commit together after every file is in place; on failure the files written go
 * again.
 */
export function createProjection(ctx: StoreContext, projection: NewProjection): number {
  const { sql, kysely } = ctx;
  const model = ctx.modelById(projection.modelId);
  if (!(Number.isFinite(projection.temperature) && projection.temperature > 0)) {
    throw new StoreError(
      "BAD_ARGUMENT",
      `a projection's temperature must be a positive number, not ${projection.temperature}`,
    );
  }
  if (projection.heads.length === 0)
    throw new StoreError("BAD_ARGUMENT", "a projection needs at least one head");
  const written: string[] = [];
  try {
    return sql.immediate(() => {
      const mhProjectionId = sql.run(
        kysely.insertInto("multi_head_projections").values({
          model_id: model.model_id,
          num_heads: projection.heads.length,
          temperature: projection.temperature,
          created_at: ctx.now(),
          name: projection.name ?? null,
          recall_at_1: projection.recallAt1 ?? null,
          mrr: projection.mrr ?? null,
          centroid_method: projection.centroidMethod,
        }),
      ).lastInsertRowid;
      const insertHead = sql.statement(
        kysely.insertInto("cluster_heads").values({
          mh_projection_id: 0,
          cluster_id: 0,
          centroid_path: "",
          answer_emb_path: "",
          num_questions: 0,
        }),
      );
      for (const head of projection.heads) {
        if (head.centroid.length !== model.dimensions || head.answer.length !== model.dimensions) {
          throw new StoreError(
            "DIMENSION_MISMATCH",
            `head of cluster ${head.clusterId} is not ${model.dimensions}-dimensional`,
          );
        }
        const centroidPath = headCentroidPath(model.name, mhProjectionId, head.clusterId);
        const answerPath = headAnswerPath(model.name, mhProjectionId, head.clusterId);
        written.push(centroidPath, answerPath);
        ctx.vectors.write(centroidPath, head.centroid);
        ctx.vectors.write(answerPath, head.answer);
        insertHead.run(mhProjectionId, head.clusterId, centroidPath, answerPath, head.numQuestions);
      }
      const metaPath = projectionMetaPath(model.name, mhProjectionId);
      written.push(metaPath);
      writeJsonAtomically(ctx.vectors.absolute(metaPath), {
        format: PROJECTION_META_FORMAT,
        mh_projection_id: mhProjectionId,
        model: model.name,
        dimensions: model.dimensions,
        temperature: projection.temperature,
        num_heads: projection.heads.length,
        cluster_ids: projection.heads.map((h) => h.clusterId),
      });
      return mhProjectionId;
    });
  } catch (error) {
    for (const path of written) ctx.vectors.remove(path);
    throw error;
  }
}

function writeJsonAtomically(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
    renameSync(tmp, path);
  } catch (cause) {
    rmSync(tmp, { force: true });
    throw new StoreError("WRITE_FAILED", `cannot write ${path}: ${(cause as Error).message}`, {
      cause,
    });
  }
}
