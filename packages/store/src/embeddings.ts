import type { Database, EmbeddingEntityType } from "@ldakit/schema";
import type { Kysely } from "kysely";

/**
 * The statement that records a vector file in `embeddings`, replacing the row of the same entity
 * and model: one vector per entity and model (docs/FORMAT.md §5).
 */
export function upsertEmbedding(
  kysely: Kysely<Database>,
  entityType: EmbeddingEntityType,
  entityId: number,
  modelId: number,
  vectorPath: string,
) {
  return kysely
    .insertInto("embeddings")
    .values({
      entity_type: entityType,
      entity_id: entityId,
      model_id: modelId,
      vector_path: vectorPath,
    })
    .onConflict((oc) =>
      oc.columns(["model_id", "entity_type", "entity_id"]).doUpdateSet({ vector_path: vectorPath }),
    );
}
