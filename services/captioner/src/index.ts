/**
 * The captioner service (design §2 stage 1): the context elements of every InD image and its inpainting
 * prompt (`caption`). Exports what `synood up` and tests need to run it in-process: config, deps, the
 * handler and the start function.
 * @packageDocumentation
 */
export {
  CAPTION_BACKENDS,
  type CaptionBackendName,
  type CaptionerConfig,
  captionerEnvShape,
  loadCaptionerConfig,
} from './config';
export {
  type CaptionSettings,
  type CaptionerDeps,
  type CaptionerDepsOverrides,
  TAG_FEATURE_CACHE_PREFIX,
  createCaptionerDeps,
  storeFeatureCache,
} from './deps';
export { type CaptionLine, handleCaption } from './handlers/caption';
export {
  type StartCaptionerOptions,
  backendDown,
  captionBackendDependency,
  captionerHandlers,
  captionerStartOptions,
  startCaptioner,
} from './worker';
export { WorkerError, WorkerErrorCode } from '@synood/service-kit';
export { type LogLevel, type ServiceLogger, createLogger } from '@synood/service-kit';
export { type RunningService, checkHandlers, consumedStages } from '@synood/service-kit';
export { EXIT_CONFIG, EXIT_FAILURE, exitCodeOf } from '@synood/service-kit';
