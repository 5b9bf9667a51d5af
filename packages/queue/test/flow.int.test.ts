/**
 * Run flows against a real Redis: dependency order, idempotent enqueue, cancel and resume. One prefix
 * per file, removed in afterAll.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';

import { createMetrics } from '@synood/metrics';

import {
  FLOW_STAGES,
  type FlowStage,
  type RunQueues,
  type StageContext,
  type StageJobEvent,
  type StageWorker,
  cancelRun,
  enqueueRun,
  openQueues,
  queueDepths,
  resumeRun,
  startStageWorker,
} from '../src';
import {
  FAST_RETRIES,
  REDIS_URL,
  keysUnder,
  payloadsFor,
  resultOf,
  sleep,
  uniquePrefix,
  waitFor,
} from './helpers';

const prefix = uniquePrefix('flow');
let queues: RunQueues;
const workers: StageWorker[] = [];

/** What a fake stage did: `stage` or `stage.shard`, per run, in start order. */
const started = new Map<string, string[]>();
const events: StageJobEvent[] = [];

type Behaviour = (label: string, ctx: StageContext) => Promise<void>;
/** Per-run behaviour of the fake handlers (default: finish at once). */
const behaviours = new Map<string, Behaviour>();

async function startWorkers(
  stages: readonly FlowStage[],
  metrics?: ReturnType<typeof createMetrics>,
): Promise<void> {
  for (const stage of stages) {
    const worker = await startStageWorker({
      stage,
      connection: REDIS_URL,
      prefix,
      ...(metrics === undefined ? {} : { metrics }),
      handler: async (payload, ctx) => {
        const label = 'shard' in payload ? `${stage}.${payload.shard}` : stage;
        const list = started.get(payload.runId) ?? [];
        list.push(label);
        started.set(payload.runId, list);
        await behaviours.get(payload.runId)?.(label, ctx);
        return resultOf(1);
      },
    });
    worker.onJob((e) => events.push(e));
    workers.push(worker);
  }
}

function completed(jobId: string): boolean {
  return events.some((e) => e.jobId === jobId && e.outcome === 'completed');
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

describe('run flows', () => {
  it('runs every stage once, in dependency order, and enqueueing twice adds nothing', async () => {
    const runId = 'order-run';
    const first = await enqueueRun(queues, { runId, shards: 2, payloads: payloadsFor(runId) });
    const second = await enqueueRun(queues, { runId, shards: 2, payloads: payloadsFor(runId) });
    expect(second).toEqual(first);
    expect(first.root).toBe('order-run.publish');
    const depths = await queueDepths(queues);
    // Before any worker runs: the two captions wait, everything else waits for its children.
    expect(depths.caption).toMatchObject({ waiting: 2, 'waiting-children': 0 });
    expect(depths.synthesize).toMatchObject({ waiting: 0, 'waiting-children': 2 });
    expect(depths.encode).toMatchObject({ waiting: 0, 'waiting-children': 2 });
    expect(depths.mine).toMatchObject({ waiting: 1 });
    for (const stage of ['assign', 'train-projection', 'train-labels', 'evaluate', 'publish'] as const) {
      expect(depths[stage]).toMatchObject({ waiting: 0, 'waiting-children': 1 });
    }

    await startWorkers(FLOW_STAGES);
    await waitFor(() => completed(first.root), 10_000, 'publish');
    const order = started.get(runId)!;
    expect([...order].sort()).toEqual(
      [
        'caption.0',
        'caption.1',
        'synthesize.0',
        'synthesize.1',
        'encode.0',
        'encode.1',
        'mine',
        'assign',
        'train-projection',
        'train-labels',
        'evaluate',
        'publish',
      ].sort(),
    );
    const before = (a: string, b: string): boolean => order.indexOf(a) < order.indexOf(b);
    for (const shard of [0, 1]) {
      expect(before(`caption.${shard}`, `synthesize.${shard}`)).toBe(true);
      expect(before(`synthesize.${shard}`, `encode.${shard}`)).toBe(true);
      expect(before(`encode.${shard}`, 'assign')).toBe(true);
    }
    expect(before('mine', 'assign')).toBe(true);
    const chain = ['assign', 'train-projection', 'train-labels', 'evaluate', 'publish'];
    for (let i = 1; i < chain.length; i++) {
      expect(before(chain[i - 1]!, chain[i]!)).toBe(true);
    }

    // Enqueueing the finished run again finds every id and adds nothing.
    await enqueueRun(queues, { runId, shards: 2, payloads: payloadsFor(runId) });
    await sleep(300);
    expect(started.get(runId)).toHaveLength(12);
  });

  it('measures a parent job’s queue wait from its last child’s finish, not from its creation', async () => {
    const metrics = createMetrics({ collectDefault: false, prefix: 'w_' });
    const runId = 'wait-run';
    behaviours.set(runId, async (label) => {
      if (label === 'caption.0') {
        await sleep(400);
      }
    });
    await startWorkers(FLOW_STAGES, metrics);
    const { root } = await enqueueRun(queues, { runId, shards: 1, payloads: payloadsFor(runId) });
    await waitFor(() => completed(root), 10_000, 'publish');
    await waitFor(
      async () => (await metrics.metricsText()).includes('w_stage_job_wait_seconds_count{stage="publish"} 1'),
      5000,
      'the publish wait',
    );
    const text = await metrics.metricsText();
    // assign was created before caption.0 slept 400 ms; from its children's finish it waited < 250 ms.
    expect(text).toContain('w_stage_job_wait_seconds_bucket{le="0.25",stage="assign"} 1');
    // caption.0 itself waited for nothing.
    expect(text).toContain('w_stage_job_wait_seconds_bucket{le="0.25",stage="caption"} 1');
  });

  it('cancel removes waiting jobs and aborts the active one within 2 s; resume re-adds only unfinished jobs', async () => {
    const runId = 'cancel-run';
    let abortedAfterMs = -1;
    let cancelAt = 0;
    behaviours.set(runId, async (label, ctx) => {
      if (label === 'caption.0') {
        await new Promise<void>((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            abortedAfterMs = Date.now() - cancelAt;
            resolve();
          });
        });
        ctx.signal.throwIfAborted();
      }
    });
    // Only caption (concurrency 1): caption.0 runs, caption.1 and everything else waits.
    await startWorkers(['caption']);
    const { jobIds } = await enqueueRun(queues, { runId, shards: 2, payloads: payloadsFor(runId) });
    await waitFor(() => started.get(runId)?.includes('caption.0') === true, 5000, 'caption.0 to start');

    cancelAt = Date.now();
    const result = await cancelRun(queues, { runId, shards: 2 });
    expect(result.signalled).toEqual(['cancel-run.caption.00000']);
    expect([...result.removed].sort()).toEqual(
      jobIds.filter((id) => id !== 'cancel-run.caption.00000').sort(),
    );
    await waitFor(() => events.some((e) => e.jobId === 'cancel-run.caption.00000'), 2000, 'the abort');
    expect(abortedAfterMs).toBeGreaterThanOrEqual(0);
    expect(abortedAfterMs).toBeLessThan(2000);
    const caption0 = await queues.queue('caption').getJob('cancel-run.caption.00000');
    expect(await caption0!.getState()).toBe('failed');
    expect(caption0!.failedReason).toBe('RUN_ERR_CANCELLED: run cancel-run was cancelled');
    expect(caption0!.attemptsMade).toBe(1);
    const depths = await queueDepths(queues);
    for (const stage of FLOW_STAGES) {
      expect(depths[stage]).toMatchObject({ waiting: 0, delayed: 0, 'waiting-children': 0, active: 0 });
    }
    expect(started.get(runId)).toEqual(['caption.0']);

    // Resume: shard 1's caption output exists (done-marker), everything else is unfinished.
    behaviours.delete(runId);
    await startWorkers(FLOW_STAGES.filter((s) => s !== 'caption'));
    const resumed = await resumeRun(queues, {
      runId,
      shards: 2,
      payloads: payloadsFor(runId),
      isDone: async (job) => Promise.resolve(job.stage === 'caption' && job.shard === 1),
    });
    expect(resumed.done).toEqual(['cancel-run.caption.00001']);
    expect(resumed.added).toEqual(jobIds.filter((id) => id !== 'cancel-run.caption.00001'));
    await waitFor(() => completed('cancel-run.publish'), 10_000, 'publish after resume');
    const order = started.get(runId)!;
    // caption.0 ran again (its earlier run was cancelled); caption.1 did not run at all.
    expect(order.filter((l) => l.startsWith('caption'))).toEqual(['caption.0', 'caption.0']);
    expect(order).toHaveLength(1 + 11);
  });

  it('resume skips the subtree of a finished job and adds nothing for a finished run', async () => {
    const runId = 'resume-run';
    // Jobs from an earlier attempt: left waiting (no workers), to be replaced by resume.
    await enqueueRun(queues, { runId, shards: 3, payloads: payloadsFor(runId) });
    const resumed = await resumeRun(queues, {
      runId,
      shards: 3,
      payloads: payloadsFor(runId),
      // mine and encode of shards 0 and 2 are done: their subtrees (synthesize, caption) are never asked.
      isDone: async (job) =>
        Promise.resolve(job.stage === 'mine' || (job.stage === 'encode' && job.shard !== 1)),
    });
    expect(resumed.done).toEqual(['resume-run.mine', 'resume-run.encode.00000', 'resume-run.encode.00002']);
    expect(resumed.added).toEqual([
      'resume-run.publish',
      'resume-run.evaluate',
      'resume-run.train-labels',
      'resume-run.train-projection',
      'resume-run.assign',
      'resume-run.encode.00001',
      'resume-run.synthesize.00001',
      'resume-run.caption.00001',
    ]);
    const depths = await queueDepths(queues);
    expect(depths.caption.waiting).toBe(1);
    expect(depths.mine.waiting).toBe(0);
    expect(await queues.queue('caption').getJob('resume-run.caption.00000')).toBeUndefined();

    await startWorkers(FLOW_STAGES);
    await waitFor(() => completed('resume-run.publish'), 10_000, 'publish');
    expect(started.get(runId)).toEqual([
      'caption.1',
      'synthesize.1',
      'encode.1',
      'assign',
      'train-projection',
      'train-labels',
      'evaluate',
      'publish',
    ]);
    const again = await resumeRun(queues, {
      runId,
      shards: 3,
      payloads: payloadsFor(runId),
      isDone: async () => Promise.resolve(true),
    });
    expect(again).toEqual({ added: [], done: ['resume-run.publish'] });
  });

  it('refuses to resume a run with active jobs', async () => {
    const runId = 'busy-run';
    let release!: () => void;
    behaviours.set(runId, async () => {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    await startWorkers(['caption']);
    await enqueueRun(queues, { runId, shards: 1, payloads: payloadsFor(runId) });
    await waitFor(() => started.get(runId) !== undefined, 5000, 'caption to start');
    await expect(
      resumeRun(queues, {
        runId,
        shards: 1,
        payloads: payloadsFor(runId),
        isDone: async () => Promise.resolve(false),
      }),
    ).rejects.toMatchObject({ code: 'QUEUE_ERR_RUN_ACTIVE' });
    release();
    await waitFor(() => completed('busy-run.caption.00000'), 5000, 'caption');
  });
});
