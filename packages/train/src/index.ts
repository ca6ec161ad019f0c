export {
  type AdapterTrainingOptions,
  type AdapterTrainingResult,
  adapterObjective,
  DEFAULT_ADAPTER_LEARNING_RATE,
  type LabelledQuestions,
  trainAdapter,
} from "./adapter.js";
export { TrainError, type TrainErrorCode } from "./errors.js";
export {
  assignFolds,
  type CentroidMethod,
  computeCentroids,
  evaluateHeldOut,
  type HeldOutOptions,
  type HeldOutResult,
  type Metrics,
  metricsOfRanks,
  rankOfExpected,
  selectHeldOut,
  TEMPERATURE_RANGE,
  temperatureProblem,
} from "./math.js";
export {
  evaluateQueries,
  type LabelledQueryInput,
  type QueryEvaluation,
} from "./queries.js";
export {
  type AdapterKind,
  type AdapterTarget,
  adapterUnavailable,
  type Choice,
  type ChoicePoint,
  DEFAULT_ADAPTER_TARGETS,
  DEFAULT_BLEND_GRID,
  DEFAULT_LAMBDA_GRID,
  evaluateSelection,
  pickChoice,
  type SelectionOptions,
  type SelectionResult,
} from "./selection.js";
export {
  DEFAULT_TEMPERATURE_GRID,
  pickTemperature,
  type Selection,
  selectionRecord,
  type TrainOptions,
  type TrainResult,
  trainProjection,
} from "./train.js";
