/**
 * Starts the trainer: one stage worker per consumed stage (`assign`, `train-projection`, `train-labels`,
 * `evaluate`, `publish`) around its handler, with the startup checks, the storage dependency check and the
 * metrics server of `@synood/service-kit`.
 */

import type { TrainerConfig } from './config';
import type { TrainerDeps } from './deps';
import { handleAssign } from './handlers/assign';
import { handleEvaluate } from './handlers/evaluate';
import { handlePublish } from './handlers/publish';
import { handleTrainLabels } from './handlers/train-labels';
import { handleTrainProjection } from './handlers/train-projection';
import {
  type HandlerEntry,
  type RunningService,
  type WorkerServiceOptions,
  startWorkerService,
  workerServiceOptions,
} from '@synood/service-kit';

/** Options of {@link startTrainer}. */
export type StartTrainerOptions = WorkerServiceOptions;

/** The trainer's start options from its configuration (what its process and `synood up` both use). */
export function trainerStartOptions(config: TrainerConfig): StartTrainerOptions {
  return workerServiceOptions(config.runtime, {
    assign: config.concurrency,
    'train-projection': config.concurrency,
    'train-labels': config.concurrency,
    evaluate: config.concurrency,
    publish: config.concurrency,
  });
}

/** The trainer's handler registry: one entry per stage it consumes. */
export function trainerHandlers(deps: TrainerDeps): HandlerEntry[] {
  return [
    { stage: 'assign', handler: (payload, ctx) => handleAssign(deps, payload, ctx) },
    { stage: 'train-projection', handler: (payload, ctx) => handleTrainProjection(deps, payload, ctx) },
    { stage: 'train-labels', handler: (payload, ctx) => handleTrainLabels(deps, payload, ctx) },
    { stage: 'evaluate', handler: (payload, ctx) => handleEvaluate(deps, payload, ctx) },
    { stage: 'publish', handler: (payload, ctx) => handlePublish(deps, payload, ctx) },
  ];
}

/**
 * Checks the handler registry and model files, then starts the trainer's workers and the metrics server.
 *
 * @throws WorkerError `WORKER_ERR_HANDLERS` / `WORKER_ERR_MODEL_MISSING`; QueueError when Redis is down.
 */
export function startTrainer(deps: TrainerDeps, options: StartTrainerOptions): Promise<RunningService> {
  return startWorkerService('trainer', trainerHandlers(deps), deps, options);
}
