import type { EmbeddingEntityType } from "@ldakit/schema";
import type { Queries } from "./db/store-db.js";

/** Rows per multi-row statement: under both backends' limits on bound parameters. */
const ROWS_PER_UPSERT = 500;

/** A vector file to record: the entity it belongs to and its store path. */
export interface EmbeddingRecord {
  entityType: EmbeddingEntityType;
  entityId: number;
  vectorPath: string;
}

/**
 * Records vector files in `embeddings`, each replacing the row of the same entity and model: one
 * vector per entity and model (docs/FORMAT.md §5). `records` must not name one entity twice.
 */
export async function upsertEmbeddings(
  q: Queries,
  modelId: number,
  records: readonly EmbeddingRecord[],
): Promise<void> {
  for (let i = 0; i < records.length; i += ROWS_PER_UPSERT) {
    await q
      .insertInto("embeddings")
      .values(
        records.slice(i, i + ROWS_PER_UPSERT).map((r) => ({
          entity_type: r.entityType,
          entity_id: r.entityId,
          model_id: modelId,
          vector_path: r.vectorPath,
        })),
      )
      .onConflict((oc) =>
        oc
          .columns(["model_id", "entity_type", "entity_id"])
          .doUpdateSet((eb) => ({ vector_path: eb.ref("excluded.vector_path") })),
      )
      .execute();
  }
}
