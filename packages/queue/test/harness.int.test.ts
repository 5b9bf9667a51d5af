/**
 * The worker harness against a real Redis: progress, payload validation, retries, graceful close,
 * dependency pausing and metrics. One prefix per file, removed in afterAll.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';

import { SynoodError } from '@synood/contracts';
import { createMetrics } from '@synood/metrics';

import {
  type RunQueues,
  cancelRun,
  type StageHandler,
  type StageJobEvent,
  type StageWorker,
  type StageWorkerOptions,
  enqueueStageJob,
  openQueues,
  queueDepths,
  startStageWorker,
} from '../src';
import {
  FAST_RETRIES,
  REDIS_URL,
  gate,
  keysUnder,
  resultOf,
  sleep,
  uniquePrefix,
  untilAborted,
  waitFor,
} from './helpers';

const prefix = uniquePrefix('harness');
let queues: RunQueues;
const workers: StageWorker[] = [];
let runCounter = 0;

/** A fresh run id per test, so job ids never collide. */
function nextRun(): string {
  runCounter += 1;
  return `hrun-${runCounter}`;
}

function encodePayload(runId: string, shard = 0) {
  return {
    runId,
    stage: 'encode' as const,
    shard,
    configHash: 'e0e0e0e0e0e0e0e0',
    itemsKey: `runs/${runId}/shards/${shard}.json`,
  };
}

async function encodeWorker(
  handler: StageHandler<'encode'>,
  extra: Partial<StageWorkerOptions<'encode'>> = {},
): Promise<{ worker: StageWorker; events: StageJobEvent[] }> {
  const worker = await startStageWorker({
    stage: 'encode',
    connection: REDIS_URL,
    prefix,
    handler,
    ...extra,
  });
  workers.push(worker);
  const events: StageJobEvent[] = [];
  worker.onJob((e) => events.push(e));
  return { worker, events };
}

beforeAll(async () => {
  queues = await openQueues({ redis: REDIS_URL, prefix, options: FAST_RETRIES });
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.close({ timeoutMs: 0, graceMs: 1000 })));
});

afterAll(async () => {
  await queues.obliterate();
  expect(await keysUnder(queues)).toEqual([]);
  await queues.close();
});

describe('startStageWorker', () => {
  it('stores progress updates on the job while it runs', async () => {
    const release = gate();
    const reported = gate();
    const { events } = await encodeWorker(async (_payload, ctx) => {
      await ctx.progress({ done: 32, total: 64 });
      reported.open();
      await release.promise;
      await ctx.progress({ done: 64, total: 64 });
      return resultOf(64);
    });
    const id = await enqueueStageJob(queues, encodePayload(nextRun()));
    await reported.promise;
    // Written in the background: visible within a round trip.
    await waitFor(
      async () =>
        JSON.stringify((await queues.queue('encode').getJob(id))!.progress) === '{"done":32,"total":64}',
      2000,
      'the progress',
    );
    release.open();
    await waitFor(() => events.some((e) => e.jobId === id), 5000, 'completion');
    const done = await queues.queue('encode').getJob(id);
    expect(done!.progress).toEqual({ done: 64, total: 64 });
    expect(await done!.getState()).toBe('completed');
    expect(done!.returnvalue).toMatchObject({ status: 'completed', counts: { processed: 64 } });
  });

  it('sends a report still held back by the throttle before the job completes', async () => {
    const { events } = await encodeWorker(
      async (_payload, ctx) => {
        await ctx.progress({ done: 16, total: 64 });
        // Within the 60 s throttle: held back, then sent on the way out, ahead of the completion.
        await ctx.progress({ done: 48, total: 64 });
        return resultOf(48);
      },
      { progressIntervalMs: 60_000 },
    );
    const id = await enqueueStageJob(queues, encodePayload(nextRun()));
    await waitFor(() => events.some((e) => e.jobId === id), 5000, 'completion');
    const done = await queues.queue('encode').getJob(id);
    expect(await done!.getState()).toBe('completed');
    expect(done!.progress).toEqual({ done: 48, total: 64 });
  });

  it('fails a job with an invalid payload at once, without calling the handler or retrying', async () => {
    let calls = 0;
    const { events } = await encodeWorker(async () => {
      calls += 1;
      return Promise.resolve(resultOf(1));
    });
    const runId = nextRun();
    // Bypasses enqueueStageJob's validation, as a mis-deployed producer would.
    await queues
      .queue('encode')
      .add('encode', { runId, stage: 'encode', shard: 'zero' }, { jobId: `${runId}.bad`, attempts: 3 });
    await waitFor(() => events.some((e) => e.outcome === 'failed'), 5000, 'the failure');
    const job = await queues.queue('encode').getJob(`${runId}.bad`);
    expect(await job!.getState()).toBe('failed');
    expect(job!.attemptsMade).toBe(1);
    expect(job!.failedReason).toMatch(
      /^JOB_ERR_PAYLOAD: synood\.encode job hrun-\d+\.bad has an invalid payload \(/,
    );
    expect(job!.failedReason).toContain('shard');
    expect(calls).toBe(0);
    expect(events).toEqual([expect.objectContaining({ outcome: 'failed', willRetry: false, attempt: 1 })]);
  });

  it('retries transient errors with backoff, then succeeds', async () => {
    const attempts: number[] = [];
    const { events } = await encodeWorker(async (_payload, ctx) => {
      attempts.push(ctx.attempt);
      if (ctx.attempt === 1) {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), { code: 'ECONNREFUSED' });
      }
      if (ctx.attempt === 2) {
        throw new SynoodError('API_ERR_UNAVAILABLE', 'model server is restarting');
      }
      return Promise.resolve(resultOf(8));
    });
    const id = await enqueueStageJob(queues, encodePayload(nextRun()));
    await waitFor(() => events.some((e) => e.outcome === 'completed'), 5000, 'completion');
    expect(attempts).toEqual([1, 2, 3]);
    expect(events.map((e) => [e.outcome, e.attempt, e.willRetry])).toEqual([
      ['failed', 1, true],
      ['failed', 2, true],
      ['completed', 3, undefined],
    ]);
    expect(events[1]!.error).toBe('API_ERR_UNAVAILABLE: model server is restarting');
    const job = await queues.queue('encode').getJob(id);
    expect(await job!.getState()).toBe('completed');
  });

  it('fails coded (permanent) errors at once with the code in the failed reason', async () => {
    let calls = 0;
    const { events } = await encodeWorker(async () => {
      calls += 1;
      return Promise.reject(
        Object.assign(new Error('no CLIP input pixel_values'), { code: 'ONNX_ERR_INPUT' }),
      );
    });
    const id = await enqueueStageJob(queues, encodePayload(nextRun()));
    await waitFor(() => events.length > 0, 5000, 'the failure');
    const job = await queues.queue('encode').getJob(id);
    expect(await job!.getState()).toBe('failed');
    expect(job!.failedReason).toBe('ONNX_ERR_INPUT: no CLIP input pixel_values');
    expect(calls).toBe(1);
  });

  it('rejects a handler result that is not a StageResult', async () => {
    const { events } = await encodeWorker(async () => Promise.resolve({ status: 'done' } as never));
    const id = await enqueueStageJob(queues, encodePayload(nextRun()));
    await waitFor(() => events.length > 0, 5000, 'the failure');
    const job = await queues.queue('encode').getJob(id);
    expect(job!.failedReason).toMatch(/^QUEUE_ERR_RESULT: synood\.encode handler returned an invalid result/);
    expect(job!.attemptsMade).toBe(1);
  });

  it('close waits for an active job that finishes within the timeout', async () => {
    const started = gate();
    const { worker, events } = await encodeWorker(async () => {
      started.open();
      await sleep(200);
      return resultOf(4);
    });
    const id = await enqueueStageJob(queues, encodePayload(nextRun()));
    await started.promise;
    await worker.close({ timeoutMs: 5000 });
    expect(events.map((e) => e.outcome)).toEqual(['completed']);
    expect(await (await queues.queue('encode').getJob(id))!.getState()).toBe('completed');
  });

  it('close aborts a job that outlasts the timeout and returns it to the queue without using a try', async () => {
    const started = gate();
    let aborted: unknown;
    const first = await encodeWorker(async (_payload, ctx) => {
      started.open();
      try {
        return await untilAborted(ctx.signal);
      } catch (error) {
        aborted = error;
        throw error;
      }
    });
    const id = await enqueueStageJob(queues, encodePayload(nextRun()));
    await started.promise;
    const t0 = Date.now();
    await first.worker.close({ timeoutMs: 100, graceMs: 2000 });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect((aborted as { code?: string }).code).toBe('QUEUE_ERR_SHUTDOWN');
    expect(first.events.map((e) => e.outcome)).toEqual(['returned']);
    const job = await queues.queue('encode').getJob(id);
    expect(await job!.getState()).toBe('waiting');
    expect(job!.attemptsMade).toBe(0);

    const second = await encodeWorker(async (_payload, ctx) =>
      Promise.resolve({ ...resultOf(2), seconds: ctx.attempt }),
    );
    await waitFor(() => second.events.length > 0, 5000, 'the second worker');
    expect(second.events).toEqual([expect.objectContaining({ jobId: id, outcome: 'completed' })]);
    const finished = await queues.queue('encode').getJob(id);
    // The returned run did not count as a try: the second worker ran attempt 1.
    expect(finished!.returnvalue).toMatchObject({ seconds: 1 });
  });

  it('gives back the job of a handler that ignores the abort, after the grace period', async () => {
    const started = gate();
    const release = gate();
    const { worker, events } = await encodeWorker(async () => {
      started.open();
      await release.promise;
      return resultOf(1);
    });
    const id = await enqueueStageJob(queues, encodePayload(nextRun()));
    await started.promise;
    await worker.close({ timeoutMs: 50, graceMs: 100 });
    expect(events.map((e) => e.outcome)).toEqual(['returned']);
    expect(await (await queues.queue('encode').getJob(id))!.getState()).toBe('waiting');
    release.open();
    await sleep(100);
    // The late result was not stored: the job is still waiting for a worker.
    expect(await (await queues.queue('encode').getJob(id))!.getState()).toBe('waiting');
    await queues.queue('encode').remove(id);
  });

  it('pauses while a dependency check fails and resumes when it passes', async () => {
    let healthy = false;
    const calls: string[] = [];
    const { worker, events } = await encodeWorker(
      async (payload) => {
        calls.push(payload.runId);
        return Promise.resolve(resultOf(1));
      },
      {
        dependencies: [{ name: 'model-server', check: async () => Promise.resolve(healthy) }],
        dependencyIntervalMs: 50,
      },
    );
    expect(worker.isPaused()).toBe(true);
    const runId = nextRun();
    const id = await enqueueStageJob(queues, encodePayload(runId));
    await sleep(300);
    expect(calls).toEqual([]);
    expect(await (await queues.queue('encode').getJob(id))!.getState()).toBe('waiting');

    healthy = true;
    await waitFor(() => events.length > 0, 5000, 'the job after resuming');
    expect(worker.isPaused()).toBe(false);
    expect(calls).toEqual([runId]);

    // Down again: a check that throws or hangs past the timeout counts as down.
    healthy = false;
    expect(await worker.checkDependencies()).toBe(false);
    expect(worker.isPaused()).toBe(true);
    const second = await enqueueStageJob(queues, encodePayload(runId, 1));
    await sleep(300);
    expect(calls).toEqual([runId]);
    healthy = true;
    expect(await worker.checkDependencies()).toBe(true);
    await waitFor(() => events.length > 1, 5000, 'the second job');
    expect(events.map((e) => e.jobId)).toEqual([id, second]);
  });

  it('treats a dependency check that throws or hangs as down', async () => {
    const { worker } = await encodeWorker(async () => Promise.resolve(resultOf(1)), {
      dependencies: [
        { name: 'storage', check: async () => Promise.reject(new Error('ECONNREFUSED')) },
        { name: 'slow', check: () => new Promise(() => undefined) },
      ],
      dependencyIntervalMs: 10_000,
      dependencyTimeoutMs: 50,
    });
    expect(worker.isPaused()).toBe(true);
  });

  it('refuses jobs of a cancelled run until the run is resumed', async () => {
    const calls: string[] = [];
    const { events } = await encodeWorker(async (_payload, ctx) => {
      calls.push(ctx.jobId);
      return Promise.resolve(resultOf(1));
    });
    const runId = nextRun();
    expect(await cancelRun(queues, { runId, shards: 1 })).toEqual({ removed: [], signalled: [] });
    const refused = await enqueueStageJob(queues, encodePayload(runId, 0));
    await waitFor(() => events.length > 0, 5000, 'the refusal');
    const job = await queues.queue('encode').getJob(refused);
    expect(job!.failedReason).toBe(`RUN_ERR_CANCELLED: run ${runId} was cancelled`);
    expect(job!.attemptsMade).toBe(1);
    expect(calls).toEqual([]);
  });

  it('records stage metrics from job timestamps and results', async () => {
    const metrics = createMetrics({ collectDefault: false });
    const { events } = await encodeWorker(
      async (_payload, ctx) => {
        await ctx.progress({ done: 64, total: 64 });
        return ctx.jobId.endsWith('00002') ? resultOf(64, 'skipped') : resultOf(64);
      },
      { metrics },
    );
    const runId = nextRun();
    for (const shard of [0, 1, 2]) {
      await enqueueStageJob(queues, encodePayload(runId, shard));
    }
    await waitFor(() => events.length === 3, 5000, 'three jobs');
    await waitFor(
      async () =>
        (await metrics.metricsText()).includes('synood_stage_job_wait_seconds_count{stage="encode"} 3'),
      5000,
      'the wait histogram',
    );
    const text = await metrics.metricsText();
    expect(text).toContain('synood_stage_job_duration_seconds_count{stage="encode",status="completed"} 2');
    expect(text).toContain('synood_stage_job_duration_seconds_count{stage="encode",status="skipped"} 1');
    expect(text).toContain('synood_stage_items_total{stage="encode",outcome="processed"} 128');
    expect(text).toContain('synood_stage_items_total{stage="encode",outcome="skipped"} 64');
    // 3 × 64 images handled (progress) within the 30 s window: 192 / 30 = 6.4 images/s.
    expect(text).toContain('synood_stage_images_per_second{stage="encode"} 6.4');

    const depths = await queueDepths(queues, metrics);
    expect(depths.encode.active).toBe(0);
    expect(await metrics.metricsText()).toContain(
      `synood_queue_jobs{queue="synood.encode",state="completed"} ${depths.encode.completed}`,
    );
    expect(depths.encode.completed).toBeGreaterThanOrEqual(3);
  });
});
