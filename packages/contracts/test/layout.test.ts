import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { ARTIFACTS, detectorPrefix, itemIdOf, runRecordKey, shardItemsSchema, shardName } from '../src';

describe('run layout', () => {
  it('names shards, records and detectors deterministically', () => {
    expect(shardName(7)).toBe('00007');
    expect(ARTIFACTS.plan.shard(12)).toBe('shards/00012.json');
    expect(ARTIFACTS.synthesize.image('c00001-0123456789abcdef')).toBe('images/c00001-0123456789abcdef.jpg');
    expect(runRecordKey('run-1')).toBe('runs/run-1/run.json');
    expect(detectorPrefix('run-1')).toBe('detectors/run-1');
    expect(() => runRecordKey('../etc')).toThrow();
  });

  it('derives item ids from the class index and a hash of the dataset key', () => {
    const key = 'train/n01440764/img_1.JPEG';
    const digest = createHash('sha256').update(key).digest('hex');
    expect(itemIdOf(3, key)).toBe(`c00003-${digest.slice(0, 16)}`);
    expect(itemIdOf(3, key)).toBe(itemIdOf(3, key));
    expect(itemIdOf(3, key)).not.toBe(itemIdOf(3, `${key}x`));
    expect(
      shardItemsSchema.safeParse({
        shard: 0,
        items: [{ id: itemIdOf(0, 'a.jpg'), key: 'a.jpg', classIndex: 0 }],
      }).success,
    ).toBe(true);
    expect(
      shardItemsSchema.safeParse({ shard: 0, items: [{ id: 'x', key: 'a.jpg', classIndex: 0 }] }).success,
    ).toBe(false);
  });
});
