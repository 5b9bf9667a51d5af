/**
 * The environment every worker service shares on top of `@synood/config`'s common settings: queue prefix,
 * the `/metrics` listener, shutdown and dependency-poll timing, S3 options for opening stores, and the model
 * catalog. Each service extends it with its own variables; {@link parseServiceEnv} parses all of them in one
 * pass, so a bad deployment gets one error listing every bad variable. Shared verbatim by the four services.
 */
import {
  type CommonConfig,
  type Env,
  commonEnvSchema,
  envVar,
  loadCommonConfig,
  parseEnv,
} from '@synood/config';
import type { StageOptionsOverrides } from '@synood/queue';
import type { S3StoreOptions } from '@synood/storage';
import { z } from 'zod';

/** Variables every worker service reads besides the common ones. */
export const workerEnvShape = {
  /** BullMQ key prefix; must match the API's. */
  SYNOOD_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9{}._-]+$/, 'must be letters, digits, ".", "_", "-" or a {hash-tag}')
    .default('synood'),
  /** Port of `/metrics`, `/healthz`, `/readyz`; 0 picks a free one. */
  SYNOOD_METRICS_PORT: envVar.int(0, 65_535).default(9464),
  SYNOOD_METRICS_HOST: z.string().min(1).default('0.0.0.0'),
  /** How long SIGTERM waits for active jobs before handing them back to the queue. */
  SYNOOD_SHUTDOWN_TIMEOUT_MS: envVar.int(0).default(30_000),
  /** Poll interval of the dependency checks (storage, model servers). */
  SYNOOD_DEPENDENCY_INTERVAL_MS: envVar.int(10).default(5000),
  /** S3-compatible endpoint (MinIO) for `s3://` stores; AWS when unset. */
  SYNOOD_S3_ENDPOINT: envVar.url('http:', 'https:').optional(),
  SYNOOD_S3_REGION: z.string().min(1).optional(),
  SYNOOD_S3_FORCE_PATH_STYLE: envVar.bool().optional(),
  /** A model catalog JSON file replacing the built-in one. */
  SYNOOD_MODEL_CATALOG: z.string().min(1).optional(),
  /**
   * Lock duration of every stage this service consumes, replacing the stage table's (minutes). A crashed
   * worker's job returns to the queue only after its lock expires, so tests and small CPU deployments
   * with short jobs shorten it; it must stay ≥ 2 × the longest blocking stretch of a job.
   */
  SYNOOD_LOCK_DURATION_MS: envVar.int(1000).optional(),
  /** How often the workers look for jobs whose lock expired, replacing the stage table's (30 s). */
  SYNOOD_STALLED_INTERVAL_MS: envVar.int(1000).optional(),
};

/** The shared worker settings as a nested object. */
export interface WorkerRuntimeConfig {
  common: CommonConfig;
  queue: { prefix: string };
  metrics: { port: number; host: string };
  shutdownTimeoutMs: number;
  dependencyIntervalMs: number;
  /** Options for every `s3://` store the service opens (artifacts, datasets, OOD sets). */
  s3: S3StoreOptions;
  /** Model catalog file; the built-in catalog when absent. */
  modelCatalog?: string;
  /** Overrides of the stage option table (lock duration, stalled interval) for every consumed stage. */
  stageOptions: StageOptionsOverrides;
}

type Shape = Record<string, z.ZodType>;

function stageOptionsOf(shared: z.output<z.ZodObject<typeof workerEnvShape>>): StageOptionsOverrides {
  const all = {
    ...(shared.SYNOOD_LOCK_DURATION_MS === undefined ? {} : { lockDuration: shared.SYNOOD_LOCK_DURATION_MS }),
    ...(shared.SYNOOD_STALLED_INTERVAL_MS === undefined
      ? {}
      : { stalledInterval: shared.SYNOOD_STALLED_INTERVAL_MS }),
  };
  return Object.keys(all).length === 0 ? {} : { all };
}

/**
 * Parses the common, shared-worker and service-specific variables of `env` in one pass.
 *
 * @throws ConfigError (`CONFIG_ERR_INVALID`) listing every bad variable of the three groups.
 */
export function parseServiceEnv<S extends Shape>(
  serviceShape: S,
  env: Env,
): { runtime: WorkerRuntimeConfig; values: z.output<z.ZodObject<S>> } {
  const schema = commonEnvSchema.extend(workerEnvShape).extend(serviceShape);
  // One parse of everything (one error listing every bad variable); the groups are then picked out of
  // its output, never parsed again (transforms such as lists and booleans are not idempotent).
  const all = parseEnv(schema, env) as Record<string, unknown>;
  const pick = (shape: Shape): Record<string, unknown> =>
    Object.fromEntries(Object.keys(shape).map((k) => [k, all[k]]));
  const common = loadCommonConfig(env);
  const shared = pick(workerEnvShape) as z.output<z.ZodObject<typeof workerEnvShape>>;
  const values = pick(serviceShape) as z.output<z.ZodObject<S>>;
  const s3: S3StoreOptions = {
    ...(shared.SYNOOD_S3_ENDPOINT === undefined ? {} : { endpoint: shared.SYNOOD_S3_ENDPOINT }),
    ...(shared.SYNOOD_S3_REGION === undefined ? {} : { region: shared.SYNOOD_S3_REGION }),
    ...(shared.SYNOOD_S3_FORCE_PATH_STYLE === undefined
      ? {}
      : { forcePathStyle: shared.SYNOOD_S3_FORCE_PATH_STYLE }),
  };
  return {
    runtime: {
      common,
      queue: { prefix: shared.SYNOOD_QUEUE_PREFIX },
      metrics: { port: shared.SYNOOD_METRICS_PORT, host: shared.SYNOOD_METRICS_HOST },
      shutdownTimeoutMs: shared.SYNOOD_SHUTDOWN_TIMEOUT_MS,
      dependencyIntervalMs: shared.SYNOOD_DEPENDENCY_INTERVAL_MS,
      s3,
      ...(shared.SYNOOD_MODEL_CATALOG === undefined ? {} : { modelCatalog: shared.SYNOOD_MODEL_CATALOG }),
      stageOptions: stageOptionsOf(shared),
    },
    values,
  };
}
