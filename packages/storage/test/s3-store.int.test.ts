import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import {
  S3Store,
  type S3StoreOptions,
  StorageError,
  openStore,
  putWithChecksum,
  readDoneMarker,
  writeDoneMarker,
} from '../src';
import { type S3rverProcess, startS3rver } from '@synood/testing';

const BUCKET = 'synood-test';
const MiB = 1024 * 1024;
/** s3rver's built-in credentials. */
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

let dir: string;
let server: S3rverProcess;
let store: S3Store;

function options(extra: S3StoreOptions = {}): S3StoreOptions {
  return { endpoint: server.endpoint, ...CREDENTIALS, partSize: 5 * MiB, listPageSize: 2, ...extra };
}

async function codeOf(promise: Promise<unknown>): Promise<{ code: string; retryable: boolean }> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(StorageError);
    const { code, retryable } = error as StorageError;
    return { code, retryable };
  }
  throw new Error('expected the call to fail');
}

/** Bytes whose value depends on the position, so a reordered or dropped part changes the content. */
function pattern(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) {
    bytes[i] = (i * 31 + (i >>> 16)) & 0xff;
  }
  return bytes;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'synood-s3rver-'));
  server = await startS3rver(dir, BUCKET);
  store = new S3Store(`s3://${BUCKET}/base`, options());
});

afterAll(async () => {
  await store.close();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('S3Store against s3rver', () => {
  it('round-trips bytes under the URL prefix, with the content type', async () => {
    const body = Buffer.from('{"hello":"world"}');
    await store.put('docs/a.json', body, { contentType: 'application/json' });
    expect(Buffer.from(await store.get('docs/a.json'))).toEqual(body);
    // Read back without the SDK: the object sits at <bucket>/base/<key> (path style), with its type.
    const response = await fetch(`${server.endpoint}/${BUCKET}/base/docs/a.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(Buffer.from(await response.arrayBuffer())).toEqual(body);
  });

  it('stores an empty object', async () => {
    await store.put('empty.bin', new Uint8Array(0));
    expect(await store.stat('empty.bin')).toMatchObject({ size: 0 });
    expect((await store.get('empty.bin')).byteLength).toBe(0);
  });

  it('uploads an 11 MiB stream as a multipart upload with 5 MiB parts', async () => {
    const body = pattern(11 * MiB);
    // Uneven 1 MiB + 3 bytes chunks, so parts are cut across chunk boundaries.
    const chunks: Buffer[] = [];
    for (let at = 0; at < body.length; at += MiB + 3) {
      chunks.push(body.subarray(at, Math.min(at + MiB + 3, body.length)));
    }
    await store.put('big/blob.bin', Readable.from(chunks));
    await server.waitForEvent('ObjectCreated:Post', 'base/big/blob.bin');
    const stat = await store.stat('big/blob.bin');
    expect(stat?.size).toBe(11 * MiB);
    // s3rver's ETag is the MD5 of the whole object (real S3 would append "-3").
    expect(stat?.etag).toBe(createHash('md5').update(body).digest('hex'));
    expect(Buffer.from(await store.get('big/blob.bin')).equals(body)).toBe(true);
  });

  it('uses a single PutObject below the part size', async () => {
    await store.put('small.bin', pattern(1000));
    await server.waitForEvent('ObjectCreated:Put', 'base/small.bin');
  });

  // s3rver does not implement AbortMultipartUpload, so only the absence of the object is checked here.
  it('a multipart upload whose body fails after a stored part leaves no object', async () => {
    const uploads = join(dir, BUCKET, '._S3rver_uploads');
    let sent = 0;
    let partStored = false;
    const body = new Readable({
      read(): void {
        if (sent < 6 * MiB) {
          sent += MiB;
          this.push(pattern(MiB));
          return;
        }
        // Fail only once part 1 is stored on the server (s3rver keeps parts in <bucket>/._S3rver_uploads).
        const deadline = Date.now() + 5000;
        const poll = setInterval(() => {
          void readdir(uploads, { recursive: true }).then(
            (names) => {
              partStored = names.some((n) => n.endsWith('/1'));
              if (partStored || Date.now() > deadline) {
                clearInterval(poll);
                this.destroy(new Error('source went away'));
              }
            },
            () => undefined,
          );
        }, 20);
      },
    });
    const failure = await codeOf(store.put('broken/blob.bin', body));
    expect(partStored).toBe(true);
    expect(failure).toEqual({ code: 'STORAGE_ERR_IO', retryable: false });
    expect(await store.exists('broken/blob.bin')).toBe(false);
    expect(server.events.map((e) => e.key)).not.toContain('base/broken/blob.bin');
  });

  it('streams an object', async () => {
    const body = pattern(300_000);
    await store.put('stream/x.bin', body);
    const chunks: Buffer[] = [];
    for await (const chunk of await store.getStream('stream/x.bin')) {
      chunks.push(chunk as Buffer);
    }
    expect(Buffer.concat(chunks).equals(body)).toBe(true);
  });

  it('lists more keys than one page (page size 2), only under the folder prefix', async () => {
    const keys = ['list/a', 'list/b', 'list/c/d', 'list/e', 'list/f'];
    for (const key of keys) {
      await store.put(key, Buffer.from(key));
    }
    await store.put('listing/not-inside', Buffer.from('x'));
    await store.put('list-x', Buffer.from('x'));
    const listed: string[] = [];
    for await (const key of store.list('list')) {
      listed.push(key);
    }
    expect(listed).toEqual(keys);
    const again: string[] = [];
    for await (const key of store.list('list/')) {
      again.push(key);
    }
    expect(again).toEqual(keys);
  });

  it('lists the whole store and skips keys that are not valid keys', async () => {
    const raw = new S3Store(`s3://${BUCKET}`, options({ listPageSize: 1000 }));
    try {
      await raw.put('odd/ok', Buffer.from('x'));
      // A console-style folder marker "odd/dir/" is not addressable as a key.
      const put = await fetch(`${server.endpoint}/${BUCKET}/odd/dir/`, { method: 'PUT', body: '' });
      expect(put.status).toBe(200);
      const all: string[] = [];
      for await (const key of raw.list('odd')) {
        all.push(key);
      }
      expect(all).toEqual(['odd/ok']);
    } finally {
      await raw.close();
    }
  });

  it('reports a missing key as NOT_FOUND, and exists/stat/delete behave', async () => {
    expect(await codeOf(store.get('missing/key'))).toEqual({
      code: 'STORAGE_ERR_NOT_FOUND',
      retryable: false,
    });
    expect(await codeOf(store.getStream('missing/key'))).toEqual({
      code: 'STORAGE_ERR_NOT_FOUND',
      retryable: false,
    });
    expect(await store.exists('missing/key')).toBe(false);
    expect(await store.stat('missing/key')).toBeUndefined();

    await store.put('del/me', Buffer.from('12345'));
    expect(await store.exists('del/me')).toBe(true);
    expect((await store.stat('del/me'))?.size).toBe(5);
    await store.delete('del/me');
    expect(await store.exists('del/me')).toBe(false);
    await expect(store.delete('del/me')).resolves.toBeUndefined();
  });

  it('rejects bad keys before any request', async () => {
    expect(await codeOf(store.put('../escape', Buffer.from('x')))).toEqual({
      code: 'STORAGE_ERR_KEY',
      retryable: false,
    });
    expect(await codeOf(store.get('/abs'))).toEqual({ code: 'STORAGE_ERR_KEY', retryable: false });
  });

  it('reports a missing bucket as a config error', async () => {
    const other = new S3Store('s3://no-such-bucket', options());
    try {
      expect(await codeOf(other.get('x'))).toEqual({ code: 'STORAGE_ERR_CONFIG', retryable: false });
    } finally {
      await other.close();
    }
  });

  it('reports an unknown access key as ACCESS, not retryable', async () => {
    const denied = new S3Store(`s3://${BUCKET}`, options({ accessKeyId: 'NOBODY', secretAccessKey: 'x' }));
    try {
      expect(await codeOf(denied.get('docs/a.json'))).toEqual({
        code: 'STORAGE_ERR_ACCESS',
        retryable: false,
      });
    } finally {
      await denied.close();
    }
  });

  it('writes and reads done-markers through openStore', async () => {
    const s3 = openStore(`s3://${BUCKET}/markers`, { s3: options() });
    try {
      const record = await putWithChecksum(s3, 'runs/r1/encode/00000/features.bin', Buffer.from('abc'));
      // SHA-256("abc"), FIPS 180-2 appendix B.1.
      expect(record).toEqual({
        key: 'runs/r1/encode/00000/features.bin',
        size: 3,
        sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      });
      // FIPS 180-2 448-bit vector, streamed in two chunks.
      const streamed = await putWithChecksum(
        s3,
        'runs/r1/encode/00000/ids.txt',
        Readable.from([
          Buffer.from('abcdbcdecdefdefgefghfghighijhijk'),
          Buffer.from('ijkljklmklmnlmnomnopnopq'),
        ]),
      );
      expect(streamed).toEqual({
        key: 'runs/r1/encode/00000/ids.txt',
        size: 56,
        sha256: '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
      });
      expect((await s3.stat(streamed.key))?.size).toBe(56);
      const prefix = 'runs/r1/encode/00000';
      expect(await readDoneMarker(s3, prefix, 'hash-1')).toBeUndefined();
      await writeDoneMarker(s3, prefix, { configHash: 'hash-1', artifacts: [record, streamed], images: 64 });
      expect(await readDoneMarker(s3, prefix, 'hash-1')).toEqual({
        configHash: 'hash-1',
        artifacts: [record, streamed],
        images: 64,
      });
      expect(await readDoneMarker(s3, prefix, 'hash-2')).toBeUndefined();
      await s3.delete(record.key);
      expect(await readDoneMarker(s3, prefix, 'hash-1', { verifyArtifacts: true })).toBeUndefined();
    } finally {
      await s3.close();
    }
  });
});

describe('S3Store failure classification', () => {
  async function freePort(): Promise<number> {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) =>
      probe.close(() => {
        resolve();
      }),
    );
    return port;
  }

  it('a closed port is UNAVAILABLE and retryable, quickly', async () => {
    const port = await freePort();
    const down = new S3Store(`s3://${BUCKET}`, {
      endpoint: `http://127.0.0.1:${port}`,
      ...CREDENTIALS,
      maxAttempts: 1,
      connectionTimeoutMs: 1000,
      requestTimeoutMs: 1000,
    });
    try {
      const started = Date.now();
      const error = await down.get('x').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageError);
      expect(error).toMatchObject({ code: 'STORAGE_ERR_UNAVAILABLE', retryable: true });
      expect((error as Error).message).toContain('ECONNREFUSED');
      expect(Date.now() - started).toBeLessThan(3000);
      expect(await codeOf(down.put('x', Buffer.from('x')))).toEqual({
        code: 'STORAGE_ERR_UNAVAILABLE',
        retryable: true,
      });
    } finally {
      await down.close();
    }
  });

  /** An HTTP server on loopback that answers every request with one S3 error, counting requests. */
  async function failingServer(
    status: number,
    code: string,
  ): Promise<{ server: Server; url: string; hits: () => number }> {
    let hits = 0;
    const http = createServer((req, res) => {
      hits++;
      req.resume();
      res.writeHead(status, { 'content-type': 'application/xml' });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>test</Message></Error>`,
      );
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as AddressInfo;
    return { server: http, url: `http://127.0.0.1:${port}`, hits: () => hits };
  }

  it('a connection cut in the middle of a body is UNAVAILABLE for get and getStream', async () => {
    const http = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-length': '1000', 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(100));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as AddressInfo;
    const s3 = new S3Store(`s3://${BUCKET}`, {
      endpoint: `http://127.0.0.1:${port}`,
      ...CREDENTIALS,
      maxAttempts: 1,
    });
    try {
      expect(await codeOf(s3.get('x'))).toEqual({ code: 'STORAGE_ERR_UNAVAILABLE', retryable: true });
      const stream = await s3.getStream('x');
      let received = 0;
      const consumed = (async () => {
        for await (const chunk of stream) {
          received += (chunk as Buffer).length;
        }
      })();
      expect(await codeOf(consumed)).toEqual({ code: 'STORAGE_ERR_UNAVAILABLE', retryable: true });
      expect(received).toBe(100);
    } finally {
      await s3.close();
      await new Promise<void>((resolve) =>
        http.close(() => {
          resolve();
        }),
      );
    }
  });

  it.each([
    [503, 'SlowDown', 'STORAGE_ERR_UNAVAILABLE', true],
    [500, 'InternalError', 'STORAGE_ERR_UNAVAILABLE', true],
    [403, 'AccessDenied', 'STORAGE_ERR_ACCESS', false],
  ])(
    'HTTP %i %s → %s (retryable: %s), after maxAttempts requests',
    async (status, code, expected, retryable) => {
      const fake = await failingServer(status, code);
      const s3 = new S3Store(`s3://${BUCKET}`, { endpoint: fake.url, ...CREDENTIALS, maxAttempts: 2 });
      try {
        expect(await codeOf(s3.get('x'))).toEqual({ code: expected, retryable });
        // The SDK retries transient failures itself (maxAttempts), never an access error.
        expect(fake.hits()).toBe(retryable ? 2 : 1);
      } finally {
        await s3.close();
        await new Promise<void>((resolve) =>
          fake.server.close(() => {
            resolve();
          }),
        );
      }
    },
  );
});
