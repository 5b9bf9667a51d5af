import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FastifyInstance } from 'fastify';

import { createMetrics } from '@synood/metrics';
import { type ArtifactStore, StorageError } from '@synood/storage';

import { buildApp } from '../src';
import { type TestEnv, closedPort, openTestEnv, specInput } from './helpers';

interface ErrorJson {
  error: {
    code: string;
    message: string;
    requestId: string;
    details?: { issues?: { path: string; message: string }[] };
  };
}

let env: TestEnv;
let app: FastifyInstance;

/** `store` with its `get` replaced (every other method still the store's own). */
function withGet(store: ArtifactStore, get: ArtifactStore['get']): ArtifactStore {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'get') {
        return get;
      }
      const value: unknown = Reflect.get(target, property);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

beforeAll(async () => {
  env = await openTestEnv('app');
  app = await buildApp(env.deps, {
    runPlanWorker: false,
    auth: { keys: ['key-one', 'key-two'] },
    rateLimit: { max: 4, timeWindowMs: 60_000 },
  });
});

afterAll(async () => {
  await app.close();
  await env.close();
});

describe('run spec validation', () => {
  it('answers 400 SPEC_ERR_INVALID naming every bad field path', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/runs',
      headers: { 'x-api-key': 'key-one' },
      payload: {
        dataset: { location: 'http://example.com/data' },
        stages: { synthesis: { size: 100 } },
      },
    });
    expect(res.statusCode).toBe(400);
    const body = res.json<ErrorJson>();
    expect(body.error.code).toBe('SPEC_ERR_INVALID');
    const paths = body.error.details?.issues?.map((i) => i.path).sort();
    expect(paths).toEqual(['dataset.location', 'stages.synthesis.size']);
    expect(body.error.message).toContain('dataset.location');
    expect(body.error.message).toContain('stages.synthesis.size');
  });

  it('names a missing required field', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/runs',
      headers: { 'x-api-key': 'key-one' },
      payload: {},
    });
    expect(res.statusCode).toBe(400);
    expect(res.json<ErrorJson>().error.details?.issues?.map((i) => i.path)).toEqual(['dataset']);
  });
});

describe('API keys', () => {
  it('requires a key for writes: 401 without or with a wrong one, accepted in x-api-key and as a bearer token', async () => {
    const payload = specInput('/data/auth-test');
    const none = await app.inject({ method: 'POST', url: '/v1/runs', payload });
    expect(none.statusCode).toBe(401);
    expect(none.json<ErrorJson>().error.code).toBe('API_ERR_UNAUTHORIZED');
    expect(none.headers['www-authenticate']).toBe('Bearer');
    const wrong = await app.inject({
      method: 'POST',
      url: '/v1/runs',
      payload,
      headers: { 'x-api-key': 'nope' },
    });
    expect(wrong.statusCode).toBe(401);

    const first = await app.inject({
      method: 'POST',
      url: '/v1/runs',
      payload,
      headers: { 'x-api-key': 'key-one' },
    });
    expect(first.statusCode).toBe(201);
    const again = await app.inject({
      method: 'POST',
      url: '/v1/runs',
      payload,
      headers: { authorization: 'Bearer key-two' },
    });
    expect(again.statusCode).toBe(200);
    expect(again.json<{ id: string }>().id).toBe(first.json<{ id: string }>().id);
  });

  it('leaves reads open by default and closes them with readsRequireKey', async () => {
    expect((await app.inject({ method: 'GET', url: '/v1/runs' })).statusCode).toBe(200);
    const strict = await buildApp(env.deps, {
      runPlanWorker: false,
      auth: { keys: ['k'], readsRequireKey: true },
    });
    try {
      expect((await strict.inject({ method: 'GET', url: '/v1/runs' })).statusCode).toBe(401);
      expect(
        (await strict.inject({ method: 'GET', url: '/v1/runs', headers: { 'x-api-key': 'k' } })).statusCode,
      ).toBe(200);
      expect((await strict.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await strict.close();
    }
  });

  it('refuses writes when no key is configured, unless anonymous access is allowed', async () => {
    const payload = specInput('/data/anonymous');
    const closed = await buildApp(env.deps, { runPlanWorker: false });
    const open = await buildApp(env.deps, { runPlanWorker: false, auth: { allowAnonymous: true } });
    try {
      expect((await closed.inject({ method: 'POST', url: '/v1/runs', payload })).statusCode).toBe(401);
      expect((await open.inject({ method: 'POST', url: '/v1/runs', payload })).statusCode).toBe(201);
    } finally {
      await closed.close();
      await open.close();
    }
  });

  it('protects the queue dashboard', async () => {
    const denied = await app.inject({ method: 'GET', url: '/admin/queues' });
    expect(denied.statusCode).toBe(401);
    const board = await app.inject({
      method: 'GET',
      url: '/admin/queues',
      headers: { 'x-api-key': 'key-one' },
    });
    expect(board.statusCode).toBe(200);
    expect(board.headers['content-type']).toMatch(/text\/html/);
    const api = await app.inject({
      method: 'GET',
      url: '/admin/queues/api/queues',
      headers: { 'x-api-key': 'key-one' },
    });
    expect(api.statusCode).toBe(200);
    const names = api.json<{ queues: { name: string }[] }>().queues.map((q) => q.name);
    expect(names).toContain('synood.plan');
    expect(names).toContain('synood.publish');
  });
});

describe('errors', () => {
  it('answers unknown routes with a coded 404 and echoes the request id', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/v1/nothing-here',
      headers: { 'x-request-id': 'req-abc.1' },
    });
    expect(res.statusCode).toBe(404);
    const body = res.json<ErrorJson>();
    expect(body.error.code).toBe('API_ERR_NOT_FOUND');
    expect(body.error.requestId).toBe('req-abc.1');
    expect(res.headers['x-request-id']).toBe('req-abc.1');
  });

  it('answers an unknown run with a coded 404', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/runs/r-000000000000' });
    expect(res.statusCode).toBe(404);
    expect(res.json<ErrorJson>().error.code).toBe('API_ERR_NOT_FOUND');
  });

  it('masks 5xx bodies: a generic message with the request id, not the internal error', async () => {
    const broken = withGet(env.store, () => Promise.reject(new Error('disk /very/secret/path exploded')));
    const masked = await buildApp({ ...env.deps, store: broken }, { runPlanWorker: false });
    try {
      const res = await masked.inject({ method: 'GET', url: '/v1/runs/r-000000000000' });
      expect(res.statusCode).toBe(500);
      const body = res.json<ErrorJson>();
      expect(body.error.code).toBe('API_ERR_INTERNAL');
      expect(body.error.message).not.toContain('secret');
      expect(body.error.message).toContain(body.error.requestId);
      expect(res.headers['x-request-id']).toBe(body.error.requestId);
    } finally {
      await masked.close();
    }
  });

  it('answers 503 when the store is down, without its error text', async () => {
    const down = withGet(env.store, () =>
      Promise.reject(new StorageError('STORAGE_ERR_UNAVAILABLE', 'connect ECONNREFUSED 10.0.0.7:9000')),
    );
    const masked = await buildApp({ ...env.deps, store: down }, { runPlanWorker: false });
    try {
      const res = await masked.inject({ method: 'GET', url: '/v1/runs/r-000000000000' });
      expect(res.statusCode).toBe(503);
      expect(res.json<ErrorJson>().error.code).toBe('API_ERR_UNAVAILABLE');
      expect(res.body).not.toContain('10.0.0.7');
    } finally {
      await masked.close();
    }
  });

  it('validates params with a coded 400', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/runs/NOT_AN_ID' });
    expect(res.statusCode).toBe(400);
    const body = res.json<ErrorJson>();
    expect(body.error.code).toBe('API_ERR_VALIDATION');
    expect(body.error.details?.issues?.[0]?.path).toBe('id');
  });
});

describe('rate limit', () => {
  it('limits run submissions per client with a coded 429', async () => {
    const limited = await buildApp(env.deps, {
      runPlanWorker: false,
      auth: { keys: ['k'] },
      rateLimit: { max: 2, timeWindowMs: 60_000 },
    });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await limited.inject({
          method: 'POST',
          url: '/v1/runs',
          headers: { 'x-api-key': 'k' },
          payload: specInput(`/data/rate-${i}`),
        });
        codes.push(res.statusCode);
        if (res.statusCode === 429) {
          expect(res.json<ErrorJson>().error.code).toBe('API_ERR_RATE_LIMITED');
        }
      }
      expect(codes).toEqual([201, 201, 429]);
      // Reads are not limited.
      expect((await limited.inject({ method: 'GET', url: '/v1/runs' })).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('counts in Redis, so a second API replica sees the first one’s submissions', async () => {
    const options = {
      runPlanWorker: false,
      auth: { keys: ['k'] },
      rateLimit: { max: 2, timeWindowMs: 60_000 },
    };
    // A fresh prefix of its own: the first test's counts must not leak in.
    const shared = await openTestEnv('rate');
    const replicas = [await buildApp(shared.deps, options), await buildApp(shared.deps, options)];
    try {
      const submit = async (replica: FastifyInstance, i: number): Promise<number> =>
        (
          await replica.inject({
            method: 'POST',
            url: '/v1/runs',
            headers: { 'x-api-key': 'k' },
            payload: specInput(`/data/replica-${i}`),
            remoteAddress: '10.1.2.3',
          })
        ).statusCode;
      const [one, two] = replicas as [FastifyInstance, FastifyInstance];
      expect([
        await submit(one, 0),
        await submit(two, 1),
        await submit(one, 2),
        await submit(two, 3),
      ]).toEqual([201, 201, 429, 429]);
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
      await shared.close();
    }
  });
});

describe('health, readiness, metrics, docs', () => {
  it('answers /healthz and /readyz', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(
      ready.json<{ checks: { redis: { ok: boolean }; storage: { ok: boolean } } }>().checks.redis.ok,
    ).toBe(true);
  });

  it('answers /readyz 503 when Redis is unreachable', async () => {
    const port = await closedPort();
    const unready = await buildApp(
      { ...env.deps, redisUrl: `redis://127.0.0.1:${port}` },
      { runPlanWorker: false },
    );
    try {
      const res = await unready.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      const body = res.json<{
        error: { code: string; details: { checks: Record<string, { ok: boolean }> } };
      }>();
      expect(body.error.code).toBe('API_ERR_UNAVAILABLE');
      expect(body.error.details.checks.redis?.ok).toBe(false);
      expect(body.error.details.checks.storage?.ok).toBe(true);
    } finally {
      await unready.close();
    }
  });

  it('exposes the HTTP latency histogram labelled by route pattern, never by id, and queue depths', async () => {
    // A registry of its own, so the counts below are exactly this test's requests.
    const metrics = createMetrics({ collectDefault: false });
    const counted = await buildApp({ ...env.deps, metrics }, { runPlanWorker: false, auth: { keys: ['k'] } });
    try {
      const created = await counted.inject({
        method: 'POST',
        url: '/v1/runs',
        headers: { 'x-api-key': 'k' },
        payload: specInput('/data/metrics-test'),
      });
      expect(created.statusCode).toBe(201);
      const id = created.json<{ id: string }>().id;
      expect((await counted.inject({ method: 'GET', url: `/v1/runs/${id}` })).statusCode).toBe(200);
      expect((await counted.inject({ method: 'GET', url: '/v1/runs/r-123456789012' })).statusCode).toBe(404);
      expect((await counted.inject({ method: 'GET', url: '/no/such/route/42' })).statusCode).toBe(404);

      const res = await counted.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/text\/plain/);
      const text = res.body;
      const count = (labels: string): number =>
        Number(
          new RegExp(
            `synood_http_request_duration_seconds_count\\{${labels.replace(/[/.]/g, '\\$&')}\\} (\\d+)`,
          ).exec(text)?.[1] ?? 0,
        );
      expect(count('method="POST",route="/v1/runs",status_code="201"')).toBe(1);
      expect(count('method="GET",route="/v1/runs/:id",status_code="200"')).toBe(1);
      expect(count('method="GET",route="/v1/runs/:id",status_code="404"')).toBe(1);
      expect(count('method="GET",route="unmatched",status_code="404"')).toBe(1);
      expect(text).toContain(
        'synood_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/v1/runs/:id"',
      );
      expect(text).not.toContain(id);
      expect(text).not.toContain('r-123456789012');
      expect(text).not.toContain('/42');
      // The plan jobs of the runs submitted in this file wait in the plan queue (no worker here).
      const waiting = /synood_queue_jobs\{queue="synood\.plan",state="waiting"\} (\d+)/.exec(text);
      expect(Number(waiting?.[1])).toBeGreaterThanOrEqual(1);
      expect(Number(waiting?.[1])).toBe(await env.queues.queue('plan').getWaitingCount());
    } finally {
      await counted.close();
    }
  });

  it('serves the OpenAPI document generated from the zod schemas', async () => {
    const res = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/runs',
        '/v1/runs/{id}',
        '/v1/runs/{id}/cancel',
        '/v1/runs/{id}/resume',
        '/v1/runs/{id}/artifacts',
        '/v1/runs/{id}/report',
        '/v1/detectors',
        '/v1/detectors/{id}',
        '/v1/detectors/{id}/score',
        '/v1/models',
      ]),
    );
    expect(JSON.stringify(doc.paths['/v1/runs']?.post)).toContain('dataset');
    expect((await app.inject({ method: 'GET', url: '/docs' })).statusCode).toBeLessThan(400);
  });
});
