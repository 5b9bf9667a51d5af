/**
 * @file A run's status (`GET /v1/runs/:id`): per stage, jobs total and done and item counts from the
 * done-markers in storage (the source of truth for finished work), running and failed jobs from the
 * queues, and the run's state from its record and those.
 *
 * Cost is kept independent of queue sizes and bounded by the run's size: the queues are asked only for
 * the ids in their `active` and `failed` sets (one range read each, filtered by the run's id prefix),
 * and job details only for the run's failed jobs. Done-markers are read once each and cached while they
 * match (a marker never changes for a config hash), and a shard's later stages are read only once its
 * earlier stage is done.
 */
import {
  type RunRecord,
  type RunState,
  type RunStatus,
  STAGES,
  type Stage,
  type StageState,
  type StageStatus,
  isShardStage,
  runStatusSchema,
} from '@synood/contracts';
import { type RunQueues, parseFailedReason } from '@synood/queue';
import {
  type ArtifactStore,
  StorageError,
  StorageErrorCode,
  artifactPrefix,
  readDoneMarker,
} from '@synood/storage';

import type { RunConfigHashes } from './hashes';

/** Item counts of a finished job, from its done-marker. */
export interface MarkerSummary {
  processed: number;
  failed: number;
  skipped: number;
}

/** Most done-marker summaries remembered (a 20k-shard run has 60k shard markers). */
const MAX_CACHED_MARKERS = 250_000;

/** Remembers the done-markers found, per folder and config hash. Not-done answers are not remembered. */
export class MarkerCache {
  private readonly entries = new Map<string, MarkerSummary>();

  /** The summary remembered for folder `prefix` under `configHash`, if any. */
  get(prefix: string, configHash: string): MarkerSummary | undefined {
    return this.entries.get(`${prefix}#${configHash}`);
  }

  /** Remembers a found marker's summary (the oldest entry goes when the cache is full). */
  set(prefix: string, configHash: string, summary: MarkerSummary): void {
    if (this.entries.size >= MAX_CACHED_MARKERS) {
      // Oldest first out (Map iteration order is insertion order).
      this.entries.delete(this.entries.keys().next().value!);
    }
    this.entries.set(`${prefix}#${configHash}`, summary);
  }
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : 0;
}

/**
 * The summary of the done-marker in folder `prefix` if it matches `configHash`, else undefined. A
 * malformed marker counts as not done (the stage rewrites it); a store that is down throws.
 */
export async function readMarkerSummary(
  store: ArtifactStore,
  prefix: string,
  configHash: string,
  cache?: MarkerCache,
): Promise<MarkerSummary | undefined> {
  const cached = cache?.get(prefix, configHash);
  if (cached !== undefined) {
    return cached;
  }
  let marker: Awaited<ReturnType<typeof readDoneMarker>>;
  try {
    marker = await readDoneMarker(store, prefix, configHash);
  } catch (error) {
    if (error instanceof StorageError && error.code === StorageErrorCode.Manifest) {
      return undefined;
    }
    throw error;
  }
  if (marker === undefined) {
    return undefined;
  }
  const counts = (marker.counts ?? {}) as Record<string, unknown>;
  const failures = Array.isArray(marker.failures) ? marker.failures.length : 0;
  const summary: MarkerSummary = {
    processed: count(counts.processed),
    failed: counts.failed === undefined ? failures : count(counts.failed),
    skipped: count(counts.skipped),
  };
  cache?.set(prefix, configHash, summary);
  return summary;
}

/** A job of the run that failed for good, with the coded reason its stage recorded. */
export interface FailedJob {
  id: string;
  code?: string;
  message: string;
}

/** What the queues say about a run's jobs of one stage. */
export interface StageJobs {
  /** Jobs being processed now. */
  active: number;
  /** Jobs that failed for good by their own error (not relayed from a child, not cancelled). */
  failed: FailedJob[];
}

/** Failed reasons BullMQ writes on a parent whose child failed: the child's own failure is what matters. */
const RELAYED_FAILURE = /^child .+ failed$/;

/** Failed jobs whose details are read per stage; the count beyond is still exact. */
const MAX_FAILED_DETAILS = 20;

/**
 * Active and failed jobs of `runId` per stage, from the queues' `active` and `failed` id sets.
 */
export async function runJobs(queues: RunQueues, runId: string): Promise<Record<Stage, StageJobs>> {
  const prefix = `${runId}.`;
  const entries = await Promise.all(
    STAGES.map(async (stage) => {
      const queue = queues.queue(stage);
      const [failedIds, activeIds] = await Promise.all([
        queue.getRanges(['failed']),
        queue.getRanges(['active']),
      ]);
      const mine = [...new Set(failedIds.filter((id) => id.startsWith(prefix)))].sort();
      const failed: FailedJob[] = [];
      for (const id of mine) {
        if (failed.length >= MAX_FAILED_DETAILS) {
          failed.push({ id, message: 'failed (details omitted)' });
          continue;
        }
        const job = await queue.getJob(id);
        const reason = job?.failedReason ?? '';
        const parsed = parseFailedReason(reason);
        if (RELAYED_FAILURE.test(reason) || parsed.code === 'RUN_ERR_CANCELLED') {
          continue;
        }
        failed.push({ id, ...parsed });
      }
      const active = new Set(activeIds.filter((id) => id.startsWith(prefix))).size;
      return [stage, { active, failed }] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<Stage, StageJobs>;
}

/** Stage progress from the done-markers: jobs done and their item counts. */
export interface StageProgress {
  total: number;
  done: number;
  items: MarkerSummary;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
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

/**
 * Progress of every stage of a run from its done-markers. Shard stages have `shards` jobs (none before
 * the plan), the others one. A shard's `synthesize` marker is read only when its `caption` is done,
 * its `encode` only when `synthesize` is: a later stage of a shard cannot finish before an earlier one.
 */
export async function markerProgress(
  store: ArtifactStore,
  runId: string,
  shards: number,
  hashes: RunConfigHashes,
  cache?: MarkerCache,
): Promise<Record<Stage, StageProgress>> {
  const empty = (): MarkerSummary => ({ processed: 0, failed: 0, skipped: 0 });
  const progress = Object.fromEntries(
    STAGES.map((s) => [s, { total: isShardStage(s) ? shards : 1, done: 0, items: empty() }]),
  ) as Record<Stage, StageProgress>;
  const add = (stage: Stage, summary: MarkerSummary | undefined): boolean => {
    if (summary === undefined) {
      return false;
    }
    const p = progress[stage];
    p.done++;
    p.items.processed += summary.processed;
    p.items.failed += summary.failed;
    p.items.skipped += summary.skipped;
    return true;
  };
  const runStages = STAGES.filter((s) => !isShardStage(s));
  const summaries = await mapLimit(runStages, 8, (stage) =>
    readMarkerSummary(store, artifactPrefix({ runId, stage }), hashes[stage], cache),
  );
  runStages.forEach((stage, i) => add(stage, summaries[i]));

  let pending = Array.from({ length: shards }, (_, i) => i);
  for (const stage of ['caption', 'synthesize', 'encode'] as const) {
    const found = await mapLimit(pending, 32, (shard) =>
      readMarkerSummary(store, artifactPrefix({ runId, stage, shard }), hashes[stage], cache),
    );
    pending = pending.filter((_, i) => add(stage, found[i]));
  }
  return progress;
}

function stageState(
  progress: StageProgress,
  jobs: StageJobs,
  cancelled: boolean,
): { state: StageState; error?: { code: string; message: string } } {
  if (progress.total > 0 && progress.done === progress.total) {
    return { state: 'done' };
  }
  const first = jobs.failed[0];
  if (first !== undefined) {
    const more = jobs.failed.length > 1 ? ` (and ${jobs.failed.length - 1} more job(s))` : '';
    return {
      state: 'failed',
      error: {
        code: first.code ?? 'RUN_ERR_STAGE_FAILED',
        message: `job ${first.id}: ${first.message}${more}`,
      },
    };
  }
  if (cancelled) {
    return { state: 'cancelled' };
  }
  return { state: jobs.active > 0 || progress.done > 0 ? 'running' : 'pending' };
}

/**
 * Combines a run's record, done-markers and job states into its status. The run is `cancelled` when
 * its record says so; `failed` when a stage has a job that failed for good (the first such stage in
 * pipeline order gives the reason) or its record says so; `succeeded` when `publish` is done;
 * `running` once planned or while a job is active; `queued` before that.
 */
export function combineStatus(
  record: RunRecord,
  progress: Record<Stage, StageProgress>,
  jobs: Record<Stage, StageJobs>,
): RunStatus {
  const cancelled = record.state === 'cancelled';
  const stages: StageStatus[] = STAGES.map((stage) => {
    const p = progress[stage];
    const s = stageState(p, jobs[stage], cancelled);
    return {
      stage,
      state: s.state,
      jobs: { total: p.total, done: p.done },
      items: { ...p.items },
      ...(s.error === undefined ? {} : { error: s.error }),
    };
  });
  let state: RunState;
  let error: { code: string; message: string } | undefined;
  const failed = stages.find((s) => s.state === 'failed');
  if (cancelled) {
    state = 'cancelled';
  } else if (failed !== undefined) {
    state = 'failed';
    error = { code: failed.error!.code, message: `stage ${failed.stage} failed: ${failed.error!.message}` };
  } else if (progress.publish.done === 1) {
    state = 'succeeded';
  } else if (record.state === 'failed' || record.state === 'succeeded') {
    // Terminal states persisted earlier stay, even after the queues forgot the jobs.
    state = record.state;
    error = record.error;
  } else if (
    record.state === 'running' ||
    progress.plan.done === 1 ||
    stages.some((s) => s.state === 'running')
  ) {
    state = 'running';
  } else {
    state = 'queued';
  }
  return runStatusSchema.parse({
    id: record.id,
    ...(record.name === undefined ? {} : { name: record.name }),
    state,
    specHash: record.specHash,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    stages,
    ...(error === undefined ? {} : { error }),
  });
}
