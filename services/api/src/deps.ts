/**
 * @file Opening and closing what the API runs on, from its config: the artifact store, the producer
 * queues (waits for Redis, so a bad `REDIS_URL` fails at boot), the metrics registry, the model catalog
 * and the lazily loaded CLIP image encoder used for scoring.
 */
import { type PlatformMetrics, createMetrics } from '@synood/metrics';
import {
  ClipImageEncoder,
  DEFAULT_MODEL_CATALOG,
  type ModelCatalog,
  defaultModelCacheDir,
  loadModelCatalog,
  resolveModelPath,
} from '@synood/models';
import { openQueues } from '@synood/queue';
import { openStore } from '@synood/storage';

import type { ApiDeps, ApiOptions } from './app';
import type { ApiConfig } from './config';

/** {@link ApiDeps} with the function that closes what {@link openApiDeps} opened. */
export interface OpenedApiDeps extends ApiDeps {
  metrics: PlatformMetrics;
  /** Closes the queues, the store and the image encoder (if it was loaded). */
  close(): Promise<void>;
}

/**
 * The model versions that enter a run's idempotency key: per catalog role, each file's sha256 when the
 * catalog pins one, else its source (with its revision) or path.
 */
export function catalogVersions(catalog: ModelCatalog): Record<string, string> {
  return Object.fromEntries(
    catalog.models.map((entry) => [
      entry.role,
      entry.files.map((f) => f.sha256 ?? f.source?.uri ?? f.path).join(','),
    ]),
  );
}

/** Opens the API's dependencies. @throws QueueError `QUEUE_ERR_UNAVAILABLE` when Redis does not answer. */
export async function openApiDeps(config: ApiConfig): Promise<OpenedApiDeps> {
  const catalog =
    config.models.catalogFile === undefined
      ? DEFAULT_MODEL_CATALOG
      : await loadModelCatalog(config.models.catalogFile);
  const cacheDir = config.common.models.cacheDir ?? defaultModelCacheDir();
  const store = openStore(config.common.storage.url, { s3: config.s3 });
  const queues = await openQueues({ redis: config.common.redis.url, prefix: config.queue.prefix });
  const metrics = createMetrics({ defaultLabels: { service: 'api' } });
  let encoder: Promise<ClipImageEncoder> | undefined;
  const loadImageEncoder = (): Promise<ClipImageEncoder> => {
    const path =
      config.models.clipVisionModel ?? resolveModelPath('clip.vision', undefined, { catalog, cacheDir });
    const t0 = performance.now();
    encoder = ClipImageEncoder.create(path, {
      session: {
        executionProvider: config.common.onnx.executionProvider,
        deviceId: config.common.onnx.deviceId,
        ...(config.common.onnx.intraOpThreads === undefined
          ? {}
          : { intraOpThreads: config.common.onnx.intraOpThreads }),
      },
    }).then((e) => {
      metrics.modelLoad.observe({ model: 'clip.vision' }, (performance.now() - t0) / 1000);
      return e;
    });
    return encoder;
  };
  return {
    store,
    queues,
    metrics,
    redisUrl: config.common.redis.url,
    openStore: (location) => openStore(location, { s3: config.s3 }),
    loadImageEncoder,
    models: { catalog, cacheDir },
    modelVersions: catalogVersions(catalog),
    async close() {
      const loaded = await encoder?.catch(() => undefined);
      await Promise.allSettled([queues.close(), store.close(), loaded?.release()]);
    },
  };
}

/** The {@link ApiOptions} a config asks for. */
export function apiOptionsOf(config: ApiConfig): ApiOptions {
  return {
    auth: config.auth,
    rateLimit: config.rateLimit,
    uploads: config.uploads,
    urls: config.urls,
    detectorCacheSize: config.detectorCacheSize,
    runPlanWorker: config.planWorker,
  };
}
