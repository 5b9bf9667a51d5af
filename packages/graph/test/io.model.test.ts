import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from '@jest/globals';

import { type DType, type TensorData, GraphBuilder, makeTensor, readModel, writeModel } from '../src';
import { runModel } from './helpers';

const dir = mkdtempSync(join(tmpdir(), 'synood-graph-io-model-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** onnxruntime-node's JS tensors cover every dtype but bfloat16. */
const ORT_DTYPES: Record<Exclude<DType, 'bfloat16'>, TensorData> = {
  float32: makeTensor('float32', [2, 2], [0, -1.5, 3.25, -3.4e38]),
  float16: { dtype: 'float16', dims: [3], data: Uint16Array.of(0x3c00, 0xc000, 0x0001) },
  float64: makeTensor('float64', [2], [Math.PI, -1e308]),
  int8: makeTensor('int8', [2], [-128, 127]),
  uint8: makeTensor('uint8', [2], [0, 255]),
  int16: makeTensor('int16', [2], [-32768, 32767]),
  uint16: makeTensor('uint16', [2], [1, 65535]),
  int32: makeTensor('int32', [2], [-(2 ** 31), 2 ** 31 - 1]),
  uint32: makeTensor('uint32', [2], [0, 2 ** 32 - 1]),
  int64: makeTensor('int64', [3], [-(2n ** 63n), 2n ** 53n + 1n, 2n ** 63n - 1n]),
  uint64: makeTensor('uint64', [2], [2n ** 63n, 2n ** 64n - 1n]),
  bool: makeTensor('bool', [3], [1, 0, 1]),
};

describe('models written by encodeModel, read by onnxruntime', () => {
  it('gives back every initializer dtype bit for bit (little-endian raw_data)', async () => {
    const b = new GraphBuilder('dtypes');
    for (const [dtype, t] of Object.entries(ORT_DTYPES)) {
      b.output(
        b.node('Identity', [b.initializer(`w_${dtype}`, t)], {}, { output: `out_${dtype}` }),
        t.dtype,
        t.dims,
      );
    }
    const out = await runModel(b.toModel(), {});
    for (const [dtype, t] of Object.entries(ORT_DTYPES)) {
      const got = out[`out_${dtype}`]!;
      expect([dtype, got.type, got.dims]).toEqual([dtype, dtype, t.dims]);
      expect(Array.from(got.data)).toEqual(Array.from(t.data as ArrayLike<number | bigint>));
    }
  });

  it('runs a model whose weights sit in an external file from disk, and after readModel + writeModel', async () => {
    const b = new GraphBuilder('ext');
    const x = b.input('x', 'float32', ['n', 3]);
    // y = x · w + bias with w = [[1, 0], [0, 2], [1, 1]], bias = [10, 20].
    const w = b.initializer('w', makeTensor('float32', [3, 2], [1, 0, 0, 2, 1, 1]));
    const bias = b.initializer('bias', makeTensor('float32', [2], [10, 20]));
    b.output(b.node('Add', [b.node('MatMul', [x, w]), bias], {}, { output: 'y' }), 'float32', ['n', 2]);
    const path = join(dir, 'ext.onnx');
    await writeModel(path, b.toModel(), { externalizeAbove: 8 });
    const x0 = makeTensor('float32', [1, 3], [1, 2, 3]);
    const expected = [1 + 3 + 10, 4 + 3 + 20];
    expect(Array.from((await runModel(path, { x: x0 })).y!.data)).toEqual(expected);
    const copy = join(dir, 'copy.onnx');
    await writeModel(copy, await readModel(path), { externalizeAbove: 0, externalFile: 'copy.weights' });
    expect(Array.from((await runModel(copy, { x: x0 })).y!.data)).toEqual(expected);
  });
});
