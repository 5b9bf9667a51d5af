import { describe, expect, it } from '@jest/globals';

import { ConfigError } from '@synood/config';

import { apiOptionsOf, loadApiConfig } from '../src';

describe('loadApiConfig', () => {
  it('fills the defaults', () => {
    const config = loadApiConfig({});
    expect(config.http).toEqual({ port: 8080, host: '0.0.0.0' });
    expect(config.auth).toEqual({ keys: [], readsRequireKey: false, allowAnonymous: false });
    expect(config.rateLimit).toEqual({ max: 30, timeWindowMs: 60_000 });
    expect(config.uploads).toEqual({ maxFileBytes: 20 * 1024 * 1024, maxFiles: 32 });
    expect(config.urls).toEqual({ timeoutMs: 10_000, maxBytes: 20 * 1024 * 1024, allowPrivate: false });
    expect(config.planWorker).toBe(true);
    expect(config.queue.prefix).toBe('synood');
    expect(config.s3).toEqual({});
    expect(config.common.redis.url).toBe('redis://127.0.0.1:6379');
  });

  it('parses keys, switches and S3 settings', () => {
    const config = loadApiConfig({
      SYNOOD_API_KEY: ' old-key , new-key ,',
      SYNOOD_API_READS_REQUIRE_KEY: 'yes',
      SYNOOD_API_PORT: '9000',
      SYNOOD_API_PLAN_WORKER: 'false',
      SYNOOD_S3_ENDPOINT: 'http://127.0.0.1:9000',
      SYNOOD_S3_FORCE_PATH_STYLE: 'true',
      SYNOOD_CLIP_VISION_MODEL: '/models/vision.onnx',
    });
    expect(config.auth.keys).toEqual(['old-key', 'new-key']);
    expect(config.auth.readsRequireKey).toBe(true);
    expect(config.http.port).toBe(9000);
    expect(config.planWorker).toBe(false);
    expect(config.s3).toEqual({ endpoint: 'http://127.0.0.1:9000', forcePathStyle: true });
    expect(config.models.clipVisionModel).toBe('/models/vision.onnx');
    expect(apiOptionsOf(config)).toMatchObject({
      runPlanWorker: false,
      auth: { keys: ['old-key', 'new-key'] },
    });
  });

  it('lists every bad variable in one error', () => {
    let error: unknown;
    try {
      loadApiConfig({
        SYNOOD_API_PORT: '70000',
        SYNOOD_API_READS_REQUIRE_KEY: 'maybe',
        REDIS_URL: 'http://x',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.variable).sort()).toEqual([
      'REDIS_URL',
      'SYNOOD_API_PORT',
      'SYNOOD_API_READS_REQUIRE_KEY',
    ]);
  });
});
