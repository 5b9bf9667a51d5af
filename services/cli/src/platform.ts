/**
 * The whole platform in one process (design §2 on the embedded defaults): the API (with the plan stage)
 * and the four worker services, every one configured from the same environment, sharing one metrics
 * registry that the API's `/metrics` serves. Used by `synood up` and the pipeline demo.
 */
import {
  type ApiConfig,
  type OpenedApiDeps,
  apiOptionsOf,
  loadApiConfig,
  openApiDeps,
  startApi,
} from '@synood/api';
import {
  type CaptionerDepsOverrides,
  type RunningService,
  captionerStartOptions,
  createCaptionerDeps,
  loadCaptionerConfig,
  startCaptioner,
} from '@synood/captioner';
import { type Env, processEnv } from '@synood/config';
import {
  type EncoderDepsOverrides,
  createEncoderDeps,
  encoderStartOptions,
  loadEncoderConfig,
  startEncoder,
} from '@synood/encoder';
import {
  createSynthesizerDeps,
  loadSynthesizerConfig,
  startSynthesizer,
  synthesizerStartOptions,
} from '@synood/synthesizer';
import { createTrainerDeps, loadTrainerConfig, startTrainer, trainerStartOptions } from '@synood/trainer';

import { CliError } from './program';

/** The services `synood up` can start, in start order. */
export const PLATFORM_SERVICES = ['api', 'captioner', 'synthesizer', 'encoder', 'trainer'] as const;

/** One of {@link PLATFORM_SERVICES}. */
export type PlatformService = (typeof PLATFORM_SERVICES)[number];

/** The worker services (everything but the API). */
type WorkerService = Exclude<PlatformService, 'api'>;

/** Options of {@link startPlatform}. */
export interface PlatformOptions {
  /** The environment every service reads its configuration from. @defaultValue the process environment */
  env?: Env;
  /** HTTP port of the API; 0 picks a free one. @defaultValue `SYNOOD_API_PORT` (8080) */
  port?: number;
  /** Interface the API listens on. @defaultValue `SYNOOD_API_HOST` (`0.0.0.0`) */
  host?: string;
  /** The services to start; must include `api`. @defaultValue all of {@link PLATFORM_SERVICES} */
  services?: readonly PlatformService[];
  /** Replacements of the captioner's corpora (the demo's small `clip-tags` vocabulary). */
  captioner?: Omit<CaptionerDepsOverrides, 'metrics' | 'logger'>;
  /** Replacement of the encoder's mining corpus (the demo's small candidate list). */
  encoder?: Omit<EncoderDepsOverrides, 'metrics' | 'logger'>;
}

/** A started platform. */
export interface RunningPlatform {
  /** Base URL of the API, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** The services running, in start order. */
  readonly services: readonly PlatformService[];
  /** Whether writes are accepted without an API key (no key is configured). */
  readonly anonymousWrites: boolean;
  /** Stops the workers (their active jobs finish or go back to the queue), then the API and its deps. */
  close(): Promise<void>;
}

/**
 * Checks a `--services` list: known names, no duplicates, `api` present (it serves `/metrics` and runs
 * the plan stage, without which no run starts).
 *
 * @throws CliError `CLI_ERR_USAGE` naming the bad entry.
 */
export function parseServices(list: string): PlatformService[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const out: PlatformService[] = [];
  for (const name of names) {
    if (!(PLATFORM_SERVICES as readonly string[]).includes(name)) {
      throw new CliError(
        'CLI_ERR_USAGE',
        `--services: unknown service "${name}"; choose from ${PLATFORM_SERVICES.join(', ')}`,
      );
    }
    if (!out.includes(name as PlatformService)) {
      out.push(name as PlatformService);
    }
  }
  if (!out.includes('api')) {
    throw new CliError(
      'CLI_ERR_USAGE',
      '--services must include api (it runs the plan stage and serves /metrics for every service)',
    );
  }
  return PLATFORM_SERVICES.filter((s) => out.includes(s));
}

async function startWorker(
  name: WorkerService,
  env: Env,
  api: ApiConfig,
  shared: OpenedApiDeps,
  options: PlatformOptions,
): Promise<RunningService> {
  const common = { metrics: shared.metrics };
  // The API's prefix and Redis are the workers' too: one process, one environment.
  const start = { redis: api.common.redis.url, prefix: api.queue.prefix, metricsServer: false as const };
  // Each worker starts with the options its own process would (concurrency, lock duration, stalled
  // interval, timeouts), except Redis, prefix and the metrics listener, which are the API's here.
  switch (name) {
    case 'captioner': {
      const config = loadCaptionerConfig(env);
      const deps = await createCaptionerDeps(config, { ...options.captioner, ...common });
      return startService(deps, () => startCaptioner(deps, { ...captionerStartOptions(config), ...start }));
    }
    case 'synthesizer': {
      const config = loadSynthesizerConfig(env);
      const deps = await createSynthesizerDeps(config, common);
      return startService(deps, () =>
        startSynthesizer(deps, { ...synthesizerStartOptions(config), ...start }),
      );
    }
    case 'encoder': {
      const config = loadEncoderConfig(env);
      const deps = await createEncoderDeps(config, { ...options.encoder, ...common });
      return startService(deps, () => startEncoder(deps, { ...encoderStartOptions(config), ...start }));
    }
    case 'trainer': {
      const config = loadTrainerConfig(env);
      const deps = await createTrainerDeps(config, common);
      return startService(deps, () => startTrainer(deps, { ...trainerStartOptions(config), ...start }));
    }
  }
}

/** Starts a service on deps it owns; when the start fails, the deps (sessions, stores) are released. */
async function startService(
  deps: { close(): Promise<void> },
  start: () => Promise<RunningService>,
): Promise<RunningService> {
  try {
    return await start();
  } catch (error) {
    await deps.close().catch(() => undefined);
    throw error;
  }
}

/**
 * Starts the API and the chosen workers in this process. Writes are open without a key only when no
 * `SYNOOD_API_KEY` is configured (a single-user box); with keys, they are required as in a deployment.
 * On any start failure everything started so far is closed before the error is rethrown.
 *
 * @throws ConfigError for a bad environment; QueueError `QUEUE_ERR_UNAVAILABLE` when Redis does not
 * answer; WorkerError `WORKER_ERR_MODEL_MISSING` when a model file is absent (`synood models pull`).
 */
export async function startPlatform(options: PlatformOptions = {}): Promise<RunningPlatform> {
  const env = options.env ?? processEnv();
  const services =
    options.services === undefined ? [...PLATFORM_SERVICES] : parseServices(options.services.join(','));
  const config = loadApiConfig(env);
  const deps = await openApiDeps(config);
  const workers: RunningService[] = [];
  const closeWorkers = async (): Promise<void> => {
    // Reverse start order; each finishes or hands back its active job before its deps are released.
    const errors: unknown[] = [];
    for (const w of workers.splice(0).reverse()) {
      await w.close().catch((e: unknown) => errors.push(e));
    }
    if (errors.length > 0) {
      throw errors[0];
    }
  };
  const anonymousWrites = config.auth.keys.length === 0;
  try {
    for (const name of services) {
      if (name !== 'api') {
        workers.push(await startWorker(name, env, config, deps, options));
      }
    }
    const api = await startApi(deps, {
      ...apiOptionsOf(config),
      auth: { ...config.auth, allowAnonymous: anonymousWrites },
      port: options.port ?? config.http.port,
      host: options.host ?? config.http.host,
      logger: { level: config.common.log.level },
    });
    let closing: Promise<void> | undefined;
    return {
      url: api.url,
      services,
      anonymousWrites,
      close() {
        closing ??= (async () => {
          try {
            await closeWorkers();
          } finally {
            try {
              await api.close();
            } finally {
              await deps.close();
            }
          }
        })();
        return closing;
      },
    };
  } catch (error) {
    await closeWorkers().catch(() => undefined);
    await deps.close().catch(() => undefined);
    throw error;
  }
}
