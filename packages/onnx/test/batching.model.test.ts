import { describe, expect, it } from '@jest/globals';
import {
  Tensor,
  adaptFloatFeeds,
  asFloat32,
  buildModel,
  createSession,
  fromFloat16Bits,
  intAttr,
  releaseSession,
  runBatched,
  runSession,
  toFloat16Bits,
} from '../src';

/** y = x · 2 + bias (bias fed whole, [1, 2]); s = row sums of x. */
const MODEL = buildModel({
  nodes: [
    { opType: 'Mul', inputs: ['x', 'two'], outputs: ['x2'] },
    { opType: 'Add', inputs: ['x2', 'bias'], outputs: ['y'] },
    { opType: 'ReduceSum', inputs: ['x', 'axis1'], outputs: ['s'], attributes: { keepdims: intAttr(0) } },
  ],
  inputs: [
    { name: 'x', dims: ['batch', 2] },
    { name: 'bias', dims: [1, 2] },
  ],
  outputs: [
    { name: 'y', dims: ['batch', 2] },
    { name: 's', dims: ['batch'] },
  ],
  initializers: [
    { name: 'two', type: 'float32', dims: [], values: [2] },
    { name: 'axis1', type: 'int64', dims: [1], values: [1] },
  ],
});

describe('runBatched', () => {
  it('splits along axis 0, passes unsplit feeds whole and concatenates every output', async () => {
    const session = await createSession(MODEL, { intraOpThreads: 1 });
    try {
      const x = Float32Array.from({ length: 14 }, (_, i) => i);
      const progress: [number, number][] = [];
      const out = await runBatched(
        session,
        {
          x: new Tensor('float32', x, [7, 2]),
          bias: new Tensor('float32', Float32Array.from([10, 20]), [1, 2]),
        },
        { batchSize: 3, split: ['x'], onProgress: (d, t) => progress.push([d, t]) },
      );
      expect(progress).toEqual([
        [3, 7],
        [6, 7],
        [7, 7],
      ]);
      expect(out.y!.dims).toEqual([7, 2]);
      expect(Array.from(out.y!.data as Float32Array)).toEqual(
        Array.from(x, (v, i) => 2 * v + (i % 2 === 0 ? 10 : 20)),
      );
      expect(Array.from(out.s!.data as Float32Array)).toEqual([1, 5, 9, 13, 17, 21, 25]);
    } finally {
      await releaseSession(session);
    }
  });

  it('rejects bad sizes, mismatched rows and stops when aborted', async () => {
    const session = await createSession(MODEL, { intraOpThreads: 1 });
    try {
      const feeds = {
        x: new Tensor('float32', new Float32Array(8), [4, 2]),
        bias: new Tensor('float32', new Float32Array(2), [1, 2]),
      };
      await expect(runBatched(session, feeds, { batchSize: 0 })).rejects.toMatchObject({
        code: 'ONNX_ERR_CONFIG',
      });
      await expect(runBatched(session, feeds, { batchSize: 2 })).rejects.toThrow(
        /split feeds disagree on their rows: bias has 1, others 4/,
      );
      await expect(runBatched(session, feeds, { batchSize: 2, split: ['nope'] })).rejects.toThrow(
        /split names nope/,
      );
      const controller = new AbortController();
      controller.abort(new Error('cancelled by test'));
      await expect(
        runBatched(session, feeds, { batchSize: 2, split: ['x'], signal: controller.signal }),
      ).rejects.toThrow('cancelled by test');
    } finally {
      await releaseSession(session);
    }
  });
});

describe('float16 conversion', () => {
  it('rounds to nearest even with the IEEE binary16 bit patterns', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65520, 0x7c00], // halfway to the next binade rounds up to infinity
      [1 / 3, 0x3555],
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // exactly half of it: ties to even (0)
      [3 * 2 ** -25, 0x0002], // 1.5 subnormal steps: ties to even (2)
      [1 + 2 ** -11, 0x3c00], // halfway between 1 and the next half: ties to even
      [1 + 3 * 2 ** -11, 0x3c02],
      [Infinity, 0x7c00],
    ];
    expect(Array.from(toFloat16Bits(cases.map((c) => c[0])))).toEqual(cases.map((c) => c[1]));
    expect(toFloat16Bits([NaN])[0]! & 0x7c00).toBe(0x7c00);
    expect(Array.from(fromFloat16Bits([0x3c00, 0xc000, 0x7bff, 0x0001, 0x3555, 0xfc00]))).toEqual([
      1,
      -2,
      65504,
      2 ** -24,
      Math.fround(0.333251953125),
      -Infinity,
    ]);
  });

  it('feeds float32 data to a float16 model input and reads its output back as float32', async () => {
    const model = buildModel({
      nodes: [{ opType: 'Add', inputs: ['h', 'h'], outputs: ['twice'] }],
      inputs: [{ name: 'h', type: 'float16', dims: ['n'] }],
      outputs: [{ name: 'twice', type: 'float16', dims: ['n'] }],
    });
    const session = await createSession(model, { intraOpThreads: 1 });
    try {
      const feeds = adaptFloatFeeds(session, {
        h: new Tensor('float32', Float32Array.from([0.5, -3, 1000]), [3]),
      });
      expect(feeds.h!.type).toBe('float16');
      const out = await runSession(session, feeds);
      const y = asFloat32(out.twice!);
      expect(y.type).toBe('float32');
      expect(Array.from(y.data as Float32Array)).toEqual([1, -6, 2000]);
    } finally {
      await releaseSession(session);
    }
  });
});
