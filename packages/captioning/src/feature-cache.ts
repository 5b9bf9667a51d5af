/**
 * @file A folder of `.npy` files as the `clip-tags` backend's text-feature cache, so that the vocabulary
 * (tens of thousands of prompts) goes through the text tower once per model and vocabulary, not once per
 * process.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { decodeNpy, encodeNpy, type Matrix, matrixToNpy, npyToMatrix } from '@synood/tensor';

import type { TextFeatureCache } from './backends/clip-tags';
import { requireArg } from './errors';

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT';
}

/**
 * Text features stored as `<dir>/<key>.npy` (float32, one row per prompt). A missing file is a miss; an
 * unreadable or corrupt one is a miss too (the features are recomputed and the file rewritten), so a
 * half-written file from a killed process never blocks a run. Writes go through a temporary file and a
 * rename, so readers never see a partial file.
 */
export function fileFeatureCache(dir: string): TextFeatureCache {
  requireArg(dir.trim() !== '', 'the feature cache folder is empty');
  const fileOf = (key: string): string => {
    requireArg(/^[\w.-]+$/.test(key), `feature cache key ${JSON.stringify(key)} is not a safe file name`);
    return path.join(dir, `${key}.npy`);
  };
  return {
    async get(key: string): Promise<Matrix | undefined> {
      const file = fileOf(key);
      let bytes: Uint8Array;
      try {
        bytes = await readFile(file);
      } catch (err) {
        if (isNotFound(err)) {
          return undefined;
        }
        throw err;
      }
      try {
        return npyToMatrix(decodeNpy(bytes), file);
      } catch {
        return undefined;
      }
    },
    async set(key: string, features: Matrix): Promise<void> {
      const file = fileOf(key);
      await mkdir(dir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, encodeNpy(matrixToNpy(features)));
      await rename(tmp, file);
    },
  };
}
