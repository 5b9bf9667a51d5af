/**
 * The synthesizer service (design §2 stage 2): near-boundary OOD images by SynOOD's gradient-guided
 * inpainting (`synthesize`). Exports what `synood up` and tests need to run it in-process: config, deps,
 * the handler and the start function.
 * @packageDocumentation
 */
export { type SynthesizerConfig, loadSynthesizerConfig, synthesizerEnvShape } from './config';
export {
  type SynthesisSettings,
  type SynthesizerDeps,
  type SynthesizerDepsOverrides,
  createSynthesizerDeps,
  loadPromptTokenizer,
} from './deps';
export { handleSynthesize } from './handlers/synthesize';
export {
  type StartSynthesizerOptions,
  startSynthesizer,
  synthesizerHandlers,
  synthesizerStartOptions,
} from './worker';
export { WorkerError, WorkerErrorCode } from '@synood/service-kit';
export { type LogLevel, type ServiceLogger, createLogger } from '@synood/service-kit';
export { type RunningService, checkHandlers, consumedStages } from '@synood/service-kit';
export { EXIT_CONFIG, EXIT_FAILURE, exitCodeOf } from '@synood/service-kit';
