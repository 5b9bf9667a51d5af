/**
 * @file The worker harness: one BullMQ `Worker` per stage around a typed handler. The harness, not the
 * handler, owns everything a stage shares with every other stage (style guide §7.9, §7.15):
 * - payload validation on dequeue: an invalid payload fails the job at once (`JOB_ERR_PAYLOAD`);
 * - error sorting (`classifyError`): transient errors are retried with the stage's backoff, permanent
 *   ones fail at once through BullMQ's `UnrecoverableError`, with `CODE: message` as failed reason;
 * - metrics: job duration by outcome, queue wait, items by outcome and images per second;
 * - cancellation (`ctx.signal`) from the control channel, and graceful shutdown that returns the
 *   active job to the queue instead of failing it;
 * - pausing consumption while a dependency (storage, model server) is down instead of burning jobs.
 *
 * Event-loop caveat: BullMQ renews job locks from a timer. onnxruntime-node runs `session.run`
 * synchronously on the main thread, so while a long ORT call runs neither lock renewal nor abort
 * signals nor control messages are processed. Lock durations in the option table are sized for the
 * longest blocking call of each stage; handlers should cut work into batches and `await
 * ctx.progress(...)` between them, which yields to the event loop and is where cancellation lands.
 */
import { type Job, UnrecoverableError, WaitingError, Worker, type RedisOptions } from 'bullmq';

import {
  type RunPayload,
  type ShardPayload,
  type ShardStage,
  STAGES,
  type Stage,
  type StageResult,
  SynoodError,
  isShardStage,
  queueName,
  runPayloadSchema,
  shardPayloadSchema,
  stageResultSchema,
} from '@synood/contracts';
import { type PlatformMetrics, RateMeter } from '@synood/metrics';

import { DEFAULT_PREFIX, checkPrefix, resolveRedisOptions } from './connection';
import { ControlEvent, ControlListener, isCancelled } from './control';
import { QueueError, QueueErrorCode, classifyError, codedMessage, describeError, errorCode } from './errors';
import { type QueueLogger, silentLogger, withFields } from './logger';
import { type StageOptionsOverrides, workerSettings } from './options';

/** The payload type of `stage`'s jobs. */
export type PayloadOf<S extends Stage> = S extends ShardStage
  ? ShardPayload & { stage: S }
  : RunPayload & { stage: S };

/** Progress of a job, in items (images). */
export interface StageProgress {
  /** Items handled so far (processed or failed). */
  done: number;
  /** Items in the job. */
  total: number;
}

/** What a handler gets besides its payload. */
export interface StageContext {
  /** The job's deterministic id (`run.stage.shard`). */
  readonly jobId: string;
  /** This try's number, from 1. */
  readonly attempt: number;
  /**
   * Aborted when the run is cancelled or the worker shuts down. Pass it to I/O calls and check it
   * between batches; `signal.reason` is a `SynoodError` (`RUN_ERR_CANCELLED`) or a `QueueError`
   * (`QUEUE_ERR_SHUTDOWN`).
   */
  readonly signal: AbortSignal;
  /**
   * Reports progress after a batch: stored on the job (`job.progress`, shown by the API and
   * bull-board; written in the background, the latest report wins, the last one lands before the job
   * finishes) and fed to the images-per-second gauge. Yields to the event loop, and throws the abort
   * reason once `signal` is aborted, so per-batch progress calls are cancellation points.
   */
  progress(progress: StageProgress): Promise<void>;
  /** Logger bound to the stage, job and run; info and above also go to the job's log (bull-board). */
  readonly log: QueueLogger;
}

/** A stage handler: does one job's work and returns its result. */
export type StageHandler<S extends Stage> = (
  payload: PayloadOf<S>,
  ctx: StageContext,
) => Promise<StageResult>;

/** The value a harness-run job completes with: the handler's result plus when it finished. */
export type StageJobResult = StageResult & {
  /** Epoch milliseconds; parents in a flow measure their queue wait from their last child's. */
  finishedAt: number;
};

/** A health check of something the stage needs (storage, a model server). */
export interface DependencyCheck {
  /** Name for logs, e.g. `storage` or `vlm-endpoint`. */
  name: string;
  /**
   * Resolves to `true` (or nothing) when healthy; `false`, a rejection or no answer within the
   * timeout means down. `signal` is aborted at the timeout.
   */
  check(signal: AbortSignal): Promise<boolean | undefined>;
}

/** What happened to a job, as reported to {@link StageWorker.onJob} listeners. */
export interface StageJobEvent {
  stage: Stage;
  jobId: string;
  /**
   * `completed` / `skipped` (its done-marker matched) / `failed` (this try) / `returned` (given back
   * to the queue on shutdown or while a dependency is down, no try used).
   */
  outcome: 'completed' | 'skipped' | 'failed' | 'returned';
  /** The try number, from 1. */
  attempt: number;
  /** For `failed`: whether BullMQ will try again. */
  willRetry?: boolean;
  /** For `failed`: the failed reason. */
  error?: string;
}

/** Options of {@link startStageWorker}. */
export interface StageWorkerOptions<S extends Stage> {
  /** The stage whose queue this worker consumes. */
  stage: S;
  /** A `redis://` URL or ioredis options; `maxRetriesPerRequest: null` is applied either way. */
  connection: string | RedisOptions;
  /** BullMQ key prefix. @defaultValue {@link DEFAULT_PREFIX} */
  prefix?: string;
  /** Does the work of one job. */
  handler: StageHandler<S>;
  /** Jobs run at once. @defaultValue the stage table's (1 for GPU stages) */
  concurrency?: number;
  /** Lock duration in milliseconds. @defaultValue the stage table's */
  lockDuration?: number;
  /** Overrides of the stage option table (from the service config). */
  options?: StageOptionsOverrides;
  /** Where stage metrics go; none are recorded without. */
  metrics?: PlatformMetrics;
  /** @defaultValue {@link silentLogger} */
  logger?: QueueLogger;
  /** Health checks polled while the worker runs; while any fails, the worker takes no new jobs. */
  dependencies?: readonly DependencyCheck[];
  /** Poll interval of the dependency checks, milliseconds. @defaultValue 5000 */
  dependencyIntervalMs?: number;
  /** Time a dependency check may take, milliseconds (Immich's ML ping uses 2 s). @defaultValue 2000 */
  dependencyTimeoutMs?: number;
  /** Default of {@link CloseOptions.timeoutMs}. @defaultValue 30000 */
  shutdownTimeoutMs?: number;
  /** Give up connecting to Redis after this long. @defaultValue 30000 */
  connectTimeoutMs?: number;
  /** Least time between two stored progress reports of a job, milliseconds. @defaultValue 250 */
  progressIntervalMs?: number;
}

/** Options of {@link StageWorker.close}. */
export interface CloseOptions {
  /** How long active jobs may run on before their handlers are aborted, milliseconds. */
  timeoutMs?: number;
  /**
   * After the abort, how long a handler may take to stop before the harness gives its job back to the
   * queue itself and stops waiting for it, milliseconds. @defaultValue 5000
   */
  graceMs?: number;
}

/** A running stage worker. */
export interface StageWorker {
  readonly stage: Stage;
  readonly queueName: string;
  /** True while a dependency check fails (the worker takes no new jobs). */
  isPaused(): boolean;
  /** Ids of the jobs being processed now. */
  activeJobIds(): string[];
  /** Runs the dependency checks now (as the poller does); resolves to true when all pass. */
  checkDependencies(): Promise<boolean>;
  /** Subscribes to job outcomes; returns the unsubscribe function. */
  onJob(listener: (event: StageJobEvent) => void): () => void;
  /**
   * Graceful shutdown: stops taking jobs and waits for active ones up to `timeoutMs`; then aborts
   * their handlers (reason `QUEUE_ERR_SHUTDOWN`) so their jobs go back to the queue without using a
   * try, and disconnects. A handler that ignores the abort for `graceMs` has its job given back by the
   * harness (it may then finish in the background; its result is discarded by BullMQ's lock check).
   */
  close(options?: CloseOptions): Promise<void>;
}

/** Stages whose jobs never have flow children: their queue wait is measured from creation. */
const LEAF_STAGES = new Set<Stage>(['plan', 'caption', 'mine']);

/** Most cancelled run ids remembered; the control stream replays at most 1000 signals anyway. */
const MAX_CANCELLED = 10_000;

interface ActiveJob {
  job: Job<unknown, StageJobResult>;
  token: string | undefined;
  controller: AbortController;
  runId?: string;
  returned: boolean;
}

/**
 * Stores a job's progress without making the handler wait for Redis: a stage reporting per batch
 * would otherwise sit idle for one round trip per batch. At most one write is in flight, and writes are
 * at least `minIntervalMs` apart (except the final `done === total` report): reports arriving meanwhile
 * are coalesced into the latest. Per-batch writes of a short job cost more than its work at GPU speeds
 * (`bench queue`), and nobody reads progress more often than a few times a second.
 */
class ProgressWriter {
  private latest: StageProgress | undefined;
  private writing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastWrite = 0;

  constructor(
    private readonly job: Job,
    private readonly onError: (error: unknown) => void,
    private readonly minIntervalMs: number,
  ) {}

  push(progress: StageProgress): void {
    this.latest = progress;
    if (this.writing !== undefined || this.timer !== undefined) {
      return;
    }
    const wait = this.lastWrite + this.minIntervalMs - Date.now();
    if (wait > 0 && progress.done < progress.total) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.start();
      }, wait);
      this.timer.unref();
      return;
    }
    this.start();
  }

  /**
   * Sends what is left before the job finishes, without waiting for Redis to answer: the writes and
   * BullMQ's move to completed/failed go over the worker's one connection, whose commands Redis runs in
   * order, so the last report still lands before the job's final state. Waiting for the reply here cost
   * every job one more round trip (`bench queue`). Only a report queued behind a write in flight waits
   * for that write, since it would otherwise be sent after the job finished.
   */
  async flush(): Promise<void> {
    this.cancelTimer();
    if (this.latest === undefined) {
      return;
    }
    while (this.writing !== undefined) {
      await this.writing;
    }
    // The write just awaited may have sent the report itself, or put it behind the throttle again.
    this.cancelTimer();
    this.start();
  }

  private cancelTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private start(): void {
    const next = this.latest;
    if (next === undefined) {
      return;
    }
    this.latest = undefined;
    this.writing = this.job
      .updateProgress({ ...next })
      .catch((error: unknown) => {
        this.onError(error);
      })
      .finally(() => {
        this.lastWrite = Date.now();
        this.writing = undefined;
        if (this.latest !== undefined) {
          this.push(this.latest);
        }
      });
  }
}

/** Marks a job that must go back to the queue rather than fail (dependency down at start). */
class ReturnJob extends Error {}

function isIntAtLeast(value: number | undefined, min: number): boolean {
  return value === undefined || (Number.isInteger(value) && value >= min);
}

function optionsError(message: string): QueueError {
  return new QueueError(QueueErrorCode.Options, message);
}

async function withTimeout<T>(
  start: (signal: AbortSignal) => Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      start(controller.signal),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          const error = new Error(`${what} gave no answer within ${ms} ms`);
          controller.abort(error);
          reject(error);
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms` with `false`, or with `true` when `promise` settles first. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => {
          resolve(false);
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts a worker for `options.stage`: connects, listens for control signals, runs the dependency
 * checks once (consuming only when they pass) and then polls them. Resolves once connected.
 *
 * @throws QueueError `QUEUE_ERR_OPTIONS` for bad options, `QUEUE_ERR_UNAVAILABLE` when Redis does not
 * answer within `connectTimeoutMs`.
 */
export async function startStageWorker<S extends Stage>(
  options: StageWorkerOptions<S>,
): Promise<StageWorker> {
  const stage: Stage = options.stage;
  if (!(STAGES as readonly string[]).includes(stage)) {
    throw optionsError(`unknown stage ${JSON.stringify(stage)}. Should be one of: ${STAGES.join(', ')}`);
  }
  if (typeof options.handler !== 'function') {
    throw optionsError(`startStageWorker(${stage}): handler must be a function`);
  }
  const prefix = checkPrefix(options.prefix ?? DEFAULT_PREFIX);
  const overrides: StageOptionsOverrides = {
    ...options.options,
    stages: {
      ...options.options?.stages,
      [stage]: {
        ...options.options?.stages?.[stage],
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
        ...(options.lockDuration === undefined ? {} : { lockDuration: options.lockDuration }),
      },
    },
  };
  const settings = workerSettings(stage, overrides);
  const dependencies = options.dependencies ?? [];
  const dependencyIntervalMs = options.dependencyIntervalMs ?? 5000;
  const dependencyTimeoutMs = options.dependencyTimeoutMs ?? 2000;
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 30_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
  for (const [name, value, min] of [
    ['dependencyIntervalMs', dependencyIntervalMs, 10],
    ['dependencyTimeoutMs', dependencyTimeoutMs, 1],
    ['shutdownTimeoutMs', shutdownTimeoutMs, 0],
    ['connectTimeoutMs', connectTimeoutMs, 1],
  ] as const) {
    if (!isIntAtLeast(value, min)) {
      throw optionsError(
        `startStageWorker(${stage}): ${name} must be an integer ≥ ${min}, got ${String(value)}`,
      );
    }
  }
  const name = queueName(stage);
  const logger = withFields(options.logger ?? silentLogger, { stage, queue: name });
  const connection = resolveRedisOptions(options.connection, 'worker');
  const metrics = options.metrics;
  const recorder =
    metrics === undefined
      ? undefined
      : {
          completed: metrics.stageJobDuration.bind({ stage, status: 'completed' }),
          skipped: metrics.stageJobDuration.bind({ stage, status: 'skipped' }),
          failed: metrics.stageJobDuration.bind({ stage, status: 'failed' }),
          wait: metrics.stageJobWait.bind({ stage }),
          processed: metrics.stageItems.bind({ stage, outcome: 'processed' }),
          itemsFailed: metrics.stageItems.bind({ stage, outcome: 'failed' }),
          itemsSkipped: metrics.stageItems.bind({ stage, outcome: 'skipped' }),
        };
  const meter = new RateMeter();
  const publishRate = (): void => {
    metrics?.stageImagesPerSecond.set({ stage }, meter.rate());
  };

  const active = new Map<string, ActiveJob>();
  const cancelled = new Set<string>();
  const listeners = new Set<(event: StageJobEvent) => void>();
  const emit = (event: StageJobEvent): void => {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        logger.warn({ err: describeError(error) }, 'a job event listener threw');
      }
    }
  };

  let dependencyDown = false;
  let started = false;
  let closing: Promise<void> | undefined;

  const cancelReason = (runId: string): SynoodError =>
    new SynoodError('RUN_ERR_CANCELLED', `run ${runId} was cancelled`);
  const shutdownReason = (): QueueError =>
    new QueueError(
      QueueErrorCode.Shutdown,
      `worker for ${name} is shutting down; the job goes back to the queue`,
    );

  const parsePayload = (job: Job): PayloadOf<S> => {
    const schema = isShardStage(stage) ? shardPayloadSchema : runPayloadSchema;
    const result = schema.safeParse(job.data);
    let problem: string | undefined;
    if (!result.success) {
      problem = result.error.issues
        .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
        .join('; ');
    } else if (result.data.stage !== stage) {
      problem = `stage is ${result.data.stage}, but this queue holds ${stage} jobs`;
    }
    if (problem !== undefined) {
      throw new UnrecoverableError(
        codedMessage(
          'JOB_ERR_PAYLOAD',
          `${name} job ${job.id ?? '?'} has an invalid payload (${problem}); it was not built from the ` +
            'contracts schemas (use enqueueRun / enqueueStageJob)',
        ),
      );
    }
    return result.data as PayloadOf<S>;
  };

  const observeWait = async (job: Job): Promise<void> => {
    if (recorder === undefined) {
      return;
    }
    // A flow parent becomes ready when its last child finishes, not when it was created.
    let readyAt = job.timestamp + job.delay;
    if (!LEAF_STAGES.has(stage)) {
      const values = await job.getChildrenValues();
      for (const value of Object.values(values)) {
        const finishedAt = (value as { finishedAt?: unknown } | null)?.finishedAt;
        if (typeof finishedAt === 'number' && finishedAt > readyAt) {
          readyAt = finishedAt;
        }
      }
    }
    recorder.wait.observe(Math.max(0, (job.processedOn ?? Date.now()) - readyAt) / 1000);
  };

  const jobLogger = (job: Job, payload: { runId: string; shard?: number }): QueueLogger => {
    const bound = withFields(logger, {
      jobId: job.id,
      runId: payload.runId,
      ...(payload.shard === undefined ? {} : { shard: payload.shard }),
    });
    const mirror =
      (level: 'info' | 'warn' | 'error') =>
      (fields: Record<string, unknown>, message: string): void => {
        bound[level](fields, message);
        const extra = Object.keys(fields).length === 0 ? '' : ` ${JSON.stringify(fields)}`;
        job.log(`[${level}] ${message}${extra}`).catch(() => undefined);
      };
    return {
      debug: (fields, message) => {
        bound.debug(fields, message);
      },
      info: mirror('info'),
      warn: mirror('warn'),
      error: mirror('error'),
    };
  };

  const returnToQueue = async (entry: ActiveJob): Promise<void> => {
    if (entry.returned) {
      return;
    }
    entry.returned = true;
    try {
      await entry.job.moveToWait(entry.token);
      emit({
        stage,
        jobId: entry.job.id ?? '',
        outcome: 'returned',
        attempt: entry.job.attemptsMade + 1,
      });
    } catch (error) {
      // The lock is gone (expired, or the job was removed): BullMQ's stalled check owns the job now.
      logger.warn(
        { jobId: entry.job.id, err: describeError(error) },
        'could not give the job back to the queue',
      );
    }
  };

  /** Turns what a handler threw into what BullMQ should see. */
  const failure = async (entry: ActiveJob, error: unknown, seconds: number): Promise<Error> => {
    const reason: unknown = entry.controller.signal.aborted ? entry.controller.signal.reason : undefined;
    if (
      error instanceof ReturnJob ||
      (reason instanceof QueueError && reason.code === QueueErrorCode.Shutdown)
    ) {
      await returnToQueue(entry);
      // Tells the worker the job left `active` on purpose: no try is used, nothing is fetched meanwhile.
      return new WaitingError();
    }
    recorder?.failed.observe(seconds);
    if (reason instanceof SynoodError && reason.code === 'RUN_ERR_CANCELLED') {
      return new UnrecoverableError(codedMessage(reason.code, reason.message));
    }
    const message = error instanceof Error ? error.message : String(error);
    const code = errorCode(error);
    const coded = (fallback: string): string => {
      const c = code ?? fallback;
      return message.startsWith(`${c}: `) ? message : codedMessage(c, message);
    };
    if (classifyError(error) === 'permanent') {
      if (error instanceof Error && error.name === 'UnrecoverableError') {
        return error;
      }
      return new UnrecoverableError(coded('RUN_ERR_STAGE_FAILED'));
    }
    if (code !== undefined && !message.startsWith(`${code}: `)) {
      // The failed reason BullMQ stores is the message: keep the code in it for the run report.
      const wrapped = new Error(coded(code), { cause: error });
      if (error instanceof Error && error.stack !== undefined) {
        wrapped.stack = error.stack;
      }
      return wrapped;
    }
    return error instanceof Error ? error : new Error(describeError(error));
  };

  const processor = async (
    job: Job<unknown, StageJobResult>,
    token: string | undefined,
    bullSignal: AbortSignal | undefined,
  ): Promise<StageJobResult> => {
    const id = job.id ?? '';
    const t0 = performance.now();
    const entry: ActiveJob = { job, token, controller: new AbortController(), returned: false };
    active.set(id, entry);
    // `worker.cancelJob` (BullMQ's own, local) reaches the handler through the same signal.
    const relay = (): void => {
      entry.controller.abort(bullSignal?.reason);
    };
    bullSignal?.addEventListener('abort', relay, { once: true });
    if (job.attemptsMade === 0 && job.attemptsStarted <= 1) {
      observeWait(job).catch((error: unknown) => {
        logger.debug({ jobId: id, err: describeError(error) }, 'could not measure queue wait');
      });
    }
    let progressDone = 0;
    const progress = new ProgressWriter(
      job,
      (error) => {
        logger.warn({ jobId: id, err: describeError(error) }, 'could not store job progress');
      },
      options.progressIntervalMs ?? 250,
    );
    try {
      if (dependencyDown) {
        throw new ReturnJob();
      }
      const payload = parsePayload(job);
      entry.runId = payload.runId;
      // The local set (from the control stream) is a hint; the marker in Redis decides, so a resume
      // whose jobs arrive before its signal is not refused.
      if (cancelled.has(payload.runId)) {
        if (await isCancelled(await worker.client, prefix, payload.runId)) {
          entry.controller.abort(cancelReason(payload.runId));
          throw entry.controller.signal.reason;
        }
        cancelled.delete(payload.runId);
      }
      const ctx: StageContext = {
        jobId: id,
        attempt: job.attemptsMade + 1,
        signal: entry.controller.signal,
        log: jobLogger(job, payload),
        progress: async ({ done, total }) => {
          if (!Number.isInteger(total) || total < 0 || !Number.isInteger(done) || done < 0 || done > total) {
            throw optionsError(
              `${name} job ${id}: progress must be integers with 0 ≤ done ≤ total, got ${String(done)}/${String(total)}`,
            );
          }
          if (done > progressDone) {
            meter.mark(done - progressDone);
            progressDone = done;
            publishRate();
          }
          progress.push({ done, total });
          // Yield so lock renewal and control messages get their turn; the write itself is not awaited.
          await new Promise<void>((resolve) => {
            setImmediate(resolve);
          });
          entry.controller.signal.throwIfAborted();
        },
      };
      const raw = await options.handler(payload, ctx);
      if (entry.returned) {
        // Shutdown gave the job back while the handler ran on: the result is no longer ours to store.
        throw new WaitingError();
      }
      const parsed = stageResultSchema.safeParse(raw);
      if (!parsed.success) {
        throw new UnrecoverableError(
          codedMessage(
            QueueErrorCode.Result,
            `${name} handler returned an invalid result for job ${id}: ${parsed.error.issues
              .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
              .join('; ')}`,
          ),
        );
      }
      const result = parsed.data;
      const seconds = (performance.now() - t0) / 1000;
      if (recorder !== undefined) {
        (result.status === 'skipped' ? recorder.skipped : recorder.completed).observe(seconds);
        recorder.processed.inc(result.counts.processed);
        recorder.itemsFailed.inc(result.counts.failed);
        recorder.itemsSkipped.inc(result.counts.skipped);
      }
      const handled = result.counts.processed + result.counts.failed;
      if (handled > progressDone) {
        meter.mark(handled - progressDone);
        publishRate();
      }
      return { ...result, finishedAt: Date.now() };
    } catch (error) {
      throw await failure(entry, error, (performance.now() - t0) / 1000);
    } finally {
      // The last progress is sent before BullMQ moves the job to completed or failed (same connection).
      await progress.flush();
      bullSignal?.removeEventListener('abort', relay);
      active.delete(id);
    }
  };

  const worker = new Worker<unknown, StageJobResult>(name, processor, {
    connection,
    prefix,
    autorun: false,
    concurrency: settings.concurrency,
    lockDuration: settings.lockDuration,
    stalledInterval: settings.stalledInterval,
    maxStalledCount: settings.maxStalledCount,
    removeOnComplete: settings.removeOnComplete,
    removeOnFail: settings.removeOnFail,
  });
  worker.on('error', (error) => {
    logger.error({ err: describeError(error) }, 'worker error');
  });
  worker.on('stalled', (jobId) => {
    logger.warn({ jobId }, 'job stalled (its lock expired): moved back to wait');
  });
  worker.on('completed', (job, result) => {
    emit({
      stage,
      jobId: job.id ?? '',
      outcome: result.status === 'skipped' ? 'skipped' : 'completed',
      attempt: job.attemptsMade,
    });
  });
  worker.on('failed', (job, error) => {
    if (job === undefined) {
      return;
    }
    const permanent = error.name === 'UnrecoverableError';
    const willRetry = !permanent && job.attemptsMade < (job.opts.attempts ?? 1);
    logger[willRetry ? 'warn' : 'error'](
      { jobId: job.id, attempt: job.attemptsMade, willRetry, err: error.message },
      willRetry ? 'job attempt failed; retrying with backoff' : 'job failed',
    );
    emit({
      stage,
      jobId: job.id ?? '',
      outcome: 'failed',
      attempt: job.attemptsMade,
      willRetry,
      error: error.message,
    });
  });

  const onSignal = (event: ControlEvent, runId: string): void => {
    if (event === ControlEvent.Resume) {
      cancelled.delete(runId);
      return;
    }
    cancelled.add(runId);
    if (cancelled.size > MAX_CANCELLED) {
      cancelled.delete(cancelled.values().next().value!);
    }
    for (const entry of active.values()) {
      if (entry.runId === runId && !entry.controller.signal.aborted) {
        logger.info({ jobId: entry.job.id, runId }, 'run cancelled: aborting its active job');
        entry.controller.abort(cancelReason(runId));
      }
    }
  };

  const start = (): void => {
    if (started) {
      worker.resume();
      return;
    }
    started = true;
    worker.run().catch((error: unknown) => {
      logger.error({ err: describeError(error) }, 'worker stopped with an error');
    });
  };

  let control: ControlListener | undefined;
  let connectTimer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      (async () => {
        control = await ControlListener.open(connection, prefix, onSignal, logger);
        await worker.waitUntilReady();
      })(),
      new Promise<never>((_resolve, reject) => {
        connectTimer = setTimeout(() => {
          reject(
            new QueueError(
              QueueErrorCode.Unavailable,
              `worker for ${name} could not reach Redis within ${connectTimeoutMs} ms; check REDIS_URL and that Redis is up`,
            ),
          );
        }, connectTimeoutMs);
      }),
    ]);
  } catch (error) {
    await Promise.allSettled([worker.close(true), control?.close()]);
    throw error;
  } finally {
    clearTimeout(connectTimer);
  }

  let checking: Promise<boolean> | undefined;
  const checkDependencies = (): Promise<boolean> => {
    checking ??= (async () => {
      const failures = (
        await Promise.all(
          dependencies.map(async (d) => {
            try {
              const ok = await withTimeout(
                (signal) => d.check(signal),
                dependencyTimeoutMs,
                `dependency ${d.name}`,
              );
              return ok === false ? `${d.name}: reported unhealthy` : undefined;
            } catch (error) {
              return `${d.name}: ${describeError(error)}`;
            }
          }),
        )
      ).filter((f): f is string => f !== undefined);
      if (closing !== undefined) {
        return failures.length === 0;
      }
      if (failures.length > 0 && !dependencyDown) {
        dependencyDown = true;
        logger.warn({ failures }, 'dependency down: pausing job consumption');
        if (started) {
          // Not waiting for active jobs: they may finish (or fail and retry); no new job starts.
          await worker.pause(true);
        }
      } else if (failures.length === 0 && (dependencyDown || !started)) {
        if (dependencyDown) {
          logger.info({}, 'dependencies healthy again: resuming job consumption');
        }
        dependencyDown = false;
        start();
      }
      return failures.length === 0;
    })().finally(() => {
      checking = undefined;
    });
    return checking;
  };

  await checkDependencies();
  let pollTimer: NodeJS.Timeout | undefined;
  if (dependencies.length > 0) {
    const poll = (): void => {
      pollTimer = setTimeout(() => {
        checkDependencies()
          .catch((error: unknown) => {
            logger.error({ err: describeError(error) }, 'dependency poll failed');
          })
          .finally(() => {
            if (closing === undefined) {
              poll();
            }
          });
      }, dependencyIntervalMs);
      pollTimer.unref();
    };
    poll();
  }
  const rateTimer = metrics === undefined ? undefined : setInterval(publishRate, 5000);
  rateTimer?.unref();

  logger.info(
    { concurrency: settings.concurrency, lockDuration: settings.lockDuration },
    'stage worker started',
  );

  return {
    stage,
    queueName: name,
    isPaused: () => dependencyDown,
    activeJobIds: () => [...active.keys()],
    checkDependencies,
    onJob(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    close(closeOptions = {}) {
      closing ??= (async () => {
        const timeoutMs = closeOptions.timeoutMs ?? shutdownTimeoutMs;
        const graceMs = closeOptions.graceMs ?? 5000;
        clearTimeout(pollTimer);
        clearInterval(rateTimer);
        const closed = worker.close();
        if (!(await settlesWithin(closed, timeoutMs))) {
          logger.info({ jobs: [...active.keys()] }, 'shutdown timeout: aborting active jobs');
          for (const entry of active.values()) {
            entry.controller.abort(shutdownReason());
          }
          if (!(await settlesWithin(closed, graceMs))) {
            logger.warn(
              { jobs: [...active.keys()] },
              'handlers ignored the abort: giving their jobs back to the queue and closing without them',
            );
            await Promise.all([...active.values()].map(returnToQueue));
          }
        }
        await control?.close();
        publishRate();
      })();
      return closing;
    },
  };
}
