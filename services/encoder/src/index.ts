/**
 * The encoder service (design §2 stages 3–4): CLIP image features of every shard's InD and synthetic
 * images (`encode`), and NegLabel negative mining (`mine`). Exports what `synood up` and tests need to run
 * it in-process: config, deps, handlers and the start function.
 * @packageDocumentation
 */
export { type EncoderConfig, encoderEnvShape, loadEncoderConfig } from './config';
export {
  type CandidateOptions,
  type EncoderDeps,
  type EncoderDepsOverrides,
  createEncoderDeps,
} from './deps';
export { handleEncode } from './handlers/encode';
export {
  MINE_RAW_NEGATIVES,
  TEXT_FEATURE_CACHE_PREFIX,
  fillTemplate,
  handleMine,
  textFeatureKey,
} from './handlers/mine';
export { type StartEncoderOptions, encoderHandlers, startEncoder, encoderStartOptions } from './worker';
export { WorkerError, WorkerErrorCode } from '@synood/service-kit';
export { type LogLevel, type ServiceLogger, createLogger } from '@synood/service-kit';
export { type RunningService, checkHandlers, consumedStages } from '@synood/service-kit';
export { EXIT_CONFIG, EXIT_FAILURE, exitCodeOf } from '@synood/service-kit';
