import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from '@jest/globals';

import { startS3rver } from '../src';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('startS3rver', () => {
  it('serves the bucket and reports object events', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'synood-s3rver-'));
    dirs.push(dir);
    const s3 = await startS3rver(dir, 'b');
    try {
      // s3rver accepts unsigned requests on loopback.
      const put = await fetch(`${s3.endpoint}/b/a/x.txt`, { method: 'PUT', body: 'hello' });
      expect(put.status).toBe(200);
      await s3.waitForEvent('ObjectCreated:Put', 'a/x.txt');
      const got = await fetch(`${s3.endpoint}/b/a/x.txt`);
      expect(await got.text()).toBe('hello');
    } finally {
      await s3.stop();
    }
  });

  it('stops within seconds while a client is stuck half-way through an upload', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'synood-s3rver-'));
    dirs.push(dir);
    const s3 = await startS3rver(dir, 'b');
    const { port } = new URL(s3.endpoint);
    // Announces 1 MiB and sends 5 bytes: the server holds the connection open waiting for the rest,
    // as it does for a worker killed mid-upload.
    const stuck = request({
      host: '127.0.0.1',
      port,
      method: 'PUT',
      path: '/b/stuck.bin',
      headers: { 'content-length': String(1 << 20) },
    });
    const ended = new Promise<void>((resolve) => {
      stuck.on('error', () => {
        resolve();
      });
      stuck.on('close', () => {
        resolve();
      });
    });
    stuck.write('12345');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    await s3.stop();
    // The graceful close gives up after 2 s; the SIGKILL fallback fires at 5 s.
    expect(Date.now() - started).toBeLessThan(6000);
    await ended;
    stuck.destroy();
  });
});
