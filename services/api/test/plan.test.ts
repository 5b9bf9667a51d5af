import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import { itemIdOf } from '@synood/contracts';
import { FileStore } from '@synood/storage';

import { computePlan } from '../src';
import { jpeg, parseSpec } from './helpers';

let dir: string;
let store: FileStore;

/** Images with their dimensions; the labels are WordNet ids. */
const IMAGES = [
  { key: 'img/1.jpg', label: 'n02084071', width: 30, height: 20, noise: 0.9 },
  { key: 'img/2.jpg', label: 'n02084071', width: 30, height: 20, noise: 0.1 },
  { key: 'img/3.jpg', label: 'n02121808', width: 20, height: 20, noise: 0.5 },
  { key: 'img/4.jpg', label: 'n02121808', width: 25, height: 25, noise: 1 },
  { key: 'img/5.jpg', label: 'n02121808', width: 10, height: 40, noise: 0.7 },
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'synood-api-plan-'));
  store = new FileStore(dir);
  for (const [i, image] of IMAGES.entries()) {
    await store.put(image.key, await jpeg(image.width, image.height, 100 + i, image.noise));
  }
  // Manifest paths are relative to the manifest's folder.
  await store.put(
    'data/train.jsonl',
    Buffer.from(IMAGES.map((i) => JSON.stringify({ image: `/${i.key}`, label: i.label })).join('\n')),
  );
  // ImageNet's synset form: cats first, so the class order is the file's, not the labels'.
  await store.put(
    'data/classes.txt',
    Buffer.from('n02121808 domestic cat, house cat\nn02084071 dog, domestic dog\n'),
  );
});

afterAll(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('computePlan', () => {
  it('plans a JSONL dataset with a synset class file: class order from the file, top k by bytes per pixel', async () => {
    const spec = parseSpec({
      dataset: {
        location: dir,
        layout: 'jsonl',
        manifest: 'data/train.jsonl',
        classNames: 'data/classes.txt',
      },
      stages: { selection: { perClass: 2 }, sharding: { imagesPerShard: 2 } },
    });
    const progress: [number, number][] = [];
    const { plan, shards, failures } = await computePlan(store, spec, {
      concurrency: 2,
      progress: (done, total) => {
        progress.push([done, total]);
        return Promise.resolve();
      },
    });
    expect(plan.classes).toEqual(['domestic cat', 'dog']);
    expect(plan).toMatchObject({ listed: 5, selected: 4, shards: 2, shardSize: 2, skipped: [] });
    expect(failures).toEqual([]);
    expect(progress[progress.length - 1]).toEqual([5, 5]);

    const perPixel = async (i: (typeof IMAGES)[number]): Promise<number> =>
      (await stat(join(dir, i.key))).size / (i.width * i.height);
    const ranked = async (label: string): Promise<string[]> => {
      const scored = await Promise.all(
        IMAGES.filter((i) => i.label === label).map(async (i) => [i.key, await perPixel(i)] as const),
      );
      return scored
        .sort((a, b) => b[1] - a[1])
        .slice(0, 2)
        .map(([k]) => k);
    };
    const cats = await ranked('n02121808');
    const dogs = await ranked('n02084071');
    expect(shards).toEqual([
      { shard: 0, items: cats.map((key) => ({ id: itemIdOf(0, key), key, classIndex: 0 })) },
      { shard: 1, items: dogs.map((key) => ({ id: itemIdOf(1, key), key, classIndex: 1 })) },
    ]);
  });

  it('uses the sorted folder names as classes without a class file, and plans the same in any read order', async () => {
    const spec = parseSpec({ dataset: { location: dir }, stages: { selection: { perClass: 1 } } });
    const serial = await computePlan(store, spec, { concurrency: 1 });
    const parallel = await computePlan(store, spec, { concurrency: 5 });
    // Folders are `data` (no images) and `img`: one class.
    expect(serial.plan.classes).toEqual(['img']);
    expect(serial.plan.selected).toBe(1);
    expect(parallel).toEqual(serial);
  });
});
