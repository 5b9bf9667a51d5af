/**
 * @file The job-option table: per stage, how often a job is tried, how long it waits between tries,
 * how long finished jobs stay in Redis, how long its lock lasts and how many run at once per worker.
 * Every producer and worker takes its options from here (style guide §7.13), so a queue's behaviour
 * is readable in one place and a deployment overrides it from one config object.
 *
 * Lock durations and the event loop. BullMQ renews a job's lock from a timer every `lockDuration / 2`.
 * onnxruntime-node 1.30 runs `session.run` synchronously on the main thread (its async `run` only
 * defers the native call by a `setImmediate`), and so do long pure-TypeScript loops; while one runs the
 * timer cannot fire. A lock therefore survives a blocking stretch of up to `lockDuration / 2` in the
 * worst case. Past that, another worker's stalled check may move the job back to `wait` while it
 * still runs: the work is done twice (done-markers keep the output right) and after `maxStalledCount`
 * stalls the job fails. Rule used below: `lockDuration` ≥ 2 × the longest single synchronous stretch a
 * stage can have on CPU (one ORT call on a whole batch: a UNet step with CFG, a VAE-decoder gradient
 * call, a CLIP batch of 64, a VLM prefill), with room for slow hosts. The cost of a long lock is paid
 * only when a worker crashes: its job is picked up after the lock expires instead of within 30 s.
 * Graceful shutdown returns jobs at once (see the harness). Handlers should still yield between
 * batches (`await` anything), and `ctx.progress` does.
 */
import type { JobsOptions } from 'bullmq';

import { STAGES, type Stage } from '@synood/contracts';

import { QueueError, QueueErrorCode } from './errors';

/** Retry delay policy; BullMQ computes exponential delays as `delay × 2^(attempt − 1)`. */
export interface BackoffSetting {
  type: 'exponential' | 'fixed';
  /** Base delay, milliseconds. */
  delay: number;
  /** Random reduction of each delay, as a fraction in [0, 1], so retries of many jobs spread out. */
  jitter: number;
}

/** How many finished jobs of a queue stay in Redis: whichever of age and count is reached first. */
export interface KeepSetting {
  /** Seconds after finishing. */
  age: number;
  /** Most jobs kept. */
  count: number;
}

/** The options of one stage's queue and workers. */
export interface StageOptions {
  /** Tries per job, the first included. Transient errors use them up; permanent ones fail at once. */
  attempts: number;
  /** Delay between tries. */
  backoff: BackoffSetting;
  /** Completed jobs kept for inspection (bull-board, run status); Redis holds queues only (design §6). */
  removeOnComplete: KeepSetting;
  /** Failed jobs kept, longer than completed ones: they are what people debug. */
  removeOnFail: KeepSetting;
  /** Log lines kept per job (`ctx.log` output shown in bull-board). */
  keepLogs: number;
  /** Lock duration, milliseconds; see the file comment for how it relates to blocking ORT calls. */
  lockDuration: number;
  /** How often a worker looks for jobs whose lock expired, milliseconds. */
  stalledInterval: number;
  /** Lock expiries a job survives (moved back to wait) before it fails. */
  maxStalledCount: number;
  /** Jobs one worker runs at once. */
  concurrency: number;
}

/** A partial {@link StageOptions}: nested settings may be given in part. */
export type StageOptionsOverride = Partial<
  Omit<StageOptions, 'backoff' | 'removeOnComplete' | 'removeOnFail'>
> & {
  backoff?: Partial<BackoffSetting>;
  removeOnComplete?: Partial<KeepSetting>;
  removeOnFail?: Partial<KeepSetting>;
};

/**
 * Deployment overrides of the table, e.g. parsed from a service's config: `all` applies to every
 * stage, then `stages[stage]` on top.
 */
export interface StageOptionsOverrides {
  all?: StageOptionsOverride;
  stages?: Partial<Record<Stage, StageOptionsOverride>>;
}

/**
 * Stages whose work runs on a GPU when one is present (MLLM captioning, diffusion, CLIP image and
 * text encoders). They run one job at a time per worker: one worker process per GPU (design §6).
 */
export const GPU_STAGES: readonly Stage[] = Object.freeze([
  'caption',
  'synthesize',
  'encode',
  'mine',
  'evaluate',
]);

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const DAY_SECONDS = 24 * 3600;

const KEEP_COMPLETED: KeepSetting = { age: 7 * DAY_SECONDS, count: 10_000 };
const KEEP_FAILED: KeepSetting = { age: 14 * DAY_SECONDS, count: 10_000 };

function row(
  attempts: number,
  backoffDelay: number,
  lockDuration: number,
  concurrency: number,
): Readonly<StageOptions> {
  return Object.freeze({
    attempts,
    backoff: Object.freeze({ type: 'exponential' as const, delay: backoffDelay, jitter: 0.25 }),
    removeOnComplete: Object.freeze({ ...KEEP_COMPLETED }),
    removeOnFail: Object.freeze({ ...KEEP_FAILED }),
    keepLogs: 100,
    lockDuration,
    stalledInterval: 30 * SECOND,
    maxStalledCount: 1,
    concurrency,
  });
}

/**
 * The default table. Shard stages get 5 attempts (a shard is cheap to retry and storage or model
 * server blips are their usual failures); run stages 3. Lock durations follow the rule in the file
 * comment: synthesize (a UNet or VAE-gradient call on a batch can block for minutes on CPU) 15 min;
 * caption (VLM prefill on a batch) and the training / mining / evaluation stages 10 min; encode,
 * assign 5 min; plan and publish (storage I/O) 2 min. Concurrency is 1 except publish: GPU stages run
 * one job per GPU, CPU-bound stages gain nothing from concurrency inside one process (BullMQ
 * `parallelism-and-concurrency.md`: use more processes).
 */
export const STAGE_OPTIONS: Readonly<Record<Stage, Readonly<StageOptions>>> = Object.freeze({
  plan: row(3, 5 * SECOND, 2 * MINUTE, 1),
  caption: row(5, 10 * SECOND, 10 * MINUTE, 1),
  synthesize: row(5, 30 * SECOND, 15 * MINUTE, 1),
  encode: row(5, 10 * SECOND, 5 * MINUTE, 1),
  mine: row(3, 30 * SECOND, 10 * MINUTE, 1),
  assign: row(3, 10 * SECOND, 5 * MINUTE, 1),
  'train-projection': row(3, 30 * SECOND, 10 * MINUTE, 1),
  'train-labels': row(3, 30 * SECOND, 10 * MINUTE, 1),
  evaluate: row(3, 30 * SECOND, 10 * MINUTE, 1),
  publish: row(5, 5 * SECOND, 2 * MINUTE, 2),
});

interface Range {
  min: number;
  max: number;
  integer: boolean;
}

const int = (min: number, max: number): Range => ({ min, max, integer: true });

const LIMITS = {
  attempts: int(1, 100),
  'backoff.delay': int(0, DAY_SECONDS * SECOND),
  'backoff.jitter': { min: 0, max: 1, integer: false },
  'removeOnComplete.age': int(1, 365 * DAY_SECONDS),
  'removeOnComplete.count': int(0, 10_000_000),
  'removeOnFail.age': int(1, 365 * DAY_SECONDS),
  'removeOnFail.count': int(0, 10_000_000),
  keepLogs: int(0, 100_000),
  lockDuration: int(SECOND, DAY_SECONDS * SECOND),
  stalledInterval: int(SECOND, DAY_SECONDS * SECOND),
  maxStalledCount: int(0, 100),
  concurrency: int(1, 10_000),
} as const satisfies Record<string, Range>;

function check(stage: Stage, path: keyof typeof LIMITS, value: unknown, problems: string[]): void {
  const r: Range = LIMITS[path];
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < r.min ||
    value > r.max ||
    (r.integer && !Number.isInteger(value))
  ) {
    problems.push(
      `${stage}.${path} = ${JSON.stringify(value)} (expected ${r.integer ? 'an integer' : 'a number'} in ${r.min}..${r.max})`,
    );
  }
}

function checkStage(stage: string): asserts stage is Stage {
  if (!(STAGES as readonly string[]).includes(stage)) {
    throw new QueueError(
      QueueErrorCode.Options,
      `unknown stage ${JSON.stringify(stage)} in queue options. Should be one of: ${STAGES.join(', ')}`,
    );
  }
}

function merge(base: StageOptions, o: StageOptionsOverride | undefined): StageOptions {
  if (o === undefined) {
    return base;
  }
  return {
    ...base,
    ...o,
    backoff: { ...base.backoff, ...o.backoff },
    removeOnComplete: { ...base.removeOnComplete, ...o.removeOnComplete },
    removeOnFail: { ...base.removeOnFail, ...o.removeOnFail },
  };
}

/**
 * The options of `stage`: the table row, then `overrides.all`, then `overrides.stages[stage]`.
 *
 * @throws QueueError `QUEUE_ERR_OPTIONS` listing every out-of-range value (`caption.attempts = 0
 * (expected an integer in 1..100)`), an unknown stage or backoff type.
 */
export function stageOptions(stage: Stage, overrides: StageOptionsOverrides = {}): StageOptions {
  checkStage(stage);
  for (const name of Object.keys(overrides.stages ?? {})) {
    checkStage(name);
  }
  const o = merge(merge(STAGE_OPTIONS[stage], overrides.all), overrides.stages?.[stage]);
  const problems: string[] = [];
  check(stage, 'attempts', o.attempts, problems);
  // Overrides come from parsed config objects, so the type may be anything at run time.
  if (!['exponential', 'fixed'].includes(o.backoff.type)) {
    problems.push(
      `${stage}.backoff.type = ${JSON.stringify(o.backoff.type)} (expected exponential or fixed)`,
    );
  }
  check(stage, 'backoff.delay', o.backoff.delay, problems);
  check(stage, 'backoff.jitter', o.backoff.jitter, problems);
  check(stage, 'removeOnComplete.age', o.removeOnComplete.age, problems);
  check(stage, 'removeOnComplete.count', o.removeOnComplete.count, problems);
  check(stage, 'removeOnFail.age', o.removeOnFail.age, problems);
  check(stage, 'removeOnFail.count', o.removeOnFail.count, problems);
  check(stage, 'keepLogs', o.keepLogs, problems);
  check(stage, 'lockDuration', o.lockDuration, problems);
  check(stage, 'stalledInterval', o.stalledInterval, problems);
  check(stage, 'maxStalledCount', o.maxStalledCount, problems);
  check(stage, 'concurrency', o.concurrency, problems);
  if (problems.length > 0) {
    throw new QueueError(QueueErrorCode.Options, `invalid queue options: ${problems.join('; ')}`);
  }
  return o;
}

/** The options of every stage (validated), for checking a deployment's overrides at start-up. */
export function allStageOptions(overrides: StageOptionsOverrides = {}): Record<Stage, StageOptions> {
  return Object.fromEntries(STAGES.map((s) => [s, stageOptions(s, overrides)])) as Record<
    Stage,
    StageOptions
  >;
}

/** BullMQ job options of a `stage` job (everything but `jobId` and flow links). */
export function jobOptions(stage: Stage, overrides: StageOptionsOverrides = {}): JobsOptions {
  const o = stageOptions(stage, overrides);
  return {
    attempts: o.attempts,
    backoff: { ...o.backoff },
    removeOnComplete: { ...o.removeOnComplete },
    removeOnFail: { ...o.removeOnFail },
    keepLogs: o.keepLogs,
  };
}

/** The worker-side settings of a stage, in BullMQ's option names. */
export interface StageWorkerSettings {
  concurrency: number;
  lockDuration: number;
  stalledInterval: number;
  maxStalledCount: number;
  removeOnComplete: KeepSetting;
  removeOnFail: KeepSetting;
}

/** BullMQ worker options of a `stage` worker. */
export function workerSettings(stage: Stage, overrides: StageOptionsOverrides = {}): StageWorkerSettings {
  const o = stageOptions(stage, overrides);
  return {
    concurrency: o.concurrency,
    lockDuration: o.lockDuration,
    stalledInterval: o.stalledInterval,
    maxStalledCount: o.maxStalledCount,
    removeOnComplete: { ...o.removeOnComplete },
    removeOnFail: { ...o.removeOnFail },
  };
}
