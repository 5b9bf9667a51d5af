import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';

import {
  type ArtifactRecord,
  FileStore,
  StorageError,
  artifactKey,
  artifactPrefix,
  doneMarkerKey,
  putWithChecksum,
  readDoneMarker,
  sha256Of,
  writeDoneMarker,
} from '../src';

// FIPS 180-2 test vectors.
const SHA256_EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const SHA256_ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
const SHA256_448_BITS = '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1';
const MSG_448_BITS = 'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq';

let root: string;
let store: FileStore;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'synood-done-'));
  store = new FileStore(root);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<StorageError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(StorageError);
    return error as StorageError;
  }
  throw new Error('expected the call to fail');
}

describe('sha256Of and putWithChecksum', () => {
  it('matches the FIPS 180-2 vectors', () => {
    expect(sha256Of(new Uint8Array(0))).toBe(SHA256_EMPTY);
    expect(sha256Of(Buffer.from('abc'))).toBe(SHA256_ABC);
    expect(sha256Of(Buffer.from(MSG_448_BITS))).toBe(SHA256_448_BITS);
  });

  it('records key, size and hash of a byte body', async () => {
    expect(await putWithChecksum(store, 'a/b.txt', Buffer.from('abc'))).toEqual({
      key: 'a/b.txt',
      size: 3,
      sha256: SHA256_ABC,
    });
    expect(await readFile(join(root, 'a', 'b.txt'), 'utf8')).toBe('abc');
  });

  it('hashes a stream body on its way in, split across chunks', async () => {
    const chunks = ['abcdbcdecdef', 'defgefghfghighijhijk', 'ijkljklmklmnlmnomnopnopq'].map((c) =>
      Buffer.from(c),
    );
    expect(chunks.map((c) => c.toString()).join('')).toBe(MSG_448_BITS);
    expect(await putWithChecksum(store, 'm.txt', Readable.from(chunks))).toEqual({
      key: 'm.txt',
      size: 56,
      sha256: SHA256_448_BITS,
    });
    expect(await readFile(join(root, 'm.txt'), 'utf8')).toBe(MSG_448_BITS);
  });

  it('passes a failing stream body on as a storage error and stores nothing', async () => {
    function* source(): Generator<Buffer> {
      yield Buffer.from('partial');
      throw new Error('source failed');
    }
    expect((await failure(putWithChecksum(store, 'broken.bin', Readable.from(source())))).code).toBe(
      'STORAGE_ERR_IO',
    );
    expect(await store.exists('broken.bin')).toBe(false);
  });
});

describe('artifact keys', () => {
  it('builds runs/<runId>/<stage>/<shard>/<name> with 5-digit shards', () => {
    expect(artifactKey({ runId: 'r1', stage: 'encode', shard: 3, name: 'features.bin' })).toBe(
      'runs/r1/encode/00003/features.bin',
    );
    expect(artifactKey({ runId: 'r1', stage: 'encode', shard: 123456, name: 'x' })).toBe(
      'runs/r1/encode/123456/x',
    );
    expect(artifactKey({ runId: 'run-2024.01_a', stage: 'mine', name: 'neg/labels.json' })).toBe(
      'runs/run-2024.01_a/mine/neg/labels.json',
    );
    expect(artifactKey({ runId: 'r1', stage: 'eval', shard: 'imagenet-o', name: 'scores.bin' })).toBe(
      'runs/r1/eval/imagenet-o/scores.bin',
    );
    expect(artifactPrefix({ runId: 'r1', stage: 'caption', shard: 0 })).toBe('runs/r1/caption/00000');
    expect(doneMarkerKey(artifactPrefix({ runId: 'r1', stage: 'caption', shard: 0 }))).toBe(
      'runs/r1/caption/00000/_DONE.json',
    );
  });

  it.each([
    [{ runId: 'a/b', stage: 's', name: 'n' }, 'runId'],
    [{ runId: '', stage: 's', name: 'n' }, 'runId'],
    [{ runId: '..', stage: 's', name: 'n' }, 'runId'],
    [{ runId: 'r', stage: '.hidden', name: 'n' }, 'stage'],
    [{ runId: 'r', stage: 's', shard: -1, name: 'n' }, 'shard'],
    [{ runId: 'r', stage: 's', shard: 1.5, name: 'n' }, 'shard'],
    [{ runId: 'r', stage: 's', shard: 'a/b', name: 'n' }, 'shard'],
    [{ runId: 'r', stage: 's', name: '../n' }, 'artifact name'],
    [{ runId: 'r', stage: 's', name: '' }, 'artifact name'],
  ])('rejects %j, naming %s', (location, field) => {
    let error: unknown;
    try {
      artifactKey(location);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).code).toBe('STORAGE_ERR_KEY');
    expect((error as StorageError).message).toContain(field);
  });
});

describe('done-markers', () => {
  const prefix = 'runs/r1/encode/00000';
  let record: ArtifactRecord;

  beforeEach(async () => {
    record = await putWithChecksum(store, `${prefix}/features.bin`, Buffer.from('abc'));
  });

  it('writes <prefix>/_DONE.json with the manifest and reads it back for the same config hash', async () => {
    const manifest = { configHash: 'cfg-1', artifacts: [record], images: 64, model: { clip: 'ViT-B/16' } };
    expect(await writeDoneMarker(store, prefix, manifest)).toBe(`${prefix}/_DONE.json`);
    const onDisk = JSON.parse(
      await readFile(join(root, ...prefix.split('/'), '_DONE.json'), 'utf8'),
    ) as unknown;
    expect(onDisk).toEqual({
      configHash: 'cfg-1',
      artifacts: [{ key: `${prefix}/features.bin`, size: 3, sha256: SHA256_ABC }],
      images: 64,
      model: { clip: 'ViT-B/16' },
    });
    expect(await readDoneMarker(store, prefix, 'cfg-1')).toEqual(onDisk);
  });

  it('treats a missing marker or another config hash as not done', async () => {
    expect(await readDoneMarker(store, prefix, 'cfg-1')).toBeUndefined();
    await writeDoneMarker(store, prefix, { configHash: 'cfg-1', artifacts: [record] });
    expect(await readDoneMarker(store, prefix, 'cfg-2')).toBeUndefined();
    expect(await readDoneMarker(store, `${prefix}-other`, 'cfg-1')).toBeUndefined();
  });

  it('refuses to mark work done before its artifacts exist, and writes no marker', async () => {
    const ghost = { key: `${prefix}/not-written.bin`, size: 10, sha256: SHA256_EMPTY };
    const error = await failure(
      writeDoneMarker(store, prefix, { configHash: 'cfg-1', artifacts: [record, ghost] }),
    );
    expect(error.code).toBe('STORAGE_ERR_MANIFEST');
    expect(error.message).toContain('not-written.bin');
    expect(await store.exists(`${prefix}/_DONE.json`)).toBe(false);
    const wrongSize = { ...record, size: 4 };
    expect(
      (await failure(writeDoneMarker(store, prefix, { configHash: 'c', artifacts: [wrongSize] }))).message,
    ).toContain('has 3 bytes, the manifest says 4');
    // Without verification the caller vouches for the artifacts.
    await writeDoneMarker(store, prefix, { configHash: 'cfg-1', artifacts: [ghost] }, { verify: false });
    expect(await store.exists(`${prefix}/_DONE.json`)).toBe(true);
  });

  it('with verifyArtifacts, a marker whose artifact vanished or changed size means not done', async () => {
    await writeDoneMarker(store, prefix, { configHash: 'cfg-1', artifacts: [record] });
    expect(await readDoneMarker(store, prefix, 'cfg-1', { verifyArtifacts: true })).toBeDefined();
    await store.put(record.key, Buffer.from('abcd'));
    expect(await readDoneMarker(store, prefix, 'cfg-1', { verifyArtifacts: true })).toBeUndefined();
    expect(await readDoneMarker(store, prefix, 'cfg-1')).toBeDefined();
    await store.delete(record.key);
    expect(await readDoneMarker(store, prefix, 'cfg-1', { verifyArtifacts: true })).toBeUndefined();
  });

  it.each([
    [{ configHash: '', artifacts: [] }, 'configHash'],
    [{ configHash: 'c', artifacts: {} }, 'artifacts is not an array'],
    [{ configHash: 'c', artifacts: [{ key: '/abs', size: 1, sha256: SHA256_ABC }] }, 'artifacts[0].key'],
    [{ configHash: 'c', artifacts: [{ key: 'k', size: -1, sha256: SHA256_ABC }] }, 'artifacts[0].size'],
    [
      { configHash: 'c', artifacts: [{ key: 'k', size: 1, sha256: SHA256_ABC.toUpperCase() }] },
      'artifacts[0].sha256',
    ],
  ])('rejects the malformed manifest %j', async (manifest, problem) => {
    const error = await failure(writeDoneMarker(store, prefix, manifest as never, { verify: false }));
    expect(error.code).toBe('STORAGE_ERR_MANIFEST');
    expect(error.message).toContain(problem);
  });

  it('reports a corrupt marker as a manifest error naming it', async () => {
    await writeFile(join(root, ...prefix.split('/'), '_DONE.json'), '{"configHash": "cfg-1", "artifacts": [');
    const error = await failure(readDoneMarker(store, prefix, 'cfg-1'));
    expect(error.code).toBe('STORAGE_ERR_MANIFEST');
    expect(error.message).toContain(`${prefix}/_DONE.json`);
    await writeFile(join(root, ...prefix.split('/'), '_DONE.json'), '{"configHash": 7, "artifacts": []}');
    expect((await failure(readDoneMarker(store, prefix, 'cfg-1'))).message).toContain('configHash is 7');
  });
});
