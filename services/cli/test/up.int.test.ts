/**
 * `startPlatform` (what `synood up` runs): the API and the four workers in one process on the demo's
 * fixture models, sharing one metrics registry that the API's `/metrics` serves.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import { DEMO_VAE_SCALE_FACTOR, prepareDemoModels } from '../src/demo/models';
import { PLATFORM_SERVICES, type RunningPlatform, parseServices, startPlatform } from '../src/platform';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

let root: string;
let platform: RunningPlatform;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'synood-up-'));
  const models = await prepareDemoModels(root);
  platform = await startPlatform({
    env: {
      REDIS_URL,
      SYNOOD_STORAGE_URL: join(root, 'store'),
      SYNOOD_MODEL_CATALOG: models.catalogFile,
      SYNOOD_MODEL_CACHE: models.cacheDir,
      SYNOOD_QUEUE_PREFIX: `test-up-${randomUUID().slice(0, 8)}`,
      SYNOOD_LOG_LEVEL: 'fatal',
      SYNOOD_INTRA_OP_THREADS: '1',
      SYNOOD_VAE_SCALE_FACTOR: String(DEMO_VAE_SCALE_FACTOR),
      SYNOOD_CAPTION_BACKENDS: 'clip-tags',
    },
    port: 0,
    host: '127.0.0.1',
  });
});

afterAll(async () => {
  await platform.close();
  await rm(root, { recursive: true, force: true });
});

describe('startPlatform', () => {
  it('starts every service on a free port with anonymous writes when no key is set', () => {
    expect(platform.services).toEqual([...PLATFORM_SERVICES]);
    expect(platform.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(platform.url.endsWith(':0')).toBe(false);
    expect(platform.anonymousWrites).toBe(true);
  });

  it('answers /healthz and /readyz', async () => {
    expect((await fetch(`${platform.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${platform.url}/readyz`)).status).toBe(200);
  });

  it('serves the API and the worker metrics from one registry', async () => {
    await fetch(`${platform.url}/healthz`);
    const text = await (await fetch(`${platform.url}/metrics`)).text();
    expect(text).toContain('synood_http_request_duration_seconds');
    expect(text).toContain('synood_stage_job_duration_seconds');
    expect(text).toContain('synood_model_load_seconds');
    // Models loaded by the workers at start, recorded in the shared registry.
    for (const model of ['clip.vision', 'clip.text']) {
      expect(text).toMatch(
        new RegExp(`synood_model_load_seconds_count\\{[^}]*model="${model.replace('.', '\\.')}"`),
      );
    }
  });
});

describe('parseServices', () => {
  it('keeps known services in start order and requires the API', () => {
    expect(parseServices('trainer, api,encoder,api')).toEqual(['api', 'encoder', 'trainer']);
    expect(() => parseServices('captioner')).toThrow(/must include api/);
    expect(() => parseServices('api,painter')).toThrow(/unknown service "painter"/);
  });
});
