import { describe, expect, it } from '@jest/globals';

import { type Model, GraphBuilder, buildSynthesisGradientModel, makeTensor } from '../src';
import { expectGraphError, randomTensor, runModel, testRandom } from './helpers';

const K = 5;
const C = 3;
const H = 6;
const W = 4;

/** A classifier g = W · mean_hw(x) + b, whose input gradient has a closed form. */
function poolClassifier(seed: number): { model: Model; weight: number[]; bias: number[] } {
  const rand = testRandom(seed);
  const weight = Array.from({ length: K * C }, () => 4 * rand() - 2);
  const bias = Array.from({ length: K }, () => rand() - 0.5);
  const b = new GraphBuilder('pool_classifier');
  const x = b.input('input', 'float32', ['batch_size', C, H, W]);
  const pooled = b.node('Flatten', [b.node('GlobalAveragePool', [x])], { axis: 1 });
  const w = b.initializer('fc.weight', makeTensor('float32', [K, C], weight));
  const bb = b.initializer('fc.bias', makeTensor('float32', [K], bias));
  b.node('Gemm', [pooled, w, bb], { transB: 1 }, { output: 'logits' });
  b.output('logits', 'float32', ['batch_size', K]);
  return { model: b.toModel(17), weight, bias };
}

interface Reference {
  loss: number;
  grad: number[];
}

/**
 * The loss and input gradient of one image, derived by hand: g = W·p + b with p the channel means;
 * `code`: s = mean(g) − lse(g), L = (m − s)², dL/dg = 2(m − s)(softmax(g) − 1/K);
 * `energy`: L = m − τ·lse(g/τ), dL/dg = −softmax(g/τ); dL/dx[c,h,w] = Σ_k dL/dg_k W[k,c] / (H·W).
 */
function reference(
  image: readonly number[],
  weight: readonly number[],
  bias: readonly number[],
  head: { kind: 'code' | 'energy'; margin: number; tau?: number },
): Reference {
  const p = Array.from({ length: C }, (_, c) => {
    let s = 0;
    for (let i = 0; i < H * W; i++) {
      s += image[c * H * W + i]!;
    }
    return s / (H * W);
  });
  const g = bias.map((bk, k) => bk + p.reduce((s, pc, c) => s + weight[k * C + c]! * pc, 0));
  const tau = head.tau ?? 1;
  const lse = (v: number[]): number => {
    const mx = Math.max(...v);
    return mx + Math.log(v.reduce((s, a) => s + Math.exp(a - mx), 0));
  };
  let loss: number;
  let dg: number[];
  if (head.kind === 'code') {
    const s = g.reduce((a, v) => a + v, 0) / K - lse(g);
    loss = (head.margin - s) ** 2;
    const l = lse(g);
    dg = g.map((v) => 2 * (head.margin - s) * (Math.exp(v - l) - 1 / K));
  } else {
    const scaled = g.map((v) => v / tau);
    const l = lse(scaled);
    loss = head.margin - tau * l;
    dg = scaled.map((v) => -Math.exp(v - l));
  }
  const grad: number[] = [];
  for (let c = 0; c < C; c++) {
    const dp = dg.reduce((s, d, k) => s + d * weight[k * C + c]!, 0);
    for (let i = 0; i < H * W; i++) {
      grad.push(dp / (H * W));
    }
  }
  return { loss, grad };
}

function images(n: number, seed: number): number[] {
  return Array.from(randomTensor('float32', [n, C, H, W], testRandom(seed)).data as Float32Array);
}

function expectClose(actual: ArrayLike<number | bigint>, expected: readonly number[], tol: number): void {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(...expected.map(Math.abs));
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(Number(actual[i]!) - expected[i]!)).toBeLessThanOrEqual(tol * scale);
  }
}

describe('buildSynthesisGradientModel without a decoder', () => {
  const { model, weight, bias } = poolClassifier(3);
  const per = C * H * W;

  it.each([
    ['code', { kind: 'code' as const }, { kind: 'code' as const, margin: -5 }],
    [
      'energy τ=2',
      { kind: 'energy' as const, margin: -3, temperature: 2 },
      { kind: 'energy' as const, margin: -3, tau: 2 },
    ],
  ])(
    'gives the hand-derived per-image loss and gradient for the %s head at a dynamic batch',
    async (_, loss, ref) => {
      const gm = buildSynthesisGradientModel({ classifier: model, preprocess: 'none', loss });
      expect(gm.graph.inputs.map((v) => [v.name, v.dims])).toEqual([['input', ['batch_size', C, H, W]]]);
      expect(gm.graph.outputs.map((v) => v.name)).toEqual(['loss', 'grad']);
      for (const n of [1, 3]) {
        const x = images(n, 40 + n);
        const out = await runModel(gm, { input: makeTensor('float32', [n, C, H, W], x) });
        expect(out.loss!.dims).toEqual([n]);
        expect(out.grad!.dims).toEqual([n, C, H, W]);
        for (let i = 0; i < n; i++) {
          const r = reference(x.slice(i * per, (i + 1) * per), weight, bias, ref);
          expect(Number(out.loss!.data[i])).toBeCloseTo(r.loss, 3);
          expectClose(Array.from(out.grad!.data).slice(i * per, (i + 1) * per), r.grad, 1e-5);
        }
      }
    },
  );

  it('gives each image the gradient it has alone, at fixed and dynamic batch sizes', async () => {
    const n = 4;
    const x = images(n, 7);
    const dynamic = buildSynthesisGradientModel({ classifier: model, preprocess: 'none' });
    const fixed = buildSynthesisGradientModel({ classifier: model, preprocess: 'none', batch: n });
    expect(fixed.graph.inputs[0]!.dims).toEqual([n, C, H, W]);
    expect(fixed.graph.nodes.some((node) => node.opType === 'Loop')).toBe(false);
    const all = await runModel(dynamic, { input: makeTensor('float32', [n, C, H, W], x) });
    const batched = await runModel(fixed, { input: makeTensor('float32', [n, C, H, W], x) });
    const alone = await runModel(dynamic, {
      input: makeTensor('float32', [1, C, H, W], x.slice(2 * per, 3 * per)),
    });
    expectClose(batched.grad!.data, Array.from(all.grad!.data, Number), 1e-6);
    expectClose(
      Array.from(all.grad!.data).slice(2 * per, 3 * per),
      Array.from(alone.grad!.data, Number),
      1e-6,
    );
    expect(Number(all.loss!.data[2])).toBeCloseTo(Number(alone.loss!.data[0]), 5);
  });

  it('rejects bad arguments with coded errors naming the problem', () => {
    expectGraphError(
      () => buildSynthesisGradientModel({ classifier: model, batch: 0 }),
      'GRAPH_ERR_ARGUMENT',
      /batch must be a positive integer/,
    );
    expectGraphError(
      () => buildSynthesisGradientModel({ classifier: model, classifierOutput: 'probs' }),
      'GRAPH_ERR_ARGUMENT',
      /no output probs \(it has: logits\)/,
    );
    const b = new GraphBuilder('symbolic');
    const x = b.input('input', 'float32', ['n', 3, 'h', 'w']);
    b.node('ReduceMean', [x], { axes: [2, 3], keepdims: 0 }, { output: 'logits' });
    b.output('logits', 'float32', null);
    expectGraphError(
      () => buildSynthesisGradientModel({ classifier: b.toModel(17), preprocess: 'none' }),
      'GRAPH_ERR_ARGUMENT',
      /give inputShape/,
    );
  });
});
