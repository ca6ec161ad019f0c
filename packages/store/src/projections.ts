import { randomBytes } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname } from "node:path";
import {
  adapterFileName,
  headAnswerPath,
  headCentroidPath,
  projectionAdapterPath,
  projectionMetaFormatFor,
  projectionMetaPath,
} from "@ldakit/format";
import type { CentroidMethod } from "@ldakit/schema";
import type { StoreContext } from "./context.js";
import { StoreError } from "./errors.js";
import { crashPoint } from "./faults.js";
import { holdLifecycle, leaseEnd, ownerToken, sweep } from "./lifecycle.js";
import { temporaryPathOf } from "./machine.js";

/** Rows per multi-row INSERT: under both backends' limits on bound parameters. */
const ROWS_PER_INSERT = 500;

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

/**
 * How often {@link loadTrainingSet} reads again when a file its rows named has gone: each time
 * means another process completed an import meanwhile.
 */
const TRAINING_SET_READS = 4;

/**
 * Loads the question and answer vectors of every cluster embedded with `model`. Another process
 * may complete a superseding import between this reading the rows and reading their files, and
 * remove files those rows named (docs/ARCHITECTURE.md §3.1); then the rows are read again.
 */
export async function loadTrainingSet(ctx: StoreContext, modelName: string): Promise<TrainingSet> {
  for (let read = 1; ; read++) {
    try {
      return await readTrainingSet(ctx, modelName);
    } catch (error) {
      const gone = error instanceof StoreError && error.code === "VECTOR_FILE_MISSING";
      if (!gone || read === TRAINING_SET_READS) throw error;
    }
  }
}

async function readTrainingSet(ctx: StoreContext, modelName: string): Promise<TrainingSet> {
  const { kysely } = ctx;
  const model = await kysely
    .selectFrom("models")
    .selectAll()
    .where("name", "=", modelName)
    .executeTakeFirst();
  if (!model) {
    const known = (await kysely.selectFrom("models").select("name").execute()).map((m) => m.name);
    throw new StoreError(
      "MODEL_NOT_FOUND",
      `no vectors for model "${modelName}" in this store${known.length ? ` (it has: ${known.join(", ")})` : ""}; run \`ldakit migrate --process-pending --model ${modelName}\` first`,
    );
  }
  const d = model.dimensions;
  const answerRows = await kysely
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
      eb.or([eb("clusters.batch_id", "is", null), eb("training_batches.status", "=", "completed")]),
    )
    .orderBy("clusters.cluster_id")
    .execute();
  const questionRows = await kysely
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
    .orderBy("questions.question_id")
    .execute();
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
  /**
   * The learned query adapter W: d×d values, row-major (`adapter[i * d + j]` = W[i, j]); search
   * routes with `normalize(W q)` (docs/FORMAT.md §6). Written as `mh_<id>_W.npy`. Absent or
   * `null`: no adapter.
   */
  adapter?: Float32Array | null;
  /**
   * The blend β in [0, 1] of the projected vector with the query (docs/FORMAT.md §6): 1 (the
   * default) ranks against the projected vector alone, 0 is direct search.
   */
  blend?: number;
  /**
   * How training chose the projection, a JSON object (docs/FORMAT.md §5.3); stored as given in
   * `multi_head_projections.selection`. Absent or `null`: not recorded.
   */
  selection?: string | null;
}

/**
 * How long a projection id stays reserved unless its writer renews the reservation (which it does
 * between files, every third of this): on a store several machines share, a writer of another
 * machine whose reservation lapsed is presumed gone, and the sweep releases its id.
 */
const RESERVATION_LEASE_MS = 5 * 60_000;

/**
 * Records a new multi-head projection (never overwriting an older one): its row, a
 * `cluster_heads` row per head, the head files, the adapter file `mh_<id>_W.npy` when there is
 * an adapter, and `mh_<id>.json` (docs/FORMAT.md §4). The arguments are checked before anything
 * is written. The id is reserved first (`projection_reservations`), the files are written and
 * synced under it, and only then one short transaction inserts the rows, so other processes
 * wait milliseconds for the write lock, not the time 2 × H files take (docs/ARCHITECTURE.md §3.1).
 * On failure the files written go again; after a crash, the next writing command sweeps them.
 */
export async function createProjection(
  ctx: StoreContext,
  projection: NewProjection,
): Promise<number> {
  const model = await ctx.modelById(projection.modelId);
  if (!(Number.isFinite(projection.temperature) && projection.temperature > 0)) {
    throw new StoreError(
      "BAD_ARGUMENT",
      `a projection's temperature must be a positive number, not ${projection.temperature}`,
    );
  }
  if (projection.heads.length === 0)
    throw new StoreError("BAD_ARGUMENT", "a projection needs at least one head");
  for (const head of projection.heads) {
    if (head.centroid.length !== model.dimensions || head.answer.length !== model.dimensions) {
      throw new StoreError(
        "DIMENSION_MISMATCH",
        `head of cluster ${head.clusterId} is not ${model.dimensions}-dimensional`,
      );
    }
  }
  const adapter = checkAdapter(projection.adapter ?? null, model.dimensions);
  const blend = checkBlend(projection.blend);
  checkSearchableTemperature(projection.temperature);
  checkMetrics(projection);
  const selection = checkSelection(projection.selection ?? null);
  // What an interrupted command left goes first.
  await sweep(ctx);
  const owner = ownerToken(randomBytes(4).toString("hex"));
  let renewedAt = Date.now();
  const mhProjectionId = await ctx.db.transaction("reserve-projection", async (q) => {
    // Ids are max + 1 over projections and reservations: trainers take them one at a time.
    await ctx.db.lock(q, "projection-ids");
    await holdLifecycle(ctx, q);
    const newest = (
      await q
        .selectFrom("multi_head_projections")
        .select((eb) => eb.fn.max("mh_projection_id").as("id"))
        .executeTakeFirst()
    )?.id;
    const reserved = (
      await q
        .selectFrom("projection_reservations")
        .select((eb) => eb.fn.max("mh_projection_id").as("id"))
        .executeTakeFirst()
    )?.id;
    const id = Math.max(Number(newest ?? 0), Number(reserved ?? 0)) + 1;
    await q
      .insertInto("projection_reservations")
      .values({
        mh_projection_id: id,
        model_id: model.model_id,
        owner,
        reserved_at: ctx.now(),
        lease_expires_at: leaseEnd(ctx.now(), RESERVATION_LEASE_MS),
      })
      .execute();
    return id;
  });
  const reservationLost = () =>
    new StoreError(
      "LEASE_LOST",
      `projection ${mhProjectionId}: its reservation was released by another process while this one wrote its files (the lease of ${RESERVATION_LEASE_MS / 1000} s was not renewed in time); nothing of it was stored — train again`,
    );
  // Renewed between files, not on a timer: the files are written synchronously, so a timer would
  // not run until they were all written.
  const renewIfDue = async (): Promise<void> => {
    if (Date.now() - renewedAt < RESERVATION_LEASE_MS / 3) return;
    const { numUpdatedRows } = await ctx.kysely
      .updateTable("projection_reservations")
      .set({ lease_expires_at: leaseEnd(ctx.now(), RESERVATION_LEASE_MS) })
      .where("mh_projection_id", "=", mhProjectionId)
      .where("owner", "=", owner)
      .executeTakeFirstOrThrow();
    if (numUpdatedRows === 0n) throw reservationLost();
    renewedAt = Date.now();
  };
  const written: string[] = [];
  try {
    const heads: Array<{
      head: NewProjection["heads"][number];
      centroidPath: string;
      answerPath: string;
    }> = [];
    for (const head of projection.heads) {
      await renewIfDue();
      const centroidPath = headCentroidPath(model.name, mhProjectionId, head.clusterId);
      const answerPath = headAnswerPath(model.name, mhProjectionId, head.clusterId);
      written.push(centroidPath);
      ctx.vectors.write(centroidPath, head.centroid);
      crashPoint("head-file:written");
      written.push(answerPath);
      ctx.vectors.write(answerPath, head.answer);
      crashPoint("head-file:written");
      heads.push({ head, centroidPath, answerPath });
    }
    await renewIfDue();
    let adapterPath: string | null = null;
    let adapterName: string | null = null;
    if (adapter !== null) {
      adapterPath = projectionAdapterPath(model.name, mhProjectionId);
      adapterName = adapterFileName(mhProjectionId);
      written.push(adapterPath);
      ctx.vectors.writeMatrix(adapterPath, adapter, model.dimensions, model.dimensions);
      crashPoint("adapter-file:written");
    }
    const metaPath = projectionMetaPath(model.name, mhProjectionId);
    written.push(metaPath);
    const format = projectionMetaFormatFor({ adapter: adapterName, blend });
    writeJsonAtomically(ctx.vectors.absolute(metaPath), {
      format,
      mh_projection_id: mhProjectionId,
      model: model.name,
      dimensions: model.dimensions,
      temperature: projection.temperature,
      num_heads: projection.heads.length,
      cluster_ids: projection.heads.map((h) => h.clusterId),
      // Edition 1 has neither key: a projection without an adapter and blend stays readable
      // by readers that predate them (docs/FORMAT.md §7).
      ...(format === "ldakit.mh/1" ? {} : { adapter: adapterName, blend }),
    });
    crashPoint("projection-meta:written");
    ctx.vectors.syncFolders(written);
    crashPoint("projection-files:synced");
    await ctx.db.transaction("commit-projection", async (q) => {
      await holdLifecycle(ctx, q);
      // A sweep that found the lease ended has released the id and may have deleted the files
      // as orphans: rows naming them must not be committed then.
      const held = await ctx.db
        .lockRowsForUpdate(
          q
            .selectFrom("projection_reservations")
            .select("mh_projection_id")
            .where("mh_projection_id", "=", mhProjectionId)
            .where("owner", "=", owner),
        )
        .executeTakeFirst();
      if (held === undefined) throw reservationLost();
      await q
        .insertInto("multi_head_projections")
        .values({
          mh_projection_id: mhProjectionId,
          model_id: model.model_id,
          num_heads: projection.heads.length,
          temperature: projection.temperature,
          created_at: ctx.now(),
          name: projection.name ?? null,
          recall_at_1: projection.recallAt1 ?? null,
          mrr: projection.mrr ?? null,
          centroid_method: projection.centroidMethod,
          adapter_path: adapterPath,
          blend: projection.blend === undefined ? null : blend,
          selection,
        })
        .execute();
      for (let i = 0; i < heads.length; i += ROWS_PER_INSERT) {
        await q
          .insertInto("cluster_heads")
          .values(
            heads.slice(i, i + ROWS_PER_INSERT).map(({ head, centroidPath, answerPath }) => ({
              mh_projection_id: mhProjectionId,
              cluster_id: head.clusterId,
              centroid_path: centroidPath,
              answer_emb_path: answerPath,
              num_questions: head.numQuestions,
            })),
          )
          .execute();
      }
      await q
        .deleteFrom("projection_reservations")
        .where("mh_projection_id", "=", mhProjectionId)
        .execute();
    });
    return mhProjectionId;
  } catch (error) {
    for (const path of written) ctx.vectors.remove(path);
    try {
      await ctx.db.transaction("release-projection", (q) =>
        q
          .deleteFrom("projection_reservations")
          .where("mh_projection_id", "=", mhProjectionId)
          .where("owner", "=", owner)
          .execute(),
      );
    } catch {
      // Left with this process as owner; once it has exited, the next sweep releases it.
    }
    throw error;
  }
}

/** The selection as JSON text of an object, or `null`; a `BAD_ARGUMENT` error otherwise. */
function checkSelection(selection: string | null): string | null {
  if (selection === null) return null;
  let parsed: unknown;
  try {
    parsed = typeof selection === "string" ? JSON.parse(selection) : undefined;
  } catch (e) {
    throw new StoreError(
      "BAD_ARGUMENT",
      `a projection's selection must be the JSON text of an object: ${(e as Error).message}`,
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new StoreError(
      "BAD_ARGUMENT",
      "a projection's selection must be the JSON text of an object, or null",
    );
  }
  return selection;
}

/** The adapter as d×d finite float32 values, or `null`; a `BAD_ARGUMENT` error otherwise. */
function checkAdapter(adapter: Float32Array | null, d: number): Float32Array | null {
  if (adapter === null) return null;
  if (!(adapter instanceof Float32Array)) {
    throw new StoreError(
      "BAD_ARGUMENT",
      "a projection's adapter must be a Float32Array of d×d values (row-major) or null",
    );
  }
  if (adapter.length !== d * d) {
    throw new StoreError(
      "DIMENSION_MISMATCH",
      `a projection's adapter must hold d×d = ${d}×${d} = ${d * d} values for this model, not ${adapter.length}`,
    );
  }
  let nonZero = false;
  for (let i = 0; i < adapter.length; i++) {
    const x = adapter[i] as number;
    if (!Number.isFinite(x)) {
      const row = Math.floor(i / d);
      throw new StoreError(
        "BAD_ARGUMENT",
        `a projection's adapter must be finite, but W[${row}, ${i - row * d}] (value ${i}) is ${x}`,
      );
    }
    if (x !== 0) nonZero = true;
  }
  // Every query would route to the zero vector, which search refuses: such a projection could
  // answer nothing.
  if (!nonZero) {
    throw new StoreError(
      "BAD_ARGUMENT",
      "a projection's adapter is all zeros: it would map every query to nothing",
    );
  }
  return adapter;
}

/** β, 1 when absent; a `BAD_ARGUMENT` error unless it is a finite number in [0, 1]. */
function checkBlend(blend: number | undefined): number {
  if (blend === undefined) return 1;
  if (typeof blend !== "number" || !Number.isFinite(blend) || blend < 0 || blend > 1) {
    throw new StoreError(
      "BAD_ARGUMENT",
      `a projection's blend must be a number from 0 to 1, not ${String(blend)}`,
    );
  }
  return blend;
}

/**
 * Search computes with 1/τ in float32 and refuses a projection whose 1/τ overflows it: storing
 * one would leave a newest projection nothing can search with.
 */
function checkSearchableTemperature(temperature: number): void {
  if (!Number.isFinite(Math.fround(1 / temperature))) {
    throw new StoreError(
      "BAD_ARGUMENT",
      `a projection's temperature ${temperature} is too small: 1/τ overflows float32, so search could not use it`,
    );
  }
}

/** Recorded metrics are shares and a mean reciprocal rank: null/absent, or finite numbers in [0, 1]. */
function checkMetrics(projection: Pick<NewProjection, "recallAt1" | "mrr">): void {
  for (const [name, value] of [
    ["recallAt1", projection.recallAt1],
    ["mrr", projection.mrr],
  ] as const) {
    if (value === undefined || value === null) continue;
    if (typeof value !== "number" || !(value >= 0 && value <= 1)) {
      throw new StoreError(
        "BAD_ARGUMENT",
        `a projection's ${name} must be a number from 0 to 1 (or null), not ${String(value)}`,
      );
    }
  }
}

/** Writes JSON to a temporary name, syncs it and renames it into place. */
function writeJsonAtomically(path: string, value: unknown): void {
  const tmp = temporaryPathOf(path);
  try {
    mkdirSync(dirname(path), { recursive: true });
    const fd = openSync(tmp, "w");
    try {
      writeFileSync(fd, `${JSON.stringify(value, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (cause) {
    rmSync(tmp, { force: true });
    throw new StoreError("WRITE_FAILED", `cannot write ${path}: ${(cause as Error).message}`, {
      cause,
    });
  }
}
