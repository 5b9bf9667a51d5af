/**
 * @file The logic behind `/v1/runs`, over an explicit deps object (artifact store and producer queues),
 * so routes stay thin and tests can drive it without HTTP.
 *
 * - create: the run id is derived from the spec hash (spec with defaults + model versions), so the
 *   same spec submitted twice is one run; the record is written first, then the plan job is enqueued
 *   (deterministic job id: a second enqueue is a no-op).
 * - cancel / resume delegate to `@synood/queue` (`cancelRun`, `resumeRun` with a done check on the
 *   done-markers) and keep the record's state in step.
 */
import type { Readable } from 'node:stream';

import {
  ARTIFACTS,
  type RunRecord,
  type RunSpec,
  type RunStatus,
  STAGES,
  type Stage,
  isTerminal,
  jobId,
  specHash,
} from '@synood/contracts';
import {
  QueueError,
  QueueErrorCode,
  type RunQueues,
  cancelRun,
  enqueueStageJob,
  resumeRun,
} from '@synood/queue';
import {
  type ArtifactStore,
  StorageError,
  StorageErrorCode,
  artifactKey,
  artifactPrefix,
  readDoneMarker,
} from '@synood/storage';

import { ApiError } from '../errors';
import { flowConfigHashes, shardItemsKey } from '../plan';
import { runConfigHashes } from './hashes';
import { indexRun, listRunIndex, readRunRecord, runIdOf, writeRunRecord } from './records';
import { MarkerCache, combineStatus, markerProgress, runJobs } from './status';

/** What {@link RunService} needs. */
export interface RunServiceDeps {
  /** The artifact store: run records, stage artifacts. */
  store: ArtifactStore;
  /** Producer-side queues. */
  queues: RunQueues;
  /** Resolved model versions (role → file hash or source), part of the idempotency key. @defaultValue {} */
  modelVersions?: Readonly<Record<string, string>>;
  /** Clock. @defaultValue `() => new Date()` */
  now?: () => Date;
}

/** Result of {@link RunService.create}. */
export interface CreateRunResult {
  /** False when the spec had been submitted before: `run` is that run. */
  created: boolean;
  run: RunStatus;
}

/** One artifact of a run. */
export interface RunArtifact {
  key: string;
  size: number;
  /** The stage that wrote it; null for the run's own record. */
  stage: Stage | null;
}

/** A page of {@link RunService.artifacts}. */
export interface ArtifactPage {
  artifacts: RunArtifact[];
  nextCursor: string | null;
}

/** Runs at once whose live status a list page computes. */
const LIST_CONCURRENCY = 4;

function notFound(runId: string): ApiError {
  return new ApiError('API_ERR_NOT_FOUND', `run ${runId} does not exist`);
}

/** The run operations of the REST API. */
export class RunService {
  private readonly markers = new MarkerCache();
  private readonly creating = new Map<string, Promise<CreateRunResult>>();
  private readonly now: () => Date;

  constructor(private readonly deps: RunServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** The plan job's payload of a run. */
  private planPayload(record: RunRecord): { runId: string; stage: 'plan'; configHash: string } {
    return { runId: record.id, stage: 'plan', configHash: runConfigHashes(record.spec).plan };
  }

  /**
   * Submits a run (idempotent on the spec hash): returns the existing run when the same spec (with the
   * same model versions) was submitted before, else writes the record, indexes it and enqueues the plan.
   * Resubmitting a run that has not been planned yet enqueues its plan job again, which is a no-op while
   * the job exists, and recovers a plan job lost with Redis state.
   */
  async create(spec: RunSpec): Promise<CreateRunResult> {
    const hash = specHash(spec, this.deps.modelVersions ?? {});
    const id = runIdOf(hash);
    // Within one process, concurrent submissions of one spec share one creation.
    let pending = this.creating.get(id);
    if (pending === undefined) {
      pending = this.createOnce(id, hash, spec).finally(() => this.creating.delete(id));
      this.creating.set(id, pending);
      return pending;
    }
    const first = await pending;
    return { created: false, run: first.run };
  }

  private async createOnce(id: string, hash: string, spec: RunSpec): Promise<CreateRunResult> {
    const existing = await readRunRecord(this.deps.store, id);
    if (existing !== undefined) {
      if (existing.specHash !== hash) {
        throw new ApiError(
          'API_ERR_CONFLICT',
          `run id ${id} is taken by a different spec (hash prefix collision); change the spec's name to submit it`,
        );
      }
      if (existing.shards === 0 && existing.state === 'queued') {
        await enqueueStageJob(this.deps.queues, this.planPayload(existing));
      }
      return { created: false, run: await this.status(existing) };
    }
    const at = this.now().toISOString();
    const record: RunRecord = {
      id,
      ...(spec.name === undefined ? {} : { name: spec.name }),
      specHash: hash,
      spec,
      state: 'queued',
      createdAt: at,
      updatedAt: at,
      shards: 0,
    };
    await writeRunRecord(this.deps.store, record);
    await indexRun(this.deps.store, record);
    await enqueueStageJob(this.deps.queues, this.planPayload(record));
    return { created: true, run: await this.status(record) };
  }

  private async recordOf(runId: string): Promise<RunRecord> {
    const record = await readRunRecord(this.deps.store, runId);
    if (record === undefined) {
      throw notFound(runId);
    }
    return record;
  }

  /**
   * The live status of a record. A terminal state observed here (`succeeded`, `failed`) is written back
   * to the record, so it survives the queues forgetting the jobs and list pages show it.
   */
  private async status(record: RunRecord): Promise<RunStatus> {
    const hashes = runConfigHashes(record.spec);
    const [progress, jobs] = await Promise.all([
      markerProgress(this.deps.store, record.id, record.shards, hashes, this.markers),
      runJobs(this.deps.queues, record.id),
    ]);
    const status = combineStatus(record, progress, jobs);
    if (status.state !== record.state && isTerminal(status.state) && status.state !== 'cancelled') {
      const updated: RunRecord = {
        ...record,
        state: status.state,
        updatedAt: this.now().toISOString(),
        ...(status.error === undefined ? {} : { error: status.error }),
      };
      await writeRunRecord(this.deps.store, updated);
      return { ...status, updatedAt: updated.updatedAt };
    }
    return status;
  }

  /** The status of run `runId`. @throws ApiError `API_ERR_NOT_FOUND` */
  async get(runId: string): Promise<RunStatus> {
    return this.status(await this.recordOf(runId));
  }

  /** A page of runs, newest first, each with its live status. */
  async list(limit: number, cursor?: string): Promise<{ runs: RunStatus[]; nextCursor: string | null }> {
    const page = await listRunIndex(this.deps.store, limit, cursor);
    const runs: RunStatus[] = [];
    for (let i = 0; i < page.ids.length; i += LIST_CONCURRENCY) {
      const batch = await Promise.all(
        page.ids.slice(i, i + LIST_CONCURRENCY).map(async (id) => {
          const record = await readRunRecord(this.deps.store, id);
          return record === undefined ? undefined : this.status(record);
        }),
      );
      runs.push(...batch.filter((r): r is RunStatus => r !== undefined));
    }
    return { runs, nextCursor: page.next ?? null };
  }

  /**
   * Cancels a run: its waiting jobs are removed and its active ones aborted (`cancelRun`); an unplanned
   * run's plan job is removed too. Cancelling a cancelled run is a no-op.
   *
   * @throws ApiError `API_ERR_NOT_FOUND`, or `API_ERR_CONFLICT` for a run that already ended.
   */
  async cancel(runId: string): Promise<{ run: RunStatus; removed: number; signalled: number }> {
    const record = await this.recordOf(runId);
    const current = await this.status(record);
    if (current.state === 'succeeded' || current.state === 'failed') {
      throw new ApiError('API_ERR_CONFLICT', `run ${runId} already ${current.state}; nothing to cancel`);
    }
    const latest = await this.recordOf(runId);
    await writeRunRecord(this.deps.store, {
      ...latest,
      state: 'cancelled',
      updatedAt: this.now().toISOString(),
    });
    // Before planning the run's flow has no shards; one stands in so the marker is set and the signal
    // (which aborts an active plan job) is sent.
    const result = await cancelRun(this.deps.queues, { runId, shards: Math.max(1, latest.shards) });
    const planId = jobId(runId, 'plan');
    const planState = await this.deps.queues.queue('plan').getJobState(planId);
    let removed = result.removed.length;
    if (planState !== 'active' && planState !== 'completed' && planState !== 'unknown') {
      removed += await this.deps.queues.queue('plan').remove(planId);
    }
    return { run: await this.get(runId), removed, signalled: result.signalled.length };
  }

  /**
   * Resumes a cancelled or failed run: re-enqueues only the jobs whose done-marker is missing (or
   * whose artifacts are gone), clears the cancel, and sets the record back to `running` (`queued` when
   * the plan itself must run again). Resuming a finished run adds nothing.
   *
   * @throws ApiError `API_ERR_NOT_FOUND`, or `API_ERR_CONFLICT` while jobs of the run are still active.
   */
  async resume(runId: string): Promise<{ run: RunStatus; added: number; done: number }> {
    const record = await this.recordOf(runId);
    const hashes = runConfigHashes(record.spec);
    const isDone = async (job: { stage: Stage; shard?: number }): Promise<boolean> =>
      (await readDoneMarker(
        this.deps.store,
        artifactPrefix({ runId, stage: job.stage, ...(job.shard === undefined ? {} : { shard: job.shard }) }),
        hashes[job.stage],
        { verifyArtifacts: true },
      )) !== undefined;
    const planned = record.shards > 0 && (await isDone({ stage: 'plan' }));
    let added: number;
    let done: number;
    try {
      if (planned) {
        const result = await resumeRun(this.deps.queues, {
          runId,
          shards: record.shards,
          payloads: { configHashes: flowConfigHashes(record.spec), itemsKey: (n) => shardItemsKey(runId, n) },
          isDone,
        });
        added = result.added.length;
        done = result.done.length;
      } else {
        // Not planned: clear the cancel (a done check that passes at the root adds no flow job), then
        // run the plan again; it enqueues the flow when it finishes.
        await resumeRun(this.deps.queues, {
          runId,
          shards: 1,
          payloads: { configHashes: flowConfigHashes(record.spec), itemsKey: (n) => shardItemsKey(runId, n) },
          isDone: () => Promise.resolve(true),
        });
        const plan = this.deps.queues.queue('plan');
        if ((await plan.getJobState(jobId(runId, 'plan'))) === 'active') {
          throw new QueueError(QueueErrorCode.RunActive, `run ${runId}'s plan job is still active`);
        }
        await plan.remove(jobId(runId, 'plan'));
        await enqueueStageJob(this.deps.queues, this.planPayload(record));
        added = 1;
        done = 0;
      }
    } catch (error) {
      if (error instanceof QueueError && error.code === QueueErrorCode.RunActive) {
        throw new ApiError('API_ERR_CONFLICT', error.message);
      }
      throw error;
    }
    const next: RunRecord = {
      ...(await this.recordOf(runId)),
      state: planned ? 'running' : 'queued',
      updatedAt: this.now().toISOString(),
    };
    delete next.error;
    await writeRunRecord(this.deps.store, next);
    return { run: await this.get(runId), added, done };
  }

  /**
   * A page of the run's stored objects (key, size, stage), in key order; `stage` narrows the listing to
   * one stage's folder.
   */
  async artifacts(
    runId: string,
    options: { stage?: Stage; limit: number; cursor?: string },
  ): Promise<ArtifactPage> {
    await this.recordOf(runId);
    const prefix =
      options.stage === undefined ? `runs/${runId}` : artifactPrefix({ runId, stage: options.stage });
    const keys: string[] = [];
    for await (const key of this.deps.store.list(prefix)) {
      if (options.cursor === undefined || key > options.cursor) {
        keys.push(key);
      }
    }
    keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const page = keys.slice(0, options.limit);
    const sizes = await Promise.all(page.map((key) => this.deps.store.stat(key)));
    const artifacts = page.flatMap((key, i) => {
      const stat = sizes[i];
      if (stat === undefined) {
        return [];
      }
      const segment = key.split('/')[2] ?? '';
      const stage = (STAGES as readonly string[]).includes(segment) ? (segment as Stage) : null;
      return [{ key, size: stat.size, stage }];
    });
    return { artifacts, nextCursor: keys.length > options.limit ? page[page.length - 1]! : null };
  }

  /**
   * The evaluation report (`report.html`) as a stream.
   *
   * @throws ApiError `API_ERR_NOT_FOUND` for an unknown run, or until the evaluate stage wrote it.
   */
  async report(runId: string): Promise<Readable> {
    await this.recordOf(runId);
    const key = artifactKey({ runId, stage: 'evaluate', name: ARTIFACTS.evaluate.report });
    try {
      return await this.deps.store.getStream(key);
    } catch (error) {
      if (error instanceof StorageError && error.code === StorageErrorCode.NotFound) {
        throw new ApiError(
          'API_ERR_NOT_FOUND',
          `run ${runId} has no report yet: the evaluate stage writes ${key}`,
        );
      }
      throw error;
    }
  }
}
