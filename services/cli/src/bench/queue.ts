/**
 * @file `synood bench queue`: what the job queue costs per job and per image, against the work time
 * of a stage. One `encode` worker (concurrency 1, as GPU stages run) consumes shard jobs of 64 images
 * through the real harness (`@synood/queue`: payload validation, progress, result validation) on the
 * Redis at `REDIS_URL`. Handlers busy-wait a fixed time per image, blocking the event loop the way an
 * onnxruntime call does, and report progress every 16 images.
 *
 * Overhead per job = (wall time from the first handler start to the last completion − the measured
 * busy time) ÷ jobs, with the queue kept full: fetching, validation, progress reporting and
 * completion, i.e. the time a GPU would sit idle per shard. The goal is < 1 % of the stage's work time
 * (perf-anchors §7).
 */
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';

import { loadCommonConfig } from '@synood/config';
import type { ShardPayload, StageResult } from '@synood/contracts';
import {
  type RunQueues,
  type StageWorker,
  enqueueRun,
  enqueueStageJob,
  openQueues,
  pingRedis,
  redactRedisUrl,
  startStageWorker,
} from '@synood/queue';

import type { BenchSuite } from './suite';

/** Images per shard job: the platform default (design §2). */
const IMAGES_PER_JOB = 64;
/** Images between two progress reports inside a job. */
const PROGRESS_EVERY = 16;

/** One known-work scenario. */
export interface WorkScenario {
  /** Busy time per image, milliseconds. */
  imageMs: number;
  /** Jobs run back to back. */
  jobs: number;
  /** What the per-image time stands for. */
  label: string;
}

/** Sizes of the queue benchmark. */
export interface QueueBenchSizes {
  /** Jobs enqueued one at a time on an idle worker, for latency. */
  latencyJobs: number;
  /** No-op jobs run back to back. */
  noopJobs: number;
  /** Shards of the run flow whose enqueue is timed. */
  flowShards: number;
  work: readonly WorkScenario[];
}

const SCENARIOS = {
  clipH100: { imageMs: 0.15, label: 'CLIP ViT-B/16 on H100 at the 7k img/s goal' },
  cpuStage: { imageMs: 1, label: '1 ms/image (a light CPU stage)' },
  clipCpu: { imageMs: 10, label: '10 ms/image (CLIP on CPU is ~130 ms)' },
} as const;

/** The targets: enough jobs for stable means, ~15 s in all. */
export const FULL_QUEUE_SIZES: Readonly<QueueBenchSizes> = Object.freeze({
  latencyJobs: 200,
  noopJobs: 2000,
  flowShards: 256,
  work: [
    { ...SCENARIOS.clipH100, jobs: 200 },
    { ...SCENARIOS.cpuStage, jobs: 50 },
    { ...SCENARIOS.clipCpu, jobs: 10 },
  ],
});

/** A smoke-test variant that runs in a few seconds. */
export const QUICK_QUEUE_SIZES: Readonly<QueueBenchSizes> = Object.freeze({
  latencyJobs: 20,
  noopJobs: 200,
  flowShards: 16,
  work: [
    { ...SCENARIOS.clipH100, jobs: 20 },
    { ...SCENARIOS.cpuStage, jobs: 10 },
    { ...SCENARIOS.clipCpu, jobs: 2 },
  ],
});

/** One throughput row. */
export interface QueueBenchRow {
  scenario: string;
  jobs: number;
  /** Measured work (busy) time per job, ms; progress reporting is not work. */
  workMs: number;
  /** Wall time per job with the queue full, ms. */
  wallMs: number;
  /** wallMs − workMs. */
  overheadMs: number;
  /** overheadMs ÷ 64 images, µs. */
  overheadPerImageUs: number;
  /** overheadMs ÷ workMs, percent; undefined for no-op jobs. */
  overheadPercent?: number;
  /** Images per job needed for the overhead to be < 1 % at this per-image time. */
  imagesForOnePercent?: number;
}

/** Everything a run reports. */
export interface QueueBenchReport {
  hardware: { cpu: string; cores: number; node: string; redis: string; redisUrl: string; date: string };
  /** Idle worker, one job at a time: enqueue call → handler start, and handler end → completion event. */
  latency: { jobs: number; startP50Ms: number; startP95Ms: number; finishP50Ms: number; finishP95Ms: number };
  /** Producer cost: one `enqueueStageJob` awaited at a time, and one run flow. */
  enqueue: { jobMs: number; flowShards: number; flowJobs: number; flowMs: number };
  rows: QueueBenchRow[];
}

function percentile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // Spins on purpose: a synchronous stretch, like an onnxruntime call on the main thread.
  }
}

function result(processed: number, seconds: number): StageResult {
  return {
    status: 'completed',
    counts: { processed, failed: 0, skipped: 0 },
    artifacts: [],
    failures: [],
    seconds,
  };
}

/** Per-run behaviour of the bench handler and what it measured. */
interface Scenario {
  imageMs: number;
  /** Handlers wait for this before starting, so a throughput run starts with every job enqueued. */
  ready: Promise<void>;
  /** Busy (work) time of all its jobs, ms. */
  workMs: number;
  starts: Map<string, number>;
  ends: Map<string, number>;
  completions: Map<string, number>;
}

function payload(runId: string, shard: number): ShardPayload {
  return {
    runId,
    stage: 'encode',
    shard,
    configHash: 'be9c000000000000',
    itemsKey: `bench/${runId}/${shard}.json`,
  };
}

async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > end) {
      throw new Error(`queue bench: timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/**
 * Runs the queue benchmark against the Redis at `redisUrl` under a fresh key prefix, removed at the
 * end.
 */
export async function runQueueBench(
  sizes: QueueBenchSizes,
  redisUrl: string,
  log: (line: string) => void = () => undefined,
): Promise<QueueBenchReport> {
  const ping = await pingRedis(redisUrl);
  if (!ping.ok) {
    throw new Error(`queue bench needs Redis: ${ping.error ?? 'no answer'} (set REDIS_URL)`);
  }
  const prefix = `bench-${randomUUID().slice(0, 8)}`;
  const scenarios = new Map<string, Scenario>();
  const newScenario = (imageMs: number, ready: Promise<void> = Promise.resolve()): [string, Scenario] => {
    const runId = `bench-${randomUUID().slice(0, 8)}`;
    const s: Scenario = {
      imageMs,
      ready,
      workMs: 0,
      starts: new Map(),
      ends: new Map(),
      completions: new Map(),
    };
    scenarios.set(runId, s);
    return [runId, s];
  };

  const queues: RunQueues = await openQueues({ redis: redisUrl, prefix });
  let worker: StageWorker | undefined;
  try {
    // Producer cost, before any worker exists.
    const [producerRun] = newScenario(0);
    const producerJobs = Math.min(sizes.noopJobs, 500);
    let t = performance.now();
    for (let i = 0; i < producerJobs; i++) {
      await enqueueStageJob(queues, payload(producerRun, i));
    }
    const jobMs = (performance.now() - t) / producerJobs;
    await queues.obliterate();
    const flowRun = `bench-${randomUUID().slice(0, 8)}`;
    const hashes = {
      caption: 'be9c000000000001',
      synthesize: 'be9c000000000002',
      encode: 'be9c000000000003',
      mine: 'be9c000000000004',
      assign: 'be9c000000000005',
      'train-projection': 'be9c000000000006',
      'train-labels': 'be9c000000000007',
      evaluate: 'be9c000000000008',
      publish: 'be9c000000000009',
    };
    t = performance.now();
    const flow = await enqueueRun(queues, {
      runId: flowRun,
      shards: sizes.flowShards,
      payloads: { configHashes: hashes, itemsKey: (i) => `bench/${flowRun}/${i}.json` },
    });
    const flowMs = performance.now() - t;
    await queues.obliterate();
    log(
      `enqueue: ${jobMs.toFixed(3)} ms per enqueueStageJob; a ${sizes.flowShards}-shard run flow ` +
        `(${flow.jobIds.length} jobs) in ${flowMs.toFixed(1)} ms`,
    );

    worker = await startStageWorker({
      stage: 'encode',
      connection: redisUrl,
      prefix,
      concurrency: 1,
      handler: async (p, ctx) => {
        const s = scenarios.get(p.runId)!;
        await s.ready;
        const t0 = performance.now();
        s.starts.set(ctx.jobId, t0);
        if (s.imageMs > 0) {
          for (let done = 0; done < IMAGES_PER_JOB;) {
            const b0 = performance.now();
            for (let k = 0; k < PROGRESS_EVERY; k++) {
              busyWait(s.imageMs);
            }
            s.workMs += performance.now() - b0;
            done += PROGRESS_EVERY;
            // Progress reporting is queue cost, so it stays outside the measured work.
            await ctx.progress({ done, total: IMAGES_PER_JOB });
          }
        }
        const t1 = performance.now();
        s.ends.set(ctx.jobId, t1);
        return result(IMAGES_PER_JOB, (t1 - t0) / 1000);
      },
    });
    worker.onJob((event) => {
      const runId = event.jobId.split('.')[0]!;
      scenarios.get(runId)?.completions.set(event.jobId, performance.now());
    });

    // Latency on an idle worker.
    const [latencyRun, lat] = newScenario(0);
    const startLatency: number[] = [];
    const finishLatency: number[] = [];
    for (let i = 0; i < sizes.latencyJobs; i++) {
      const t0 = performance.now();
      const id = await enqueueStageJob(queues, payload(latencyRun, i));
      await waitUntil(() => lat.completions.has(id), 10_000, `latency job ${id}`);
      startLatency.push(lat.starts.get(id)! - t0);
      finishLatency.push(lat.completions.get(id)! - lat.ends.get(id)!);
    }
    const latency = {
      jobs: sizes.latencyJobs,
      startP50Ms: percentile(startLatency, 0.5),
      startP95Ms: percentile(startLatency, 0.95),
      finishP50Ms: percentile(finishLatency, 0.5),
      finishP95Ms: percentile(finishLatency, 0.95),
    };
    log(
      `idle-worker latency: enqueue → handler start p50 ${latency.startP50Ms.toFixed(2)} ms, ` +
        `handler end → completed p50 ${latency.finishP50Ms.toFixed(2)} ms`,
    );

    // Throughput with the queue kept full.
    const rows: QueueBenchRow[] = [];
    const measure = async (name: string, imageMs: number, jobs: number): Promise<void> => {
      let release!: () => void;
      const [runId, s] = newScenario(
        imageMs,
        new Promise<void>((resolve) => {
          release = resolve;
        }),
      );
      const ids = await Promise.all(
        Array.from({ length: jobs }, (_, i) => enqueueStageJob(queues, payload(runId, i))),
      );
      release();
      await waitUntil(() => s.completions.size === jobs, 600_000, `${name} jobs`);
      const first = Math.min(...ids.map((id) => s.starts.get(id)!));
      const last = Math.max(...ids.map((id) => s.completions.get(id)!));
      const wallMs = (last - first) / jobs;
      const workMs = s.workMs / jobs;
      const overheadMs = wallMs - workMs;
      const row: QueueBenchRow = {
        scenario: name,
        jobs,
        workMs,
        wallMs,
        overheadMs,
        overheadPerImageUs: (1000 * overheadMs) / IMAGES_PER_JOB,
        ...(imageMs > 0
          ? {
              overheadPercent: (100 * overheadMs) / workMs,
              imagesForOnePercent: Math.ceil(overheadMs / (0.01 * imageMs)),
            }
          : {}),
      };
      rows.push(row);
      log(
        `${name}: ${wallMs.toFixed(3)} ms/job wall, ${overheadMs.toFixed(3)} ms/job overhead` +
          (row.overheadPercent === undefined ? '' : ` (${row.overheadPercent.toFixed(2)} % of the work)`),
      );
    };
    await measure('no-op handler', 0, sizes.noopJobs);
    for (const w of sizes.work) {
      await measure(`64 × ${w.imageMs} ms: ${w.label}`, w.imageMs, w.jobs);
    }

    const cpu = cpus();
    return {
      hardware: {
        cpu: cpu[0]?.model.trim() ?? 'unknown CPU',
        cores: cpu.length,
        node: process.version,
        redis: ping.version ?? 'unknown',
        redisUrl: redactRedisUrl(redisUrl),
        date: new Date().toISOString(),
      },
      latency,
      enqueue: { jobMs, flowShards: sizes.flowShards, flowJobs: flow.jobIds.length, flowMs },
      rows,
    };
  } finally {
    await worker?.close({ timeoutMs: 1000 });
    await queues.obliterate();
    await queues.close();
  }
}

/** The report as a markdown section. */
export function formatQueueBench(report: QueueBenchReport): string {
  const h = report.hardware;
  const ms = (v: number): string => `${v.toFixed(3)} ms`;
  return [
    `Hardware: ${h.cpu}, ${h.cores} cores; Node ${h.node}; Redis ${h.redis} at ${h.redisUrl} (shares the cores); ${h.date.slice(0, 10)}.`,
    `One encode worker, concurrency 1, ${IMAGES_PER_JOB} images per job, progress every ${PROGRESS_EVERY} images; no metrics registry.`,
    '',
    '| scenario | jobs | work/job | wall/job | overhead/job | overhead/image | overhead % (goal < 1 %) | images/job for < 1 % |',
    '|---|---|---|---|---|---|---|---|',
    ...report.rows.map(
      (r) =>
        `| ${r.scenario} | ${r.jobs} | ${ms(r.workMs)} | ${ms(r.wallMs)} | ${ms(r.overheadMs)} | ${r.overheadPerImageUs.toFixed(1)} µs | ` +
        `${r.overheadPercent === undefined ? '—' : `${r.overheadPercent.toFixed(2)} % ${r.overheadPercent < 1 ? '(met)' : '(missed)'}`} | ` +
        `${r.imagesForOnePercent === undefined ? '—' : String(r.imagesForOnePercent)} |`,
    ),
    '',
    `Idle worker (${report.latency.jobs} jobs, one at a time): enqueue → handler start p50 ${ms(report.latency.startP50Ms)}, ` +
      `p95 ${ms(report.latency.startP95Ms)}; handler end → completed p50 ${ms(report.latency.finishP50Ms)}, p95 ${ms(report.latency.finishP95Ms)}.`,
    `Producer: ${ms(report.enqueue.jobMs)} per enqueueStageJob (validated, awaited one at a time); a ${report.enqueue.flowShards}-shard run flow ` +
      `(${report.enqueue.flowJobs} jobs) in ${report.enqueue.flowMs.toFixed(1)} ms (${ms(report.enqueue.flowMs / report.enqueue.flowJobs)} per job).`,
  ].join('\n');
}

/** The `queue` suite for `synood bench`: needs Redis at `REDIS_URL`. */
export const queueSuite: BenchSuite = {
  name: 'queue',
  description: 'job-queue overhead per job and per image against stage work time (needs Redis at REDIS_URL)',
  run: async ({ quick, log }) => {
    const report = await runQueueBench(
      quick ? QUICK_QUEUE_SIZES : FULL_QUEUE_SIZES,
      loadCommonConfig().redis.url,
      log,
    );
    return { markdown: formatQueueBench(report), report };
  },
};
