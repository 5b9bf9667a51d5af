/**
 * @file The control channel: run-level signals (cancel, resume) from producers to every worker.
 *
 * BullMQ's `worker.cancelJob` only reaches jobs held by the worker it is called on, and the API does
 * not know which worker holds a job. So producers publish a custom event on the events stream of a
 * job-less queue (`synood.control`) with `QueueEventsProducer`, and every stage worker listens with a
 * `QueueEvents` (one blocking `XREAD` connection). Stream entries are delivered as soon as they are
 * written, so an active job is aborted within one round trip; a listener that reconnects resumes from
 * the last id it read, so a Redis blip loses no signal.
 */
import { QueueEvents, QueueEventsProducer, type RedisClient, type RedisOptions } from 'bullmq';

import type { QueueLogger } from './logger';
import { describeError } from './errors';

/** The job-less queue whose events stream carries control signals. */
export const CONTROL_QUEUE = 'synood.control';

/** Control signals. */
export const ControlEvent = {
  /** A run was cancelled: abort its active jobs, refuse to start its jobs. */
  Cancel: 'synood:cancel',
  /** A cancelled run was resumed: start its jobs again. */
  Resume: 'synood:resume',
} as const;

/** One of the {@link ControlEvent} values. */
export type ControlEvent = (typeof ControlEvent)[keyof typeof ControlEvent];

/** Entries kept in the control stream: signals are consumed live, a short history is enough. */
const CONTROL_STREAM_MAX_LEN = 1000;

/** How long a cancel marker lives: longer than any run is left cancelled before being resumed or dropped. */
const CANCEL_MARKER_SECONDS = 30 * 24 * 3600;

/** Redis key whose presence says "run `runId` is cancelled". */
export function cancelMarkerKey(prefix: string, runId: string): string {
  return `${prefix}:${CONTROL_QUEUE}:cancelled:${runId}`;
}

/**
 * Records (`cancelled: true`) or clears the cancel marker of a run. Workers learn of cancels from the
 * stream, but confirm with the marker before refusing a job, so a resume that races its own jobs to
 * the workers cannot be overtaken by the stale cancel.
 */
export async function setCancelMarker(
  client: RedisClient,
  prefix: string,
  runId: string,
  cancelled: boolean,
): Promise<void> {
  const key = cancelMarkerKey(prefix, runId);
  if (cancelled) {
    await client.set(key, String(Date.now()), { EX: CANCEL_MARKER_SECONDS });
  } else {
    await client.del(key);
  }
}

/** True when the run's cancel marker is present. */
export async function isCancelled(client: RedisClient, prefix: string, runId: string): Promise<boolean> {
  return (await client.get(cancelMarkerKey(prefix, runId))) !== null;
}

/** Publishes a control signal for `runId`. */
export async function publishControl(
  producer: QueueEventsProducer,
  event: ControlEvent,
  runId: string,
): Promise<void> {
  await producer.publishEvent({ eventName: event, runId, at: Date.now() }, CONTROL_STREAM_MAX_LEN);
}

/** Receives control signals; used by the worker harness. */
export class ControlListener {
  private readonly events: QueueEvents;

  private constructor(events: QueueEvents) {
    this.events = events;
  }

  /** Connects and starts listening; resolves once the listener's connection is ready. */
  static async open(
    connection: RedisOptions,
    prefix: string,
    onSignal: (event: ControlEvent, runId: string) => void,
    logger: QueueLogger,
  ): Promise<ControlListener> {
    // Reading from the start of the (capped) stream replays past signals in order, so a worker that
    // starts late still knows which runs are cancelled, and no signal sent while it connects is missed.
    const events = new QueueEvents(CONTROL_QUEUE, { connection, prefix, autorun: true, lastEventId: '0-0' });
    events.on('error', (error) => {
      logger.warn({ err: describeError(error) }, 'control channel connection error');
    });
    for (const event of Object.values(ControlEvent)) {
      // Custom event names are not in QueueEvents' listener map, hence the widening cast.
      (events as unknown as NodeJS.EventEmitter).on(event, (args: unknown) => {
        const runId = (args as { runId?: unknown } | undefined)?.runId;
        if (typeof runId === 'string') {
          onSignal(event, runId);
        }
      });
    }
    await events.waitUntilReady();
    return new ControlListener(events);
  }

  /** Stops listening and disconnects. */
  async close(): Promise<void> {
    await this.events.close();
  }
}
