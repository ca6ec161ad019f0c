/**
 * @ldakit/format — the file convention of an ldakit store in one place: model names and their
 * folders, file names and their grammar, paths relative to the store root, and the
 * `mh_<id>.json` projection metadata. No runtime dependencies and no Node.js APIs, so it runs in
 * browsers too; every failure is a {@link FormatError} with a stable code.
 */
export { FormatError, type FormatErrorCode } from "./errors.js";
export {
  adapterFileName,
  EMBEDDING_FILE_ABNF,
  EMBEDDING_FILE_PATTERNS,
  type EmbeddingFileKind,
  type EmbeddingFileName,
  embeddingFileName,
  type HeadFileRole,
  headFileName,
  isTemporaryFileName,
  MAX_ID,
  padId,
  parseEmbeddingFileName,
  projectionMetaFileName,
  type VectorEntityType,
  vectorFileName,
} from "./file-names.js";
export {
  assertModelName,
  isModelName,
  MODEL_NAME_PATTERN,
  modelFolderName,
  modelNameProblem,
} from "./model-name.js";
export {
  answerVectorPath,
  EMBEDDINGS_DIR,
  entityVectorPath,
  headAnswerPath,
  headCentroidPath,
  modelEmbeddingsDir,
  projectionAdapterPath,
  projectionMetaPath,
  questionVectorPath,
} from "./paths.js";
export {
  DEFAULT_BLEND,
  PROJECTION_META_FORMAT,
  PROJECTION_META_FORMATS,
  type ProjectionMeta,
  type ProjectionMetaFormat,
  projectionMetaFormatFor,
  projectionMetaProblems,
  validateProjectionMeta,
} from "./projection-meta.js";
