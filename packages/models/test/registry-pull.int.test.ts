import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { FileStore } from '@synood/storage';
import { type HttpFixtureServer, startHttpFixtureServer } from '@synood/testing';

import {
  MODEL_LOCK_FILE_NAME,
  type ModelCatalog,
  type ModelProgressEvent,
  type ModelRegistryError,
  listModels,
  parseModelCatalog,
  pullModels,
  readModelLock,
  verifyModels,
} from '../src/registry';

const REV = '0123456789abcdef0123456789abcdef01234567';

/** Bytes that depend on position and seed, so a shifted or mixed-up file changes its hash. */
function pattern(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) {
    bytes[i] = (i * 131 + seed * 7 + (i >>> 8)) & 0xff;
  }
  return bytes;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Fixture files of a fake `acme/clip` repository, by path inside the repository. */
const FILES: Record<string, Buffer> = {
  'onnx/vision.onnx': pattern(300_000, 1),
  'onnx/text.onnx': pattern(120_000, 2),
  'tokenizer.json': Buffer.from('{"model":{"type":"BPE"}}\n'),
  'extra/a.bin': pattern(50_000, 3),
  'extra/b.bin': pattern(50_000, 4),
};
const cdnPath = (path: string): string => `/cdn/acme/clip/${REV}/${path}`;
const hubPath = (path: string): string => `/acme/clip/resolve/${REV}/${path}`;

/** A catalog file entry for a fixture file, hashed independently with node:crypto. */
function hfFile(path: string, name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const bytes = FILES[path]!;
  return {
    name,
    source: `hf://acme/clip@${REV}/${path}`,
    path: `acme/clip/${path}`,
    sha256: sha256(bytes),
    size: bytes.length,
    ...extra,
  };
}

function catalogOf(models: unknown[]): ModelCatalog {
  return parseModelCatalog({ version: 1, models }, 'test catalog');
}

const CATALOG = catalogOf([
  { role: 'clip.vision', files: [hfFile('onnx/vision.onnx', 'model')] },
  { role: 'clip.text', files: [hfFile('onnx/text.onnx', 'model')] },
  { role: 'clip.tokenizer', files: [hfFile('tokenizer.json', 'tokenizer')] },
]);

let hub: HttpFixtureServer;
let cdn: HttpFixtureServer;
let work: string;
let cache: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'synood-pull-'));
  cdn = await startHttpFixtureServer({
    files: Object.fromEntries(Object.entries(FILES).map(([path, bytes]) => [cdnPath(path), bytes])),
  });
  // Like the Hub: resolve URLs redirect to a CDN on another origin.
  hub = await startHttpFixtureServer({
    redirect: (path) => {
      const match = /^\/acme\/clip\/resolve\/([^/]+)\/(.+)$/.exec(path);
      return match === null ? undefined : `${cdn.url}/cdn/acme/clip/${match[1]!}/${match[2]!}`;
    },
  });
});

afterAll(async () => {
  await hub.close();
  await cdn.close();
  await rm(work, { recursive: true, force: true });
});

let testNumber = 0;
beforeEach(async () => {
  cache = join(work, `cache-${++testNumber}`);
  await mkdir(cache, { recursive: true });
});

afterEach(() => {
  hub.reset();
  cdn.reset();
  for (const [path, bytes] of Object.entries(FILES)) {
    cdn.setFile(cdnPath(path), bytes);
  }
});

function pull(extra: Partial<Parameters<typeof pullModels>[0]> = {}) {
  return pullModels({ catalog: CATALOG, cacheDir: cache, endpoint: hub.url, retryDelayMs: 1, ...extra });
}

async function failure(promise: Promise<unknown>): Promise<ModelRegistryError> {
  try {
    await promise;
  } catch (error) {
    return error as ModelRegistryError;
  }
  throw new Error('expected the pull to fail');
}

const cached = (path: string): string => join(cache, 'acme', 'clip', ...path.split('/'));

describe('pullModels from a Hugging Face-like server', () => {
  it('downloads every file through the hub redirect, verifies it and records it in the lock file', async () => {
    const events: ModelProgressEvent[] = [];
    const report = await pull({ token: 'hf_secret', onProgress: (e) => events.push(e) });

    expect(report.files.map((f) => [f.role, f.outcome, f.hashAuthority])).toEqual([
      ['clip.vision', 'downloaded', 'catalog'],
      ['clip.text', 'downloaded', 'catalog'],
      ['clip.tokenizer', 'downloaded', 'catalog'],
    ]);
    for (const path of ['onnx/vision.onnx', 'onnx/text.onnx', 'tokenizer.json']) {
      expect((await readFile(cached(path))).equals(FILES[path]!)).toBe(true);
      expect(existsSync(`${cached(path)}.partial`)).toBe(false);
    }
    const lock = await readModelLock(cache);
    expect(lock.files['acme/clip/onnx/vision.onnx']).toMatchObject({
      source: `hf://acme/clip@${REV}/onnx/vision.onnx`,
      sha256: sha256(FILES['onnx/vision.onnx']!),
      size: 300_000,
    });
    expect(existsSync(join(cache, MODEL_LOCK_FILE_NAME))).toBe(true);

    // The token goes to the hub only; the CDN URL is reached without it.
    expect(hub.requests).toHaveLength(3);
    expect(hub.requests.every((r) => r.headers.authorization === 'Bearer hf_secret')).toBe(true);
    expect(cdn.requests).toHaveLength(3);
    expect(cdn.requests.every((r) => r.headers.authorization === undefined)).toBe(true);

    const vision = events.filter((e) => e.role === 'clip.vision');
    expect(vision[0]).toMatchObject({ type: 'start', bytesTotal: 300_000 });
    expect(vision.at(-1)).toMatchObject({ type: 'done', outcome: 'downloaded', bytes: 300_000 });
    const done = vision.flatMap((e) => (e.type === 'progress' ? [e.bytesDone] : []));
    expect(done.at(-1)).toBe(300_000);
    expect(done.every((value, i) => i === 0 || value >= done[i - 1]!)).toBe(true);
  });

  it('skips files already present and verified, without a single request', async () => {
    await pull();
    hub.reset();
    cdn.reset();
    const report = await pull();
    expect(report.files.map((f) => f.outcome)).toEqual(['present', 'present', 'present']);
    expect(hub.requests).toHaveLength(0);
    expect(cdn.requests).toHaveLength(0);
  });

  it('resumes an interrupted download with a Range request and ends with the right bytes', async () => {
    cdn.inject(cdnPath('onnx/vision.onnx'), { kind: 'cut', afterBytes: 70_000 });
    const retries: ModelProgressEvent[] = [];
    await pull({ roles: ['clip.vision'], onProgress: (e) => e.type === 'retry' && retries.push(e) });

    const requests = cdn.requestsFor(cdnPath('onnx/vision.onnx'));
    expect(requests.map((r) => [r.headers.range, r.status])).toEqual([
      [undefined, 200],
      ['bytes=70000-', 206],
    ]);
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatchObject({ type: 'retry', attempt: 1, error: { code: 'MODELS_ERR_NETWORK' } });
    const bytes = await readFile(cached('onnx/vision.onnx'));
    expect(sha256(bytes)).toBe(sha256(FILES['onnx/vision.onnx']!));
  });

  it('resumes a partial file left by an earlier run', async () => {
    const partial = `${cached('onnx/text.onnx')}.partial`;
    await mkdir(dirname(partial), { recursive: true });
    await writeFile(partial, FILES['onnx/text.onnx']!.subarray(0, 45_678));
    await pull({ roles: ['clip.text'] });
    expect(cdn.requestsFor(cdnPath('onnx/text.onnx')).map((r) => r.headers.range)).toEqual(['bytes=45678-']);
    expect((await readFile(cached('onnx/text.onnx'))).equals(FILES['onnx/text.onnx']!)).toBe(true);
  });

  it('restarts cleanly when the server ignores the Range header (200)', async () => {
    const partial = `${cached('onnx/text.onnx')}.partial`;
    await mkdir(dirname(partial), { recursive: true });
    await writeFile(partial, Buffer.alloc(1000, 0xee)); // wrong bytes: only a restart can fix them
    cdn.inject(cdnPath('onnx/text.onnx'), { kind: 'ignore-range' });
    const report = await pull({ roles: ['clip.text'] });
    expect(report.files[0]!.outcome).toBe('downloaded');
    expect(cdn.requestsFor(cdnPath('onnx/text.onnx')).map((r) => [r.headers.range, r.status])).toEqual([
      ['bytes=1000-', 200],
    ]);
    expect((await readFile(cached('onnx/text.onnx'))).equals(FILES['onnx/text.onnx']!)).toBe(true);
  });

  it('refuses bytes whose sha256 differs from the catalog and leaves no file in place', async () => {
    const wrong = sha256(Buffer.from('something else'));
    const catalog = catalogOf([
      { role: 'clip.tokenizer', files: [hfFile('tokenizer.json', 'tokenizer', { sha256: wrong })] },
    ]);
    const error = await failure(pull({ catalog }));
    expect(error.code).toBe('MODELS_ERR_CHECKSUM');
    expect(error.message).toContain('clip.tokenizer file "tokenizer" (acme/clip/tokenizer.json)');
    expect(error.message).toContain(`expected ${wrong}`);
    expect(error.message).toContain(`got ${sha256(FILES['tokenizer.json']!)}`);
    expect(existsSync(cached('tokenizer.json'))).toBe(false);
    expect(existsSync(`${cached('tokenizer.json')}.partial`)).toBe(false);
    expect((await readModelLock(cache)).files).toEqual({});
  });

  it('refuses a file of the wrong size', async () => {
    const catalog = catalogOf([
      { role: 'clip.tokenizer', files: [hfFile('tokenizer.json', 'tokenizer', { size: 5 })] },
    ]);
    const error = await failure(pull({ catalog }));
    expect(error.code).toBe('MODELS_ERR_SIZE');
    expect(error.message).toContain(`serves ${FILES['tokenizer.json']!.length} bytes but the catalog says 5`);
    expect(existsSync(cached('tokenizer.json'))).toBe(false);
  });

  it('retries HTTP 500 with backoff and then succeeds', async () => {
    hub.inject(hubPath('tokenizer.json'), { kind: 'status', status: 500, times: 2 });
    const retries: number[] = [];
    const report = await pull({
      roles: ['clip.tokenizer'],
      onProgress: (e) => e.type === 'retry' && retries.push(e.attempt),
    });
    expect(report.files[0]!.outcome).toBe('downloaded');
    expect(hub.requests.map((r) => r.status)).toEqual([500, 500, 302]);
    expect(cdn.requests).toHaveLength(1);
    expect(retries).toEqual([1, 2]);
  });

  it('gives up after the last retry with a retryable MODELS_ERR_HTTP', async () => {
    hub.inject(hubPath('tokenizer.json'), { kind: 'status', status: 503, times: 10 });
    const error = await failure(pull({ roles: ['clip.tokenizer'], retries: 2 }));
    expect(error).toMatchObject({ code: 'MODELS_ERR_HTTP', retryable: true });
    expect(error.message).toContain('answered HTTP 503');
    expect(hub.requests).toHaveLength(3);
  });

  it('does not retry a 404 and says what to check', async () => {
    hub.inject(hubPath('tokenizer.json'), { kind: 'status', status: 404 });
    const error = await failure(pull({ roles: ['clip.tokenizer'] }));
    expect(error.code).toBe('MODELS_ERR_NOT_FOUND');
    expect(error.message).toContain('check the repository, revision and path');
    expect(hub.requests).toHaveLength(1);
  });

  it('makes zero requests offline and lists what is missing', async () => {
    await pull({ roles: ['clip.tokenizer'] });
    hub.reset();
    cdn.reset();
    const error = await failure(pull({ offline: true }));
    expect(error.code).toBe('MODELS_ERR_OFFLINE');
    expect(error.message).toContain('2 file(s) missing');
    expect(error.message).toContain(
      `clip.vision acme/clip/onnx/vision.onnx (hf://acme/clip@${REV}/onnx/vision.onnx)`,
    );
    expect(error.message).toContain('clip.text acme/clip/onnx/text.onnx');
    expect(error.message).not.toContain('clip.tokenizer');
    const present = await pull({ offline: true, roles: ['clip.tokenizer'] });
    expect(present.files[0]!.outcome).toBe('present');
    expect(hub.requests).toHaveLength(0);
    expect(cdn.requests).toHaveLength(0);
  });

  it('pulls files in parallel, never more at once than the concurrency', async () => {
    const catalog = catalogOf([
      { role: 'clip.vision', files: [hfFile('onnx/vision.onnx', 'model')] },
      { role: 'clip.text', files: [hfFile('onnx/text.onnx', 'model')] },
      { role: 'vlm', files: [hfFile('extra/a.bin', 'a'), hfFile('extra/b.bin', 'b')] },
    ]);
    cdn.inject(/^\/cdn\//, { kind: 'delay', ms: 150, times: 4 });
    const report = await pull({ catalog, concurrency: 2 });
    expect(report.files.map((f) => f.outcome)).toEqual([
      'downloaded',
      'downloaded',
      'downloaded',
      'downloaded',
    ]);
    expect(cdn.maxInFlight).toBe(2);
    for (const path of ['onnx/vision.onnx', 'onnx/text.onnx', 'extra/a.bin', 'extra/b.bin']) {
      expect((await readFile(cached(path))).equals(FILES[path]!)).toBe(true);
    }
  });

  it('pins the first hash of an unverified entry and refuses a changed upstream file later', async () => {
    const catalog = catalogOf([
      {
        role: 'clip.tokenizer',
        unverified: true,
        files: [hfFile('tokenizer.json', 'tokenizer', { sha256: undefined, size: undefined })],
      },
    ]);
    const first = await pull({ catalog });
    expect(first.files[0]).toMatchObject({ outcome: 'downloaded', hashAuthority: 'pinned' });
    expect((await readModelLock(cache)).files['acme/clip/tokenizer.json']?.sha256).toBe(
      sha256(FILES['tokenizer.json']!),
    );

    await rm(cached('tokenizer.json'));
    const changed = Buffer.from('{"model":{"type":"WordPiece"}}\n');
    cdn.setFile(cdnPath('tokenizer.json'), changed);
    const error = await failure(pull({ catalog }));
    expect(error.code).toBe('MODELS_ERR_CHECKSUM');
    expect(error.message).toContain(`expected ${sha256(FILES['tokenizer.json']!)}, got ${sha256(changed)}`);
    expect(error.message).toContain('pinned in the lock file');
    expect(existsSync(cached('tokenizer.json'))).toBe(false);
  });

  it('downloads plain https(s) URLs as well', async () => {
    const bytes = FILES['extra/a.bin']!;
    const catalog = catalogOf([
      {
        role: 'classifier',
        files: [
          { source: `${cdn.url}${cdnPath('extra/a.bin')}`, path: 'direct/a.bin', sha256: sha256(bytes) },
        ],
      },
    ]);
    expect((await pull({ catalog })).files[0]!.outcome).toBe('downloaded');
    expect((await readFile(join(cache, 'direct', 'a.bin'))).equals(bytes)).toBe(true);
    expect(hub.requests).toHaveLength(0);
  });

  it('reads s3:// sources through @synood/storage and copies file:// sources', async () => {
    const s3root = join(work, `s3-${testNumber}`);
    await mkdir(join(s3root, 'model-bucket', 'clip'), { recursive: true });
    await writeFile(join(s3root, 'model-bucket', 'clip', 'v.onnx'), FILES['onnx/vision.onnx']!);
    const local = join(work, `local-${testNumber}.json`);
    await writeFile(local, FILES['tokenizer.json']!);
    const catalog = catalogOf([
      {
        role: 'clip.vision',
        files: [
          {
            source: 's3://model-bucket/clip/v.onnx',
            path: 's3/v.onnx',
            sha256: sha256(FILES['onnx/vision.onnx']!),
          },
        ],
      },
      {
        role: 'clip.tokenizer',
        files: [
          {
            source: `file://${local}`,
            path: 'local/tokenizer.json',
            sha256: sha256(FILES['tokenizer.json']!),
          },
        ],
      },
    ]);
    const opened: string[] = [];
    const report = await pull({
      catalog,
      openStore: (url) => {
        opened.push(url);
        return new FileStore(join(s3root, url.slice('s3://'.length)));
      },
    });
    expect(opened).toEqual(['s3://model-bucket']);
    expect(report.files.map((f) => f.outcome)).toEqual(['downloaded', 'copied']);
    expect((await readFile(join(cache, 's3', 'v.onnx'))).equals(FILES['onnx/vision.onnx']!)).toBe(true);
    expect((await readFile(join(cache, 'local', 'tokenizer.json'))).equals(FILES['tokenizer.json']!)).toBe(
      true,
    );
  });

  it('stops on abort, keeping nothing half-written in place', async () => {
    cdn.inject(/^\/cdn\//, { kind: 'delay', ms: 300, times: 3 });
    const controller = new AbortController();
    setTimeout(() => {
      controller.abort();
    }, 50);
    const error = await failure(pull({ signal: controller.signal }));
    expect(error.code).toBe('MODELS_ERR_ABORTED');
    expect(existsSync(cached('onnx/vision.onnx'))).toBe(false);
  });
});

describe('verifyModels and listModels on a pulled cache', () => {
  it('detects a corrupted cached file and pull repairs it', async () => {
    await pull();
    const before = await listModels({ catalog: CATALOG, cacheDir: cache });
    expect(before.map((m) => [m.role, m.status])).toEqual([
      ['clip.vision', 'verified'],
      ['clip.text', 'verified'],
      ['clip.tokenizer', 'verified'],
    ]);

    // Flip one byte in the middle, keeping the size.
    const corrupted = Buffer.from(FILES['onnx/text.onnx']!);
    corrupted[60_000] = corrupted[60_000]! ^ 0xff;
    await writeFile(cached('onnx/text.onnx'), corrupted);

    const report = await verifyModels({ catalog: CATALOG, cacheDir: cache });
    expect(report.ok).toBe(false);
    expect(report.files.map((f) => [f.role, f.status])).toEqual([
      ['clip.vision', 'verified'],
      ['clip.text', 'mismatch'],
      ['clip.tokenizer', 'verified'],
    ]);
    expect(report.files[1]).toMatchObject({
      expected: sha256(FILES['onnx/text.onnx']!),
      actual: sha256(corrupted),
      size: corrupted.length,
    });
    const after = await listModels({ catalog: CATALOG, cacheDir: cache });
    expect(after[1]!.status).toBe('present');

    cdn.reset();
    const repaired = await pull();
    expect(repaired.files.map((f) => f.outcome)).toEqual(['present', 'downloaded', 'present']);
    expect(cdn.requests).toHaveLength(1);
    expect((await readFile(cached('onnx/text.onnx'))).equals(FILES['onnx/text.onnx']!)).toBe(true);
    expect((await verifyModels({ catalog: CATALOG, cacheDir: cache })).ok).toBe(true);
  });

  it('reports missing files and lists sizes', async () => {
    await pull({ roles: ['clip.tokenizer'] });
    const listing = await listModels({ catalog: CATALOG, cacheDir: cache });
    expect(listing.map((m) => m.status)).toEqual(['missing', 'missing', 'verified']);
    expect(listing[2]!.files[0]).toMatchObject({
      name: 'tokenizer',
      size: FILES['tokenizer.json']!.length,
      expectedSize: FILES['tokenizer.json']!.length,
      sha256: sha256(FILES['tokenizer.json']!),
      source: `hf://acme/clip@${REV}/tokenizer.json`,
    });
    const report = await verifyModels({ catalog: CATALOG, cacheDir: cache });
    expect(report.files.map((f) => f.status)).toEqual(['missing', 'missing', 'verified']);
  });
});
