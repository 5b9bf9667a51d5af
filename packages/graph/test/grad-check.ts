/**
 * Gradient checking shared by the autodiff model tests: a loss model around a body under test, and the
 * check of the emitted gradient (run through onnxruntime) against central finite differences of the loss.
 */
import { expect } from '@jest/globals';
import { createSession, releaseSession, runSession, Tensor } from '@synood/onnx';

import {
  type DType,
  type Model,
  GraphBuilder,
  buildGradientGraph,
  encodeModel,
  inferShapes,
  makeTensor,
  sizeOf,
} from '../src';
import { randomTensor, testRandom } from './helpers';

/** The part of a loss model under test: input `x` in, the value fed to the loss out. */
export type Body = (b: GraphBuilder, x: string, rand: () => number) => string;

/** A loss model and what its input looks like. */
export interface LossModel {
  model: Model;
  dtype: 'float32' | 'float64';
  dims: number[];
}

export const f64 = 'float64';
export const f32 = 'float32';

/**
 * A model with input `x` and output `loss` = Σ body(x) ⊙ R for a fixed random R, so that every element of
 * the body's output weighs differently in the loss (a plain sum would hide transposed or permuted
 * gradients). `batch` names a symbolic first dim; `opset` is the model's default-domain opset.
 */
export function lossModel(
  dtype: 'float32' | 'float64',
  dims: number[],
  body: Body,
  seed = 1,
  batch?: string,
  opset = 17,
): LossModel {
  const rand = testRandom(seed);
  const b = new GraphBuilder('under_test', { opset });
  const x = b.input('x', dtype, batch === undefined ? dims : [batch, ...dims.slice(1)]);
  const y = body(b, x, rand);
  const yInfo = inferShapes(b.graph, { x: dims }, { opset }).get(y)!;
  const r = b.initializer('weights', randomTensor(yInfo.dtype, yInfo.dims, rand));
  b.node('ReduceSum', [b.node('Mul', [y, r])], { keepdims: 0 }, { output: 'loss' });
  b.output('loss', yInfo.dtype, []);
  return { model: b.toModel(opset), dtype, dims };
}

/** `n` uniform values in [-1, 1). */
export function values(n: number, rand: () => number): number[] {
  return Array.from({ length: n }, () => 2 * rand() - 1);
}

export function norm(v: readonly number[]): number {
  return Math.sqrt(v.reduce((s, a) => s + a * a, 0));
}

export function dot(a: readonly number[], b: readonly number[]): number {
  return a.reduce((s, v, i) => s + v * b[i]!, 0);
}

/** Options of {@link checkGradient}. */
export interface CheckOptions {
  /** Concrete dims of inputs with symbolic dims. */
  inputShapes?: Record<string, number[]>;
  /** The input point; random values in [-1, 1) when absent. */
  x?: readonly number[];
}

/**
 * Runs the gradient model of `lm` at a random x and checks `grad` against central finite differences of
 * `loss`: per element in float64 (h = 1e-5), or along random directions in float32 (design §5: float32
 * for the ops onnxruntime's CPU provider has no float64 kernel for). Returns the gradient for further
 * checks.
 */
export async function checkGradient(
  lm: LossModel,
  seed = 11,
  inputShapes?: Record<string, number[]>,
  options: CheckOptions = {},
): Promise<number[]> {
  const gm = buildGradientGraph(lm.model, { wrt: 'x', loss: 'loss', inputShapes: inputShapes ?? {} });
  const session = await createSession(encodeModel(gm).model, { intraOpThreads: 1 });
  const rand = testRandom(seed);
  const n = sizeOf(lm.dims);
  const x0 = options.x === undefined ? values(n, rand) : [...options.x];
  const run = async (x: readonly number[]): Promise<{ loss: number; grad: number[] }> => {
    const t = makeTensor(lm.dtype, lm.dims, [...x]);
    const out = await runSession(session, { x: new Tensor(lm.dtype, t.data, lm.dims) });
    return {
      loss: Number((out.loss!.data as Float32Array | Float64Array)[0]),
      grad: Array.from(out.grad!.data as Float32Array | Float64Array),
    };
  };
  try {
    const { grad } = await run(x0);
    expect(grad).toHaveLength(n);
    // A gradient of zeros would pass any FD check on a flat loss; the tests are built so it is not flat.
    expect(norm(grad)).toBeGreaterThan(1e-3);
    if (lm.dtype === 'float64') {
      const h = 1e-5;
      const fd: number[] = [];
      for (let i = 0; i < n; i++) {
        const plus = [...x0];
        const minus = [...x0];
        plus[i] = plus[i]! + h;
        minus[i] = minus[i]! - h;
        fd.push(((await run(plus)).loss - (await run(minus)).loss) / (2 * h));
      }
      const err = Math.max(...fd.map((f, i) => Math.abs(f - grad[i]!)));
      expect(err).toBeLessThan(1e-6 * (1 + Math.max(...grad.map(Math.abs))));
    } else {
      for (let k = 0; k < 4; k++) {
        const v = values(n, rand);
        const h = (1e-3 * norm(x0)) / norm(v);
        const fd =
          ((await run(x0.map((a, i) => a + h * v[i]!))).loss -
            (await run(x0.map((a, i) => a - h * v[i]!))).loss) /
          (2 * h);
        const exact = dot(grad, v);
        expect(Math.abs(fd - exact)).toBeLessThan(1e-2 * (Math.abs(exact) + 1e-2 * norm(grad) * norm(v)));
      }
    }
    return grad;
  } finally {
    await releaseSession(session);
  }
}

/** The gradient model's `grad` at one input point, without a finite-difference check. */
export async function gradientAt(lm: LossModel, x: readonly number[]): Promise<number[]> {
  const gm = buildGradientGraph(lm.model, { wrt: 'x', loss: 'loss' });
  const session = await createSession(encodeModel(gm).model, { intraOpThreads: 1 });
  try {
    const t = makeTensor(lm.dtype, lm.dims, [...x]);
    const out = await runSession(session, { x: new Tensor(lm.dtype, t.data, lm.dims) });
    return Array.from(out.grad!.data as Float32Array | Float64Array);
  } finally {
    await releaseSession(session);
  }
}

/** The loss weights R of a {@link lossModel}, as numbers. */
export function lossWeights(lm: LossModel): number[] {
  return Array.from(lm.model.graph.initializers.get('weights')!.data as Float32Array | Float64Array);
}

/** An initializer of random values. */
export function param(b: GraphBuilder, dtype: DType, dims: number[], rand: () => number, name = 'p'): string {
  return b.initializer(name, randomTensor(dtype, dims, rand));
}
