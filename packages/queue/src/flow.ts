/**
 * @file Run flows (design §2, §6): the BullMQ flow of one run, and enqueue, resume and cancel over it.
 *
 * In a BullMQ flow a parent job starts only after all its children finished, so dependencies are
 * expressed by nesting. Per shard `encode ← synthesize ← caption` (caption runs first); `mine` runs
 * beside the shards; the run stages wait for all of them and chain up to `publish`, the root:
 *
 * ```
 * publish ← evaluate ← train-labels ← train-projection ← assign ← { mine, encode[i] ← synthesize[i] ← caption[i] }
 * ```
 *
 * Every job has the deterministic id of `jobId()` from the contracts, which is what makes the
 * operations safe to repeat: BullMQ ignores an add whose id exists, so enqueueing a run twice adds
 * nothing; cancel and resume find the run's jobs by id without scanning queues. Every child has
 * `failParentOnFailure`, so a stage that fails for good fails the run up to the root instead of
 * leaving parents waiting forever.
 */
import type { FlowJob, JobState } from 'bullmq';

import { STAGES, type Stage, type StagePayload, jobId, queueName, runIdSchema } from '@synood/contracts';

import { ControlEvent, publishControl, setCancelMarker } from './control';
import { QueueError, QueueErrorCode } from './errors';
import { type StageOptionsOverrides, jobOptions } from './options';
import { type RunQueues, validatePayload } from './queues';

/** A stage that is part of a run flow: every stage but `plan`, which runs before, at submission. */
export type FlowStage = Exclude<Stage, 'plan'>;

/** The stages of a run flow, in the order they run (the stage table's order without `plan`). */
export const FLOW_STAGES: readonly FlowStage[] = STAGES.filter((s): s is FlowStage => s !== 'plan');

/** Most shards in one run: ImageNet-1k in full is ~20k shards of 64 images. */
export const MAX_SHARDS = 100_000;

/** What the job payloads of a run are built from. */
export interface RunFlowPayloads {
  /** Each stage's config hash (`stageConfigHash` from the contracts): what its done-markers record. */
  configHashes: Readonly<Record<FlowStage, string>>;
  /** Storage key of shard `shard`'s item list, written at plan time. */
  itemsKey: (shard: number) => string;
}

/** Where one job sits in a run flow. */
export interface RunJobRef {
  stage: FlowStage;
  /** Shard index, for the per-shard stages. */
  shard?: number;
  /** Deterministic job id. */
  id: string;
  /** Id of the job that waits for this one; none for the root (`publish`). */
  parentId?: string;
}

/** One job of a run flow with its payload. */
export interface RunJob extends RunJobRef {
  payload: StagePayload;
}

/** Run stages from the root down to `assign`, each the only child of the one before. */
const RUN_CHAIN = ['publish', 'evaluate', 'train-labels', 'train-projection', 'assign'] as const;

function flowError(message: string): QueueError {
  return new QueueError(QueueErrorCode.Flow, message);
}

/**
 * Every job of a run, parents before children (the order in which they can be removed without a
 * removal releasing a parent): publish, evaluate, train-labels, train-projection, assign, mine, then
 * encode, synthesize and caption of each shard.
 *
 * @throws QueueError `QUEUE_ERR_FLOW` for a bad run id or shard count.
 */
export function runJobRefs(runId: string, shards: number): RunJobRef[] {
  if (!runIdSchema.safeParse(runId).success) {
    throw flowError(`run id ${JSON.stringify(runId)} is invalid: use 3–64 of [a-z0-9-]`);
  }
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) {
    throw flowError(`run ${runId}: shards must be an integer in 1..${MAX_SHARDS}, got ${String(shards)}`);
  }
  const jobs: RunJobRef[] = [];
  let parentId: string | undefined;
  for (const stage of RUN_CHAIN) {
    const id = jobId(runId, stage);
    jobs.push(parentId === undefined ? { stage, id } : { stage, id, parentId });
    parentId = id;
  }
  const assign = parentId!;
  jobs.push({ stage: 'mine', id: jobId(runId, 'mine'), parentId: assign });
  const chain = [
    ['encode', () => assign],
    ['synthesize', (i: number) => jobId(runId, 'encode', i)],
    ['caption', (i: number) => jobId(runId, 'synthesize', i)],
  ] as const;
  for (const [stage, parentOf] of chain) {
    for (let shard = 0; shard < shards; shard++) {
      jobs.push({ stage, shard, id: jobId(runId, stage, shard), parentId: parentOf(shard) });
    }
  }
  return jobs;
}

/**
 * {@link runJobRefs} with each job's payload, validated against the contracts.
 *
 * @throws QueueError `QUEUE_ERR_FLOW` for a bad run id or shard count, `QUEUE_ERR_PAYLOAD` for a
 * payload that fails its schema (a bad config hash or items key).
 */
export function runJobs(runId: string, shards: number, payloads: RunFlowPayloads): RunJob[] {
  return runJobRefs(runId, shards).map((ref) => ({
    ...ref,
    payload: validatePayload(
      ref.shard === undefined
        ? { runId, stage: ref.stage, configHash: payloads.configHashes[ref.stage] }
        : {
            runId,
            stage: ref.stage,
            shard: ref.shard,
            configHash: payloads.configHashes[ref.stage],
            itemsKey: payloads.itemsKey(ref.shard),
          },
    ),
  }));
}

/** Options of {@link buildRunFlow}. */
export interface BuildRunFlowOptions {
  /** BullMQ key prefix of every job. */
  prefix?: string;
  /** Stage option overrides for the job options. */
  overrides?: StageOptionsOverrides;
}

/**
 * Builds the flow tree of `jobs` (from {@link runJobs}, possibly a subset closed under parents):
 * each job under its parent, `publish` at the root, with the stage's job options, its deterministic
 * id and `failParentOnFailure` on every child.
 *
 * @throws QueueError `QUEUE_ERR_FLOW` when `jobs` has no root or a job's parent is missing.
 */
export function flowTree(jobs: readonly RunJob[], options: BuildRunFlowOptions = {}): FlowJob {
  const children = new Map<string, RunJob[]>();
  const ids = new Set(jobs.map((j) => j.id));
  let root: RunJob | undefined;
  for (const job of jobs) {
    if (job.parentId === undefined) {
      root = job;
    } else if (!ids.has(job.parentId)) {
      throw flowError(`job ${job.id} has parent ${job.parentId}, which is not in the flow`);
    } else {
      let list = children.get(job.parentId);
      if (list === undefined) {
        list = [];
        children.set(job.parentId, list);
      }
      list.push(job);
    }
  }
  if (root === undefined) {
    throw flowError('a run flow needs its root job (publish)');
  }
  const stageJobOptions = new Map<FlowStage, ReturnType<typeof jobOptions>>();
  const optionsOf = (stage: FlowStage): ReturnType<typeof jobOptions> => {
    let o = stageJobOptions.get(stage);
    if (o === undefined) {
      o = jobOptions(stage, options.overrides);
      stageJobOptions.set(stage, o);
    }
    return o;
  };
  const node = (job: RunJob): FlowJob => {
    const kids = children.get(job.id) ?? [];
    return {
      name: job.stage,
      queueName: queueName(job.stage),
      data: job.payload,
      ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
      opts: {
        ...optionsOf(job.stage),
        jobId: job.id,
        ...(job.parentId === undefined ? {} : { failParentOnFailure: true }),
      },
      ...(kids.length === 0 ? {} : { children: kids.map(node) }),
    };
  };
  return node(root);
}

/**
 * The BullMQ flow of a whole run (see the file comment for its shape).
 *
 * @throws QueueError `QUEUE_ERR_FLOW` / `QUEUE_ERR_PAYLOAD` as {@link runJobs}.
 */
export function buildRunFlow(
  runId: string,
  shards: number,
  payloads: RunFlowPayloads,
  options: BuildRunFlowOptions = {},
): FlowJob {
  return flowTree(runJobs(runId, shards, payloads), options);
}

/** What identifies a run's jobs. */
export interface RunIds {
  runId: string;
  /** Shard count decided at plan time. */
  shards: number;
}

/** A run's jobs and what their payloads are built from. */
export interface RunRef extends RunIds {
  payloads: RunFlowPayloads;
}

/** Result of {@link enqueueRun}. */
export interface EnqueueRunResult {
  /** Id of the root job (`publish`): the run is finished when it is. */
  root: string;
  /** Every job id of the run, parents first. */
  jobIds: string[];
}

/**
 * Adds a run's flow. Idempotent: enqueueing the same run again adds nothing while its jobs exist
 * (deterministic ids); once they were removed by age or count, their stages skip finished work by
 * their done-markers. A cancelled run stays cancelled (workers refuse its jobs) until
 * {@link resumeRun}.
 */
export async function enqueueRun(queues: RunQueues, run: RunRef): Promise<EnqueueRunResult> {
  const jobs = runJobs(run.runId, run.shards, run.payloads);
  await queues.flows.add(flowTree(jobs, { prefix: queues.prefix, overrides: queues.overrides }));
  return { root: jobs[0]!.id, jobIds: jobs.map((j) => j.id) };
}

/** Runs `fn` over `items` with at most `limit` calls in flight; results in input order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

/** The run's jobs grouped into levels: each level's parents are all in earlier levels. */
function levels<J extends RunJobRef>(jobs: readonly J[]): J[][] {
  const depth = new Map<string, number>();
  const out: J[][] = [];
  for (const job of jobs) {
    const d = job.parentId === undefined ? 0 : depth.get(job.parentId)! + 1;
    depth.set(job.id, d);
    (out[d] ??= []).push(job);
  }
  return out;
}

type KnownState = JobState | 'unknown';

async function jobStates(queues: RunQueues, jobs: readonly RunJobRef[]): Promise<KnownState[]> {
  return mapLimit(jobs, 64, (job) => queues.queue(job.stage).getJobState(job.id) as Promise<KnownState>);
}

/**
 * Removes the `jobs` for which `removable(state)` holds, level by level from the root down, so no
 * removal of a child releases a parent that is still there. A job that became active in between
 * cannot be removed (BullMQ refuses locked jobs) and is reported as active instead.
 */
async function removeJobs(
  queues: RunQueues,
  jobs: readonly RunJobRef[],
  removable: (state: KnownState) => boolean,
): Promise<{ removed: string[]; active: string[] }> {
  const removed: string[] = [];
  const active: string[] = [];
  for (const level of levels(jobs)) {
    const states = await jobStates(queues, level);
    await mapLimit(
      level.map((job, i) => ({ job, state: states[i]! })),
      64,
      async ({ job, state }) => {
        if (state === 'active') {
          active.push(job.id);
        } else if (removable(state)) {
          const done = await queues.queue(job.stage).remove(job.id, { removeChildren: false });
          (done === 1 ? removed : active).push(job.id);
        }
      },
    );
  }
  return { removed, active };
}

/** Result of {@link cancelRun}. */
export interface CancelRunResult {
  /** Jobs removed before they started (waiting, delayed, waiting for children). */
  removed: string[];
  /**
   * Jobs that were active when the cancel began (or started while it ran), signalled to abort; they
   * fail with `RUN_ERR_CANCELLED` within a round trip (or finish first, if they were about to).
   */
  signalled: string[];
}

const UNFINISHED = new Set<KnownState>(['waiting', 'delayed', 'prioritized', 'waiting-children']);

/**
 * Cancels a run: records a cancel marker, removes the run's jobs that have not started (parents
 * first), then signals its active jobs through the control channel, so the workers holding them abort
 * their handlers (`ctx.signal`) and fail the jobs with `RUN_ERR_CANCELLED` without retries. A job that
 * a worker picked up while the removal ran is refused by the marker check and fails the same way, and
 * so does any job of the run until {@link resumeRun} clears the marker. Finished jobs stay for
 * inspection until removed by age or count.
 */
export async function cancelRun(queues: RunQueues, run: RunIds): Promise<CancelRunResult> {
  const jobs = runJobRefs(run.runId, run.shards);
  await setCancelMarker(queues.client, queues.prefix, run.runId, true);
  const states = await jobStates(queues, jobs);
  const signalled = new Set(jobs.filter((_, i) => states[i] === 'active').map((j) => j.id));
  // Removal first, signal second: an active job aborted early would free its worker to fetch more of
  // the run's jobs while they are being removed (the marker makes workers refuse those anyway).
  const { removed, active } = await removeJobs(queues, jobs, (s) => UNFINISHED.has(s));
  await publishControl(queues.control, ControlEvent.Cancel, run.runId);
  for (const id of active) {
    signalled.add(id);
  }
  return { removed, signalled: jobs.filter((j) => signalled.has(j.id)).map((j) => j.id) };
}

/** A done check: true when the job's output is complete (a done-marker with a matching config hash). */
export type DoneCheck = (job: { stage: FlowStage; shard?: number; id: string }) => Promise<boolean>;

/** Options of {@link resumeRun}. */
export interface ResumeRunOptions extends RunRef {
  /** Says whether a job's work is finished, e.g. by reading its done-marker from storage. */
  isDone: DoneCheck;
  /** Done checks in flight at once. @defaultValue 32 */
  concurrency?: number;
}

/** Result of {@link resumeRun}. */
export interface ResumeRunResult {
  /** Jobs added again, parents first. */
  added: string[];
  /** Jobs whose done check said finished; their children were not checked (their output is not needed). */
  done: string[];
}

/**
 * Resumes a run (after a cancel, a permanent failure or lost Redis state): re-adds only the jobs
 * whose work is unfinished. Top-down: a job whose done check passes is left out together with
 * everything below it (its output exists, so its inputs are not needed again); unfinished jobs are
 * re-added with their unfinished children. Old records of the run's jobs (failed, waiting, …) are
 * removed first so the deterministic ids can be reused, and workers are told to accept the run's jobs
 * again. Nothing is added when `publish` is done.
 *
 * @throws QueueError `QUEUE_ERR_RUN_ACTIVE` when jobs of the run are active (cancel it, or let them
 * finish, first).
 */
export async function resumeRun(queues: RunQueues, options: ResumeRunOptions): Promise<ResumeRunResult> {
  const jobs = runJobs(options.runId, options.shards, options.payloads);
  const states = await jobStates(queues, jobs);
  const active = jobs.filter((_, i) => states[i] === 'active').map((j) => j.id);
  if (active.length > 0) {
    throw new QueueError(
      QueueErrorCode.RunActive,
      `run ${options.runId} still has ${active.length} active job(s) (${active.slice(0, 5).join(', ')}` +
        `${active.length > 5 ? ', …' : ''}); cancel the run or wait for them before resuming`,
    );
  }
  await setCancelMarker(queues.client, queues.prefix, options.runId, false);
  await publishControl(queues.control, ControlEvent.Resume, options.runId);
  await removeJobs(queues, jobs, (s) => s !== 'unknown');

  const limit = options.concurrency ?? 32;
  const kept = new Set<string>();
  const done: string[] = [];
  for (const level of levels(jobs)) {
    const candidates = level.filter((j) => j.parentId === undefined || kept.has(j.parentId));
    const finished = await mapLimit(candidates, limit, (j) =>
      options.isDone({ stage: j.stage, ...(j.shard === undefined ? {} : { shard: j.shard }), id: j.id }),
    );
    candidates.forEach((j, i) => {
      if (finished[i] === true) {
        done.push(j.id);
      } else {
        kept.add(j.id);
      }
    });
  }
  const added = jobs.filter((j) => kept.has(j.id));
  if (added.length > 0) {
    await queues.flows.add(flowTree(added, { prefix: queues.prefix, overrides: queues.overrides }));
  }
  return { added: added.map((j) => j.id), done };
}
