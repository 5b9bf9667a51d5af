/**
 * The trainer service (design §2 stages 5–9): negative assignment (`assign`), the projection and label
 * trainers (`train-projection`, `train-labels`), evaluation against the OOD sets with the baselines
 * (`evaluate`) and the detector bundle (`publish`). Exports what `synood up` and tests need to run it
 * in-process: config, deps, handlers and the start function.
 * @packageDocumentation
 */
export { type TrainerConfig, loadTrainerConfig, trainerEnvShape } from './config';
export { type TrainerDeps, type TrainerDepsOverrides, createTrainerDeps } from './deps';
export { handleAssign } from './handlers/assign';
export { handleTrainProjection } from './handlers/train-projection';
export { handleTrainLabels } from './handlers/train-labels';
export { EVALUATION_METHODS, type EvaluationMethod, handleEvaluate, listOodSet } from './handlers/evaluate';
export { DETECTOR_FILES, type DetectorRef, handlePublish } from './handlers/publish';
export { METHOD_NAMES, escapeHtml, renderReport, type ReportContext } from './report';
export {
  MINE_RAW_NEGATIVES,
  PROJECTION_LN_EPS,
  assembleDetector,
  effectiveGroups,
  groupingSeed,
  loadProjection,
  projectionBytes,
} from './run-data';
export { type StartTrainerOptions, startTrainer, trainerHandlers, trainerStartOptions } from './worker';
export { WorkerError, WorkerErrorCode } from '@synood/service-kit';
export { type LogLevel, type ServiceLogger, createLogger } from '@synood/service-kit';
export { type RunningService, checkHandlers, consumedStages } from '@synood/service-kit';
export { EXIT_CONFIG, EXIT_FAILURE, exitCodeOf } from '@synood/service-kit';
