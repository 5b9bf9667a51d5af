import { request } from 'node:http';

import { afterEach, describe, expect, it } from '@jest/globals';

import { METRICS_CONTENT_TYPE, type MetricsServer, createMetrics, startMetricsServer } from '../src';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function fetchText(url: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const servers: MetricsServer[] = [];
async function start(options: Parameters<typeof startMetricsServer>[0]): Promise<MetricsServer> {
  const server = await startMetricsServer({ port: 0, host: '127.0.0.1', ...options });
  servers.push(server);
  return server;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('startMetricsServer', () => {
  it('serves the registry at /metrics with the Prometheus content type', async () => {
    const metrics = createMetrics({ collectDefault: false });
    metrics.stageItems.inc({ stage: 'encode', outcome: 'processed' }, 3);
    metrics.stageItems.inc({ stage: 'encode', outcome: 'processed' }, 4);
    const server = await start({ metrics });
    const reply = await fetchText(`${server.url}/metrics`);
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe(METRICS_CONTENT_TYPE);
    expect(reply.body).toContain('synood_stage_items_total{stage="encode",outcome="processed"} 7');
  });

  it('combines several registries into one text and runs beforeScrape first', async () => {
    const a = createMetrics({ collectDefault: false, prefix: 'a_' });
    const b = createMetrics({ collectDefault: false, prefix: 'b_' });
    let scrapes = 0;
    const server = await start({
      metrics: [a, b],
      beforeScrape: () => {
        scrapes++;
        a.setQueueDepth('synood.encode', { waiting: scrapes * 10 });
        return Promise.resolve();
      },
    });
    await fetchText(`${server.url}/metrics`);
    const reply = await fetchText(`${server.url}/metrics`);
    expect(scrapes).toBe(2);
    expect(reply.body).toContain('a_queue_jobs{queue="synood.encode",state="waiting"} 20');
    expect(reply.body).toContain('# TYPE b_stage_items_total counter');
  });

  it('still serves metrics when beforeScrape fails, and reports the failure', async () => {
    const metrics = createMetrics({ collectDefault: false });
    const errors: string[] = [];
    const server = await start({
      metrics,
      beforeScrape: () => Promise.reject(new Error('redis down')),
      onError: (error, where) => errors.push(`${where}: ${(error as Error).message}`),
    });
    const reply = await fetchText(`${server.url}/metrics`);
    expect(reply.status).toBe(200);
    expect(reply.body).toContain('# TYPE synood_stage_job_duration_seconds histogram');
    expect(errors).toEqual(['beforeScrape: redis down']);
  });

  it('answers /healthz 200 or 503 from the check, with its details', async () => {
    let ok = true;
    const server = await start({
      metrics: createMetrics({ collectDefault: false }),
      health: () => ({ ok, details: { workers: ok ? 'running' : 'paused' } }),
    });
    const up = await fetchText(`${server.url}/healthz`);
    expect(up.status).toBe(200);
    expect(JSON.parse(up.body)).toEqual({ status: 'ok', workers: 'running' });
    ok = false;
    const down = await fetchText(`${server.url}/healthz`);
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body)).toEqual({ status: 'unavailable', workers: 'paused' });
  });

  it('treats a throwing or hanging check as unavailable, and /readyz uses its own check', async () => {
    const server = await start({
      metrics: createMetrics({ collectDefault: false }),
      health: () => {
        throw new Error('boom');
      },
      ready: () => new Promise(() => undefined),
      checkTimeoutMs: 30,
    });
    const health = await fetchText(`${server.url}/healthz`);
    expect(health.status).toBe(503);
    expect(JSON.parse(health.body)).toEqual({ status: 'unavailable', error: 'boom' });
    const ready = await fetchText(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect((JSON.parse(ready.body) as { error: string }).error).toBe('the check gave no answer within 30 ms');
  });

  it('answers 404 for unknown paths, 405 for other methods, and HEAD without a body', async () => {
    const server = await start({ metrics: createMetrics({ collectDefault: false }) });
    expect((await fetchText(`${server.url}/nope`)).status).toBe(404);
    const post = await fetchText(`${server.url}/metrics`, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    const head = await fetchText(`${server.url}/healthz`, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('rejects a bad port and an empty metrics list with coded errors', async () => {
    await expect(
      startMetricsServer({ port: 70_000, metrics: createMetrics({ collectDefault: false }) }),
    ).rejects.toMatchObject({
      code: 'METRICS_ERR_ARGUMENT',
    });
    await expect(startMetricsServer({ port: 0, metrics: [] })).rejects.toMatchObject({
      code: 'METRICS_ERR_ARGUMENT',
    });
  });

  it('closes idempotently and frees the port', async () => {
    const server = await startMetricsServer({
      port: 0,
      host: '127.0.0.1',
      metrics: createMetrics({ collectDefault: false }),
    });
    await server.close();
    await server.close();
    await expect(fetchText(`${server.url}/metrics`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
