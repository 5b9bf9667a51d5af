import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';

import { type HttpFixtureServer, parseRangeHeader, startHttpFixtureServer } from '../src';

/** 1000 bytes whose value depends on the position, so a slice from the wrong offset shows. */
const BODY = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7 + 3) % 256));

let dir: string;
let server: HttpFixtureServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'synood-fixture-server-'));
  await mkdir(join(dir, 'owner', 'repo'), { recursive: true });
  await writeFile(join(dir, 'owner', 'repo', 'disk.bin'), 'from disk');
  await writeFile(join(tmpdir(), 'synood-fixture-outside.txt'), 'secret');
  server = await startHttpFixtureServer({
    root: dir,
    files: { '/cdn/owner/repo/main/model.bin': BODY },
    redirect: (path) => {
      const match = /^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
      return match === null ? undefined : `/cdn/${match[1]!}/${match[2]!}/${match[3]!}/${match[4]!}`;
    },
    routes: [
      {
        method: 'POST',
        path: '/v1/echo',
        handler: (_req, res, body) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ got: body.toString('utf8') }));
        },
      },
    ],
  });
});

afterEach(() => {
  server.reset();
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
  await rm(join(tmpdir(), 'synood-fixture-outside.txt'), { force: true });
});

/** Status of a GET whose path is sent exactly as given. */
function rawStatus(path: string): Promise<number> {
  return new Promise((done, fail) => {
    const req = request(`${server.url}${path}`, (res) => {
      res.resume();
      done(res.statusCode ?? 0);
    });
    req.on('error', fail);
    req.end();
  });
}

async function bytesOf(response: Response): Promise<Buffer> {
  return Buffer.from(await response.arrayBuffer());
}

describe('parseRangeHeader', () => {
  it('reads open, closed and suffix ranges and clamps the end', () => {
    expect(parseRangeHeader('bytes=10-', 100)).toEqual({ start: 10, end: 99 });
    expect(parseRangeHeader('bytes=10-19', 100)).toEqual({ start: 10, end: 19 });
    expect(parseRangeHeader('bytes=90-200', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRangeHeader('bytes=-30', 100)).toEqual({ start: 70, end: 99 });
  });

  it('ignores what it does not handle and rejects ranges past the end', () => {
    expect(parseRangeHeader(undefined, 100)).toBe('ignore');
    expect(parseRangeHeader('bytes=0-1,5-6', 100)).toBe('ignore');
    expect(parseRangeHeader('items=0-1', 100)).toBe('ignore');
    expect(parseRangeHeader('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRangeHeader('bytes=5-4', 100)).toBe('unsatisfiable');
  });
});

describe('startHttpFixtureServer', () => {
  it('serves an in-memory file with length, ETag (sha256) and Accept-Ranges', async () => {
    const response = await fetch(`${server.url}/cdn/owner/repo/main/model.bin`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe('1000');
    expect(response.headers.get('accept-ranges')).toBe('bytes');
    expect(response.headers.get('etag')).toBe(`"${createHash('sha256').update(BODY).digest('hex')}"`);
    expect((await bytesOf(response)).equals(BODY)).toBe(true);
  });

  it('answers a Range request with 206 and the exact slice', async () => {
    const response = await fetch(`${server.url}/cdn/owner/repo/main/model.bin`, {
      headers: { range: 'bytes=600-' },
    });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe('bytes 600-999/1000');
    expect((await bytesOf(response)).equals(BODY.subarray(600))).toBe(true);
  });

  it('answers 416 with the total size for a range past the end', async () => {
    const response = await fetch(`${server.url}/cdn/owner/repo/main/model.bin`, {
      headers: { range: 'bytes=1000-' },
    });
    expect(response.status).toBe(416);
    expect(response.headers.get('content-range')).toBe('bytes */1000');
  });

  it('redirects hub-style resolve paths and logs both hops', async () => {
    const response = await fetch(`${server.url}/owner/repo/resolve/main/model.bin`);
    expect(response.status).toBe(200);
    expect(response.redirected).toBe(true);
    expect((await bytesOf(response)).equals(BODY)).toBe(true);
    expect(server.requests.map((r) => [r.path, r.status])).toEqual([
      ['/owner/repo/resolve/main/model.bin', 302],
      ['/cdn/owner/repo/main/model.bin', 200],
    ]);
  });

  it('serves files from the root folder but nothing outside it', async () => {
    const response = await fetch(`${server.url}/owner/repo/disk.bin`);
    expect(await response.text()).toBe('from disk');
    // Sent raw: fetch would normalise the dot segments away before they reach the server.
    expect(await rawStatus('/..%2Fsynood-fixture-outside.txt')).toBe(404);
    expect(await rawStatus('/owner/..%2F..%2Fsynood-fixture-outside.txt')).toBe(404);
  });

  it('answers HEAD with headers only', async () => {
    const response = await fetch(`${server.url}/cdn/owner/repo/main/model.bin`, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe('1000');
  });

  it('injects an error status exactly n times, then serves again', async () => {
    server.inject('/cdn/owner/repo/main/model.bin', { kind: 'status', status: 503, times: 2 });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${server.url}/cdn/owner/repo/main/model.bin`);
      statuses.push(response.status);
      await response.arrayBuffer();
    }
    expect(statuses).toEqual([503, 503, 200]);
    expect(server.requestsFor('/cdn/owner/repo/main/model.bin')).toHaveLength(3);
  });

  it('cuts the connection after n body bytes once', async () => {
    server.inject('/cdn/owner/repo/main/model.bin', { kind: 'cut', afterBytes: 300 });
    const response = await fetch(`${server.url}/cdn/owner/repo/main/model.bin`);
    expect(response.headers.get('content-length')).toBe('1000');
    const received: Buffer[] = [];
    let failed = false;
    try {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        received.push(Buffer.from(chunk));
      }
    } catch {
      failed = true;
    }
    expect(failed).toBe(true);
    expect(Buffer.concat(received).equals(BODY.subarray(0, 300))).toBe(true);
    const again = await fetch(`${server.url}/cdn/owner/repo/main/model.bin`);
    expect((await bytesOf(again)).equals(BODY)).toBe(true);
  });

  it('can ignore a Range header once', async () => {
    server.inject('/cdn/owner/repo/main/model.bin', { kind: 'ignore-range' });
    const first = await fetch(`${server.url}/cdn/owner/repo/main/model.bin`, {
      headers: { range: 'bytes=10-' },
    });
    expect(first.status).toBe(200);
    expect((await bytesOf(first)).length).toBe(1000);
    const second = await fetch(`${server.url}/cdn/owner/repo/main/model.bin`, {
      headers: { range: 'bytes=10-' },
    });
    expect(second.status).toBe(206);
    expect(server.requests.map((r) => r.headers.range)).toEqual(['bytes=10-', 'bytes=10-']);
  });

  it('holds delayed requests in flight together and reports the maximum', async () => {
    server.inject(/^\/cdn\//, { kind: 'delay', ms: 100, times: 3 });
    await Promise.all(
      [0, 1, 2].map(async () => {
        const response = await fetch(`${server.url}/cdn/owner/repo/main/model.bin`);
        await response.arrayBuffer();
      }),
    );
    expect(server.maxInFlight).toBe(3);
    expect(server.inFlight).toBe(0);
  });

  it('runs custom routes with the request body', async () => {
    const response = await fetch(`${server.url}/v1/echo`, { method: 'POST', body: 'hello' });
    expect(await response.json()).toEqual({ got: 'hello' });
    expect(server.requestsFor('/v1/echo')[0]?.method).toBe('POST');
  });

  it('adds files and answers 404 for unknown paths', async () => {
    server.setFile('/late.txt', 'late');
    expect(await (await fetch(`${server.url}/late.txt`)).text()).toBe('late');
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
  });
});
