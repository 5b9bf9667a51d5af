/**
 * @file The application as a Fastify instance (fastify/demo's `app.ts`): the zod type provider, coded
 * JSON errors, request ids, API-key auth, HTTP metrics, OpenAPI at `/docs`, multipart uploads, the rate
 * limit on run submissions, health and readiness, bull-board at `/admin/queues`, the `/v1` routes and,
 * unless disabled, the plan stage's worker (started when the app is ready, closed with it). Listening is
 * the caller's business (`server.ts`, `startApi`), so tests drive the whole app with `inject`.
 */
import { randomUUID } from 'node:crypto';

import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import type { PlatformMetrics } from '@synood/metrics';
import type { ClipImageEncoder, ModelLocation } from '@synood/models';
import {
  type QueueLogger,
  type RunQueues,
  type StageOptionsOverrides,
  type StageWorker,
  startStageWorker,
} from '@synood/queue';
import { type ArtifactStore, openStore } from '@synood/storage';
import type { LinalgBackend } from '@synood/tensor';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';

import { DetectorService } from './detectors/service';
import type { UrlFetchOptions } from './detectors/fetch';
import { createPlanHandler } from './plan';
import { registerAuth } from './plugins/auth';
import { registerBoard } from './plugins/board';
import { registerDocs } from './plugins/docs';
import { registerErrorHandling } from './plugins/errors';
import { registerMetrics } from './plugins/metrics';
import { detectorRoutes } from './routes/detectors';
import { healthRoutes } from './routes/health';
import { modelRoutes } from './routes/models';
import { runRoutes } from './routes/runs';
import { RunService } from './runs/service';

/** What the API runs on; the caller opens and closes these (see `openApiDeps`). */
export interface ApiDeps {
  /** The artifact store: run records, stage artifacts, detector bundles. */
  store: ArtifactStore;
  /** Producer-side queues (one per stage), their prefix shared with the workers. */
  queues: RunQueues;
  /** This process's metrics registry. */
  metrics: PlatformMetrics;
  /** Redis URL: the readiness ping and the plan worker's connection. */
  redisUrl: string;
  /** Opens the store a dataset location names (file://, s3://, a path). @defaultValue `openStore` */
  openStore?: (location: string) => ArtifactStore;
  /** Loads the CLIP image encoder for scoring; called once, on the first scoring request. */
  loadImageEncoder?: () => Promise<ClipImageEncoder>;
  /** Model catalog and cache, for `GET /v1/models`. */
  models?: ModelLocation;
  /** Resolved model versions, part of a run's idempotency key. @defaultValue {} */
  modelVersions?: Readonly<Record<string, string>>;
  /** Linear algebra for scoring. @defaultValue a `TypeScriptBackend` */
  backend?: LinalgBackend;
  /** Queue option overrides for the plan worker (from the deployment's config). */
  queueOptions?: StageOptionsOverrides;
}

/** How the API behaves. Every field has a default. */
export interface ApiOptions {
  /** API keys and which requests need one. @defaultValue no keys, reads open, not anonymous */
  auth?: { keys?: readonly string[]; readsRequireKey?: boolean; allowAnonymous?: boolean };
  /** Run submissions per client per window. @defaultValue 30 per 60 s */
  rateLimit?: { max?: number; timeWindowMs?: number };
  /** Uploads for scoring. @defaultValue 20 MiB per file, 32 files */
  uploads?: { maxFileBytes?: number; maxFiles?: number };
  /** Image URLs for scoring. @defaultValue 10 s, 20 MiB, public addresses only */
  urls?: Partial<Omit<UrlFetchOptions, 'maxRedirects'>>;
  /** Decoded detector bundles kept in memory. @defaultValue 8 */
  detectorCacheSize?: number;
  /** Run the plan stage's worker in this process. @defaultValue true */
  runPlanWorker?: boolean;
  /** Images the plan reads at once. @defaultValue 16 */
  planReadConcurrency?: number;
  /** Fastify's logger setting. @defaultValue false */
  logger?: FastifyServerOptions['logger'];
}

/** The services behind the routes, on the instance as `app.synood`. */
export interface ApiContext {
  readonly deps: ApiDeps;
  readonly runs: RunService;
  readonly detectors: DetectorService;
  readonly uploads: { maxFileBytes: number; maxFiles: number };
  readonly urls: UrlFetchOptions;
  readonly rateLimit: { max: number; timeWindowMs: number };
  /** The plan worker once the app is ready (when enabled). */
  planWorker(): StageWorker | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    synood: ApiContext;
  }
}

const MIB = 1024 * 1024;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** pino's `(fields, message)` calls as the queue package's logger. */
function queueLogger(log: FastifyBaseLogger): QueueLogger {
  return {
    debug: (fields, message) => {
      log.debug(fields, message);
    },
    info: (fields, message) => {
      log.info(fields, message);
    },
    warn: (fields, message) => {
      log.warn(fields, message);
    },
    error: (fields, message) => {
      log.error(fields, message);
    },
  };
}

/**
 * Builds the API (not listening). With `runPlanWorker` (the default) the plan worker starts in the
 * instance's `onReady` hook, so `ready()`, `listen()` or the first `inject()` starts it, and `close()`
 * stops it.
 */
export async function buildApp(deps: ApiDeps, options: ApiOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    // A caller's request id is kept when it is safe to log and echo; otherwise a fresh one is made.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const uploads = {
    maxFileBytes: options.uploads?.maxFileBytes ?? 20 * MIB,
    maxFiles: options.uploads?.maxFiles ?? 32,
  };
  const urls: UrlFetchOptions = {
    timeoutMs: options.urls?.timeoutMs ?? 10_000,
    maxBytes: options.urls?.maxBytes ?? 20 * MIB,
    allowPrivate: options.urls?.allowPrivate ?? false,
  };
  let worker: StageWorker | undefined;
  const context: ApiContext = {
    deps,
    runs: new RunService({
      store: deps.store,
      queues: deps.queues,
      ...(deps.modelVersions === undefined ? {} : { modelVersions: deps.modelVersions }),
    }),
    detectors: new DetectorService({
      store: deps.store,
      ...(deps.loadImageEncoder === undefined ? {} : { loadImageEncoder: deps.loadImageEncoder }),
      ...(deps.backend === undefined ? {} : { backend: deps.backend }),
      ...(options.detectorCacheSize === undefined ? {} : { cacheSize: options.detectorCacheSize }),
    }),
    uploads,
    urls,
    rateLimit: { max: options.rateLimit?.max ?? 30, timeWindowMs: options.rateLimit?.timeWindowMs ?? 60_000 },
    planWorker: () => worker,
  };
  app.decorate('synood', context);

  app.addHook('onSend', (request, reply, payload, done) => {
    void reply.header('x-request-id', request.id);
    done(null, payload);
  });
  registerErrorHandling(app);
  registerAuth(app, {
    keys: options.auth?.keys ?? [],
    readsRequireKey: options.auth?.readsRequireKey ?? false,
    allowAnonymous: options.auth?.allowAnonymous ?? false,
  });
  registerMetrics(app, deps.metrics, deps.queues);
  await registerDocs(app);
  await app.register(multipart, {
    limits: {
      fileSize: uploads.maxFileBytes,
      files: uploads.maxFiles,
      fields: 16,
      parts: uploads.maxFiles + 16,
    },
    // An oversized file becomes a per-image error of the scoring answer rather than failing the request.
    throwFileSizeLimit: false,
  });
  // Counts live in Redis, so the limit holds across every API replica rather than per process; the
  // queues' own connection carries them (ioredis: the plugin defines its Lua command on it).
  await app.register(rateLimit, {
    global: false,
    redis: deps.queues.client,
    nameSpace: `${deps.queues.prefix}:rate-limit:`,
    // A Redis outage already fails submissions with a coded 503; the limiter must not turn it into a 500.
    skipOnError: true,
  });
  await app.register(healthRoutes);
  await app.register(runRoutes);
  await app.register(detectorRoutes);
  await app.register(modelRoutes);
  await registerBoard(app, deps.queues);

  if (options.runPlanWorker ?? true) {
    const handler = createPlanHandler({
      store: deps.store,
      queues: deps.queues,
      openStore: deps.openStore ?? ((location) => openStore(location)),
      ...(options.planReadConcurrency === undefined ? {} : { readConcurrency: options.planReadConcurrency }),
    });
    app.addHook('onReady', async () => {
      worker = await startStageWorker({
        stage: 'plan',
        connection: deps.redisUrl,
        prefix: deps.queues.prefix,
        handler,
        metrics: deps.metrics,
        logger: queueLogger(app.log),
        ...(deps.queueOptions === undefined ? {} : { options: deps.queueOptions }),
        dependencies: [
          {
            name: 'storage',
            check: async () => {
              await deps.store.stat('_synood_ready');
              return true;
            },
          },
        ],
      });
    });
    app.addHook('onClose', async () => {
      await worker?.close();
    });
  }
  return app;
}
