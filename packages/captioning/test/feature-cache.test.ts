import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import { fileFeatureCache } from '../src';

let dir = '';

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'synood-caption-cache-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('fileFeatureCache', () => {
  it('stores a matrix as <key>.npy and reads it back', async () => {
    const cache = fileFeatureCache(path.join(dir, 'nested'));
    const m = { rows: 2, cols: 3, data: Float32Array.from([1, 2, 3, 4.5, -5, 6]) };
    expect(await cache.get('clip-tags-abc')).toBeUndefined();
    await cache.set('clip-tags-abc', m);
    expect(readdirSync(path.join(dir, 'nested'))).toEqual(['clip-tags-abc.npy']);
    const back = await cache.get('clip-tags-abc');
    expect(back?.rows).toBe(2);
    expect(back?.cols).toBe(3);
    expect(Array.from(back!.data)).toEqual([1, 2, 3, 4.5, -5, 6]);
  });

  it('treats a corrupt file as a miss', async () => {
    writeFileSync(path.join(dir, 'broken.npy'), 'half a file');
    expect(await fileFeatureCache(dir).get('broken')).toBeUndefined();
  });

  it('refuses keys that are not plain file names', async () => {
    await expect(fileFeatureCache(dir).get('../escape')).rejects.toThrow(/not a safe file name/);
    expect(() => fileFeatureCache(' ')).toThrow(/folder is empty/);
  });
});
