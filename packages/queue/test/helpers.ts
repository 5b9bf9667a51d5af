/**
 * Shared pieces of the queue integration tests: the Redis URL, unique prefixes, payload factories and
 * polling.
 */
import { randomUUID } from 'node:crypto';

import type { StageResult } from '@synood/contracts';

import type { FlowStage, RunFlowPayloads, RunQueues, StageOptionsOverrides } from '../src';

/** Redis of the integration tests (a loopback server started by `.ci/run`). */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A prefix no other test file or run uses. */
export function uniquePrefix(file: string): string {
  return `test-${file}-${randomUUID().slice(0, 8)}`;
}

/** Fast retries so retry tests take milliseconds. */
export const FAST_RETRIES: StageOptionsOverrides = {
  all: { backoff: { type: 'fixed', delay: 20, jitter: 0 } },
};

const HASHES: Record<FlowStage, string> = {
  caption: 'c0c0c0c0c0c0c0c0',
  synthesize: '5151515151515151',
  encode: 'e0e0e0e0e0e0e0e0',
  mine: '3131313131313131',
  assign: 'a5a5a5a5a5a5a5a5',
  'train-projection': '7a7a7a7a7a7a7a7a',
  'train-labels': '7b7b7b7b7b7b7b7b',
  evaluate: 'ee00ee00ee00ee00',
  publish: 'bbbbbbbbbbbbbbbb',
};

/** Payload inputs of a run whose shard `i` lists its items at `runs/<run>/shards/<i>.json`. */
export function payloadsFor(runId: string): RunFlowPayloads {
  return { configHashes: HASHES, itemsKey: (i) => `runs/${runId}/shards/${i}.json` };
}

/** A result over `items` items: all processed, or all skipped (their done-marker matched). */
export function resultOf(items: number, status: StageResult['status'] = 'completed'): StageResult {
  return {
    status,
    counts:
      status === 'skipped'
        ? { processed: 0, failed: 0, skipped: items }
        : { processed: items, failed: 0, skipped: 0 },
    artifacts: [],
    failures: [],
    seconds: 0,
  };
}

/** Resolves once `condition` holds, polling every 10 ms; rejects after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(10);
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A promise with its resolve function outside, to hold a handler until the test says so. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Resolves when `signal` aborts, then rejects with its reason (what a well-behaved handler does). */
export function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    signal.addEventListener('abort', () => {
      reject(signal.reason as Error);
    });
  });
}

/** Every key under `prefix` (to check a cleanup left nothing behind). */
export async function keysUnder(queues: RunQueues): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await queues.client.scan(cursor, { MATCH: `${queues.prefix}:*`, COUNT: 1000 });
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found;
}
