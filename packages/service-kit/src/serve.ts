/**
 * @file Running a worker service (style guide §7.3–7.4), shared verbatim by the captioner, synthesizer,
 * encoder and trainer:
 * - startup checks: every stage the service consumes (`STAGE_SERVICE` of the contracts) has exactly one
 *   handler and no handler serves another service's stage; every model file it needs exists. Both fail
 *   fast with one coded error listing every problem, before any job is taken;
 * - one `startStageWorker` per consumed stage, with the storage health check as a dependency (a store that
 *   is down pauses consumption instead of burning jobs);
 * - `/metrics`, `/healthz` (the process is up) and `/readyz` (no worker paused) on one small HTTP server;
 * - graceful shutdown on SIGTERM/SIGINT.
 */
import { access } from 'node:fs/promises';

import { STAGES, STAGE_SERVICE, type Service, type Stage } from '@synood/contracts';
import { type MetricsServer, type PlatformMetrics, startMetricsServer } from '@synood/metrics';
import {
  type DependencyCheck,
  type StageHandler,
  type StageOptionsOverrides,
  type StageWorker,
  startStageWorker,
} from '@synood/queue';
import type { ArtifactStore } from '@synood/storage';

import { WorkerError, WorkerErrorCode } from './errors';
import type { ServiceLogger } from './logger';
import type { ModelInput } from './models';

/** A stage and the handler of its jobs. */
export type HandlerEntry = { [S in Stage]: { stage: S; handler: StageHandler<S> } }[Stage];

/** The stages whose queues `service` consumes, in pipeline order. */
export function consumedStages(service: Service): Stage[] {
  return STAGES.filter((s) => STAGE_SERVICE[s] === service);
}

/**
 * Checks that `entries` has exactly one handler for each stage `service` consumes and none for other stages.
 *
 * @throws WorkerError `WORKER_ERR_HANDLERS` listing every gap, duplicate and foreign stage.
 */
export function checkHandlers(service: Service, entries: readonly HandlerEntry[]): void {
  const wanted = consumedStages(service);
  const problems: string[] = [];
  for (const stage of wanted) {
    const n = entries.filter((e) => e.stage === stage).length;
    if (n === 0) {
      problems.push(`stage ${stage} has no handler`);
    } else if (n > 1) {
      problems.push(`stage ${stage} has ${n} handlers`);
    }
  }
  for (const e of entries) {
    if (!wanted.includes(e.stage)) {
      problems.push(`stage ${e.stage} belongs to the ${STAGE_SERVICE[e.stage]} service, not ${service}`);
    }
  }
  if (problems.length > 0) {
    throw new WorkerError(
      WorkerErrorCode.Handlers,
      `${service}: the handler registry does not match its stages (${wanted.join(', ')}): ${problems.join('; ')}`,
    );
  }
}

/**
 * Checks that every model file exists.
 *
 * @throws WorkerError `WORKER_ERR_MODEL_MISSING` listing every missing file with its role.
 */
export async function checkModelInputs(service: Service, inputs: readonly ModelInput[]): Promise<void> {
  const missing: string[] = [];
  for (const input of inputs) {
    try {
      await access(input.path);
    } catch {
      missing.push(`${input.role}: ${input.path}`);
    }
  }
  if (missing.length > 0) {
    throw new WorkerError(
      WorkerErrorCode.ModelMissing,
      `${service}: model files are missing: ${missing.join('; ')}. Run \`synood models pull\` (or set the ` +
        `service's model path variables) and start again`,
    );
  }
}

/** A dependency check that the artifact store answers (a missing key is an answer). */
export function storageDependency(store: ArtifactStore): DependencyCheck {
  return {
    name: 'storage',
    check: async () => {
      await store.exists('health/probe');
      return true;
    },
  };
}

/** Options of {@link startService}. */
export interface StartServiceOptions {
  service: Service;
  handlers: readonly HandlerEntry[];
  /** Model files checked before any worker starts. */
  modelInputs: readonly ModelInput[];
  /** Redis URL. */
  redis: string;
  /** BullMQ key prefix. @defaultValue the queue package's default */
  prefix?: string;
  metrics: PlatformMetrics;
  logger: ServiceLogger;
  /** The `/metrics` listener; `false` for none (tests, `synood up` serving one combined endpoint). */
  metricsServer: { port: number; host?: string } | false;
  /** Jobs at once per stage; the stage table's default otherwise. */
  concurrency?: Partial<Record<Stage, number>>;
  /** Overrides of the stage option table. */
  stageOptions?: StageOptionsOverrides;
  /** Checked while the workers run; any failing pauses consumption. */
  dependencies?: readonly DependencyCheck[];
  /** @defaultValue the harness default (5 s) */
  dependencyIntervalMs?: number;
  /** @defaultValue the harness default (30 s) */
  shutdownTimeoutMs?: number;
  /** Runs after the workers and the server stopped (release sessions, close stores). */
  onClose?: () => Promise<void>;
}

/** A started service. */
export interface RunningService {
  readonly service: Service;
  /** One worker per consumed stage, in pipeline order. */
  readonly workers: readonly StageWorker[];
  /** The metrics server, when started. */
  readonly metricsServer: MetricsServer | undefined;
  /** Stops taking jobs, lets active ones finish (or hands them back), stops the server, runs `onClose`. */
  close(): Promise<void>;
}

/**
 * Runs the startup checks, then starts one stage worker per handler and the metrics server.
 *
 * @throws WorkerError `WORKER_ERR_HANDLERS` / `WORKER_ERR_MODEL_MISSING` from the checks; QueueError
 * `QUEUE_ERR_UNAVAILABLE` when Redis does not answer; the listen error of the metrics server. Workers
 * started before a failure are closed again.
 */
export async function startService(options: StartServiceOptions): Promise<RunningService> {
  checkHandlers(options.service, options.handlers);
  await checkModelInputs(options.service, options.modelInputs);
  const { logger } = options;
  const workers: StageWorker[] = [];
  let metricsServer: MetricsServer | undefined;
  try {
    for (const entry of options.handlers) {
      const concurrency = options.concurrency?.[entry.stage];
      workers.push(
        await startStageWorker({
          stage: entry.stage,
          handler: entry.handler as StageHandler<Stage>,
          connection: options.redis,
          ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
          ...(concurrency === undefined ? {} : { concurrency }),
          ...(options.stageOptions === undefined ? {} : { options: options.stageOptions }),
          metrics: options.metrics,
          logger,
          dependencies: options.dependencies ?? [],
          ...(options.dependencyIntervalMs === undefined
            ? {}
            : { dependencyIntervalMs: options.dependencyIntervalMs }),
          ...(options.shutdownTimeoutMs === undefined
            ? {}
            : { shutdownTimeoutMs: options.shutdownTimeoutMs }),
        }),
      );
    }
    if (options.metricsServer !== false) {
      metricsServer = await startMetricsServer({
        port: options.metricsServer.port,
        ...(options.metricsServer.host === undefined ? {} : { host: options.metricsServer.host }),
        metrics: options.metrics,
        health: () => ({ ok: true, details: { service: options.service } }),
        ready: () => {
          const paused = workers.filter((w) => w.isPaused()).map((w) => w.stage);
          return { ok: paused.length === 0, details: { service: options.service, paused } };
        },
        onError: (error, where) => {
          logger.warn({ err: error, where }, 'metrics server request failed');
        },
      });
    }
  } catch (error) {
    await Promise.allSettled(workers.map((w) => w.close({ timeoutMs: 0 })));
    await options.onClose?.().catch(() => undefined);
    throw error;
  }
  logger.info(
    { stages: workers.map((w) => w.stage), metrics: metricsServer?.url ?? null },
    `${options.service} started`,
  );
  let closing: Promise<void> | undefined;
  return {
    service: options.service,
    workers,
    metricsServer,
    close() {
      closing ??= (async () => {
        await Promise.all(workers.map((w) => w.close()));
        await metricsServer?.close();
        await options.onClose?.();
        logger.info({}, `${options.service} stopped`);
      })();
      return closing;
    },
  };
}

/** Options of {@link installShutdown}. */
export interface ShutdownOptions {
  /** @defaultValue `['SIGTERM', 'SIGINT']` */
  signals?: readonly NodeJS.Signals[];
  /** Ends the process. @defaultValue `process.exit` */
  exit?: (code: number) => void;
}

/**
 * Closes `running` on the first SIGTERM/SIGINT and exits 0 (1 when closing fails); a second signal exits
 * at once with 130, for an operator who does not want to wait. Returns a function removing the handlers.
 */
export function installShutdown(
  running: RunningService,
  logger: ServiceLogger,
  options: ShutdownOptions = {},
): () => void {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const exit =
    options.exit ??
    ((code: number) => {
      process.exit(code);
    });
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without waiting for active jobs');
      exit(130);
      return;
    }
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing or handing back active jobs');
    running.close().then(
      () => {
        exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        exit(1);
      },
    );
  };
  for (const s of signals) {
    process.on(s, onSignal);
  }
  return () => {
    for (const s of signals) {
      process.off(s, onSignal);
    }
  };
}
