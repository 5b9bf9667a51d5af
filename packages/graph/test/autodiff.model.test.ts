import { describe, expect, it } from '@jest/globals';
import { createSession, releaseSession, runSession, Tensor } from '@synood/onnx';

import { GRADIENT_OPS, GraphBuilder, buildGradientGraph, encodeModel } from '../src';
import { type Body, type LossModel, checkGradient, f32, f64, lossModel, param, values } from './grad-check';
import { expectGraphError, testRandom } from './helpers';

describe('buildGradientGraph: elementwise rules (float64, per-element FD)', () => {
  const binary = ['Add', 'Sub', 'Mul', 'Div'] as const;
  // Positive divisors keep Div away from its pole.
  const operand = (b: GraphBuilder, op: string, dims: number[], rand: () => number): string =>
    op === 'Div' ? b.node('Add', [param(b, f64, dims, rand), b.scalar(2, f64)]) : param(b, f64, dims, rand);
  for (const op of binary) {
    it(`${op}: x as the broadcast first operand [3,1] against [2,3,4]`, async () => {
      await checkGradient(lossModel(f64, [3, 1], (b, x, r) => b.node(op, [x, operand(b, op, [2, 3, 4], r)])));
    });
    it(`${op}: x as the second operand [2,3,4] against [4]`, async () => {
      const lm = lossModel(f64, [2, 3, 4], (b, x, r) => {
        const divisor = op === 'Div' ? b.node('Add', [b.node('Mul', [x, x]), b.scalar(1, f64)]) : x;
        return b.node(op, [param(b, f64, [4], r), divisor]);
      });
      await checkGradient(lm);
    });
  }
  it('Sub gives the second operand the negated gradient (hand check on a 1-element model)', async () => {
    // loss = Σ (c − x)·R, so dL/dx = −R exactly.
    const lm = lossModel(f64, [1], (b, x) => b.node('Sub', [b.scalar(3, f64), x]), 5);
    const r = lm.model.graph.initializers.get('weights')!.data[0]!;
    const grad = await checkGradient(lm);
    expect(grad[0]).toBeCloseTo(-Number(r), 12);
  });
  const unary: [string, Body][] = [
    ['Neg', (b, x) => b.node('Neg', [x])],
    ['Identity', (b, x) => b.node('Identity', [x])],
    ['Relu', (b, x) => b.node('Relu', [x])],
    ['Sigmoid', (b, x) => b.node('Sigmoid', [x])],
    ['Tanh', (b, x) => b.node('Tanh', [x])],
    ['Clip (min and max inputs)', (b, x) => b.node('Clip', [x, b.scalar(-0.4, f64), b.scalar(0.5, f64)])],
    ['Clip (max only)', (b, x) => b.node('Clip', [x, '', b.scalar(0.3, f64)])],
  ];
  for (const [name, body] of unary) {
    it(name, async () => {
      await checkGradient(lossModel(f64, [3, 5], body));
    });
  }
  it('Relu and Clip gradients are exactly R where the input passes and 0 elsewhere', async () => {
    const lm = lossModel(f64, [2, 6], (b, x) =>
      b.node('Clip', [b.node('Relu', [x]), '', b.scalar(0.5, f64)]),
    );
    const r = Array.from(lm.model.graph.initializers.get('weights')!.data as Float64Array);
    const grad = await checkGradient(lm, 3);
    const x = values(12, testRandom(3));
    x.forEach((v, i) => {
      expect(grad[i]).toBe(v > 0 && v <= 0.5 ? r[i] : 0);
    });
  });
  it('a value with two consumers (residual Add) accumulates both gradients', async () => {
    await checkGradient(
      lossModel(f64, [2, 4], (b, x) => {
        const y = b.node('Tanh', [x]);
        return b.node('Add', [b.node('Mul', [y, y]), b.node('Sigmoid', [y])]);
      }),
    );
  });
  it('x used twice by one node (x · x)', async () => {
    await checkGradient(lossModel(f64, [5], (b, x) => b.node('Mul', [x, x])));
  });
});

describe('buildGradientGraph: linear algebra (float64)', () => {
  it('MatMul 2-D, x on the left', async () => {
    await checkGradient(lossModel(f64, [3, 4], (b, x, r) => b.node('MatMul', [x, param(b, f64, [4, 2], r)])));
  });
  it('MatMul batched with broadcast batch dims, x on the right', async () => {
    await checkGradient(
      lossModel(f64, [3, 4, 2], (b, x, r) => b.node('MatMul', [param(b, f64, [2, 1, 5, 4], r), x])),
    );
  });
  it('MatMul with both operands on the path (x · xᵀ)', async () => {
    await checkGradient(
      lossModel(f64, [2, 3, 4], (b, x) =>
        b.node('MatMul', [x, b.node('Transpose', [x], { perm: [0, 2, 1] })]),
      ),
    );
  });
  const gemms: [string, Record<string, number>, 'A' | 'B' | 'C'][] = [
    ['A, no transposes', {}, 'A'],
    ['A, transA transB alpha beta', { transA: 1, transB: 1, alpha: 0.7, beta: 0.3 }, 'A'],
    ['B, transB (the classifier head)', { transB: 1, alpha: 1.5 }, 'B'],
    ['B, transA', { transA: 1 }, 'B'],
    ['C broadcast [1,5], beta', { beta: 0.6 }, 'C'],
  ];
  for (const [name, attrs, which] of gemms) {
    it(`Gemm gradient for ${name}`, async () => {
      const aDims = attrs.transA ? [4, 3] : [3, 4];
      const bDims = attrs.transB ? [5, 4] : [4, 5];
      const dims = which === 'A' ? aDims : which === 'B' ? bDims : [1, 5];
      const lm = lossModel(f64, dims, (b, x, r) => {
        const a = which === 'A' ? x : param(b, f64, aDims, r);
        const w = which === 'B' ? x : param(b, f64, bDims, r);
        const c = which === 'C' ? x : param(b, f64, [5], r);
        return b.node('Gemm', [a, w, c], attrs);
      });
      await checkGradient(lm);
    });
  }
});

describe('buildGradientGraph: shape, reduction and softmax rules (float64)', () => {
  const cases: [string, number[], Body][] = [
    ['Reshape', [2, 3, 4], (b, x) => b.node('Reshape', [x, b.int64s([4, -1])])],
    ['Flatten axis 2', [2, 3, 2, 2], (b, x) => b.node('Flatten', [x], { axis: 2 })],
    ['Transpose', [2, 3, 4], (b, x) => b.node('Transpose', [x], { perm: [2, 0, 1] })],
    ['Transpose default (reversed)', [2, 3, 4], (b, x) => b.node('Transpose', [x])],
    ['Squeeze', [2, 1, 3], (b, x) => b.node('Squeeze', [x, b.int64s([1])])],
    ['Unsqueeze', [2, 3], (b, x) => b.node('Unsqueeze', [x, b.int64s([0, 3])])],
    ['ReduceSum axes input keepdims', [2, 3, 4], (b, x) => b.node('ReduceSum', [x, b.int64s([0, 2])])],
    ['ReduceSum all axes', [2, 3], (b, x) => b.node('ReduceSum', [x], { keepdims: 0 })],
    [
      'ReduceMean axes attribute',
      [2, 3, 4],
      (b, x) => b.node('ReduceMean', [x], { axes: [-1], keepdims: 0 }),
    ],
    ['ReduceLogSumExp', [2, 3, 4], (b, x) => b.node('ReduceLogSumExp', [x], { axes: [1], keepdims: 0 })],
    ['Softmax axis 1', [2, 3, 4], (b, x) => b.node('Softmax', [x], { axis: 1 })],
    ['Softmax default axis', [3, 5], (b, x) => b.node('Softmax', [x])],
    ['LogSoftmax', [3, 5], (b, x) => b.node('LogSoftmax', [x], { axis: -1 })],
  ];
  for (const [name, dims, body] of cases) {
    it(name, async () => {
      await checkGradient(lossModel(f64, dims, body));
    });
  }
  it('BatchNormalization (inference) matches FD and the closed form R·scale/√(var+ε)', async () => {
    const scale = [0.5, -2];
    const variance = [0.25, 3];
    const lm = lossModel(f64, [1, 2, 2, 2], (b, x) =>
      b.node(
        'BatchNormalization',
        [
          x,
          b.vector(scale, f64),
          b.vector([0.1, 0.2], f64),
          b.vector([0.3, -0.1], f64),
          b.vector(variance, f64),
        ],
        { epsilon: 0.01 },
      ),
    );
    const r = lm.model.graph.initializers.get('weights')!.data as Float64Array;
    const grad = await checkGradient(lm);
    grad.forEach((g, i) => {
      const c = Math.floor(i / 4);
      expect(g).toBeCloseTo((r[i]! * scale[c]!) / Math.sqrt(variance[c]! + 0.01), 12);
    });
  });
});

describe('buildGradientGraph: convolution and pooling (float32, directional FD)', () => {
  const convCase = (
    xDims: number[],
    wDims: number[],
    attrs: Record<string, number[] | number | string>,
  ): LossModel =>
    lossModel(f32, xDims, (b, x, r) =>
      b.node('Conv', [x, param(b, f32, wDims, r), param(b, f32, [wDims[0]!], r)], attrs),
    );
  it('Conv stride 2 with asymmetric pads (output_padding restores the lost remainder)', async () => {
    await checkGradient(convCase([1, 2, 7, 8], [3, 2, 3, 3], { strides: [2, 2], pads: [1, 0, 1, 2] }));
  });
  it('Conv with groups and dilations', async () => {
    await checkGradient(
      convCase([2, 4, 8, 8], [6, 2, 3, 3], { group: 2, dilations: [2, 2], pads: [2, 1, 2, 1] }),
    );
  });
  it('Conv depthwise, stride 3 × 2, no padding', async () => {
    await checkGradient(convCase([1, 3, 8, 7], [3, 1, 2, 2], { group: 3, strides: [3, 2] }));
  });
  it('Conv auto_pad SAME_UPPER stride 2', async () => {
    await checkGradient(convCase([1, 2, 7, 7], [2, 2, 3, 3], { auto_pad: 'SAME_UPPER', strides: [2, 2] }));
  });
  it('Conv 1-D', async () => {
    await checkGradient(convCase([1, 2, 9], [3, 2, 3], { strides: [2], pads: [1, 1] }));
  });
  it('MaxPool k3 s2 p1 (overlapping windows, the ResNet stem) without an Indices output', async () => {
    const lm = lossModel(f32, [2, 2, 9, 9], (b, x) =>
      b.node('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }),
    );
    await checkGradient(lm);
  });
  it('MaxPool overlap sums duplicates: input [1,1,5], k2 s1 (design §5 hand example)', async () => {
    const b = new GraphBuilder('pool');
    const x = b.input('x', f32, [1, 1, 5]);
    const y = b.node('MaxPool', [x], { kernel_shape: [2], strides: [1] });
    b.node(
      'ReduceSum',
      [b.node('Mul', [y, b.vector([1, 10, 20, 1], f32)])],
      { keepdims: 0 },
      { output: 'loss' },
    );
    b.output('loss', f32, []);
    const gm = buildGradientGraph(b.toModel(17), { wrt: 'x', loss: 'loss' });
    const session = await createSession(encodeModel(gm).model, { intraOpThreads: 1 });
    try {
      const out = await runSession(session, {
        x: new Tensor(f32, new Float32Array([0, 1, 5, 2, 0]), [1, 1, 5]),
      });
      // Windows pick x[1], x[2], x[2], x[3]: x[2] collects 10 + 20.
      expect(Array.from(out.grad!.data as Float32Array)).toEqual([0, 1, 30, 1, 0]);
    } finally {
      await releaseSession(session);
    }
  });
  it('MaxPool with an existing Indices output and dilations equals a hand-computed argmax scatter', async () => {
    // Exact reference instead of FD: each window's upstream weight R goes to the window's argmax.
    const lm = lossModel(f32, [1, 2, 8, 8], (b, x) => {
      const [y] = b.node('MaxPool', [x], { kernel_shape: [2, 2], dilations: [2, 2] }, { outputs: 2 });
      return y!;
    });
    const r = lm.model.graph.initializers.get('weights')!.data as Float32Array;
    const x = Float32Array.from(values(128, testRandom(4)));
    const expected = new Array<number>(128).fill(0);
    for (let c = 0; c < 2; c++) {
      for (let i = 0; i < 6; i++) {
        for (let j = 0; j < 6; j++) {
          const window = [0, 2].flatMap((di) => [0, 2].map((dj) => c * 64 + (i + di) * 8 + j + dj));
          const best = window.reduce((a, k) => (x[k]! > x[a]! ? k : a));
          expected[best] = expected[best]! + r[c * 36 + i * 6 + j]!;
        }
      }
    }
    const gm = buildGradientGraph(lm.model, { wrt: 'x', loss: 'loss' });
    const session = await createSession(encodeModel(gm).model, { intraOpThreads: 1 });
    try {
      const out = await runSession(session, { x: new Tensor(f32, x, [1, 2, 8, 8]) });
      const grad = Array.from(out.grad!.data as Float32Array);
      grad.forEach((g, k) => {
        expect(g).toBeCloseTo(expected[k]!, 5);
      });
    } finally {
      await releaseSession(session);
    }
  });
  it('AveragePool k3 s2 p1 excluding pads', async () => {
    await checkGradient(
      lossModel(f32, [1, 2, 7, 8], (b, x) =>
        b.node('AveragePool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }),
      ),
    );
  });
  it('AveragePool k2 s2 p1 including pads', async () => {
    await checkGradient(
      lossModel(f32, [1, 3, 6, 5], (b, x) =>
        b.node('AveragePool', [x], {
          kernel_shape: [2, 2],
          strides: [2, 2],
          pads: [1, 0, 1, 0],
          count_include_pad: 1,
        }),
      ),
    );
  });
  it('GlobalAveragePool gradient is R / (H·W) at every position', async () => {
    const lm = lossModel(f32, [1, 2, 3, 4], (b, x) => b.node('GlobalAveragePool', [x]));
    const r = lm.model.graph.initializers.get('weights')!.data as Float32Array;
    const grad = await checkGradient(lm);
    grad.forEach((g, i) => {
      expect(g).toBeCloseTo(r[Math.floor(i / 12)]! / 12, 6);
    });
  });
});

describe('buildGradientGraph: whole chain and errors', () => {
  it('a ResNet-style classifier with a dynamic batch axis matches FD', async () => {
    const lm = lossModel(
      f32,
      [2, 3, 12, 12],
      (b, x, r) => {
        const stem = b.node('Conv', [x, param(b, f32, [4, 3, 3, 3], r), param(b, f32, [4], r)], {
          strides: [2, 2],
          pads: [1, 1, 1, 1],
        });
        const bn = b.node('BatchNormalization', [
          stem,
          b.vector([1.2, 0.8, -1, 0.5]),
          b.vector([0.1, 0, -0.1, 0.2]),
          b.vector([0, 0.1, 0, -0.1]),
          b.vector([1, 0.5, 2, 1]),
        ]);
        const pooled = b.node('MaxPool', [b.node('Relu', [bn])], {
          kernel_shape: [3, 3],
          strides: [2, 2],
          pads: [1, 1, 1, 1],
        });
        const inner = b.node('Conv', [pooled, param(b, f32, [4, 4, 3, 3], r)], { pads: [1, 1, 1, 1] });
        const res = b.node('Relu', [b.node('Add', [inner, pooled])]);
        const feat = b.node('Flatten', [b.node('GlobalAveragePool', [res])]);
        return b.node('Gemm', [feat, param(b, f32, [5, 4], r), param(b, f32, [5], r)], { transB: 1 });
      },
      21,
      'batch',
    );
    const gm = buildGradientGraph(lm.model, { wrt: 'x', loss: 'loss', inputShapes: { x: [2, 3, 12, 12] } });
    expect(gm.graph.outputs.map((o) => o.name)).toEqual(['loss', 'grad']);
    expect(gm.graph.outputs[1]!.dims).toEqual(['batch', 3, 12, 12]);
    const ops = new Set(gm.graph.nodes.map((n) => n.opType));
    expect(ops.has('ConvTranspose') && ops.has('ScatterElements')).toBe(true);
    expect(lm.model.graph.nodes.find((n) => n.opType === 'MaxPool')!.outputs).toHaveLength(1);
    await checkGradient(lm, 11, { x: [2, 3, 12, 12] });
  });
  it('an unsupported op on the path names the node and op type', () => {
    const b = new GraphBuilder('bad');
    const x = b.input('x', f64, [3]);
    const s = b.node('Tan', [x], {}, { name: 'my_tangent' });
    b.node('ReduceSum', [s], { keepdims: 0 }, { output: 'loss' });
    b.output('loss', f64, []);
    expectGraphError(
      () => buildGradientGraph(b.toModel(17), { wrt: 'x', loss: 'loss' }),
      'GRAPH_ERR_UNSUPPORTED_OP',
      /my_tangent.*Tan/,
    );
  });
  it('ops off the path need no rule, and no weight gradients are emitted', () => {
    const b = new GraphBuilder('side');
    const x = b.input('x', f64, [3]);
    const w = b.node('Sin', [b.vector([1, 2, 3], f64)], {}, { name: 'weight_sine' });
    b.node('ReduceSum', [b.node('Mul', [x, w])], { keepdims: 0 }, { output: 'loss' });
    b.output('loss', f64, []);
    const gm = buildGradientGraph(b.toModel(17), { wrt: 'x', loss: 'loss' });
    // Forward: Sin, Mul, ReduceSum; backward: ReduceSum's Expand (+ Reshape), Mul's g·w, the output Identity.
    expect(gm.graph.nodes.filter((n) => n.opType === 'Sin')).toHaveLength(1);
    expect(gm.graph.nodes.filter((n) => n.opType === 'Mul')).toHaveLength(2);
  });
  it('rejects a wrt that is not a graph input and lists the supported ops', () => {
    const lm = lossModel(f64, [2], (b, x) => b.node('Neg', [x]));
    expectGraphError(
      () => buildGradientGraph(lm.model, { wrt: 'weights', loss: 'loss' }),
      'GRAPH_ERR_ARGUMENT',
      /weights/,
    );
    expect(GRADIENT_OPS).toEqual(expect.arrayContaining(['Conv', 'MaxPool', 'Gemm', 'Softmax']));
  });
});
