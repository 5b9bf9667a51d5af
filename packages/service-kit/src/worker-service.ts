/**
 * @file What the captioner, synthesizer, encoder and trainer share around their own parts: the set-up of
 * their dependencies (logger, metrics, model files checked, ONNX session settings, stores) and their start
 * function (the service runner with the storage dependency and the options every service takes).
 */
import type { CommonConfig } from '@synood/config';
import type { Service, Stage } from '@synood/contracts';
import { type PlatformMetrics, createMetrics } from '@synood/metrics';
import type { DependencyCheck, StageOptionsOverrides } from '@synood/queue';
import { type ArtifactStore, openStore } from '@synood/storage';

import type { WorkerRuntimeConfig } from './env';
import { type ServiceLogger, createLogger } from './logger';
import { type ModelInput, type ModelResolver, modelResolver } from './models';
import {
  type HandlerEntry,
  type RunningService,
  checkModelInputs,
  startService,
  storageDependency,
} from './serve';
import { type StoreCache, storeCache } from './stores';

/** Replacements for the shared parts of a service's dependencies (tests, `synood up`). */
export interface WorkerDepsOverrides {
  metrics?: PlatformMetrics;
  logger?: ServiceLogger;
}

/** ONNX session settings of a service (assignable to `@synood/onnx`'s `SessionConfig`). */
export type WorkerSessionSettings = CommonConfig['onnx'];

/** The dependencies every worker service builds the same way. */
export interface WorkerBaseDeps {
  logger: ServiceLogger;
  metrics: PlatformMetrics;
  /** The resolver the model files were found with. */
  models: ModelResolver;
  /** The model files the service runs on, all present. */
  modelInputs: ModelInput[];
  session: WorkerSessionSettings;
  /** The artifact store of runs (and detectors); the caller closes it. */
  store: ArtifactStore;
  /** Stores named by run specs; the caller closes them. */
  stores: StoreCache;
}

/**
 * The shared part of a worker service's dependencies: the logger and metrics (labelled with `service`,
 * unless overridden), its model files (listed by `inputs` from the resolver, then checked), the ONNX
 * session settings of the runtime, and the stores. The stores are opened only once the model files are
 * found, so a missing file leaves nothing open.
 *
 * @throws WorkerError `WORKER_ERR_MODEL_MISSING` listing every missing model file.
 */
export async function workerBaseDeps(
  service: Service,
  runtime: WorkerRuntimeConfig,
  overrides: WorkerDepsOverrides,
  inputs: (models: ModelResolver) => ModelInput[],
): Promise<WorkerBaseDeps> {
  const logger = overrides.logger ?? createLogger({ service, level: runtime.common.log.level });
  const metrics = overrides.metrics ?? createMetrics({ defaultLabels: { service } });
  const models = await modelResolver(runtime);
  const modelInputs = inputs(models);
  await checkModelInputs(service, modelInputs);
  const { onnx } = runtime.common;
  const session: WorkerSessionSettings = {
    executionProvider: onnx.executionProvider,
    deviceId: onnx.deviceId,
    ...(onnx.intraOpThreads === undefined ? {} : { intraOpThreads: onnx.intraOpThreads }),
  };
  const store = openStore(runtime.common.storage.url, { s3: runtime.s3 });
  const stores = storeCache(runtime.s3);
  return { logger, metrics, models, modelInputs, session, store, stores };
}

/** Options of a worker service's start function (`startEncoder(deps, options)`, …). */
export interface WorkerServiceOptions {
  /** Redis URL. */
  redis: string;
  /** BullMQ key prefix. @defaultValue `synood` */
  prefix?: string;
  /** The `/metrics` listener, or `false` for none. @defaultValue port 9464 on all interfaces */
  metricsServer?: { port: number; host?: string } | false;
  /** Jobs at once per stage. @defaultValue the stage table's (1) */
  concurrency?: Partial<Record<Stage, number>>;
  stageOptions?: StageOptionsOverrides;
  /** Extra dependency checks besides storage. */
  dependencies?: readonly DependencyCheck[];
  dependencyIntervalMs?: number;
  shutdownTimeoutMs?: number;
  /** Release the deps (sessions, stores) when the service closes. @defaultValue true */
  closeDeps?: boolean;
}

/** What the runner needs of a worker service's dependencies. */
export interface WorkerServiceDeps {
  store: ArtifactStore;
  modelInputs: readonly ModelInput[];
  metrics: PlatformMetrics;
  logger: ServiceLogger;
  close(): Promise<void>;
}

/**
 * Starts a worker service through {@link startService}: its handlers, model files, metrics and logger
 * from `deps`; as dependency checks the artifact store, then `serviceDependencies`, then
 * `options.dependencies`; `deps.close()` on close unless `options.closeDeps` is `false`.
 *
 * @throws WorkerError `WORKER_ERR_HANDLERS` / `WORKER_ERR_MODEL_MISSING`; QueueError when Redis is down.
 */
export function startWorkerService(
  service: Service,
  handlers: readonly HandlerEntry[],
  deps: WorkerServiceDeps,
  options: WorkerServiceOptions,
  serviceDependencies: readonly DependencyCheck[] = [],
): Promise<RunningService> {
  return startService({
    service,
    handlers,
    modelInputs: deps.modelInputs,
    redis: options.redis,
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    metrics: deps.metrics,
    logger: deps.logger,
    metricsServer: options.metricsServer ?? { port: 9464 },
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    ...(options.stageOptions === undefined ? {} : { stageOptions: options.stageOptions }),
    dependencies: [storageDependency(deps.store), ...serviceDependencies, ...(options.dependencies ?? [])],
    ...(options.dependencyIntervalMs === undefined
      ? {}
      : { dependencyIntervalMs: options.dependencyIntervalMs }),
    ...(options.shutdownTimeoutMs === undefined ? {} : { shutdownTimeoutMs: options.shutdownTimeoutMs }),
    ...(options.closeDeps === false ? {} : { onClose: () => deps.close() }),
  });
}

/**
 * The start options a worker process derives from its environment: Redis, prefix, the `/metrics`
 * listener, dependency polling, shutdown timeout, stage-option overrides (lock duration, stalled
 * interval) and the given per-stage concurrency. `synood up` starts the same options in one process,
 * with its own Redis, prefix and no metrics listener.
 */
export function workerServiceOptions(
  runtime: WorkerRuntimeConfig,
  concurrency: Partial<Record<Stage, number | undefined>> = {},
): WorkerServiceOptions {
  // Unset entries are dropped: a service leaves the stage table's default where nothing is configured.
  const set: Partial<Record<Stage, number>> = {};
  for (const [stage, value] of Object.entries(concurrency) as [Stage, number | undefined][]) {
    if (value !== undefined) {
      set[stage] = value;
    }
  }
  return {
    redis: runtime.common.redis.url,
    prefix: runtime.queue.prefix,
    metricsServer: runtime.metrics,
    ...(Object.keys(set).length === 0 ? {} : { concurrency: set }),
    dependencyIntervalMs: runtime.dependencyIntervalMs,
    shutdownTimeoutMs: runtime.shutdownTimeoutMs,
    stageOptions: runtime.stageOptions,
  };
}
