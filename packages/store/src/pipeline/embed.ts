import type { Embedder } from "@ldakit/embed";
import { vectorFileName } from "@ldakit/format";
import type { TrainingBatch } from "@ldakit/schema";
import type { StoreContext } from "../context.js";
import { upsertEmbeddings } from "../embeddings.js";
import { crashPoint } from "../faults.js";
import { leaseEnd } from "../lifecycle.js";
import type { VectorFileJob } from "../writer-pool.js";
import { assertOwner, type ClaimLease } from "./claims.js";
import { BatchFailure } from "./failures.js";
import type { ImportedBatch } from "./import.js";
import { type PipelineTimings, timed, timedAsync } from "./timings.js";
import type { ProcessOptions } from "./types.js";

function normalizedMean(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    const v = ((a[i] as number) + (b[i] as number)) / 2;
    out[i] = v;
    norm += v * v;
  }
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / norm;
  return out;
}

/** Embeds `texts` in chunks, checking every vector, and hands each chunk to `onChunk`. */
async function embedInChunks(
  texts: string[],
  embedder: Embedder,
  chunkSize: number,
  timings: PipelineTimings | undefined,
  lease: ClaimLease | undefined,
  onChunk: (start: number, vectors: Float32Array[]) => Promise<void>,
): Promise<void> {
  for (let start = 0; start < texts.length; start += chunkSize) {
    // A batch another worker took over is not embedded any further.
    lease?.check();
    const chunk = texts.slice(start, start + chunkSize);
    const vectors = await timedAsync(timings, "embedding", () => embedder.embed(chunk));
    if (vectors.length !== chunk.length) {
      throw new BatchFailure(
        `embedder ${embedder.name} returned ${vectors.length} vectors for ${chunk.length} texts`,
      );
    }
    for (const [i, vector] of vectors.entries()) {
      if (vector.length !== embedder.dimensions) {
        throw new BatchFailure(
          `embedder ${embedder.name} returned a ${vector.length}-dimensional vector for a ${embedder.dimensions}-dimensional model`,
        );
      }
      if (!vector.every(Number.isFinite)) {
        throw new BatchFailure(
          `embedder ${embedder.name} returned a vector with NaN or infinite values for text ${start + i + 1} of the batch`,
        );
      }
    }
    await onChunk(start, vectors);
  }
}

type EmbeddingRow = [entityType: "question" | "answer", id: number, path: string];

/**
 * Embeds an imported batch: writes its vector files and records them, renewing the claim's lease
 * with every chunk it records (beside `lease`'s timer, which it checks before each chunk). Files of chunk k are written (on the writer threads) while chunk k+1 is embedded; a
 * chunk's rows are recorded only once its files are in place, so no row names a missing file.
 * Returns how many vectors it stored.
 */
export async function embedBatch(
  ctx: StoreContext,
  batch: TrainingBatch,
  me: string,
  imported: ImportedBatch,
  options: ProcessOptions & { chunkSize: number; leaseMs: number },
  writeFiles: (jobs: VectorFileJob[]) => Promise<void>,
  lease?: ClaimLease,
): Promise<number> {
  const { embedder, onProgress, timings, chunkSize, leaseMs } = options;
  const answerTexts: string[] = [];
  for (const cluster of imported.clusters) {
    answerTexts.push(cluster.answer);
    if (cluster.variant !== undefined) answerTexts.push(cluster.variant);
  }
  const total = imported.questions.length + answerTexts.length;
  let done = 0;
  const record = async (rows: EmbeddingRow[], texts: number): Promise<void> => {
    await timedAsync(timings, "sqlite", () =>
      ctx.db.transaction("record-vectors", async (q) => {
        await assertOwner(ctx, q, batch.batch_id, me);
        await upsertEmbeddings(
          q,
          imported.modelId,
          rows.map(([entityType, entityId, vectorPath]) => ({ entityType, entityId, vectorPath })),
        );
        await q
          .updateTable("training_batches")
          .set({ updated_at: ctx.now(), lease_expires_at: leaseEnd(ctx.now(), leaseMs) })
          .where("batch_id", "=", batch.batch_id)
          .execute();
      }),
    );
    done += texts;
    onProgress?.({
      batchId: batch.batch_id,
      filePath: batch.file_path,
      phase: "embedding",
      done,
      total,
    });
  };

  const inFlight: Array<Promise<void>> = [];
  let previous: { writing: Promise<void>; rows: EmbeddingRow[]; texts: number } | undefined;
  const recordPrevious = async (): Promise<void> => {
    if (!previous) return;
    const { writing, rows, texts } = previous;
    previous = undefined;
    await timedAsync(timings, "files", () => writing);
    crashPoint("vector-files:written");
    // Each file was synced before its rename; the folder entries go to disk before any row
    // names them, so a power loss can leave an orphan file but never a row without its file.
    timed(timings, "files", () => ctx.vectors.syncFolders(rows.map(([, , path]) => path)));
    crashPoint("vector-files:synced");
    await record(rows, texts);
  };
  const write = async (
    rows: EmbeddingRow[],
    vectors: Float32Array[],
    texts: number,
  ): Promise<void> => {
    crashPoint("vector-files:before-write");
    const writing = writeFiles(
      rows.map(([, , path], i) => ({
        path: ctx.vectors.absolute(path),
        vector: vectors[i] as Float32Array,
      })),
    );
    inFlight.push(writing);
    await recordPrevious();
    previous = { writing, rows, texts };
  };

  try {
    await embedInChunks(
      imported.questions.map((q) => q.text),
      embedder,
      chunkSize,
      timings,
      lease,
      (start, vectors) => {
        const rows = vectors.map((_, i): EmbeddingRow => {
          const id = (imported.questions[start + i] as { id: number }).id;
          return ["question", id, `${imported.modelDir}/${vectorFileName("question", id)}`];
        });
        return write(rows, vectors, vectors.length);
      },
    );

    const answerVectors: Float32Array[] = [];
    await embedInChunks(
      answerTexts,
      embedder,
      chunkSize,
      timings,
      lease,
      async (_start, vectors) => {
        answerVectors.push(...vectors);
      },
    );
    const rows: EmbeddingRow[] = [];
    const vectors: Float32Array[] = [];
    let next = 0;
    for (const cluster of imported.clusters) {
      const base = answerVectors[next++] as Float32Array;
      // With a variant for this model, the answer vector is the normalized mean of both
      // (docs/ARCHITECTURE.md, ingest).
      vectors.push(
        cluster.variant === undefined
          ? base
          : normalizedMean(base, answerVectors[next++] as Float32Array),
      );
      rows.push([
        "answer",
        cluster.id,
        `${imported.modelDir}/${vectorFileName("answer", cluster.id)}`,
      ]);
    }
    await write(rows, vectors, answerTexts.length);
    await recordPrevious();
  } finally {
    // On failure, let every write land before the caller removes the batch's files.
    await Promise.allSettled(inFlight);
  }
  return imported.questions.length + imported.clusters.length;
}
