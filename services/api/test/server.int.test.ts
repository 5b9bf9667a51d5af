import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import { type RunningApi, startApi } from '../src';
import { type TestEnv, openTestEnv } from './helpers';

let env: TestEnv;
let api: RunningApi;

beforeAll(async () => {
  env = await openTestEnv('server');
  api = await startApi(env.deps, { port: 0, host: '127.0.0.1', auth: { keys: ['k'] } });
});

afterAll(async () => {
  await api.close();
  await env.close();
});

describe('startApi', () => {
  it('listens on a real port and serves requests over HTTP', async () => {
    expect(api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetch(`${api.url}/healthz`);
    expect(health.status).toBe(200);
    expect(health.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(await health.json()).toEqual({ status: 'ok' });
    const list = await fetch(`${api.url}/v1/runs`);
    expect(list.status).toBe(200);
    expect(await list.json()).toEqual({ runs: [], nextCursor: null });
    const denied = await fetch(`${api.url}/v1/runs`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(denied.status).toBe(401);
  });

  it('starts the plan worker with the app and reports it', () => {
    const worker = api.app.synood.planWorker();
    expect(worker?.stage).toBe('plan');
    expect(worker?.isPaused()).toBe(false);
  });
});
