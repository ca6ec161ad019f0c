import type { Embedder } from "@ldakit/embed";
import { Projection } from "@ldakit/search";
import type { LDAProjectionDB } from "@ldakit/store";
import { TrainError } from "./errors.js";
import { type Metrics, metricsOfRanks } from "./math.js";

/** A query with the record id of the cluster that answers it (what `parseQueryJson` gives). */
export interface LabelledQueryInput {
  text: string;
  recordId: string;
}

export interface QueryEvaluation {
  mhProjectionId: number;
  model: string;
  temperature: number;
  /** Metrics of direct search (cos(q, a_j)) and of projected search, over the same queries. */
  direct: Metrics;
  projected: Metrics;
  /**
   * The same heads and τ with no adapter and β = 1 — the book's projection — over the same
   * queries: what the adapter and the blend add. Equal to `projected` for a projection without them.
   */
  projectedWithoutAdapter: Metrics;
  /** The projection's blend β and whether it has an adapter. */
  blend: number;
  hasAdapter: boolean;
  /** Record ids of queries that no head of the projection answers (those queries are skipped). */
  unmatchedIds: string[];
}

/**
 * Scores a stored projection on labelled queries: each query's expected answer is the head whose
 * cluster has the query's record id. The queries are embedded with `embedder` (which must be the
 * projection's model) and ranked against every answer, by projected and by direct search.
 * Throws when no query's id matches a head of the projection.
 */
export async function evaluateQueries(
  db: LDAProjectionDB,
  mhProjectionId: number,
  queries: LabelledQueryInput[],
  embedder: Embedder,
): Promise<QueryEvaluation> {
  const projection = await db.loadProjection(mhProjectionId);
  if (embedder.name !== projection.model) {
    throw new TrainError(
      "MODEL_MISMATCH",
      `projection ${mhProjectionId} was trained on ${projection.model} vectors; the queries must be embedded with it, not with ${embedder.name}`,
    );
  }
  const clusterOfRecord = new Map<string, number>();
  for (const c of await db.listClusters()) {
    if (projection.headIndex(c.cluster_id) !== undefined && c.answer_record_id !== null)
      clusterOfRecord.set(c.answer_record_id, c.cluster_id);
  }
  const labelled = queries.filter((q) => clusterOfRecord.has(q.recordId));
  const unmatchedIds = [
    ...new Set(queries.filter((q) => !clusterOfRecord.has(q.recordId)).map((q) => q.recordId)),
  ];
  if (labelled.length === 0) {
    throw new TrainError(
      "NO_MATCHING_QUERIES",
      `none of the ${queries.length} queries' ids match an answer of projection ${mhProjectionId} (ids such as ${unmatchedIds.slice(0, 3).join(", ")})`,
    );
  }
  const vectors = await embedder.embed(labelled.map((q) => q.text));
  const topK = projection.numHeads;
  const ranks = (results: Array<{ results: Array<{ clusterId: number }> }>) =>
    results.map((r, i) => {
      const expected = clusterOfRecord.get((labelled[i] as LabelledQueryInput).recordId);
      return r.results.findIndex((h) => h.clusterId === expected) + 1;
    });
  const projected = metricsOfRanks(ranks(projection.searchBatch(vectors, { topK })));
  const book =
    projection.adapter === null && projection.blend === 1
      ? projected
      : metricsOfRanks(
          ranks(
            Projection.fromArrays({
              mhProjectionId,
              model: projection.model,
              temperature: projection.temperature,
              clusterIds: projection.clusterIds,
              centroids: projection.centroids,
              answers: projection.answers,
              dimensions: projection.dimensions,
            }).searchBatch(vectors, { topK }),
          ),
        );
  return {
    mhProjectionId,
    model: projection.model,
    temperature: projection.temperature,
    direct: metricsOfRanks(ranks(projection.directSearchBatch(vectors, { topK }))),
    projected,
    projectedWithoutAdapter: book,
    blend: projection.blend,
    hasAdapter: projection.adapter !== null,
    unmatchedIds,
  };
}
