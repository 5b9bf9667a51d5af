/**
 * Starts the encoder: one stage worker per consumed stage (`encode`, `mine`) around its handler, with the
 * startup checks, the storage dependency check and the metrics server of `@synood/service-kit`.
 */

import type { EncoderConfig } from './config';
import type { EncoderDeps } from './deps';
import { handleEncode } from './handlers/encode';
import { handleMine } from './handlers/mine';
import {
  type HandlerEntry,
  type RunningService,
  type WorkerServiceOptions,
  startWorkerService,
  workerServiceOptions,
} from '@synood/service-kit';

/** Options of {@link startEncoder}. */
export type StartEncoderOptions = WorkerServiceOptions;

/** The encoder's start options from its configuration (what its process and `synood up` both use). */
export function encoderStartOptions(config: EncoderConfig): StartEncoderOptions {
  return workerServiceOptions(config.runtime, {
    encode: config.concurrency.encode,
    mine: config.concurrency.mine,
  });
}

/** The encoder's handler registry: one entry per stage it consumes. */
export function encoderHandlers(deps: EncoderDeps): HandlerEntry[] {
  return [
    { stage: 'encode', handler: (payload, ctx) => handleEncode(deps, payload, ctx) },
    { stage: 'mine', handler: (payload, ctx) => handleMine(deps, payload, ctx) },
  ];
}

/**
 * Checks the handler registry and model files, then starts the `encode` and `mine` workers and the
 * metrics server.
 *
 * @throws WorkerError `WORKER_ERR_HANDLERS` / `WORKER_ERR_MODEL_MISSING`; QueueError when Redis is down.
 */
export function startEncoder(deps: EncoderDeps, options: StartEncoderOptions): Promise<RunningService> {
  return startWorkerService('encoder', encoderHandlers(deps), deps, options);
}
