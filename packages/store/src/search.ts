import { Projection } from "@ldakit/search";
import type { StoreContext } from "./context.js";
import { StoreError } from "./errors.js";

/** One ranked answer of a search through the store: the head's cluster and its stored answer. */
export interface StoreSearchHit {
  clusterId: number;
  answerRecordId: string | null;
  answerText: string;
  /**
   * cos(b̂, a_j) for a projected search, b̂ being the projected vector blended with the query by
   * the projection's β (the projected vector itself when β = 1); cos(q, a_j) for a direct one
   * (docs/FORMAT.md §6).
   */
  score: number;
}

/**
 * The routing weight of one head, as `@ldakit/search` gives it (without the head index): computed
 * from the adapted query `normalize(W q)` when the projection has an adapter.
 */
export interface StoreRoutingWeight {
  clusterId: number;
  weight: number;
}

export interface StoreSearchResult {
  /** The projection that moved the query; `null` for a direct search, which uses none. */
  mhProjectionId: number | null;
  /** Best first; ties broken by the smaller cluster id. */
  results: StoreSearchHit[];
  /** The strongest routing weights, largest first (empty for a direct search). */
  routing: StoreRoutingWeight[];
  /**
   * The store-relative path of the query adapter W that routed the query (`mh_<id>_W.npy`);
   * `null` when the projection has none, and for a direct search.
   */
  adapterPath: string | null;
  /** The β the projected vector was blended with the query (1: not blended); `null` for a direct search. */
  blend: number | null;
}

export interface StoreSearchOptions {
  /** How many answers to return (default 5; more than the number of heads returns them all). */
  topK?: number;
}

/** Projections loaded from the database, per store, by id: they never change once written. */
const loaded = new WeakMap<StoreContext, Map<number, StoredProjection>>();

interface StoredProjection {
  projection: Projection;
  adapterPath: string | null;
}

/**
 * Loads a projection from the database: its row, its heads and their vector files, and its
 * adapter file and blend when the row records them (docs/FORMAT.md §6).
 */
export async function loadStoredProjection(
  ctx: StoreContext,
  mhProjectionId: number,
): Promise<Projection> {
  return (await loadStored(ctx, mhProjectionId)).projection;
}

async function loadStored(ctx: StoreContext, mhProjectionId: number): Promise<StoredProjection> {
  let cache = loaded.get(ctx);
  if (!cache) {
    cache = new Map();
    loaded.set(ctx, cache);
  }
  const hit = cache.get(mhProjectionId);
  if (hit) return hit;
  const row = await ctx.kysely
    .selectFrom("multi_head_projections")
    .innerJoin("models", "models.model_id", "multi_head_projections.model_id")
    .select([
      "multi_head_projections.temperature",
      "multi_head_projections.adapter_path",
      "multi_head_projections.blend",
      "models.name",
      "models.dimensions",
    ])
    .where("mh_projection_id", "=", mhProjectionId)
    .executeTakeFirst();
  if (!row)
    throw new StoreError(
      "PROJECTION_NOT_FOUND",
      `there is no projection ${mhProjectionId} in ${ctx.path}; \`ldakit stats\` lists them`,
    );
  const heads = await ctx.kysely
    .selectFrom("cluster_heads")
    .select(["cluster_id", "centroid_path", "answer_emb_path"])
    .where("mh_projection_id", "=", mhProjectionId)
    .orderBy("head_id")
    .execute();
  const projection = Projection.fromArrays({
    mhProjectionId,
    model: row.name,
    temperature: row.temperature,
    dimensions: row.dimensions,
    clusterIds: heads.map((h) => h.cluster_id),
    centroids: heads.map((h) => ctx.vectors.read(h.centroid_path, row.dimensions)),
    answers: heads.map((h) => ctx.vectors.read(h.answer_emb_path, row.dimensions)),
    adapter:
      row.adapter_path === null
        ? null
        : ctx.vectors.readMatrix(
            row.adapter_path,
            row.dimensions,
            row.dimensions,
            `query adapter of projection ${mhProjectionId}`,
          ),
    blend: row.blend ?? 1,
  });
  const stored = { projection, adapterPath: row.adapter_path };
  cache.set(mhProjectionId, stored);
  return stored;
}

/** The newest projection, of one model or of any; undefined when there is none. */
export async function latestProjectionId(
  ctx: StoreContext,
  model?: string,
): Promise<number | undefined> {
  let query = ctx.kysely
    .selectFrom("multi_head_projections")
    .innerJoin("models", "models.model_id", "multi_head_projections.model_id")
    .select("mh_projection_id")
    .orderBy("mh_projection_id", "desc")
    .limit(1);
  if (model !== undefined) query = query.where("models.name", "=", model);
  return (await query.executeTakeFirst())?.mh_projection_id;
}

async function withAnswers(
  ctx: StoreContext,
  used: { mhProjectionId: number; adapterPath: string | null; blend: number } | null,
  hits: Array<{ clusterId: number; score: number }>,
  routing: Array<{ clusterId: number; weight: number }>,
): Promise<StoreSearchResult> {
  const ids = hits.map((h) => h.clusterId);
  const clusters = new Map(
    ids.length === 0
      ? []
      : (
          await ctx.kysely
            .selectFrom("clusters")
            .select(["cluster_id", "answer_record_id", "answer_text"])
            .where("cluster_id", "in", ids)
            .execute()
        ).map((c) => [c.cluster_id, c] as const),
  );
  return {
    mhProjectionId: used?.mhProjectionId ?? null,
    results: hits.map((h) => ({
      clusterId: h.clusterId,
      answerRecordId: clusters.get(h.clusterId)?.answer_record_id ?? null,
      answerText: clusters.get(h.clusterId)?.answer_text ?? "",
      score: h.score,
    })),
    routing: routing.map((r) => ({ clusterId: r.clusterId, weight: r.weight })),
    adapterPath: used?.adapterPath ?? null,
    blend: used?.blend ?? null,
  };
}

/** Ranks the projection's answers for a query embedding moved into answer space (docs/FORMAT.md §6). */
export async function searchWithProjection(
  ctx: StoreContext,
  queryEmbedding: ArrayLike<number>,
  mhProjectionId: number,
  options: StoreSearchOptions = {},
): Promise<StoreSearchResult> {
  const { projection, adapterPath } = await loadStored(ctx, mhProjectionId);
  const { results, routing } = projection.search(queryEmbedding, { topK: options.topK ?? 5 });
  return withAnswers(
    ctx,
    { mhProjectionId, adapterPath, blend: projection.blend },
    results,
    routing,
  );
}

/** Direct cosine search against the same answers, without the projection: for comparison. */
export async function directSearch(
  ctx: StoreContext,
  queryEmbedding: ArrayLike<number>,
  mhProjectionId: number,
  options: StoreSearchOptions = {},
): Promise<StoreSearchResult> {
  const { results } = (await loadStoredProjection(ctx, mhProjectionId)).directSearch(
    queryEmbedding,
    {
      topK: options.topK ?? 5,
    },
  );
  return withAnswers(ctx, null, results, []);
}
