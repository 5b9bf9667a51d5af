import { stat, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FastifyInstance } from 'fastify';

import {
  type RunStatus,
  jobId,
  planSchema,
  runRecordKey,
  runRecordSchema,
  shardItemsSchema,
  stageConfigHash,
} from '@synood/contracts';
import { type StageContext, runJobRefs, silentLogger } from '@synood/queue';
import { FileStore, writeDoneMarker } from '@synood/storage';

import {
  RUN_INDEX_PREFIX,
  buildApp,
  createPlanHandler,
  planKey,
  runConfigHashes,
  shardItemsKey,
} from '../src';
import { type TestEnv, eventually, jpeg, openTestEnv, parseSpec, specInput } from './helpers';

let env: TestEnv;
let app: FastifyInstance;
let datasetDir: string;

/** Images of the dataset: class folder, file, size and how noisy (noisier → more bytes per pixel). */
const IMAGES = [
  { key: 'cat/a.jpg', width: 64, height: 48, noise: 1 },
  { key: 'cat/b.jpg', width: 64, height: 48, noise: 0.1 },
  { key: 'cat/c.jpg', width: 32, height: 32, noise: 0.6 },
  { key: 'dog/d.jpg', width: 48, height: 48, noise: 0.8 },
  { key: 'dog/e.jpg', width: 40, height: 56, noise: 0 },
  { key: 'bird/f.jpg', width: 16, height: 16, noise: 0.5 },
] as const;

const KEY = { 'x-api-key': 'secret' };

beforeAll(async () => {
  env = await openTestEnv('runs');
  datasetDir = join(env.dir, 'dataset');
  for (const [i, image] of IMAGES.entries()) {
    await mkdir(join(datasetDir, image.key.split('/')[0]!), { recursive: true });
    await writeFile(join(datasetDir, image.key), await jpeg(image.width, image.height, i + 1, image.noise));
  }
  // Not an image at all: the plan must skip it, not fail.
  await writeFile(join(datasetDir, 'dog/broken.jpg'), Buffer.from('this is not a JPEG file at all'));
  await writeFile(join(datasetDir, 'classes.txt'), 'cat\ndog\n');
  app = await buildApp(env.deps, { runPlanWorker: false, auth: { keys: ['secret'] } });
});

afterAll(async () => {
  await app.close();
  await env.close();
});

function spec(name: string): ReturnType<typeof specInput> {
  return specInput(datasetDir, {
    name,
    dataset: { location: datasetDir, classNames: 'classes.txt' },
    stages: { selection: { perClass: 2 }, sharding: { imagesPerShard: 3 } },
  });
}

async function submit(name: string): Promise<RunStatus> {
  const res = await app.inject({ method: 'POST', url: '/v1/runs', headers: KEY, payload: spec(name) });
  expect([200, 201]).toContain(res.statusCode);
  return res.json<RunStatus>();
}

function ctx(runId: string): StageContext {
  return {
    jobId: jobId(runId, 'plan'),
    attempt: 1,
    signal: new AbortController().signal,
    progress: () => Promise.resolve(),
    log: silentLogger,
  };
}

async function plan(runId: string): Promise<void> {
  const record = runRecordSchema.parse(
    JSON.parse(Buffer.from(await env.store.get(runRecordKey(runId))).toString()),
  );
  const handler = createPlanHandler({
    store: env.store,
    queues: env.queues,
    openStore: (location) => new FileStore(location),
  });
  await handler({ runId, stage: 'plan', configHash: runConfigHashes(record.spec).plan }, ctx(runId));
}

async function status(runId: string): Promise<RunStatus> {
  const res = await app.inject({ method: 'GET', url: `/v1/runs/${runId}` });
  expect(res.statusCode).toBe(200);
  return res.json<RunStatus>();
}

async function stateOf(
  runId: string,
  ref: { stage: Parameters<typeof jobId>[1]; shard?: number },
): Promise<string> {
  return env.queues.queue(ref.stage).getJobState(jobId(runId, ref.stage, ref.shard));
}

describe('POST /v1/runs', () => {
  it('is idempotent: the same spec twice is one run, one record, one index entry, one plan job', async () => {
    const first = await app.inject({
      method: 'POST',
      url: '/v1/runs',
      headers: KEY,
      payload: spec('idempotent'),
    });
    const second = await app.inject({
      method: 'POST',
      url: '/v1/runs',
      headers: KEY,
      payload: spec('idempotent'),
    });
    expect(first.statusCode).toBe(201);
    expect(second.statusCode).toBe(200);
    const id = first.json<RunStatus>().id;
    expect(second.json<RunStatus>().id).toBe(id);
    expect(id).toMatch(/^r-[0-9a-f]{12}$/);
    expect(first.json<RunStatus>().state).toBe('queued');

    const indexed: string[] = [];
    for await (const key of env.store.list(RUN_INDEX_PREFIX)) {
      if (key.endsWith(`-${id}`)) {
        indexed.push(key);
      }
    }
    expect(indexed).toHaveLength(1);
    const planJobs = (await env.queues.queue('plan').getJobs(['waiting'])).filter(
      (j) => (j.data as { runId: string }).runId === id,
    );
    expect(planJobs.map((j) => j.id)).toEqual([jobId(id, 'plan')]);

    // Defaults filled in or given explicitly: the same spec, the same run.
    const explicit = { ...spec('idempotent'), seed: 0, oodSets: [] };
    const third = await app.inject({ method: 'POST', url: '/v1/runs', headers: KEY, payload: explicit });
    expect(third.statusCode).toBe(200);
    expect(third.json<RunStatus>().id).toBe(id);
  });

  it('gives concurrent submissions of one spec one run', async () => {
    const results = await Promise.all(
      [0, 1, 2].map(() =>
        app.inject({ method: 'POST', url: '/v1/runs', headers: KEY, payload: spec('concurrent') }),
      ),
    );
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 200, 201]);
    expect(new Set(results.map((r) => r.json<RunStatus>().id)).size).toBe(1);
  });

  it('lists runs newest first with a cursor', async () => {
    const a = await submit('list-a');
    await new Promise((r) => setTimeout(r, 5));
    const b = await submit('list-b');
    const page = await app.inject({ method: 'GET', url: '/v1/runs?limit=1' });
    const first = page.json<{ runs: RunStatus[]; nextCursor: string | null }>();
    expect(first.runs.map((r) => r.id)).toEqual([b.id]);
    expect(first.nextCursor).not.toBeNull();
    const next = await app.inject({ method: 'GET', url: `/v1/runs?limit=1&cursor=${first.nextCursor!}` });
    expect(next.json<{ runs: RunStatus[] }>().runs.map((r) => r.id)).toEqual([a.id]);
  });
});

describe('the plan stage', () => {
  it('selects the top k per class by bytes per pixel, shards them, skips the corrupt image, and enqueues the flow', async () => {
    const run = await submit('plan');
    await plan(run.id);

    // Expected selection from the files' sizes and the dimensions they were made with.
    const richness = new Map<string, number>();
    for (const image of IMAGES.filter((i) => i.key.startsWith('cat/') || i.key.startsWith('dog/'))) {
      richness.set(image.key, (await stat(join(datasetDir, image.key))).size / (image.width * image.height));
    }
    const top = (cls: string): string[] =>
      [...richness.entries()]
        .filter(([k]) => k.startsWith(`${cls}/`))
        .sort((x, y) => y[1] - x[1])
        .slice(0, 2)
        .map(([k]) => k);
    const expected = [
      ...top('cat').map((k) => ({ key: k, classIndex: 0 })),
      ...top('dog').map((k) => ({ key: k, classIndex: 1 })),
    ];

    const planJson = planSchema.parse(
      JSON.parse(Buffer.from(await env.store.get(planKey(run.id))).toString()),
    );
    expect(planJson.classes).toEqual(['cat', 'dog']);
    expect(planJson.listed).toBe(7);
    expect(planJson.selected).toBe(4);
    expect(planJson.shards).toBe(2);
    expect(planJson.shardSize).toBe(3);
    expect(planJson.skipped.map((s) => s.key)).toEqual(['bird/f.jpg', 'dog/broken.jpg']);
    expect(planJson.skipped[1]!.reason).toMatch(/^VISION_ERR_DECODE: /);
    expect(planJson.skipped[0]!.reason).toContain('not in the class-name file');

    const shards = [0, 1].map(async (n) =>
      shardItemsSchema.parse(
        JSON.parse(Buffer.from(await env.store.get(shardItemsKey(run.id, n))).toString()),
      ),
    );
    const [s0, s1] = await Promise.all(shards);
    expect(s0!.shard).toBe(0);
    expect(s1!.shard).toBe(1);
    expect([...s0!.items, ...s1!.items].map((i) => ({ key: i.key, classIndex: i.classIndex }))).toEqual(
      expected,
    );
    expect(s0!.items).toHaveLength(3);

    const current = await status(run.id);
    expect(current.state).toBe('running');
    const planStage = current.stages.find((s) => s.stage === 'plan')!;
    expect(planStage).toMatchObject({
      state: 'done',
      jobs: { total: 1, done: 1 },
      items: { processed: 4, failed: 1, skipped: 1 },
    });
    expect(current.stages.find((s) => s.stage === 'caption')).toMatchObject({
      state: 'pending',
      jobs: { total: 2, done: 0 },
    });

    // Every job of the flow exists; the leaves wait, their parents wait for children.
    for (const ref of runJobRefs(run.id, 2)) {
      const state = await env.queues.queue(ref.stage).getJobState(ref.id);
      expect([ref.id, state]).toEqual([
        ref.id,
        ref.stage === 'caption' || ref.stage === 'mine' ? 'waiting' : 'waiting-children',
      ]);
    }
    const caption = await env.queues.queue('caption').getJob(jobId(run.id, 'caption', 1));
    expect(caption?.data).toEqual({
      runId: run.id,
      stage: 'caption',
      shard: 1,
      configHash: runConfigHashes(parseSpec(spec('plan'))).caption,
      itemsKey: shardItemsKey(run.id, 1),
    });

    // Planning again (a retried job) reads the plan back and adds nothing.
    await plan(run.id);
    expect(await env.queues.queue('caption').getWaitingCount()).toBe(2);
  });

  it('runs in the API process: a submitted run gets planned by the worker', async () => {
    const withWorker = await buildApp(env.deps, { auth: { keys: ['secret'] } });
    try {
      // The datasets of these specs are plain paths, which the default openStore opens.
      const res = await withWorker.inject({
        method: 'POST',
        url: '/v1/runs',
        headers: KEY,
        payload: spec('worker'),
      });
      expect(res.statusCode).toBe(201);
      const id = res.json<RunStatus>().id;
      // The plan writes its done-marker, then the run record (shards, state), then enqueues the flow: a
      // poll can land between those steps, so wait for the record's update.
      const planned = await eventually(async () => {
        const s = (await withWorker.inject({ method: 'GET', url: `/v1/runs/${id}` })).json<RunStatus>();
        const encode = s.stages.find((stage) => stage.stage === 'encode')!;
        return s.stages[0]!.state === 'done' && encode.jobs.total > 0 ? s : undefined;
      });
      expect(planned.state).toBe('running');
      expect(planned.stages.find((s) => s.stage === 'encode')!.jobs.total).toBe(2);
      const captionState = await eventually(async () => {
        const state = await stateOf(id, { stage: 'caption', shard: 0 });
        return state === 'unknown' ? undefined : state;
      });
      expect(captionState).toBe('waiting');
    } finally {
      await withWorker.close();
    }
  });
});

describe('cancel and resume', () => {
  it('cancel removes every waiting job; resume re-adds only unfinished ones', async () => {
    const run = await submit('cancel');
    await plan(run.id);
    const refs = runJobRefs(run.id, 2);

    const cancelled = await app.inject({ method: 'POST', url: `/v1/runs/${run.id}/cancel`, headers: KEY });
    expect(cancelled.statusCode).toBe(200);
    const body = cancelled.json<{ run: RunStatus; removed: number; signalled: number }>();
    // The flow's jobs, and the submission's plan job still waiting (the test planned the run directly).
    expect(body.removed).toBe(refs.length + 1);
    expect(await stateOf(run.id, { stage: 'plan' })).toBe('unknown');
    expect(body.signalled).toBe(0);
    expect(body.run.state).toBe('cancelled');
    for (const ref of refs) {
      expect(await env.queues.queue(ref.stage).getJobState(ref.id)).toBe('unknown');
    }
    expect((await status(run.id)).stages.find((s) => s.stage === 'caption')!.state).toBe('cancelled');
    // Cancelling again is harmless.
    expect(
      (await app.inject({ method: 'POST', url: `/v1/runs/${run.id}/cancel`, headers: KEY })).statusCode,
    ).toBe(200);

    // Caption shard 0 finished before the cancel: its done-marker is there.
    const hashes = runConfigHashes(parseSpec(spec('cancel')));
    await writeDoneMarker(env.store, `runs/${run.id}/caption/00000`, {
      runId: run.id,
      stage: 'caption',
      shard: 0,
      configHash: hashes.caption,
      artifacts: [],
      failures: [],
      counts: { processed: 3, failed: 0, skipped: 0 },
      createdAt: new Date().toISOString(),
    });
    const resumed = await app.inject({ method: 'POST', url: `/v1/runs/${run.id}/resume`, headers: KEY });
    expect(resumed.statusCode).toBe(200);
    const r = resumed.json<{ run: RunStatus; added: number; done: number }>();
    expect(r.added).toBe(refs.length - 1);
    expect(r.run.state).toBe('running');
    expect(await stateOf(run.id, { stage: 'caption', shard: 0 })).toBe('unknown');
    expect(await stateOf(run.id, { stage: 'caption', shard: 1 })).toBe('waiting');
    expect(await stateOf(run.id, { stage: 'synthesize', shard: 0 })).toBe('waiting');
    expect(await stateOf(run.id, { stage: 'synthesize', shard: 1 })).toBe('waiting-children');
    const caption = r.run.stages.find((s) => s.stage === 'caption')!;
    expect(caption).toMatchObject({
      state: 'running',
      jobs: { total: 2, done: 1 },
      items: { processed: 3, failed: 0 },
    });
  });

  it('cancels a run before it is planned, and resume plans it again', async () => {
    const run = await submit('cancel-early');
    expect(await stateOf(run.id, { stage: 'plan' })).toBe('waiting');
    const res = await app.inject({ method: 'POST', url: `/v1/runs/${run.id}/cancel`, headers: KEY });
    expect(res.json<{ removed: number }>().removed).toBe(1);
    expect(await stateOf(run.id, { stage: 'plan' })).toBe('unknown');
    const resumed = await app.inject({ method: 'POST', url: `/v1/runs/${run.id}/resume`, headers: KEY });
    expect(resumed.json<{ run: RunStatus }>().run.state).toBe('queued');
    expect(await stateOf(run.id, { stage: 'plan' })).toBe('waiting');
  });

  it('answers 404 for unknown runs', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/runs/r-ffffffffffff/cancel', headers: KEY });
    expect(res.statusCode).toBe(404);
  });
});

describe('artifacts and report', () => {
  it('lists the run objects with sizes and stages, and serves the report once written', async () => {
    const run = await submit('artifacts');
    await plan(run.id);
    const res = await app.inject({ method: 'GET', url: `/v1/runs/${run.id}/artifacts` });
    const { artifacts } = res.json<{ artifacts: { key: string; size: number; stage: string | null }[] }>();
    const planFile = artifacts.find((a) => a.key === planKey(run.id));
    expect(planFile).toEqual({
      key: planKey(run.id),
      size: (await env.store.stat(planKey(run.id)))!.size,
      stage: 'plan',
    });
    expect(artifacts.find((a) => a.key === runRecordKey(run.id))?.stage).toBeNull();

    const paged = await app.inject({ method: 'GET', url: `/v1/runs/${run.id}/artifacts?stage=plan&limit=2` });
    const page = paged.json<{ artifacts: { key: string }[]; nextCursor: string | null }>();
    expect(page.artifacts).toHaveLength(2);
    const rest = await app.inject({
      method: 'GET',
      url: `/v1/runs/${run.id}/artifacts?stage=plan&limit=100&cursor=${encodeURIComponent(page.nextCursor!)}`,
    });
    const all = [...page.artifacts, ...rest.json<{ artifacts: { key: string }[] }>().artifacts].map(
      (a) => a.key,
    );
    // plan.json, two shard files, the done-marker.
    expect(all).toEqual([...all].sort());
    expect(all).toHaveLength(4);

    const missing = await app.inject({ method: 'GET', url: `/v1/runs/${run.id}/report` });
    expect(missing.statusCode).toBe(404);
    expect(missing.json<{ error: { code: string } }>().error.code).toBe('API_ERR_NOT_FOUND');
    await env.store.put(`runs/${run.id}/evaluate/report.html`, Buffer.from('<html>report</html>'));
    const report = await app.inject({ method: 'GET', url: `/v1/runs/${run.id}/report` });
    expect(report.statusCode).toBe(200);
    expect(report.headers['content-type']).toMatch(/^text\/html/);
    expect(report.body).toBe('<html>report</html>');
  });
});

describe('config hashes', () => {
  it('changes downstream hashes only', () => {
    const a = runConfigHashes(parseSpec(spec('h')));
    const b = runConfigHashes(
      parseSpec({ ...spec('h'), stages: { ...spec('h').stages, labels: { epochs: 9 } } }),
    );
    expect(b.plan).toBe(a.plan);
    expect(b.encode).toBe(a.encode);
    expect(b['train-projection']).toBe(a['train-projection']);
    expect(b['train-labels']).not.toBe(a['train-labels']);
    expect(b.evaluate).not.toBe(a.evaluate);
    expect(b.publish).not.toBe(a.publish);
    expect(a.caption).not.toBe(stageConfigHash(parseSpec(spec('h')), 'caption'));
  });
});
