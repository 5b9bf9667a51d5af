/**
 * Starts the synthesizer: the `synthesize` stage worker around its handler, with the
 * startup checks, the storage dependency check and the metrics server of `@synood/service-kit`.
 */

import type { SynthesizerConfig } from './config';
import type { SynthesizerDeps } from './deps';
import { handleSynthesize } from './handlers/synthesize';
import {
  type HandlerEntry,
  type RunningService,
  type WorkerServiceOptions,
  startWorkerService,
  workerServiceOptions,
} from '@synood/service-kit';

/** Options of {@link startSynthesizer}. */
export type StartSynthesizerOptions = WorkerServiceOptions;

/** The synthesizer's start options from its configuration (what its process and `synood up` both use). */
export function synthesizerStartOptions(config: SynthesizerConfig): StartSynthesizerOptions {
  return workerServiceOptions(config.runtime, { synthesize: config.concurrency });
}

/** The synthesizer's handler registry: one entry per stage it consumes. */
export function synthesizerHandlers(deps: SynthesizerDeps): HandlerEntry[] {
  return [{ stage: 'synthesize', handler: (payload, ctx) => handleSynthesize(deps, payload, ctx) }];
}

/**
 * Checks the handler registry and model files, then starts the `synthesize` worker and the metrics server.
 *
 * @throws WorkerError `WORKER_ERR_HANDLERS` / `WORKER_ERR_MODEL_MISSING`; QueueError when Redis is down.
 */
export function startSynthesizer(
  deps: SynthesizerDeps,
  options: StartSynthesizerOptions,
): Promise<RunningService> {
  return startWorkerService('synthesizer', synthesizerHandlers(deps), deps, options);
}
