import { expect } from '@jest/globals';
import { type SessionConfig, createSession, releaseSession, runSession, Tensor } from '@synood/onnx';

import {
  type DType,
  type Model,
  type TensorData,
  GraphError,
  allocData,
  encodeModel,
  makeTensor,
  sizeOf,
} from '../src';

/**
 * A small seeded generator (mulberry32) for test data, independent of anything under test. Returns floats
 * in [0, 1).
 */
export function testRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A tensor of uniform values in [-1, 1) (floats), small integers (ints) or random booleans. */
export function randomTensor(dtype: DType, dims: number[], rand: () => number): TensorData {
  const n = sizeOf(dims);
  const values = Array.from({ length: n }, () =>
    dtype === 'bool'
      ? rand() < 0.5
        ? 1
        : 0
      : dtype.startsWith('float')
        ? 2 * rand() - 1
        : Math.floor(rand() * 7) - 3,
  );
  return makeTensor(dtype, dims, values);
}

/** The ORT tensor of a TensorData (bfloat16 is not representable in onnxruntime-node). */
export function toOrt(t: TensorData): Tensor {
  return new Tensor(t.dtype === 'bfloat16' ? 'float16' : t.dtype, t.data, t.dims);
}

/** An ORT result as a plain dtype/dims/data record. */
export interface RunOutput {
  type: string;
  dims: number[];
  data: ArrayLike<number | bigint>;
}

/**
 * Runs a model (bytes, path or IR) once in onnxruntime on the CPU with one thread and returns every
 * output. `config` adds session settings (e.g. `graphOptimizationLevel: 'disabled'` for bit-exact checks:
 * onnxruntime's fusions, such as MatMul + scale into FusedMatMul, depend on which inputs are constant).
 */
export async function runModel(
  model: Model | Uint8Array | string,
  feeds: Record<string, TensorData>,
  config: SessionConfig = {},
): Promise<Record<string, RunOutput>> {
  const bytes = typeof model === 'string' || model instanceof Uint8Array ? model : encodeModel(model).model;
  const session = await createSession(bytes, { intraOpThreads: 1, ...config });
  try {
    const ortFeeds: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) {
      ortFeeds[k] = toOrt(v);
    }
    const out = await runSession(session, ortFeeds);
    const result: Record<string, RunOutput> = {};
    for (const [k, t] of Object.entries(out)) {
      result[k] = { type: t.type, dims: [...t.dims], data: t.data as ArrayLike<number | bigint> };
    }
    return result;
  } finally {
    await releaseSession(session);
  }
}

/** A zero tensor. */
export function zeros(dtype: DType, dims: number[]): TensorData {
  return { dtype, dims, data: allocData(dtype, sizeOf(dims)) } as TensorData;
}

/** Index of the first element where two arrays differ (NaN equal to NaN), or −1 when they are identical. */
export function firstDifference(a: ArrayLike<number | bigint>, b: ArrayLike<number | bigint>): number {
  if (a.length !== b.length) {
    return Math.min(a.length, b.length);
  }
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i]) && a[i] !== b[i]) {
      return i;
    }
  }
  return -1;
}

/** The GraphError `fn` throws; fails the test when it throws nothing or something else. */
function caught(fn: () => unknown): GraphError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GraphError) {
      return err;
    }
    throw err;
  }
  throw new Error('expected a GraphError, nothing was thrown');
}

/** Asserts that `fn` throws a GraphError with `code` and, when given, a message containing/matching `message`. */
export function expectGraphError(fn: () => unknown, code: string, message?: string | RegExp): void {
  const err = caught(fn);
  expect(err.code).toBe(code);
  if (message !== undefined) {
    expect(err.message).toMatch(message);
  }
}

/** {@link expectGraphError} for a promise. */
export async function expectGraphRejection(
  promise: Promise<unknown>,
  code: string,
  message?: string | RegExp,
): Promise<void> {
  const err = await promise.then(
    () => new Error('expected a GraphError, the promise resolved'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GraphError);
  expect((err as GraphError).code).toBe(code);
  if (message !== undefined) {
    expect((err as GraphError).message).toMatch(message);
  }
}
