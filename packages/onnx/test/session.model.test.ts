import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { InferenceSession } from 'onnxruntime-node';

import {
  buildModel,
  createSession,
  CUDA_INSTALL_COMMAND,
  floatAttr,
  intAttr,
  intsAttr,
  OnnxError,
  OnnxInputError,
  OrtLinalgBackend,
  releaseSession,
  runSession,
  sessionOptions,
  Tensor,
  validateInputs,
} from '../src';

/** Three inputs of different types and shape knowledge: y = x·w + bias (w and bias are initializers). */
const MODEL = buildModel({
  nodes: [
    { opType: 'Gemm', inputs: ['x', 'w', 'bias'], outputs: ['y'], attributes: { alpha: floatAttr(2) } },
    { opType: 'Cast', inputs: ['ids'], outputs: ['ids_f'], attributes: { to: intAttr(1) } },
    { opType: 'ReduceSum', inputs: ['mask'], outputs: ['mask_sum'], attributes: { keepdims: intAttr(0) } },
    { opType: 'Softmax', inputs: ['y'], outputs: ['p'], attributes: { axis: intAttr(-1) } },
  ],
  inputs: [
    { name: 'x', dims: ['batch', 3] },
    { name: 'ids', type: 'int64', dims: ['batch'] },
    { name: 'mask', dims: [2, 'width'] },
  ],
  outputs: [
    { name: 'p', dims: ['batch', 2] },
    { name: 'ids_f', dims: ['batch'] },
    { name: 'mask_sum', dims: [] },
  ],
  initializers: [
    { name: 'w', type: 'float32', dims: [3, 2], values: [1, 0, 0, 1, 1, 1] },
    { name: 'bias', type: 'float32', dims: [2], values: [0.5, -0.5] },
  ],
});

const f32 = (dims: number[]): Tensor =>
  new Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
const i64 = (dims: number[]): Tensor =>
  new Tensor('int64', new BigInt64Array(dims.reduce((a, b) => a * b, 1)), dims);

let session: InferenceSession;

beforeAll(async () => {
  session = await createSession(MODEL, { intraOpThreads: 1 });
});

afterAll(async () => {
  await releaseSession(session);
});

describe('buildModel + createSession', () => {
  it('builds a model whose declared inputs, initializers and attributes onnxruntime honours', async () => {
    expect(session.inputMetadata).toEqual([
      { name: 'x', isTensor: true, type: 'float32', shape: ['batch', 3] },
      { name: 'ids', isTensor: true, type: 'int64', shape: ['batch'] },
      { name: 'mask', isTensor: true, type: 'float32', shape: [2, 'width'] },
    ]);
    const x = new Tensor('float32', Float32Array.from([1, 2, 3, 0, 0, 0]), [2, 3]);
    const out = await runSession(session, { x, ids: i64([2]), mask: f32([2, 5]) });
    // Row 0: 2·[1+3, 2+3] + [0.5, −0.5] = [8.5, 9.5]; row 1: the bias alone.
    const p = out.p!.data as Float32Array;
    expect(out.p!.dims).toEqual([2, 2]);
    expect(p[1]! / p[0]!).toBeCloseTo(Math.exp(1), 5);
    expect(p[3]! / p[2]!).toBeCloseTo(Math.exp(-1), 5);
  });

  it("records that onnxruntime's ReduceLogSumExp is stable at ±300 (the backend's fallback if we ever use it)", async () => {
    const lse = await createSession(
      buildModel({
        nodes: [
          {
            opType: 'ReduceLogSumExp',
            inputs: ['x'],
            outputs: ['y'],
            attributes: { axes: intsAttr([1]), keepdims: intAttr(0) },
          },
        ],
        inputs: [{ name: 'x', dims: ['n', 'm'] }],
        outputs: [{ name: 'y', dims: ['n'] }],
      }),
      { intraOpThreads: 1 },
    );
    try {
      const x = Float32Array.from([300, 299, -300, -300, -301, -302]);
      const y = (await runSession(lse, { x: new Tensor('float32', x, [2, 3]) })).y!.data as Float32Array;
      expect(y[0]).toBeCloseTo(300 + Math.log(1 + Math.exp(-1)), 4);
      expect(y[1]).toBeCloseTo(-300 + Math.log(1 + Math.exp(-1) + Math.exp(-2)), 4);
    } finally {
      await releaseSession(lse);
    }
  });

  it('maps an unloadable model to ONNX_ERR_SESSION', async () => {
    await expect(createSession(Uint8Array.from([1, 2, 3, 4]))).rejects.toMatchObject({
      code: 'ONNX_ERR_SESSION',
    });
  });

  it('turns defaults and threads into session options, and rejects bad values with ONNX_ERR_CONFIG', () => {
    const noSpin = { session: { intra_op: { allow_spinning: '0' } } };
    expect(sessionOptions()).toEqual({
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      extra: noSpin,
    });
    expect(sessionOptions({ allowSpinning: true }).extra).toEqual({
      session: { intra_op: { allow_spinning: '1' } },
    });
    expect(
      sessionOptions({
        executionProvider: 'cuda',
        deviceId: 1,
        intraOpThreads: 2,
        interOpThreads: 1,
        graphOptimizationLevel: 'basic',
      }),
    ).toEqual({
      executionProviders: [{ name: 'cuda', deviceId: 1 }],
      graphOptimizationLevel: 'basic',
      intraOpNumThreads: 2,
      interOpNumThreads: 1,
      extra: noSpin,
    });
    for (const bad of [{ intraOpThreads: 0 }, { interOpThreads: 1.5 }, { deviceId: -1 }]) {
      expect(() => sessionOptions(bad)).toThrow(expect.objectContaining({ code: 'ONNX_ERR_CONFIG' }));
    }
    expect(() => sessionOptions({ executionProvider: 'tpu' as 'cpu' })).toThrow(
      /Should be one of: cpu, cuda/,
    );
  });
});

describe('validateInputs', () => {
  it('accepts matching feeds and returns the names onnxruntime would ignore', () => {
    const extras = validateInputs(session, {
      x: f32([4, 3]),
      ids: i64([4]),
      mask: f32([2, 7]),
      attention: f32([1]),
    });
    expect(extras).toEqual(['attention']);
  });

  it('reports every missing or mistyped input in one ONNX_ERR_INPUT', () => {
    let error: unknown;
    try {
      validateInputs(session, { ids: f32([4]), mask: f32([3, 7]) });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(OnnxInputError);
    expect(error).toBeInstanceOf(OnnxError);
    const e = error as OnnxInputError;
    expect(e.code).toBe('ONNX_ERR_INPUT');
    expect(e.problems).toEqual([
      { name: 'x', kind: 'missing', expected: { type: 'float32', dims: ['batch', 3] } },
      {
        name: 'ids',
        kind: 'dtype',
        expected: { type: 'int64', dims: ['batch'] },
        got: { type: 'float32', dims: [4] },
      },
      {
        name: 'mask',
        kind: 'dim',
        expected: { type: 'float32', dims: [2, 'width'] },
        got: { type: 'float32', dims: [3, 7] },
      },
    ]);
    expect(e.message).toContain('3 model input(s) do not match');
    expect(e.message).toContain('x (missing): expected float32[batch, 3], got nothing');
    expect(e.message).toContain('ids (dtype): expected int64[batch], got float32[4]');
    expect(e.message).toContain('mask (dim): expected float32[2, width], got float32[3, 7]');
  });

  it('reports a rank mismatch with both shapes', () => {
    expect(() => validateInputs(session, { x: f32([3]), ids: i64([3]), mask: f32([2, 1]) })).toThrow(
      'x (rank): expected float32[batch, 3], got float32[3]',
    );
  });

  it('wraps an onnxruntime run failure in ONNX_ERR_RUN naming each feed', async () => {
    await expect(
      runSession(session, { x: f32([2, 3]), ids: f32([2]), mask: f32([2, 1]) }),
    ).rejects.toMatchObject({
      code: 'ONNX_ERR_RUN',
      message: expect.stringContaining('ids: float32[2]'),
    });
  });
});

const cudaProviderInstalled = existsSync(
  join(
    dirname(require.resolve('onnxruntime-node/package.json')),
    'bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so',
  ),
);
const onCpuOnlyInstall = cudaProviderInstalled ? it.skip : it;

describe('CUDA on the CPU-only onnxruntime-node package', () => {
  onCpuOnlyInstall(
    'onnxruntime itself refuses the cuda provider rather than falling back to CPU',
    async () => {
      // What we translate: the native binding cannot load the provider library and rejects the session.
      await expect(
        InferenceSession.create(MODEL, { executionProviders: [{ name: 'cuda', deviceId: 0 }, 'cpu'] }),
      ).rejects.toThrow(/Cuda: Failed to load shared library/);
    },
  );

  onCpuOnlyInstall('createSession gives ONNX_ERR_CUDA_UNAVAILABLE with the install command', async () => {
    const failure = createSession(MODEL, { executionProvider: 'cuda' });
    await expect(failure).rejects.toMatchObject({ code: 'ONNX_ERR_CUDA_UNAVAILABLE' });
    await expect(failure).rejects.toThrow(CUDA_INSTALL_COMMAND);
    expect(CUDA_INSTALL_COMMAND).toBe(
      'ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js',
    );
  });

  onCpuOnlyInstall('OrtLinalgBackend.create fails fast with the same error', async () => {
    await expect(OrtLinalgBackend.create({ executionProvider: 'cuda' })).rejects.toMatchObject({
      code: 'ONNX_ERR_CUDA_UNAVAILABLE',
      message: expect.stringContaining(CUDA_INSTALL_COMMAND),
    });
  });
});
