import { describe, expect, it } from '@jest/globals';

import {
  type DType,
  type Graph,
  type Model,
  type TensorData,
  GraphBuilder,
  analyzeGraph,
  countOps,
  foldConstants,
  makeTensor,
  pruneUnused,
  tensorToNumbers,
} from '../src';
import { firstDifference, randomTensor, runModel, testRandom } from './helpers';

/** `Unsqueeze(Gather(Shape(v), i), [0])`: one dim of a value as a 1-element int64 tensor, the torch.onnx way. */
function dimOf(b: GraphBuilder, v: string, i: number): string {
  const g = b.node('Gather', [b.node('Shape', [v]), b.scalar(i, 'int64')], { axis: 0 });
  return b.node('Unsqueeze', [g, b.int64s([0])]);
}

/**
 * A miniature Optimum SD VAE decoder block in the exporters' exact idioms: GroupNorm as Reshape →
 * InstanceNormalization → Reshape → Mul → Add with Shape-derived targets, SiLU as Sigmoid × x, single-head
 * attention through MatMul/Softmax/Transpose with Shape → Gather → Unsqueeze → Concat Reshape targets and a
 * scale from Sqrt(Cast(Gather(Shape))), nearest upsampling by a Constant scales tensor, and torch's
 * interpolate(scale_factor) pattern (sizes = Floor(Cast(Shape) × 2)) feeding a linear Resize.
 */
function vaeLikeGraph(): { graph: Graph; output: string } {
  const b = new GraphBuilder('vae_like');
  const rand = testRandom(7);
  const c = 8;
  const x = b.input('latent_sample', 'float32', ['batch', c, 'h', 'w']);
  // GroupNorm(2 groups).
  const grouped = b.node('Reshape', [
    x,
    b.node('Concat', [dimOf(b, x, 0), b.int64s([2]), b.int64s([-1])], { axis: 0 }),
  ]);
  const inorm = b.node('InstanceNormalization', [grouped, b.vector([1, 1]), b.vector([0, 0])], {
    epsilon: 1e-6,
  });
  const back = b.node('Reshape', [inorm, b.node('Shape', [x])]);
  const gamma = b.initializer('gamma', randomTensor('float32', [c, 1, 1], rand));
  const beta = b.initializer('beta', randomTensor('float32', [c, 1, 1], rand));
  const normed = b.node('Add', [b.node('Mul', [back, gamma]), beta]);
  const h = b.node('Mul', [normed, b.node('Sigmoid', [normed])]);
  // Attention over the h·w positions.
  const n = dimOf(b, h, 0);
  const ch = dimOf(b, h, 1);
  const hw = b.node('Mul', [dimOf(b, h, 2), dimOf(b, h, 3)]);
  const seq = b.node('Transpose', [b.node('Reshape', [h, b.node('Concat', [n, ch, hw], { axis: 0 })])], {
    perm: [0, 2, 1],
  });
  const proj = (name: string): string =>
    b.node('MatMul', [seq, b.initializer(name, randomTensor('float32', [c, c], rand))]);
  const q = proj('wq');
  const k = proj('wk');
  const v = proj('wv');
  const dk = b.node('Cast', [b.node('Gather', [b.node('Shape', [q]), b.scalar(2, 'int64')], { axis: 0 })], {
    to: 1,
  });
  const scores = b.node('Div', [
    b.node('MatMul', [q, b.node('Transpose', [k], { perm: [0, 2, 1] })]),
    b.node('Sqrt', [dk]),
  ]);
  const attended = b.node('MatMul', [b.node('Softmax', [scores], { axis: -1 }), v]);
  const restored = b.node('Reshape', [
    b.node('Transpose', [attended], { perm: [0, 2, 1] }),
    b.node('Concat', [dimOf(b, h, 0), dimOf(b, h, 1), dimOf(b, h, 2), dimOf(b, h, 3)], { axis: 0 }),
  ]);
  const res = b.node('Add', [restored, h]);
  // Nearest ×2 by a Constant scales tensor.
  const up = b.node('Resize', [res, '', b.constant(makeTensor('float32', [4], [1, 1, 2, 2]))], {
    mode: 'nearest',
  });
  // torch's interpolate(scale_factor=2): sizes = Concat(Shape[0:2], Cast(Floor(Cast(Shape[2:4]) × 2))).
  const shapeUp = b.node('Shape', [up]);
  const spatial = b.node('Cast', [b.node('Slice', [shapeUp, b.int64s([2]), b.int64s([4])])], { to: 1 });
  const scaled = b.node('Cast', [b.node('Floor', [b.node('Mul', [spatial, b.vector([2, 2])])])], { to: 7 });
  const sizes = b.node('Concat', [b.node('Slice', [shapeUp, b.int64s([0]), b.int64s([2])]), scaled], {
    axis: 0,
  });
  const lin = b.node('Resize', [up, '', '', sizes], {
    mode: 'linear',
    coordinate_transformation_mode: 'half_pixel',
  });
  // Expand and ConstantOfShape with Shape-derived targets.
  const expanded = b.node('Expand', [
    b.initializer('bias', randomTensor('float32', [c, 1, 1], rand)),
    b.node('Shape', [lin]),
  ]);
  const halves = b.node('ConstantOfShape', [b.node('Shape', [lin])], {
    value: makeTensor('float32', [1], [0.5]),
  });
  const out = b.node('Mul', [b.node('Add', [lin, expanded]), halves], {}, { output: 'sample' });
  b.output(out, 'float32', ['batch', c, 'H', 'W']);
  // Dead code the pruning must remove.
  b.node('Exp', [b.initializer('unused_weight', randomTensor('float32', [3], rand))]);
  return { graph: b.graph, output: out };
}

describe('foldConstants', () => {
  it('folds the exporter Shape chains of a VAE-like block away and keeps the outputs bit-identical in onnxruntime', async () => {
    const { graph, output } = vaeLikeGraph();
    const shape = [2, 8, 4, 4];
    const folded = foldConstants(graph, { latent_sample: shape });
    const ops = countOps(folded);
    for (const op of [
      'Shape',
      'Gather',
      'Unsqueeze',
      'Concat',
      'Constant',
      'Cast',
      'Floor',
      'Slice',
      'Sqrt',
      'Exp',
    ]) {
      expect([op, ops[op] ?? 0]).toEqual([op, 0]);
    }
    // Every shape-taking input is now an initializer.
    const shapeInputs: [string, number][] = [
      ['Reshape', 1],
      ['Expand', 1],
      ['ConstantOfShape', 0],
      ['Resize', 2],
      ['Resize', 3],
    ];
    for (const node of folded.nodes) {
      for (const [op, i] of shapeInputs) {
        const name = node.inputs[i];
        if (node.opType === op && name !== undefined && name !== '') {
          expect([node.name, folded.initializers.has(name)]).toEqual([node.name, true]);
        }
      }
    }
    // The first GroupNorm Reshape target is Concat([batch], [2], [-1]) = [2, 2, -1].
    const firstReshape = folded.nodes.find((n) => n.opType === 'Reshape')!;
    expect(folded.initializers.get(firstReshape.inputs[1]!)).toEqual(makeTensor('int64', [3], [2, 2, -1]));
    // The torch upsample sizes: [2, 8, 8·2, 8·2] after the nearest ×2.
    const linear = folded.nodes.filter((n) => n.opType === 'Resize')[1]!;
    expect(folded.initializers.get(linear.inputs[3]!)).toEqual(makeTensor('int64', [4], [2, 8, 16, 16]));
    expect(folded.initializers.has('unused_weight')).toBe(false);
    expect(folded.inputs[0]!.dims).toEqual(shape);

    const feed = { latent_sample: randomTensor('float32', shape, testRandom(3)) };
    const model = (g: Graph): Model => ({
      irVersion: 8,
      opsetImports: [{ domain: '', version: 17 }],
      producerName: 't',
      graph: g,
    });
    // Bit-identical without onnxruntime's own rewrites. With them only float rounding may differ, since
    // they depend on which inputs are constant (a MatMul divided by a constant becomes one FusedMatMul).
    const exact = { graphOptimizationLevel: 'disabled' } as const;
    const before = (await runModel(model(graph), feed, exact))[output]!;
    const after = (await runModel(model(folded), feed, exact))[output]!;
    expect(after.dims).toEqual([2, 8, 16, 16]);
    expect(firstDifference(after.data, before.data)).toBe(-1);
    const optimised = Array.from((await runModel(model(folded), feed))[output]!.data as Float32Array);
    const reference = Array.from(before.data as Float32Array);
    const worst = optimised.reduce((m, v, i) => Math.max(m, Math.abs(v - reference[i]!)), 0);
    expect(worst).toBeLessThan(1e-5);
  });

  it('keeps nodes it cannot fold exactly (transcendentals, activation-sized ConstantOfShape) and folds the rest', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [64, 64, 32]);
    const e = b.node('Exp', [b.vector([1, 2])]);
    const big = b.node('ConstantOfShape', [b.node('Shape', [x])]);
    b.output(b.node('Add', [b.node('Add', [x, big]), b.node('ReduceSum', [e], { keepdims: 0 })]), 'float32');
    const folded = foldConstants(b.graph, {});
    expect(countOps(folded)).toEqual({ Exp: 1, ConstantOfShape: 1, ReduceSum: 1, Add: 2 });
  });

  it('pruneUnused drops dead nodes, initializers and annotations but keeps inputs and nodes feeding outputs', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2]);
    b.input('unused_input', 'float32', [2]);
    const live = b.node('Relu', [x]);
    const dead = b.node('Neg', [b.node('Sigmoid', [x])]);
    b.initializer('dead_w', makeTensor('float32', [1], [1]));
    b.graph.valueInfo.push(
      { name: dead, dtype: 'float32', dims: [2] },
      { name: live, dtype: 'float32', dims: [2] },
    );
    b.output(live, 'float32', [2]);
    const pruned = pruneUnused(b.graph);
    expect(pruned.nodes.map((n) => n.opType)).toEqual(['Relu']);
    expect([...pruned.initializers.keys()]).toEqual([]);
    expect(pruned.valueInfo.map((v) => v.name)).toEqual([live]);
    expect(pruned.inputs.map((v) => v.name)).toEqual(['x', 'unused_input']);
    expect(b.graph.nodes).toHaveLength(3);
  });
});

describe('folding kernels agree with onnxruntime bit for bit', () => {
  /** Builds `op(constants)` graphs, runs them in onnxruntime, and compares with the values analysis computed. */
  async function compare(build: (b: GraphBuilder) => [string, DType][]): Promise<Record<string, TensorData>> {
    const b = new GraphBuilder('kernels', { opset: 18 });
    const outs = build(b);
    for (const [name, dtype] of outs) {
      b.output(name, dtype);
    }
    // Optimisations off, so onnxruntime computes every node with its kernels at run time.
    const ort = await runModel(b.toModel(), {}, { graphOptimizationLevel: 'disabled' });
    const values = analyzeGraph(b.graph, {}, { opset: 18 }).values;
    const got: Record<string, TensorData> = {};
    for (const [name] of outs) {
      const v = values.get(name);
      expect([name, v === undefined]).toEqual([name, false]);
      expect([name, v!.dtype, v!.dims, Array.from(v!.data as ArrayLike<number | bigint>)]).toEqual([
        name,
        ort[name]!.type,
        ort[name]!.dims,
        Array.from(ort[name]!.data),
      ]);
      got[name] = v!;
    }
    return got;
  }

  it('integer arithmetic: truncating Div, Mod in both modes, Max/Min, wrap-around, Neg/Abs', async () => {
    const got = await compare((b) => {
      const a = b.initializer('a', makeTensor('int64', [4], [-7, 7, -7, 2n ** 62n]));
      const d = b.initializer('d', makeTensor('int64', [4], [2, -2, -2, 4]));
      const i = b.initializer('i', makeTensor('int32', [2, 1], [2 ** 30, -5]));
      const j = b.initializer('j', makeTensor('int32', [3], [4, 3, -1]));
      return [
        [b.node('Div', [a, d], {}, { output: 'div' }), 'int64'],
        [b.node('Mod', [a, d], {}, { output: 'mod' }), 'int64'],
        [b.node('Mod', [a, d], { fmod: 1 }, { output: 'fmod' }), 'int64'],
        [b.node('Mul', [a, d]), 'int64'],
        [b.node('Mul', [i, j], {}, { output: 'mul32' }), 'int32'],
        [b.node('Div', [i, j]), 'int32'],
        [b.node('Sub', [i, j]), 'int32'],
        [b.node('Max', [a, d]), 'int64'],
        [b.node('Min', [i, j]), 'int32'],
        [b.node('Neg', [a]), 'int64'],
        [b.node('Abs', [j]), 'int32'],
      ];
    });
    expect(Array.from(got.div!.data as BigInt64Array)).toEqual([-3n, -3n, 3n, 2n ** 60n]);
    expect(Array.from(got.mod!.data as BigInt64Array)).toEqual([1n, -1n, -1n, 0n]);
    expect(Array.from(got.fmod!.data as BigInt64Array)).toEqual([-1n, 1n, -1n, 0n]);
    // 2^30 · 4 = 2^32 wraps to 0 in int32; 2^30 · 3 wraps to −2^30.
    expect(Array.from((got.mul32!.data as Int32Array).slice(0, 3))).toEqual([0, -(2 ** 30), -(2 ** 30)]);
  });

  it('float arithmetic, Range accumulation, Cast rounding and truncation, float16', async () => {
    const got = await compare((b) => {
      const p = b.initializer('p', makeTensor('float32', [3], [0.1, -2.5, 1e30]));
      const q = b.initializer('q', makeTensor('float32', [3], [0.2, 3, 1e10]));
      const h = b.initializer('h', makeTensor('float16', [2], [0.1, 1000]));
      return [
        [b.node('Add', [p, q]), 'float32'],
        [b.node('Mul', [p, q]), 'float32'],
        [b.node('Div', [p, q]), 'float32'],
        [b.node('Sub', [p, q]), 'float32'],
        [b.node('Sqrt', [q]), 'float32'],
        [b.node('Floor', [p]), 'float32'],
        [b.node('Ceil', [p]), 'float32'],
        [b.node('Add', [h, h]), 'float16'],
        [b.node('Mul', [h, h]), 'float16'],
        [b.node('Range', [b.scalar(0.1), b.scalar(1), b.scalar(0.1)], {}, { output: 'range' }), 'float32'],
        [b.node('Range', [b.scalar(5, 'int32'), b.scalar(-4, 'int32'), b.scalar(-3, 'int32')]), 'int32'],
        [
          b.node(
            'Cast',
            [b.initializer('r', makeTensor('float32', [3], [-1.7, 2.9, -0.5]))],
            { to: 6 },
            { output: 'trunc' },
          ),
          'int32',
        ],
        [
          b.node('Cast', [b.initializer('big', makeTensor('int64', [2], [2049, -70000]))], { to: 10 }),
          'float16',
        ],
        [b.node('Cast', [p], { to: 11 }), 'float64'],
        [b.node('Cast', [p], { to: 9 }), 'bool'],
      ];
    });
    expect(tensorToNumbers(got.trunc!)).toEqual([-1, 2, 0]);
    // (1 − 0.1) / 0.1 = 9 elements: 0.1 … 0.9, each the float32 running sum.
    expect(got.range!.dims).toEqual([9]);
  });

  it('data movement: Slice (negative steps), Gather (negative indices), Transpose, Concat, Split, Expand, Tile, Pad, Where, comparisons, logic', async () => {
    const ints = Array.from({ length: 24 }, (_, i) => i - 5);
    await compare((b) => {
      const t = b.initializer('t', makeTensor('int64', [2, 3, 4], ints));
      const f = b.initializer(
        'f',
        makeTensor(
          'float32',
          [2, 3, 4],
          ints.map((v) => v / 4),
        ),
      );
      const m = b.initializer('m', makeTensor('bool', [3, 1], [1, 0, 1]));
      const [s0, s1] = b.node('Split', [t, b.int64s([1, 3])], { axis: -1 }, { outputs: 2 });
      const lt = b.node('Less', [f, b.scalar(0)]);
      return [
        [
          b.node('Slice', [t, b.int64s([-1, 3]), b.int64s([-100, 0]), b.int64s([2, 1]), b.int64s([-2, -1])]),
          'int64',
        ],
        [
          b.node('Gather', [f, b.initializer('gi', makeTensor('int64', [2, 2], [-1, 0, 2, -3]))], {
            axis: 1,
          }),
          'float32',
        ],
        [b.node('Transpose', [t], { perm: [2, 0, 1] }), 'int64'],
        [b.node('Concat', [t, t], { axis: 1 }), 'int64'],
        [s0!, 'int64'],
        [s1!, 'int64'],
        [b.node('Expand', [m, b.int64s([2, 3, 4])]), 'bool'],
        [b.node('Tile', [f, b.int64s([1, 2, 1])]), 'float32'],
        [b.node('Pad', [t, b.int64s([0, 1, -1, 1, 0, 2]), b.scalar(9, 'int64')]), 'int64'],
        [b.node('Where', [m, f, b.scalar(-1)]), 'float32'],
        [lt, 'bool'],
        [b.node('Equal', [t, b.scalar(3, 'int64')]), 'bool'],
        [b.node('And', [lt, m]), 'bool'],
        [b.node('Not', [m]), 'bool'],
        [b.node('GreaterOrEqual', [f, b.scalar(1)]), 'bool'],
      ];
    });
  });
});
