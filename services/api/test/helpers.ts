/**
 * Shared fixtures of the API tests: a FileStore in a temp folder, producer queues on the real Redis
 * (`REDIS_URL`, default local) under a prefix unique to the test file, and a metrics registry, all
 * cleaned up by `close()`.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type RunSpecInput, parseRunSpec } from '@synood/contracts';
import { type PlatformMetrics, createMetrics } from '@synood/metrics';
import { type RunQueues, openQueues } from '@synood/queue';
import { type ArtifactStore, FileStore } from '@synood/storage';
import { encodeJpeg } from '@synood/vision';

import type { ApiDeps } from '../src';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        resolve(typeof address === 'object' && address !== null ? address.port : 1);
      });
    });
  });
}

export interface TestEnv {
  dir: string;
  store: ArtifactStore;
  queues: RunQueues;
  metrics: PlatformMetrics;
  deps: ApiDeps;
  close(): Promise<void>;
}

/** Opens a fresh store, queues (unique prefix) and metrics. */
export async function openTestEnv(name: string): Promise<TestEnv> {
  const dir = await mkdtemp(join(tmpdir(), `synood-api-${name}-`));
  const store = new FileStore(join(dir, 'store'));
  const queues = await openQueues({
    redis: REDIS_URL,
    prefix: `test-api-${name}-${randomUUID().slice(0, 8)}`,
  });
  const metrics = createMetrics({ collectDefault: false });
  return {
    dir,
    store,
    queues,
    metrics,
    deps: { store, queues, metrics, redisUrl: REDIS_URL },
    async close() {
      await queues.obliterate();
      await queues.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A small valid run spec over a dataset at `location`. */
export function specInput(location: string, extra: Partial<RunSpecInput> = {}): RunSpecInput {
  return { name: 'test run', dataset: { location }, ...extra };
}

/** A parsed spec (defaults filled). */
export const parseSpec = parseRunSpec;

/** A JPEG of `width`×`height` with pixels from a seeded generator: `noise` 0 is flat grey, 1 is full noise. */
export async function jpeg(width: number, height: number, seed: number, noise: number): Promise<Buffer> {
  const data = new Uint8Array(width * height * 3);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = Math.round(128 + noise * ((s >>> 24) - 128));
  }
  return encodeJpeg({ width, height, data }, 90);
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > end) {
      throw new Error(`condition not met within ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
