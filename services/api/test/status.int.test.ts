import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FastifyInstance } from 'fastify';

import { type RunStatus, jobId, runRecordKey, runRecordSchema } from '@synood/contracts';
import { type StageWorker, silentLogger, startStageWorker } from '@synood/queue';
import { FileStore, writeDoneMarker } from '@synood/storage';

import { buildApp, createPlanHandler, runConfigHashes } from '../src';
import { REDIS_URL, type TestEnv, eventually, jpeg, openTestEnv, parseSpec, specInput } from './helpers';

let env: TestEnv;
let app: FastifyInstance;
let datasetDir: string;
let worker: StageWorker | undefined;

const KEY = { 'x-api-key': 'k' };

beforeAll(async () => {
  env = await openTestEnv('status');
  datasetDir = join(env.dir, 'dataset');
  await mkdir(join(datasetDir, 'apple'), { recursive: true });
  await writeFile(join(datasetDir, 'apple/1.jpg'), await jpeg(24, 24, 1, 0.9));
  await writeFile(join(datasetDir, 'apple/2.jpg'), await jpeg(24, 24, 2, 0.3));
  app = await buildApp(env.deps, { runPlanWorker: false, auth: { keys: ['k'] } });
});

afterAll(async () => {
  await worker?.close({ timeoutMs: 1000 });
  await app.close();
  await env.close();
});

const payload = specInput('', {
  name: 'status',
  dataset: { location: '' },
  stages: { sharding: { imagesPerShard: 1 } },
});

async function status(runId: string): Promise<RunStatus> {
  return (await app.inject({ method: 'GET', url: `/v1/runs/${runId}` })).json<RunStatus>();
}

describe('run status', () => {
  it('aggregates done-markers and job failures, and keeps a failure once the queue forgot the job', async () => {
    const body = { ...payload, dataset: { location: datasetDir } };
    const run = (
      await app.inject({ method: 'POST', url: '/v1/runs', headers: KEY, payload: body })
    ).json<RunStatus>();
    const hashes = runConfigHashes(parseSpec(body));
    const handler = createPlanHandler({
      store: env.store,
      queues: env.queues,
      openStore: (location) => new FileStore(location),
    });
    await handler(
      { runId: run.id, stage: 'plan', configHash: hashes.plan },
      {
        jobId: jobId(run.id, 'plan'),
        attempt: 1,
        signal: new AbortController().signal,
        progress: () => Promise.resolve(),
        log: silentLogger,
      },
    );

    // Caption shard 0 and mine finished (fake markers); shard 1's marker has another config's hash.
    const marker = (stage: 'caption' | 'mine', prefix: string, configHash: string, extra: object) =>
      writeDoneMarker(env.store, prefix, {
        runId: run.id,
        stage,
        configHash,
        artifacts: [],
        failures: [],
        createdAt: new Date().toISOString(),
        ...extra,
      });
    await marker('caption', `runs/${run.id}/caption/00000`, hashes.caption, {
      shard: 0,
      counts: { processed: 1, failed: 0, skipped: 0 },
    });
    await marker('caption', `runs/${run.id}/caption/00001`, '0123456789abcdef', {
      shard: 1,
      counts: { processed: 1, failed: 0, skipped: 0 },
    });
    // No counts: the failed items are the failures listed.
    await marker('mine', `runs/${run.id}/mine`, hashes.mine, {
      failures: [{ item: 'x', code: 'ITEM_ERR_IMAGE', message: 'bad' }],
    });

    let current = await status(run.id);
    expect(current.state).toBe('running');
    const stage = (name: string) => current.stages.find((s) => s.stage === name)!;
    expect(stage('plan')).toMatchObject({ state: 'done', items: { processed: 2, failed: 0, skipped: 0 } });
    expect(stage('caption')).toMatchObject({
      state: 'running',
      jobs: { total: 2, done: 1 },
      items: { processed: 1, failed: 0, skipped: 0 },
    });
    expect(stage('synthesize')).toMatchObject({ state: 'pending', jobs: { total: 2, done: 0 } });
    expect(stage('mine')).toMatchObject({ state: 'done', jobs: { total: 1, done: 1 }, items: { failed: 1 } });
    expect(stage('publish')).toMatchObject({ state: 'pending', jobs: { total: 1, done: 0 } });

    // A caption worker that fails shard 1 for good with a coded error.
    worker = await startStageWorker({
      stage: 'caption',
      connection: REDIS_URL,
      prefix: env.queues.prefix,
      handler: (p) => {
        if (p.shard === 1) {
          return Promise.reject(
            Object.assign(new Error('the VLM model input is missing'), { code: 'WORKER_ERR_INPUT' }),
          );
        }
        return Promise.resolve({
          status: 'skipped',
          counts: { processed: 0, failed: 0, skipped: 1 },
          artifacts: [],
          failures: [],
          seconds: 0,
        });
      },
    });
    await eventually(async () =>
      (await env.queues.queue('caption').getJobState(jobId(run.id, 'caption', 1))) === 'failed'
        ? true
        : undefined,
    );
    current = await status(run.id);
    expect(current.state).toBe('failed');
    expect(current.error?.code).toBe('WORKER_ERR_INPUT');
    expect(current.error?.message).toContain('stage caption failed');
    expect(current.error?.message).toContain('the VLM model input is missing');
    expect(stage('caption')).toMatchObject({ state: 'failed', error: { code: 'WORKER_ERR_INPUT' } });
    const record = runRecordSchema.parse(
      JSON.parse(Buffer.from(await env.store.get(runRecordKey(run.id))).toString()),
    );
    expect(record.state).toBe('failed');
    expect(record.error?.code).toBe('WORKER_ERR_INPUT');

    // The queue drops the failed job (retention); the run stays failed.
    await worker.close({ timeoutMs: 1000 });
    worker = undefined;
    await env.queues.queue('caption').remove(jobId(run.id, 'caption', 1));
    expect((await status(run.id)).state).toBe('failed');

    // Cancel of a failed run is refused; resume puts the unfinished shard back.
    const cancel = await app.inject({ method: 'POST', url: `/v1/runs/${run.id}/cancel`, headers: KEY });
    expect(cancel.statusCode).toBe(409);
    expect(cancel.json<{ error: { code: string } }>().error.code).toBe('API_ERR_CONFLICT');
    const resumed = await app.inject({ method: 'POST', url: `/v1/runs/${run.id}/resume`, headers: KEY });
    expect(resumed.statusCode).toBe(200);
    expect(resumed.json<{ run: RunStatus }>().run.state).toBe('running');
    expect(await env.queues.queue('caption').getJobState(jobId(run.id, 'caption', 1))).toBe('waiting');
    // Shard 0's caption is done, so its synthesize job waits for nothing.
    expect(await env.queues.queue('synthesize').getJobState(jobId(run.id, 'synthesize', 0))).toBe('waiting');
  });

  it('reports success once publish is done', async () => {
    const body = { ...payload, name: 'status-ok', dataset: { location: datasetDir } };
    const run = (
      await app.inject({ method: 'POST', url: '/v1/runs', headers: KEY, payload: body })
    ).json<RunStatus>();
    const hashes = runConfigHashes(parseSpec(body));
    await writeDoneMarker(env.store, `runs/${run.id}/publish`, {
      runId: run.id,
      stage: 'publish',
      configHash: hashes.publish,
      artifacts: [],
      failures: [],
      createdAt: new Date().toISOString(),
    });
    const current = await status(run.id);
    expect(current.state).toBe('succeeded');
    const list = (await app.inject({ method: 'GET', url: '/v1/runs' })).json<{ runs: RunStatus[] }>();
    expect(list.runs.find((r) => r.id === run.id)?.state).toBe('succeeded');
  });
});
