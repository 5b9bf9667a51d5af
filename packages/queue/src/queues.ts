/**
 * @file The producer side: one BullMQ `Queue` per stage, the `FlowProducer` for run flows and the
 * control-channel producer, all over one shared Redis connection (BullMQ reuses a connection passed
 * as a client instance and leaves closing it to its owner).
 */
import { FlowProducer, Queue, QueueEventsProducer, type RedisClient } from 'bullmq';

import {
  STAGES,
  type Stage,
  type StagePayload,
  isShardStage,
  jobId,
  queueName,
  runPayloadSchema,
  shardPayloadSchema,
} from '@synood/contracts';
import { QUEUE_STATES, type PlatformMetrics, type QueueState } from '@synood/metrics';

import { DEFAULT_PREFIX, type QueueConnection, checkPrefix, resolveRedisOptions } from './connection';
import { CONTROL_QUEUE, cancelMarkerKey } from './control';
import { QueueError, QueueErrorCode } from './errors';
import { type StageOptionsOverrides, allStageOptions, jobOptions } from './options';

/** Options of {@link openQueues}. */
export interface OpenQueuesOptions extends QueueConnection {
  /** Overrides of the stage option table, applied to every job these queues enqueue. */
  options?: StageOptionsOverrides;
  /**
   * Entries kept in each queue's events stream (progress, completed, …), which `QueueEvents`
   * consumers read; trimmed approximately. @defaultValue 10000 (BullMQ's default)
   */
  eventsMaxLen?: number;
  /** Give up connecting after this long. @defaultValue 10000 */
  connectTimeoutMs?: number;
}

/** The producer-side queue objects of one deployment. */
export interface RunQueues {
  /** BullMQ key prefix. */
  readonly prefix: string;
  /** Stage option overrides used for every job added through these queues. */
  readonly overrides: StageOptionsOverrides;
  /** The BullMQ queue of `stage` (for bull-board, job look-ups and counts). */
  queue(stage: Stage): Queue;
  /** Adds run flows. */
  readonly flows: FlowProducer;
  /** Publishes control signals (cancel, resume). */
  readonly control: QueueEventsProducer;
  /** The shared Redis connection (cancel markers). */
  readonly client: RedisClient;
  /** Closes every queue object and the shared connection. */
  close(): Promise<void>;
  /**
   * Deletes every job and key of every stage queue and the control stream under this prefix. For
   * tests and benchmarks only: it destroys running work.
   */
  obliterate(): Promise<void>;
}

/**
 * Connects the producer side: waits until Redis answers (so a service fails at boot, not on its first
 * request), then creates the stage queues, the flow producer and the control producer on that one
 * connection. The connection is a producer's (`enableOfflineQueue: false`): enqueues fail fast while
 * Redis is down.
 *
 * @throws QueueError `QUEUE_ERR_URL` / `QUEUE_ERR_OPTIONS` for bad settings, `QUEUE_ERR_UNAVAILABLE`
 * when Redis does not answer within `connectTimeoutMs`, or the connection's own error.
 */
export async function openQueues(options: OpenQueuesOptions): Promise<RunQueues> {
  const prefix = checkPrefix(options.prefix ?? DEFAULT_PREFIX);
  const overrides = options.options ?? {};
  allStageOptions(overrides);
  const eventsMaxLen = options.eventsMaxLen ?? 10_000;
  if (!Number.isInteger(eventsMaxLen) || eventsMaxLen < 1) {
    throw new QueueError(
      QueueErrorCode.Options,
      `eventsMaxLen must be an integer ≥ 1, got ${String(eventsMaxLen)}`,
    );
  }
  const streams = { events: { maxLen: eventsMaxLen } };
  const [first, ...rest] = STAGES;
  const owner = new Queue(queueName(first), {
    connection: resolveRedisOptions(options.redis, 'producer'),
    prefix,
    streams,
  });
  owner.on('error', () => undefined);
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  let client: RedisClient;
  let timer: NodeJS.Timeout | undefined;
  try {
    client = await Promise.race([
      owner.waitUntilReady(),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          reject(
            new QueueError(
              QueueErrorCode.Unavailable,
              `Redis did not answer within ${connectTimeoutMs} ms (prefix ${prefix}); check REDIS_URL and that Redis is up`,
            ),
          );
        }, connectTimeoutMs);
      }),
    ]);
  } catch (error) {
    await owner.close().catch(() => undefined);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  const queues = new Map<Stage, Queue>([[first, owner]]);
  for (const stage of rest) {
    const q = new Queue(queueName(stage), { connection: client, prefix, streams });
    q.on('error', () => undefined);
    queues.set(stage, q);
  }
  const flows = new FlowProducer({ connection: client, prefix });
  flows.on('error', () => undefined);
  const control = new QueueEventsProducer(CONTROL_QUEUE, { connection: client, prefix });
  control.on('error', () => undefined);
  const shared = [...rest.map((s) => queues.get(s)!), flows, control];
  let closing: Promise<void> | undefined;

  return {
    prefix,
    overrides,
    flows,
    control,
    client,
    queue(stage) {
      const q = queues.get(stage);
      if (q === undefined) {
        throw new QueueError(
          QueueErrorCode.Options,
          `unknown stage ${JSON.stringify(stage)}. Should be one of: ${STAGES.join(', ')}`,
        );
      }
      return q;
    },
    close() {
      closing ??= (async () => {
        await Promise.all(shared.map((q) => q.close()));
        await owner.close();
      })();
      return closing;
    },
    async obliterate() {
      for (const q of queues.values()) {
        await q.obliterate({ force: true });
      }
      await client.del(`${prefix}:${CONTROL_QUEUE}:events`);
      for (let cursor = '0'; ;) {
        const [next, keys] = await client.scan(cursor, { MATCH: cancelMarkerKey(prefix, '*'), COUNT: 1000 });
        if (keys.length > 0) {
          await client.del(...keys);
        }
        cursor = next;
        if (cursor === '0') {
          break;
        }
      }
    },
  };
}

/** Options of {@link enqueueStageJob}. */
export interface EnqueueStageJobOptions {
  /** Start no earlier than this many milliseconds from now. */
  delayMs?: number;
}

/**
 * Adds one stage job outside a run flow (the plan stage, a re-run of one stage, benchmarks), with its
 * deterministic id and the stage's job options. The payload is validated first, so a bad producer is
 * caught here rather than in a worker. Adding an id that exists is a no-op (the existing job stays).
 *
 * @throws QueueError `QUEUE_ERR_PAYLOAD` listing every invalid field.
 * @returns the job id.
 */
export async function enqueueStageJob(
  queues: RunQueues,
  payload: StagePayload,
  options: EnqueueStageJobOptions = {},
): Promise<string> {
  const valid = validatePayload(payload);
  const id = isShardStage(valid.stage)
    ? jobId(valid.runId, valid.stage, (valid as { shard: number }).shard)
    : jobId(valid.runId, valid.stage);
  await queues.queue(valid.stage).add(valid.stage, valid, {
    ...jobOptions(valid.stage, queues.overrides),
    jobId: id,
    ...(options.delayMs === undefined ? {} : { delay: options.delayMs }),
  });
  return id;
}

/**
 * Parses a payload with its stage's contracts schema.
 *
 * @throws QueueError `QUEUE_ERR_PAYLOAD` listing every invalid field.
 */
export function validatePayload(payload: unknown): StagePayload {
  const stage = (payload as { stage?: unknown } | null)?.stage;
  const schema =
    typeof stage === 'string' && (STAGES as readonly string[]).includes(stage) && isShardStage(stage as Stage)
      ? shardPayloadSchema
      : runPayloadSchema;
  const result = schema.safeParse(payload);
  if (!result.success) {
    const issues = result.error.issues
      .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw new QueueError(QueueErrorCode.Payload, `invalid ${String(stage)} job payload: ${issues}`);
  }
  return result.data;
}

/** Job counts of one queue, by state. */
export type QueueDepth = Record<QueueState, number>;

/**
 * Job counts per state for every stage queue (one round trip per queue), fed into
 * `metrics.setQueueDepth` when metrics are given: the `queue_jobs{queue,state}` gauge KEDA and the
 * dashboards read. Call it from the `/metrics` handler or a timer, not per job.
 */
export async function queueDepths(
  queues: RunQueues,
  metrics?: PlatformMetrics,
): Promise<Record<Stage, QueueDepth>> {
  const entries = await Promise.all(
    STAGES.map(async (stage) => {
      const counts = await queues.queue(stage).getJobCounts(...QUEUE_STATES);
      const depth = Object.fromEntries(QUEUE_STATES.map((s) => [s, counts[s] ?? 0])) as QueueDepth;
      return [stage, depth] as const;
    }),
  );
  if (metrics !== undefined) {
    for (const [stage, depth] of entries) {
      metrics.setQueueDepth(queueName(stage), depth);
    }
  }
  return Object.fromEntries(entries) as Record<Stage, QueueDepth>;
}
