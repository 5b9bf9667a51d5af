import { describe, expect, it } from '@jest/globals';

import { QueueErrorCode, openQueues, pingRedis } from '../src';
import { REDIS_URL } from './helpers';

describe('pingRedis', () => {
  it('reports a reachable Redis with its version', async () => {
    const ping = await pingRedis(REDIS_URL);
    expect(ping.ok).toBe(true);
    expect(ping.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(ping.latencyMs).toBeGreaterThan(0);
    expect(ping.error).toBeUndefined();
  });

  it('reports an unreachable Redis without throwing and without the password', async () => {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const ping = await pingRedis('redis://:hunter2@127.0.0.1:1/0', { timeoutMs: 1000 });
    expect(ping.ok).toBe(false);
    expect(ping.error).toMatch(/^Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1\/0 is not reachable: /);
    expect(ping.error).not.toContain('hunter2');
    expect(ping.latencyMs).toBeLessThan(1500);
  });
});

describe('openQueues', () => {
  it('gives up with QUEUE_ERR_UNAVAILABLE when Redis does not answer', async () => {
    const t0 = Date.now();
    // A short disconnectTimeout: ioredis otherwise keeps a 2 s timer after closing a failed socket.
    const redis = { host: '127.0.0.1', port: 1, disconnectTimeout: 50 };
    await expect(openQueues({ redis, connectTimeoutMs: 300 })).rejects.toMatchObject({
      code: QueueErrorCode.Unavailable,
    });
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});
