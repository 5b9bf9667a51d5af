import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';

import { type ArtifactStore, FileStore, StorageError, TEMP_SUFFIX } from '../src';

let root: string;
let store: FileStore;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'synood-file-store-'));
  store = new FileStore(root);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function listAll(s: ArtifactStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of s.list(prefix)) {
    keys.push(key);
  }
  return keys;
}

async function failure(promise: Promise<unknown>): Promise<StorageError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(StorageError);
    return error as StorageError;
  }
  throw new Error('expected the call to fail');
}

/** Every file under `dir`, relative, including hidden temp files (what `list` must not show). */
async function filesOnDisk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

describe('FileStore', () => {
  it('names its root as a file URL, from a path or a file URL', () => {
    expect(store.url).toBe(`file://${root}`);
    expect(new FileStore(`file://${root}`).root).toBe(root);
  });

  it('writes a key to <root>/<key> and reads it back', async () => {
    const body = Uint8Array.from([0, 1, 2, 250, 255]);
    await store.put('runs/r1/x.bin', body);
    expect(Array.from(await readFile(join(root, 'runs', 'r1', 'x.bin')))).toEqual([0, 1, 2, 250, 255]);
    expect(Array.from(await store.get('runs/r1/x.bin'))).toEqual([0, 1, 2, 250, 255]);
  });

  it('overwrites an existing object', async () => {
    await store.put('a.txt', Buffer.from('first version'));
    await store.put('a.txt', Buffer.from('second'));
    expect(Buffer.from(await store.get('a.txt')).toString()).toBe('second');
  });

  it('writes a stream body chunk by chunk, string chunks included', async () => {
    await store.put('s/t.txt', Readable.from([Buffer.from('ab'), 'cd', Buffer.from('ef')]));
    expect(await readFile(join(root, 's', 't.txt'), 'utf8')).toBe('abcdef');
  });

  it('streams an object back', async () => {
    await store.put('big.bin', Buffer.alloc(200_000, 7));
    let total = 0;
    let sevens = 0;
    for await (const chunk of await store.getStream('big.bin')) {
      const bytes = chunk as Buffer;
      total += bytes.length;
      sevens += bytes.filter((b) => b === 7).length;
    }
    expect(total).toBe(200_000);
    expect(sevens).toBe(200_000);
  });

  it('reports exists, stat and missing keys', async () => {
    await store.put('d/e.bin', Buffer.alloc(1234));
    expect(await store.exists('d/e.bin')).toBe(true);
    expect(await store.stat('d/e.bin')).toEqual({ size: 1234 });
    expect(await store.exists('d/nope.bin')).toBe(false);
    expect(await store.stat('d/nope.bin')).toBeUndefined();
    // Below a file: ENOTDIR on disk, simply absent as a key.
    expect(await store.stat('d/e.bin/f')).toBeUndefined();
    // A folder is not an object.
    expect(await store.exists('d')).toBe(false);
    expect((await failure(store.get('d'))).code).toBe('STORAGE_ERR_NOT_FOUND');
    const missing = await failure(store.get('d/nope.bin'));
    expect(missing.code).toBe('STORAGE_ERR_NOT_FOUND');
    expect(missing.retryable).toBe(false);
    expect(missing.message).toContain('"d/nope.bin"');
    expect((await failure(store.getStream('d/nope.bin'))).code).toBe('STORAGE_ERR_NOT_FOUND');
    expect((await failure(store.getStream('d'))).code).toBe('STORAGE_ERR_NOT_FOUND');
  });

  it('deletes, and deleting a missing key or a folder is a no-op', async () => {
    await store.put('x/y', Buffer.from('1'));
    await store.delete('x/y');
    expect(await store.exists('x/y')).toBe(false);
    await expect(store.delete('x/y')).resolves.toBeUndefined();
    await store.put('x/z/w', Buffer.from('1'));
    await expect(store.delete('x/z')).resolves.toBeUndefined();
    expect(await store.exists('x/z/w')).toBe(true);
  });

  it('lists keys under a folder prefix, depth-first with names sorted', async () => {
    for (const key of ['p/b', 'p/a/2', 'p/a/1', 'p/c/d/e', 'pq/not-inside', 'p-x', 'top']) {
      await store.put(key, Buffer.from(key));
    }
    expect(await listAll(store, 'p')).toEqual(['p/a/1', 'p/a/2', 'p/b', 'p/c/d/e']);
    expect(await listAll(store, 'p/')).toEqual(['p/a/1', 'p/a/2', 'p/b', 'p/c/d/e']);
    expect(await listAll(store, 'p/c')).toEqual(['p/c/d/e']);
    expect(await listAll(store, '')).toEqual([
      'p/a/1',
      'p/a/2',
      'p/b',
      'p/c/d/e',
      'p-x',
      'pq/not-inside',
      'top',
    ]);
    expect(await listAll(store, 'missing')).toEqual([]);
    expect(await listAll(store, 'top')).toEqual([]);
    expect(await listAll(new FileStore(join(root, 'never-created')), '')).toEqual([]);
  });

  it('follows symbolic links to folders and files without looping', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'synood-linked-'));
    try {
      await writeFile(join(outside, 'img.jpg'), 'x');
      await mkdir(join(root, 'data'), { recursive: true });
      await symlink(outside, join(root, 'data', 'linked'));
      await symlink(join(outside, 'img.jpg'), join(root, 'data', 'file.jpg'));
      await symlink(join(root, 'data'), join(root, 'data', 'loop'));
      expect(await listAll(store, 'data')).toEqual(['data/file.jpg', 'data/linked/img.jpg']);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('an interrupted stream write leaves no file under the key and no temp file', async () => {
    const cause = new Error('camera unplugged');
    let sentChunks = 0;
    function* source(): Generator<Buffer> {
      // 3 × 64 KiB arrive, then the source fails mid-write.
      for (let i = 1; i <= 3; i++) {
        sentChunks++;
        yield Buffer.alloc(65_536, i);
      }
      throw cause;
    }
    const body = Readable.from(source());
    const error = await failure(store.put('shard/00000/out.bin', body));
    expect(sentChunks).toBe(3);
    expect(error.code).toBe('STORAGE_ERR_IO');
    expect(error.retryable).toBe(false);
    expect(error.cause).toBe(cause);
    expect(await store.exists('shard/00000/out.bin')).toBe(false);
    expect(await filesOnDisk(root)).toEqual([]);
    expect(await listAll(store, '')).toEqual([]);
  });

  it('a failed overwrite keeps the previous object intact', async () => {
    await store.put('model.bin', Buffer.from('good version'));
    const body = new Readable({
      read(): void {
        this.destroy(new Error('disk of the source failed'));
      },
    });
    expect((await failure(store.put('model.bin', body))).code).toBe('STORAGE_ERR_IO');
    expect(Buffer.from(await store.get('model.bin')).toString()).toBe('good version');
    expect(await filesOnDisk(root)).toEqual(['model.bin']);
  });

  it('never shows a partial object: the key appears only when the write completes', async () => {
    const body = new PassThrough();
    const done = store.put('slow/out.bin', body);
    body.write(Buffer.alloc(1000, 1));
    // Wait until the first bytes are on disk (in the temp file).
    const deadline = Date.now() + 5000;
    while ((await filesOnDisk(root)).length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const during = await filesOnDisk(root);
    expect(during).toHaveLength(1);
    expect(during[0]).toMatch(
      new RegExp(`^slow/\\.out\\.bin\\.[0-9a-f]{12}${TEMP_SUFFIX.replace('.', '\\.')}$`),
    );
    expect(await store.exists('slow/out.bin')).toBe(false);
    expect(await listAll(store, '')).toEqual([]);
    body.end(Buffer.alloc(500, 2));
    await done;
    expect(await filesOnDisk(root)).toEqual(['slow/out.bin']);
    expect(await store.stat('slow/out.bin')).toEqual({ size: 1500 });
  });

  it('skips temp files left by a crash when listing', async () => {
    await store.put('c/real.bin', Buffer.from('1'));
    await writeFile(join(root, 'c', `.real.bin.0123456789ab${TEMP_SUFFIX}`), 'partial');
    expect(await listAll(store, 'c')).toEqual(['c/real.bin']);
  });

  it('a file in the way of a folder is an I/O error naming the key', async () => {
    await store.put('f', Buffer.from('1'));
    const error = await failure(store.put('f/g', Buffer.from('2')));
    expect(error.code).toBe('STORAGE_ERR_IO');
    expect(error.message).toContain('"f/g"');
  });

  it.each([
    ['', 'is empty'],
    ['/etc/passwd', 'starts with "/"'],
    ['a//b', 'empty segment'],
    ['a/', 'empty segment'],
    ['../outside', '".." segment'],
    ['a/../../b', '".." segment'],
    ['./a', '"." segment'],
    ['a\\b', 'backslash'],
    ['a\u0000b', 'control character'],
    [`x${TEMP_SUFFIX}`, 'reserved temp-file suffix'],
    ['é'.repeat(513), 'longer than 1024 UTF-8 bytes'],
  ])('rejects key %j (%s) on every method', async (key, problem) => {
    for (const call of [
      () => store.put(key, Buffer.from('x')),
      () => store.get(key),
      () => store.getStream(key),
      () => store.exists(key),
      () => store.stat(key),
      () => store.delete(key),
    ]) {
      const error = await failure(call());
      expect(error.code).toBe('STORAGE_ERR_KEY');
      expect(error.message).toContain(problem);
    }
    expect(await filesOnDisk(root)).toEqual([]);
  });

  it('accepts hidden names, Unicode and a key of exactly 1024 UTF-8 bytes', async () => {
    // Five 100 × "é" segments (200 bytes each), 4 slashes, then "/" and 19 × "a": 1000 + 4 + 1 + 19 = 1024.
    const longest = `${Array.from({ length: 5 }, () => 'é'.repeat(100)).join('/')}/${'a'.repeat(19)}`;
    expect(Buffer.byteLength(longest)).toBe(1024);
    for (const key of ['.hidden', 'données/été.jpg', 'a b/c', longest]) {
      await store.put(key, Buffer.from('ok'));
      expect(Buffer.from(await store.get(key)).toString()).toBe('ok');
    }
  });
});
