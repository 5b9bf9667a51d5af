import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ARTIFACTS, itemIdOf, runRecordKey, shardItemsSchema } from '@synood/contracts';
import { ClipTokenizer } from '@synood/models';
import { artifactKey } from '@synood/storage';

import { makeTinyRun, tinyClipTokenizerJson } from '../src';

describe('shared service test fixtures', () => {
  it('tokenizes letters with CLIP start/end ids: "ab c" → a, b</w>, c</w>', () => {
    const tok = ClipTokenizer.fromJson(tinyClipTokenizerJson(), {});
    const { ids } = tok.encode(['ab c'], { padTo: 'longest' });
    // a = 0, b</w> = 26 + 1, c</w> = 26 + 2, between the start (49406) and end (49407) tokens.
    expect(Array.from(ids, Number)).toEqual([49406, 0, 27, 28, 49407]);
  });

  it('lays out a run as the plan stage leaves it, with the corrupt image listed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'synood-test-fixtures-'));
    try {
      const run = await makeTinyRun({ root: dir, perClass: 2, corrupt: true });
      expect(run.classes).toEqual(['cat', 'dog']);
      expect(await run.store.get(runRecordKey(run.runId))).toBeDefined();
      const shards = run.shards.flat();
      expect(shards.map((i) => i.key).sort()).toEqual(
        ['cat/0.png', 'cat/1.jpg', 'dog/0.png', 'dog/1.jpg'].sort(),
      );
      expect(shards.filter((i) => i.corrupt).map((i) => i.key)).toEqual(['cat/1.jpg']);
      for (const item of shards) {
        expect(item.id).toBe(itemIdOf(item.classIndex, item.key));
      }
      const first = await run.store.get(
        artifactKey({ runId: run.runId, stage: 'plan', name: ARTIFACTS.plan.shard(0) }),
      );
      expect(shardItemsSchema.parse(JSON.parse(Buffer.from(first).toString('utf8'))).shard).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
