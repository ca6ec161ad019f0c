import { Projection } from "@ldakit/search";
import type { LDAProjectionDB } from "./db.js";

/** One ranked answer of a search through the store: the cluster and its stored answer. */
export interface StoreSearchHit {
  cluster_id: number;
  answer_record_id: string | null;
  answer_text: string;
  score: number;
}

export interface StoreSearchResult {
  mh_projection_id: number;
  results: StoreSearchHit[];
  /** The strongest routing weights (projected search only). */
  routing: Array<{ cluster_id: number; weight: number }>;
}

/** Projections loaded from the database, per store, by id: they never change once written. */
const loaded = new WeakMap<LDAProjectionDB, Map<number, Projection>>();

/** Loads a projection from the database: its row, its heads and their vector files. */
export function loadStoredProjection(db: LDAProjectionDB, mhProjectionId: number): Projection {
  let cache = loaded.get(db);
  if (!cache) {
    cache = new Map();
    loaded.set(db, cache);
  }
  const hit = cache.get(mhProjectionId);
  if (hit) return hit;
  const row = db.sql.first(
    db.kysely
      .selectFrom("multi_head_projections")
      .innerJoin("models", "models.model_id", "multi_head_projections.model_id")
      .select(["multi_head_projections.temperature", "models.name", "models.dimensions"])
      .where("mh_projection_id", "=", mhProjectionId),
  );
  if (!row)
    throw new Error(
      `there is no projection ${mhProjectionId} in ${db.path}; \`ldakit stats\` lists them`,
    );
  const heads = db.sql.all(
    db.kysely
      .selectFrom("cluster_heads")
      .select(["cluster_id", "centroid_path", "answer_emb_path"])
      .where("mh_projection_id", "=", mhProjectionId)
      .orderBy("head_id"),
  );
  const projection = Projection.fromArrays({
    mhProjectionId,
    model: row.name,
    temperature: row.temperature,
    dimensions: row.dimensions,
    clusterIds: heads.map((h) => h.cluster_id),
    centroids: heads.map((h) => db.vectors.read(h.centroid_path, row.dimensions)),
    answers: heads.map((h) => db.vectors.read(h.answer_emb_path, row.dimensions)),
  });
  cache.set(mhProjectionId, projection);
  return projection;
}

/** The newest projection, of one model or of any; undefined when there is none. */
export function latestProjectionId(db: LDAProjectionDB, model?: string): number | undefined {
  let query = db.kysely
    .selectFrom("multi_head_projections")
    .innerJoin("models", "models.model_id", "multi_head_projections.model_id")
    .select("mh_projection_id")
    .orderBy("mh_projection_id", "desc")
    .limit(1);
  if (model !== undefined) query = query.where("models.name", "=", model);
  return db.sql.first(query)?.mh_projection_id;
}

function withAnswers(
  db: LDAProjectionDB,
  mhProjectionId: number,
  hits: Array<{ clusterId: number; score: number }>,
  routing: Array<{ clusterId: number; weight: number }>,
): StoreSearchResult {
  const ids = hits.map((h) => h.clusterId);
  const clusters = new Map(
    ids.length === 0
      ? []
      : db.sql
          .all(
            db.kysely
              .selectFrom("clusters")
              .select(["cluster_id", "answer_record_id", "answer_text"])
              .where("cluster_id", "in", ids),
          )
          .map((c) => [c.cluster_id, c] as const),
  );
  return {
    mh_projection_id: mhProjectionId,
    results: hits.map((h) => ({
      cluster_id: h.clusterId,
      answer_record_id: clusters.get(h.clusterId)?.answer_record_id ?? null,
      answer_text: clusters.get(h.clusterId)?.answer_text ?? "",
      score: h.score,
    })),
    routing: routing.map((r) => ({ cluster_id: r.clusterId, weight: r.weight })),
  };
}

/** DESIGN §8: ranks the projection's answers for a query embedding moved into answer space. */
export function searchWithProjection(
  db: LDAProjectionDB,
  queryEmbedding: ArrayLike<number>,
  mhProjectionId: number,
  topK = 5,
): StoreSearchResult {
  const { results, routing } = loadStoredProjection(db, mhProjectionId).search(queryEmbedding, {
    topK,
  });
  return withAnswers(db, mhProjectionId, results, routing);
}

/** Direct cosine search against the same answers, without the projection: for comparison. */
export function directSearch(
  db: LDAProjectionDB,
  queryEmbedding: ArrayLike<number>,
  mhProjectionId: number,
  topK = 5,
): StoreSearchResult {
  const { results } = loadStoredProjection(db, mhProjectionId).directSearch(queryEmbedding, {
    topK,
  });
  return withAnswers(db, mhProjectionId, results, []);
}
