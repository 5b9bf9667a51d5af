/**
 * Starts the captioner: the `caption` stage worker around its handler, with the startup checks, the
 * storage and caption-backend dependency checks and the metrics server of `@synood/service-kit`.
 */
import type { CaptionBackend } from '@synood/captioning';
import type { DependencyCheck } from '@synood/queue';

import type { CaptionerConfig } from './config';
import type { CaptionerDeps } from './deps';
import { handleCaption } from './handlers/caption';
import {
  type HandlerEntry,
  type RunningService,
  type WorkerServiceOptions,
  startWorkerService,
  workerServiceOptions,
} from '@synood/service-kit';

/** Options of {@link startCaptioner}. */
export type StartCaptionerOptions = WorkerServiceOptions;

/** The captioner's start options from its configuration (what its process and `synood up` both use). */
export function captionerStartOptions(config: CaptionerConfig): StartCaptionerOptions {
  return workerServiceOptions(config.runtime, { caption: config.concurrency });
}

/** The captioner's handler registry: one entry per stage it consumes. */
export function captionerHandlers(deps: CaptionerDeps): HandlerEntry[] {
  return [{ stage: 'caption', handler: (payload, ctx) => handleCaption(deps, payload, ctx) }];
}

/** Whether a backend's model server is down: its breaker is open and still cooling down. */
export function backendDown(backend: CaptionBackend): boolean {
  const retryAfterMs = (backend as { retryAfterMs?: unknown }).retryAfterMs;
  return backend.state === 'open' && typeof retryAfterMs === 'number' && retryAfterMs > 0;
}

/**
 * A dependency check over the backends in use: while one is down the worker takes no caption job, and once
 * its cool-down has passed the next job sends the breaker's probe.
 */
export function captionBackendDependency(deps: CaptionerDeps): DependencyCheck {
  return {
    name: 'caption-backend',
    check: () => Promise.resolve(!deps.activeBackends().some(backendDown)),
  };
}

/**
 * Checks the handler registry and model files, then starts the `caption` worker and the metrics server.
 *
 * @throws WorkerError `WORKER_ERR_HANDLERS` / `WORKER_ERR_MODEL_MISSING`; QueueError when Redis is down.
 */
export function startCaptioner(deps: CaptionerDeps, options: StartCaptionerOptions): Promise<RunningService> {
  return startWorkerService('captioner', captionerHandlers(deps), deps, options, [
    captionBackendDependency(deps),
  ]);
}
