import { describe, expect, it } from '@jest/globals';

import { STAGES } from '@synood/contracts';

import {
  GPU_STAGES,
  QueueErrorCode,
  STAGE_OPTIONS,
  allStageOptions,
  jobOptions,
  stageOptions,
  workerSettings,
} from '../src';

function errorOf(f: () => unknown): { code?: string; message: string } {
  try {
    f();
  } catch (error) {
    return error as { code?: string; message: string };
  }
  return { message: '' };
}

describe('the stage option table', () => {
  it('has a row for every stage', () => {
    expect(Object.keys(STAGE_OPTIONS).sort()).toEqual([...STAGES].sort());
  });

  it('sets removeOnComplete and removeOnFail with an age and a count on every queue', () => {
    for (const stage of STAGES) {
      const o = STAGE_OPTIONS[stage];
      for (const keep of [o.removeOnComplete, o.removeOnFail]) {
        expect(keep.age).toBeGreaterThan(0);
        expect(keep.count).toBeGreaterThan(0);
      }
      // Failed jobs are what people debug: kept at least as long as completed ones.
      expect(o.removeOnFail.age).toBeGreaterThanOrEqual(o.removeOnComplete.age);
    }
  });

  it('runs GPU stages one job at a time', () => {
    expect(GPU_STAGES).toEqual(expect.arrayContaining(['caption', 'synthesize', 'encode']));
    for (const stage of GPU_STAGES) {
      expect(STAGE_OPTIONS[stage].concurrency).toBe(1);
    }
  });

  it('gives the long GPU stages locks of at least 10 minutes, longer than BullMQ 30 s default everywhere', () => {
    expect(STAGE_OPTIONS.synthesize.lockDuration).toBeGreaterThanOrEqual(10 * 60_000);
    expect(STAGE_OPTIONS.caption.lockDuration).toBeGreaterThanOrEqual(10 * 60_000);
    expect(STAGE_OPTIONS.synthesize.lockDuration).toBeGreaterThan(STAGE_OPTIONS.encode.lockDuration);
    for (const stage of STAGES) {
      expect(STAGE_OPTIONS[stage].lockDuration).toBeGreaterThan(30_000);
    }
  });

  it('retries with exponential backoff everywhere', () => {
    for (const stage of STAGES) {
      expect(STAGE_OPTIONS[stage].attempts).toBeGreaterThan(1);
      expect(STAGE_OPTIONS[stage].backoff.type).toBe('exponential');
    }
  });

  it('is frozen', () => {
    expect(Object.isFrozen(STAGE_OPTIONS)).toBe(true);
    expect(Object.isFrozen(STAGE_OPTIONS.caption)).toBe(true);
    expect(Object.isFrozen(STAGE_OPTIONS.caption.backoff)).toBe(true);
  });
});

describe('stageOptions overrides', () => {
  it('returns the table row without overrides', () => {
    expect(stageOptions('encode')).toEqual(STAGE_OPTIONS.encode);
  });

  it('applies `all`, then the stage entry, merging nested settings field by field', () => {
    const o = stageOptions('caption', {
      all: { attempts: 2, backoff: { delay: 50 }, concurrency: 4 },
      stages: { caption: { backoff: { type: 'fixed' }, removeOnFail: { count: 7 }, concurrency: 3 } },
    });
    expect(o).toEqual({
      ...STAGE_OPTIONS.caption,
      attempts: 2,
      concurrency: 3,
      backoff: { type: 'fixed', delay: 50, jitter: STAGE_OPTIONS.caption.backoff.jitter },
      removeOnFail: { age: STAGE_OPTIONS.caption.removeOnFail.age, count: 7 },
    });
    // Another stage sees `all` only.
    expect(
      stageOptions('encode', { all: { attempts: 2 }, stages: { caption: { attempts: 9 } } }).attempts,
    ).toBe(2);
  });

  it('lists every bad value in one QUEUE_ERR_OPTIONS error', () => {
    const error = errorOf(() =>
      stageOptions('synthesize', {
        stages: { synthesize: { attempts: 0, backoff: { jitter: 2 }, concurrency: 1.5, lockDuration: 10 } },
      }),
    );
    expect(error.code).toBe(QueueErrorCode.Options);
    expect(error.message).toContain('synthesize.attempts = 0 (expected an integer in 1..100)');
    expect(error.message).toContain('synthesize.backoff.jitter = 2 (expected a number in 0..1)');
    expect(error.message).toContain('synthesize.concurrency = 1.5');
    expect(error.message).toContain('synthesize.lockDuration = 10');
  });

  it('rejects an unknown backoff type and an unknown stage', () => {
    expect(
      errorOf(() => stageOptions('encode', { all: { backoff: { type: 'linear' as 'fixed' } } })).message,
    ).toContain('encode.backoff.type = "linear"');
    const unknown = errorOf(() => allStageOptions({ stages: { ecnode: { attempts: 1 } } as never }));
    expect(unknown.code).toBe(QueueErrorCode.Options);
    expect(unknown.message).toContain('unknown stage "ecnode"');
  });
});

describe('jobOptions and workerSettings', () => {
  it('maps a row to BullMQ job options', () => {
    const row = STAGE_OPTIONS.encode;
    expect(jobOptions('encode')).toEqual({
      attempts: row.attempts,
      backoff: { type: 'exponential', delay: row.backoff.delay, jitter: row.backoff.jitter },
      removeOnComplete: { age: row.removeOnComplete.age, count: row.removeOnComplete.count },
      removeOnFail: { age: row.removeOnFail.age, count: row.removeOnFail.count },
      keepLogs: row.keepLogs,
    });
  });

  it('maps a row to BullMQ worker options, with overrides', () => {
    expect(workerSettings('synthesize', { stages: { synthesize: { lockDuration: 60_000 } } })).toEqual({
      concurrency: 1,
      lockDuration: 60_000,
      stalledInterval: STAGE_OPTIONS.synthesize.stalledInterval,
      maxStalledCount: STAGE_OPTIONS.synthesize.maxStalledCount,
      removeOnComplete: { ...STAGE_OPTIONS.synthesize.removeOnComplete },
      removeOnFail: { ...STAGE_OPTIONS.synthesize.removeOnFail },
    });
  });
});
