/**
 * The API service's configuration: the common settings of `@synood/config` plus the variables below,
 * parsed once at start-up into a nested object. A bad deployment fails at boot with one error listing
 * every bad variable. Variable names shared with the worker services (`SYNOOD_QUEUE_PREFIX`,
 * `SYNOOD_S3_*`, `SYNOOD_MODEL_CATALOG`) mean the same there.
 */
import {
  type CommonConfig,
  type Env,
  commonEnvSchema,
  envVar,
  loadCommonConfig,
  parseEnv,
  processEnv,
} from '@synood/config';
import type { S3StoreOptions } from '@synood/storage';
import { z } from 'zod';

const MIB = 1024 * 1024;

/** The API's own variables (on top of `commonEnvSchema`). */
export const apiEnvShape = {
  /** TCP port of the HTTP server; 0 picks a free one. */
  SYNOOD_API_PORT: envVar.int(0, 65_535).default(8080),
  SYNOOD_API_HOST: z.string().min(1).default('0.0.0.0'),
  /** Accepted API keys, comma-separated (rotate by listing old and new together). */
  SYNOOD_API_KEY: envVar.list().default([]),
  /** Require a key for `GET /v1/…` too (writes and `/admin/queues` always require one). */
  SYNOOD_API_READS_REQUIRE_KEY: envVar.bool().default(false),
  /**
   * With no key configured, accept writes without one (a single-user box). Off by default: an API
   * without keys refuses every write rather than silently running open.
   */
  SYNOOD_API_ALLOW_ANONYMOUS: envVar.bool().default(false),
  /** Run submissions allowed per client (API key, else address) per window. */
  SYNOOD_API_RATE_LIMIT_MAX: envVar.int(1).default(30),
  SYNOOD_API_RATE_LIMIT_WINDOW_MS: envVar.int(1000).default(60_000),
  /** Largest uploaded image for scoring, and most images per request. */
  SYNOOD_API_MAX_UPLOAD_BYTES: envVar.int(1024).default(20 * MIB),
  SYNOOD_API_MAX_UPLOAD_FILES: envVar.int(1, 1024).default(32),
  /** Image URLs: time limit per fetch, size limit, and whether private / loopback addresses are allowed. */
  SYNOOD_API_URL_TIMEOUT_MS: envVar.int(100).default(10_000),
  SYNOOD_API_URL_MAX_BYTES: envVar.int(1024).default(20 * MIB),
  SYNOOD_API_URL_ALLOW_PRIVATE: envVar.bool().default(false),
  /** Detector bundles kept decoded in memory (least recently used first out). */
  SYNOOD_API_DETECTOR_CACHE: envVar.int(1, 1024).default(8),
  /** Run the plan stage's worker inside the API process. */
  SYNOOD_API_PLAN_WORKER: envVar.bool().default(true),
  /** A CLIP vision `.onnx` for scoring, instead of the catalog's `clip.vision` file in the model cache. */
  SYNOOD_CLIP_VISION_MODEL: z.string().min(1).optional(),
  /** BullMQ key prefix; must match the workers'. */
  SYNOOD_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9{}._-]+$/, 'must be letters, digits, ".", "_", "-" or a {hash-tag}')
    .default('synood'),
  /** S3-compatible endpoint (MinIO) for `s3://` stores; AWS when unset. */
  SYNOOD_S3_ENDPOINT: envVar.url('http:', 'https:').optional(),
  SYNOOD_S3_REGION: z.string().min(1).optional(),
  SYNOOD_S3_FORCE_PATH_STYLE: envVar.bool().optional(),
  /** A model catalog JSON file replacing the built-in one. */
  SYNOOD_MODEL_CATALOG: z.string().min(1).optional(),
};

/** The API's configuration as a nested object. */
export interface ApiConfig {
  common: CommonConfig;
  http: { port: number; host: string };
  auth: { keys: string[]; readsRequireKey: boolean; allowAnonymous: boolean };
  rateLimit: { max: number; timeWindowMs: number };
  uploads: { maxFileBytes: number; maxFiles: number };
  urls: { timeoutMs: number; maxBytes: number; allowPrivate: boolean };
  detectorCacheSize: number;
  planWorker: boolean;
  queue: { prefix: string };
  /** Options of every `s3://` store the API opens (artifacts, datasets). */
  s3: S3StoreOptions;
  models: { catalogFile?: string; clipVisionModel?: string };
}

/**
 * Parses the API's environment (common variables included) in one pass.
 *
 * @throws ConfigError (`CONFIG_ERR_INVALID`) listing every bad variable.
 */
export function loadApiConfig(env: Env = processEnv()): ApiConfig {
  const e = parseEnv(commonEnvSchema.extend(apiEnvShape), env);
  return {
    common: loadCommonConfig(env),
    http: { port: e.SYNOOD_API_PORT, host: e.SYNOOD_API_HOST },
    auth: {
      keys: e.SYNOOD_API_KEY,
      readsRequireKey: e.SYNOOD_API_READS_REQUIRE_KEY,
      allowAnonymous: e.SYNOOD_API_ALLOW_ANONYMOUS,
    },
    rateLimit: { max: e.SYNOOD_API_RATE_LIMIT_MAX, timeWindowMs: e.SYNOOD_API_RATE_LIMIT_WINDOW_MS },
    uploads: { maxFileBytes: e.SYNOOD_API_MAX_UPLOAD_BYTES, maxFiles: e.SYNOOD_API_MAX_UPLOAD_FILES },
    urls: {
      timeoutMs: e.SYNOOD_API_URL_TIMEOUT_MS,
      maxBytes: e.SYNOOD_API_URL_MAX_BYTES,
      allowPrivate: e.SYNOOD_API_URL_ALLOW_PRIVATE,
    },
    detectorCacheSize: e.SYNOOD_API_DETECTOR_CACHE,
    planWorker: e.SYNOOD_API_PLAN_WORKER,
    queue: { prefix: e.SYNOOD_QUEUE_PREFIX },
    s3: {
      ...(e.SYNOOD_S3_ENDPOINT === undefined ? {} : { endpoint: e.SYNOOD_S3_ENDPOINT }),
      ...(e.SYNOOD_S3_REGION === undefined ? {} : { region: e.SYNOOD_S3_REGION }),
      ...(e.SYNOOD_S3_FORCE_PATH_STYLE === undefined ? {} : { forcePathStyle: e.SYNOOD_S3_FORCE_PATH_STYLE }),
    },
    models: {
      ...(e.SYNOOD_MODEL_CATALOG === undefined ? {} : { catalogFile: e.SYNOOD_MODEL_CATALOG }),
      ...(e.SYNOOD_CLIP_VISION_MODEL === undefined ? {} : { clipVisionModel: e.SYNOOD_CLIP_VISION_MODEL }),
    },
  };
}
