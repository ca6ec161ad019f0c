/**
 * Paths of a store's files (docs/FORMAT.md §1): POSIX paths relative to the store root, the
 * folder that holds `lda.db`, exactly as the database stores them. Pure functions, no I/O.
 */
import {
  adapterFileName,
  headFileName,
  projectionMetaFileName,
  type VectorEntityType,
  vectorFileName,
} from "./file-names.js";
import { modelFolderName } from "./model-name.js";

/** The folder under the store root that holds one folder per model. */
export const EMBEDDINGS_DIR = "embeddings";

/** `embeddings/<model folder>` */
export function modelEmbeddingsDir(model: string): string {
  return `${EMBEDDINGS_DIR}/${modelFolderName(model)}`;
}

/** `embeddings/<model folder>/q_<question id, ≥ 3 digits>.npy` */
export function questionVectorPath(model: string, questionId: number): string {
  return entityVectorPath(model, "question", questionId);
}

/** `embeddings/<model folder>/a_<cluster id, ≥ 3 digits>.npy` */
export function answerVectorPath(model: string, clusterId: number): string {
  return entityVectorPath(model, "answer", clusterId);
}

/** The vector file of a question (`q_…`) or of a cluster's answer (`a_…`, the id is the cluster id). */
export function entityVectorPath(
  model: string,
  entityType: VectorEntityType,
  entityId: number,
): string {
  return `${modelEmbeddingsDir(model)}/${vectorFileName(entityType, entityId)}`;
}

/** `embeddings/<model folder>/mh_<projection id>_cluster_<cluster id>_centroid.npy` */
export function headCentroidPath(model: string, mhProjectionId: number, clusterId: number): string {
  return `${modelEmbeddingsDir(model)}/${headFileName(mhProjectionId, clusterId, "centroid")}`;
}

/** `embeddings/<model folder>/mh_<projection id>_cluster_<cluster id>_answer.npy` */
export function headAnswerPath(model: string, mhProjectionId: number, clusterId: number): string {
  return `${modelEmbeddingsDir(model)}/${headFileName(mhProjectionId, clusterId, "answer")}`;
}

/** `embeddings/<model folder>/mh_<projection id>.json`, the projection's metadata. */
export function projectionMetaPath(model: string, mhProjectionId: number): string {
  return `${modelEmbeddingsDir(model)}/${projectionMetaFileName(mhProjectionId)}`;
}

/** `embeddings/<model folder>/mh_<projection id>_W.npy`, the projection's query adapter W. */
export function projectionAdapterPath(model: string, mhProjectionId: number): string {
  return `${modelEmbeddingsDir(model)}/${adapterFileName(mhProjectionId)}`;
}
