import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';

import {
  MODEL_LOCK_FILE_NAME,
  type ModelCatalog,
  type ModelRegistryError,
  listModels,
  parseModelCatalog,
  pullModels,
  readModelLock,
  verifyModels,
} from '../src/registry';

const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');

let work: string;
let cache: string;
let sources: string;
let n = 0;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'synood-registry-local-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});
beforeEach(async () => {
  n++;
  cache = join(work, `cache-${n}`);
  sources = join(work, `sources-${n}`);
  await mkdir(sources, { recursive: true });
});

async function failure(promise: Promise<unknown>): Promise<ModelRegistryError> {
  try {
    await promise;
  } catch (error) {
    return error as ModelRegistryError;
  }
  throw new Error('expected a failure');
}

/** A catalog with one export-required role (the classifier) and one unverified file:// role. */
function catalog(tokenizerSource = `file://${sources}/tokenizer.json`): ModelCatalog {
  return parseModelCatalog(
    {
      version: 1,
      models: [
        {
          role: 'classifier',
          exportRequired: { command: 'export-it --out {cache}/resnet/model.onnx' },
          files: [{ path: 'resnet/model.onnx' }],
        },
        {
          role: 'clip.tokenizer',
          unverified: true,
          files: [{ name: 'tokenizer', source: tokenizerSource, path: 'tok/tokenizer.json' }],
        },
      ],
    },
    'local catalog',
  );
}

describe('export-required entries', () => {
  it('are reported by pull, list and verify until the exported file is in place', async () => {
    await writeFile(join(sources, 'tokenizer.json'), 'tok');
    const report = await pullModels({ catalog: catalog(), cacheDir: cache, offline: true });
    expect(report.files.map((f) => [f.role, f.outcome])).toEqual([
      ['classifier', 'export-required'],
      ['clip.tokenizer', 'copied'],
    ]);
    expect(report.files[0]!.exportCommand).toBe(`export-it --out ${cache}/resnet/model.onnx`);

    const listing = await listModels({ catalog: catalog(), cacheDir: cache });
    expect(listing.map((m) => [m.role, m.status, m.exportCommand])).toEqual([
      ['classifier', 'export-required', `export-it --out ${cache}/resnet/model.onnx`],
      ['clip.tokenizer', 'verified', undefined],
    ]);
    const verified = await verifyModels({ catalog: catalog(), cacheDir: cache });
    expect(verified.files.map((f) => f.status)).toEqual(['export-required', 'unverified']);
    expect(verified.ok).toBe(false);
  });

  it('pins the hash of an exported file on first sight and catches a later change', async () => {
    await mkdir(join(cache, 'resnet'), { recursive: true });
    const exported = Buffer.from('onnx bytes v1');
    await writeFile(join(cache, 'resnet', 'model.onnx'), exported);

    const first = await verifyModels({ catalog: catalog(), cacheDir: cache, roles: ['classifier'] });
    expect(first.files[0]).toMatchObject({ status: 'unverified', pinned: true, actual: sha256(exported) });
    expect((await readModelLock(cache)).files['resnet/model.onnx']).toMatchObject({
      source: null,
      sha256: sha256(exported),
      size: exported.length,
    });
    const again = await verifyModels({ catalog: catalog(), cacheDir: cache, roles: ['classifier'] });
    expect(again.files[0]).toMatchObject({ status: 'unverified', pinned: false, expected: sha256(exported) });
    expect(again.ok).toBe(true);

    const changed = Buffer.from('onnx bytes v2');
    await writeFile(join(cache, 'resnet', 'model.onnx'), changed);
    const third = await verifyModels({ catalog: catalog(), cacheDir: cache, roles: ['classifier'] });
    expect(third.files[0]).toMatchObject({
      status: 'mismatch',
      expected: sha256(exported),
      actual: sha256(changed),
    });

    const error = await failure(pullModels({ catalog: catalog(), cacheDir: cache, roles: ['classifier'] }));
    expect(error.code).toBe('MODELS_ERR_CHECKSUM');
    expect(error.message).toContain(`expected sha256 ${sha256(exported)}`);
    expect(error.message).toContain(`got sha256 ${sha256(changed)}`);
    expect(error.message).toContain('re-export it');
  });
});

describe('pullModels with local sources', () => {
  it('copies file:// sources even offline and skips them next time', async () => {
    await writeFile(join(sources, 'tokenizer.json'), 'tokenizer v1');
    const first = await pullModels({
      catalog: catalog(),
      cacheDir: cache,
      roles: ['clip.tokenizer'],
      offline: true,
    });
    expect(first.files[0]).toMatchObject({
      outcome: 'copied',
      hashAuthority: 'pinned',
      sha256: sha256('tokenizer v1'),
    });
    const second = await pullModels({ catalog: catalog(), cacheDir: cache, roles: ['clip.tokenizer'] });
    expect(second.files[0]).toMatchObject({ outcome: 'present', hashAuthority: 'lock' });
  });

  it('fetches again when the catalog points the same path at another source', async () => {
    await writeFile(join(sources, 'tokenizer.json'), 'old source');
    await writeFile(join(sources, 'tokenizer-v2.json'), 'new source');
    await pullModels({ catalog: catalog(), cacheDir: cache, roles: ['clip.tokenizer'] });
    const moved = catalog(`file://${sources}/tokenizer-v2.json`);
    const report = await pullModels({ catalog: moved, cacheDir: cache, roles: ['clip.tokenizer'] });
    expect(report.files[0]).toMatchObject({
      outcome: 'copied',
      hashAuthority: 'pinned',
      sha256: sha256('new source'),
    });
    expect(await readFile(join(cache, 'tok', 'tokenizer.json'), 'utf8')).toBe('new source');
    expect((await readModelLock(cache)).files['tok/tokenizer.json']?.source).toBe(
      `file://${sources}/tokenizer-v2.json`,
    );
  });

  it('reports a missing file:// source as MODELS_ERR_NOT_FOUND', async () => {
    const error = await failure(
      pullModels({ catalog: catalog(), cacheDir: cache, roles: ['clip.tokenizer'] }),
    );
    expect(error.code).toBe('MODELS_ERR_NOT_FOUND');
    expect(error.message).toContain(`source file ${sources}/tokenizer.json does not exist`);
  });

  it('rejects unknown roles and bad options before touching anything', async () => {
    const unknown = await failure(pullModels({ catalog: catalog(), cacheDir: cache, roles: ['clip.image'] }));
    expect(unknown.code).toBe('MODELS_ERR_ROLE');
    expect(unknown.message).toContain('unknown model role "clip.image"');
    const absent = await failure(pullModels({ catalog: catalog(), cacheDir: cache, roles: ['vlm'] }));
    expect(absent.message).toContain('the catalog has no entry for role "vlm"');
    const options = await failure(pullModels({ catalog: catalog(), cacheDir: cache, concurrency: 0 }));
    expect(options.code).toBe('MODELS_ERR_OPTIONS');
    expect(options.message).toContain('concurrency must be a whole number from 1 to 64, got 0');
  });

  it('reports a malformed lock file as MODELS_ERR_LOCK naming the fix', async () => {
    await mkdir(cache, { recursive: true });
    await writeFile(join(cache, MODEL_LOCK_FILE_NAME), '{"version": 1, "files": {"a": {"sha256": "x"}}}');
    const error = await failure(listModels({ catalog: catalog(), cacheDir: cache }));
    expect(error.code).toBe('MODELS_ERR_LOCK');
    expect(error.message).toContain('delete it and run "synood models verify" to rebuild it');
  });
});
