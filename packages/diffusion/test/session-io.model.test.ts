import { describe, expect, it } from '@jest/globals';
import { GraphBuilder, modelToBytes } from '@synood/graph';
import { createSession, releaseSession, runSession } from '@synood/onnx';

import { inputsOf, outputsOf } from '../src';
import { floatTensor, readFloat } from '../src/session-io';

describe('float16 models', () => {
  it('feeds float32 data as half and reads half outputs back as float32', async () => {
    const b = new GraphBuilder('half_double');
    const x = b.input('x', 'float16', [3]);
    b.node('Add', [x, x], {}, { output: 'y' });
    b.output('y', 'float16', [3]);
    const session = await createSession(modelToBytes(b.toModel(17)), { intraOpThreads: 1 });
    try {
      expect(inputsOf(session)).toEqual([{ name: 'x', type: 'float16', shape: [3] }]);
      expect(outputsOf(session)[0]!.type).toBe('float16');
      // 1/3 in half precision is 0x3555 = 0.333251953125; doubled exactly: 0.66650390625.
      const feed = floatTensor(inputsOf(session)[0]!, new Float32Array([1 / 3, -2.5, 1000]), [3]);
      expect(feed.type).toBe('float16');
      const y = readFloat(await runSession(session, { x: feed }), 'y', 'test', [3]);
      expect(Array.from(y)).toEqual([0.66650390625, -5, 2000]);
      await expect(async () =>
        readFloat(await runSession(session, { x: feed }), 'y', 'test', [4]),
      ).rejects.toMatchObject({
        code: 'DIFFUSION_ERR_OUTPUT',
      });
    } finally {
      await releaseSession(session);
    }
  });
});
