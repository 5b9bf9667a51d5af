import { describe, expect, it } from '@jest/globals';

import { QueueErrorCode, openQueues, startStageWorker } from '../src';
import { resultOf } from './helpers';

const handler = async () => Promise.resolve(resultOf(1));

describe('option checks before connecting', () => {
  it('rejects an unknown stage, a bad concurrency and a bad poll interval', async () => {
    await expect(
      startStageWorker({ stage: 'encoder' as 'encode', connection: 'redis://127.0.0.1:1', handler }),
    ).rejects.toMatchObject({
      code: QueueErrorCode.Options,
      message: expect.stringContaining('unknown stage "encoder"'),
    });
    await expect(
      startStageWorker({ stage: 'encode', connection: 'redis://127.0.0.1:1', handler, concurrency: 0 }),
    ).rejects.toMatchObject({
      code: QueueErrorCode.Options,
      message: expect.stringContaining('encode.concurrency = 0'),
    });
    await expect(
      startStageWorker({
        stage: 'encode',
        connection: 'redis://127.0.0.1:1',
        handler,
        dependencyIntervalMs: 5,
      }),
    ).rejects.toMatchObject({
      code: QueueErrorCode.Options,
      message: expect.stringContaining('dependencyIntervalMs'),
    });
    await expect(startStageWorker({ stage: 'encode', connection: 'ftp://h', handler })).rejects.toMatchObject(
      { code: QueueErrorCode.Url },
    );
  });

  it('rejects a bad prefix, stage override or events cap in openQueues', async () => {
    await expect(openQueues({ redis: 'redis://127.0.0.1:1', prefix: 'a b' })).rejects.toMatchObject({
      code: QueueErrorCode.Options,
    });
    await expect(
      openQueues({ redis: 'redis://127.0.0.1:1', options: { stages: { encode: { attempts: 0 } } } }),
    ).rejects.toMatchObject({ code: QueueErrorCode.Options });
    await expect(openQueues({ redis: 'redis://127.0.0.1:1', eventsMaxLen: 0 })).rejects.toMatchObject({
      code: QueueErrorCode.Options,
    });
  });
});
