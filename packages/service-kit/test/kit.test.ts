/**
 * The service kit shared by the four worker services (identical copies in each): logger, exit codes,
 * shutdown on signals, the `main` body, object locations and the shared environment.
 */
import { describe, expect, it } from '@jest/globals';

import { createLogger } from '../src';
import { EXIT_CONFIG, EXIT_FAILURE, exitCodeOf, runMain } from '../src';
import { type RunningService, installShutdown } from '../src';
import { splitObjectLocation } from '../src';
import { parseServiceEnv, workerServiceOptions } from '../src';

function fakeService(close: () => Promise<void>): RunningService {
  return { service: 'encoder', workers: [], metricsServer: undefined, close };
}

describe('createLogger', () => {
  it('writes one JSON line per call at or above its level, with the service and the fields', () => {
    const lines: string[] = [];
    const log = createLogger({
      service: 'encoder',
      level: 'warn',
      write: (l) => lines.push(l),
      now: () => 42,
    });
    log.info({ a: 1 }, 'dropped');
    log.warn({ shard: 3 }, 'kept');
    log.error({ err: new Error('boom') }, 'failed');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0]!)).toEqual({
      level: 'warn',
      time: 42,
      service: 'encoder',
      msg: 'kept',
      shard: 3,
    });
    const error = JSON.parse(lines[1]!) as { err: { name: string; message: string } };
    expect([error.err.name, error.err.message]).toEqual(['Error', 'boom']);
    expect(lines.every((l) => l.endsWith('\n'))).toBe(true);
  });
});

describe('exit codes', () => {
  it('uses EX_CONFIG for configuration and missing-model errors, 1 otherwise', () => {
    expect(exitCodeOf({ code: 'CONFIG_ERR_INVALID' })).toBe(EXIT_CONFIG);
    expect(exitCodeOf({ code: 'WORKER_ERR_MODEL_MISSING' })).toBe(EXIT_CONFIG);
    expect(exitCodeOf({ code: 'QUEUE_ERR_UNAVAILABLE' })).toBe(EXIT_FAILURE);
    expect(exitCodeOf(new Error('x'))).toBe(EXIT_FAILURE);
    expect([EXIT_CONFIG, EXIT_FAILURE]).toEqual([78, 1]);
  });

  it('runMain exits with the start error’s code', async () => {
    const codes: number[] = [];
    const lines: string[] = [];
    await runMain(
      'encoder',
      () => Promise.reject(Object.assign(new Error('bad env'), { code: 'CONFIG_ERR_INVALID' })),
      { exit: (code) => codes.push(code), write: (line) => lines.push(line) },
    );
    expect(codes).toEqual([78]);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'fatal',
      msg: 'encoder failed to start',
      code: 'CONFIG_ERR_INVALID',
      exitCode: 78,
    });
  });
});

describe('installShutdown', () => {
  it('closes the service on SIGTERM and exits 0; a second signal exits 130 at once', async () => {
    let release!: () => void;
    const closing = new Promise<void>((resolve) => {
      release = resolve;
    });
    let closes = 0;
    const codes: number[] = [];
    const remove = installShutdown(
      fakeService(() => {
        closes++;
        return closing;
      }),
      createLogger({ service: 'encoder', level: 'fatal' }),
      { signals: ['SIGUSR2'], exit: (code) => codes.push(code) },
    );
    try {
      process.emit('SIGUSR2', 'SIGUSR2');
      expect(closes).toBe(1);
      process.emit('SIGUSR2', 'SIGUSR2');
      expect(codes).toEqual([130]);
      release();
      await closing;
      await new Promise((resolve) => setImmediate(resolve));
      expect(codes).toEqual([130, 0]);
      expect(closes).toBe(1);
    } finally {
      remove();
    }
  });

  it('exits 1 when closing fails', async () => {
    const codes: number[] = [];
    const remove = installShutdown(
      fakeService(() => Promise.reject(new Error('stuck'))),
      createLogger({ service: 'encoder', level: 'fatal' }),
      { signals: ['SIGUSR2'], exit: (code) => codes.push(code) },
    );
    try {
      process.emit('SIGUSR2', 'SIGUSR2');
      await new Promise((resolve) => setImmediate(resolve));
      expect(codes).toEqual([1]);
    } finally {
      remove();
    }
  });
});

describe('splitObjectLocation', () => {
  it('splits URLs and paths into the folder to open and the key in it', () => {
    expect(splitObjectLocation('s3://bucket/sets/near/list.txt')).toEqual({
      folder: 's3://bucket/sets/near',
      key: 'list.txt',
    });
    expect(splitObjectLocation('/data/ood/list.txt')).toEqual({ folder: '/data/ood', key: 'list.txt' });
    expect(splitObjectLocation('/list.txt')).toEqual({ folder: '/', key: 'list.txt' });
    expect(splitObjectLocation('list.txt')).toEqual({ folder: '.', key: 'list.txt' });
    expect(splitObjectLocation('file:///data/list.txt')).toEqual({ folder: 'file:///data', key: 'list.txt' });
  });
});

describe('workerServiceOptions', () => {
  it('carries the environment into the start options: lock overrides, timeouts and the set concurrencies', () => {
    const { runtime } = parseServiceEnv(
      {},
      {
        REDIS_URL: 'redis://10.0.0.5:6380',
        SYNOOD_QUEUE_PREFIX: 'lab',
        SYNOOD_METRICS_PORT: '9500',
        SYNOOD_LOCK_DURATION_MS: '4000',
        SYNOOD_STALLED_INTERVAL_MS: '1000',
        SYNOOD_SHUTDOWN_TIMEOUT_MS: '2500',
        SYNOOD_DEPENDENCY_INTERVAL_MS: '700',
      },
    );
    const options = workerServiceOptions(runtime, { encode: 3, mine: undefined });
    expect(options).toEqual({
      redis: 'redis://10.0.0.5:6380',
      prefix: 'lab',
      metricsServer: { port: 9500, host: runtime.metrics.host },
      concurrency: { encode: 3 },
      dependencyIntervalMs: 700,
      shutdownTimeoutMs: 2500,
      stageOptions: { all: { lockDuration: 4000, stalledInterval: 1000 } },
    });
    // Nothing configured: the stage table's concurrency and options stay in force.
    const plain = workerServiceOptions(parseServiceEnv({}, {}).runtime, { caption: undefined });
    expect(plain.concurrency).toBeUndefined();
    expect(plain.stageOptions).toEqual({});
  });
});
