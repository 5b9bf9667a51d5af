import { describe, expect, it } from '@jest/globals';

import {
  type Model,
  type NodeAttributes,
  GRADIENT_OPS,
  GraphBuilder,
  buildGradientGraph,
  makeTensor,
} from '../src';
import {
  type Body,
  checkGradient,
  f32,
  f64,
  gradientAt,
  lossModel,
  lossWeights,
  param,
  values,
} from './grad-check';
import { expectGraphError, randomTensor, testRandom } from './helpers';

/** A constant of strictly positive values in [lo, lo + 1). */
function positive(
  b: GraphBuilder,
  dtype: 'float32' | 'float64',
  dims: number[],
  rand: () => number,
  lo = 0.5,
) {
  const t = randomTensor(dtype, dims, rand);
  const data = t.data as Float32Array | Float64Array;
  data.forEach((v, i) => {
    data[i] = lo + (v + 1) / 2;
  });
  return b.initializer('positive', t);
}

/** A loss model around ConvTranspose(x, W) with random weights. */
const convT = (xDims: number[], wDims: number[], attrs: NodeAttributes) =>
  lossModel(f32, xDims, (b, x, r) => b.node('ConvTranspose', [x, param(b, f32, wDims, r)], attrs));

describe('buildGradientGraph: pointwise math (float64, per-element FD)', () => {
  const cases: [string, number[], Body][] = [
    [
      'Pow, constant scalar exponent 3 (negative bases)',
      [3, 4],
      (b, x) => b.node('Pow', [x, b.scalar(3, f64)]),
    ],
    [
      'Pow, constant exponent tensor [4] with fractional and negative entries',
      [3, 4],
      (b, x) => b.node('Pow', [b.node('Add', [x, b.scalar(1.5, f64)]), b.vector([0.5, 1.5, -0.7, 2.3], f64)]),
    ],
    ['Pow, int64 exponent', [2, 3], (b, x) => b.node('Pow', [x, b.scalar(2, 'int64')])],
    [
      'Pow, x as the broadcast exponent [4] of a [2,3,4] base',
      [4],
      (b, x, r) => b.node('Pow', [positive(b, f64, [2, 3, 1], r), x]),
    ],
    [
      'Pow, x as a broadcast base [3,1] under a [2,3,4] exponent',
      [3, 1],
      (b, x, r) =>
        b.node('Pow', [
          b.node('Add', [x, b.scalar(1.5, f64)]),
          b.node('Mul', [param(b, f64, [2, 3, 4], r), b.scalar(2, f64)]),
        ]),
    ],
    [
      'Pow, base and exponent both computed from x',
      [2, 3],
      (b, x) =>
        b.node('Pow', [b.node('Add', [x, b.scalar(1.5, f64)]), b.node('Mul', [x, b.scalar(0.7, f64)])]),
    ],
    ['Sqrt', [3, 4], (b, x) => b.node('Sqrt', [b.node('Add', [x, b.scalar(1.2, f64)])])],
    ['Exp', [3, 4], (b, x) => b.node('Exp', [x])],
    ['Log', [3, 4], (b, x) => b.node('Log', [b.node('Add', [x, b.scalar(1.2, f64)])])],
    [
      'Max of three broadcast inputs, x [3,1]',
      [3, 1],
      (b, x, r) => b.node('Max', [x, param(b, f64, [2, 3, 4], r), param(b, f64, [4], r, 'q')]),
    ],
    [
      'Min of x [2,3,4] and a [4] constant',
      [2, 3, 4],
      (b, x, r) => b.node('Min', [param(b, f64, [4], r), x]),
    ],
    [
      'Where: x as X [3,1] under a [2,3,4] condition',
      [3, 1],
      (b, x, r) =>
        b.node('Where', [
          b.initializer('cond', randomTensor('bool', [2, 3, 4], r)),
          x,
          param(b, f64, [4], r),
        ]),
    ],
    [
      'Where: x as both branches, condition computed from x',
      [3, 4],
      (b, x) =>
        b.node('Where', [
          b.node('Greater', [x, b.scalar(0, f64)]),
          b.node('Mul', [x, x]),
          b.node('Neg', [x]),
        ]),
    ],
    ['Expand [3,1] to [2,3,4]', [3, 1], (b, x) => b.node('Expand', [x, b.int64s([2, 3, 4])])],
    ['Tile [2,3] by [2,3]', [2, 3], (b, x) => b.node('Tile', [x, b.int64s([2, 3])])],
  ];
  for (const [name, dims, body] of cases) {
    it(name, async () => {
      await checkGradient(lossModel(f64, dims, body));
    });
  }
  it('Pow with exponent 0 has a zero (not NaN) gradient at a zero base', async () => {
    const lm = lossModel(f64, [4], (b, x) => b.node('Add', [b.node('Pow', [x, b.scalar(0, f64)]), x]));
    const grad = await checkGradient(lm, 11, undefined, { x: [0, 0.5, -0.25, 1] });
    expect(grad).toEqual(lossWeights(lm));
  });
  it('Max splits the gradient evenly where inputs tie (hand check)', async () => {
    // max(x, 0.5): x = 0.5 ties, so it gets R/2; x > 0.5 gets R; x < 0.5 gets 0.
    const lm = lossModel(f64, [4], (b, x) => b.node('Max', [x, b.scalar(0.5, f64)]));
    const r = lossWeights(lm);
    const grad = await gradientAt(lm, [0.5, 0.9, -0.3, 0.5]);
    expect(grad).toEqual([r[0]! / 2, r[1], 0, r[3]! / 2]);
  });
});

describe('buildGradientGraph: Erf and Cast (float32, directional FD)', () => {
  it('Erf', async () => {
    await checkGradient(lossModel(f32, [3, 5], (b, x) => b.node('Erf', [b.node('Mul', [x, b.scalar(1.5)])])));
  });
  it('Erf gradient is R·2/√π·exp(−x²) (closed form)', async () => {
    const lm = lossModel(f32, [5], (b, x) => b.node('Erf', [x]));
    const r = lossWeights(lm);
    const x = [0, 0.5, -1, 1.5, -0.2];
    const grad = await gradientAt(lm, x);
    grad.forEach((g, i) => {
      expect(g).toBeCloseTo((r[i]! * 2 * Math.exp(-x[i]! * x[i]!)) / Math.sqrt(Math.PI), 6);
    });
  });
  it('Cast float32 → float64 → float32 passes the gradient back through both casts', async () => {
    await checkGradient(
      lossModel(f32, [3, 4], (b, x, r) => {
        const wide = b.node('Cast', [x], { to: 11 });
        return b.node('Cast', [b.node('Mul', [wide, param(b, f64, [4], r)])], { to: 1 });
      }),
    );
  });
  it('a Cast to int64 cuts the gradient: only the float branch contributes', async () => {
    // loss = Σ (x + float(int(3x)))·R, so dL/dx = R exactly (the integer branch is piecewise constant).
    const lm = lossModel(f32, [6], (b, x) => {
      const ints = b.node('Cast', [b.node('Mul', [x, b.scalar(3)])], { to: 7 });
      return b.node('Add', [x, b.node('Cast', [ints], { to: 1 })]);
    });
    const grad = await gradientAt(lm, values(6, testRandom(2)));
    expect(grad).toEqual(lossWeights(lm).map(Math.fround));
  });
});

describe('buildGradientGraph: Concat, Split, Slice, Gather (float64)', () => {
  it('Concat along axis 1 with x used twice among constants', async () => {
    await checkGradient(
      lossModel(f64, [2, 2, 3], (b, x, r) =>
        b.node('Concat', [param(b, f64, [2, 1, 3], r), x, b.node('Neg', [x]), param(b, f64, [2, 3, 3], r)], {
          axis: 1,
        }),
      ),
    );
  });
  it('Concat with a negative axis', async () => {
    await checkGradient(
      lossModel(f64, [2, 3], (b, x, r) => b.node('Concat', [x, param(b, f64, [2, 2], r), x], { axis: -1 })),
    );
  });
  it('Split (opset 13, split input): outputs without upstream gradient contribute zeros', async () => {
    const lm = lossModel(
      f64,
      [2, 6, 2],
      (b, x) => {
        const parts = b.node('Split', [x, b.int64s([1, 3, 2])], { axis: 1 }, { outputs: 3 });
        return b.node('Tanh', [parts[1]!]);
      },
      1,
      undefined,
      13,
    );
    const grad = await checkGradient(lm);
    // Only channels 1..3 of each [6, 2] slab reach the loss.
    grad.forEach((g, i) => {
      const channel = Math.floor(i / 2) % 6;
      expect(g === 0).toBe(channel < 1 || channel > 3);
    });
  });
  it('Split (opset 18, num_outputs 3 over 7: sizes 3, 3, 1) with the parts reordered', async () => {
    const lm = lossModel(
      f64,
      [7, 2],
      (b, x) => {
        const [p0, p1, p2] = b.node('Split', [x], { axis: 0, num_outputs: 3 }, { outputs: 3 });
        return b.node('Concat', [p2!, b.node('Mul', [p0!, p1!]), p0!], { axis: 0 });
      },
      1,
      undefined,
      18,
    );
    await checkGradient(lm);
  });
  it('Split (opset 12, split attribute) along a negative axis', async () => {
    const lm = lossModel(
      f64,
      [2, 5],
      (b, x) => {
        const [p0, p1] = b.node('Split', [x], { axis: -1, split: [2, 3] }, { outputs: 2 });
        return b.node('Concat', [b.node('Exp', [p1!]), p0!], { axis: 1 });
      },
      1,
      undefined,
      12,
    );
    await checkGradient(lm);
  });
  const slice = (starts: number[], ends: number[], axes?: number[], steps?: number[]): Body => {
    return (b, x) =>
      b.node('Slice', [
        x,
        b.int64s(starts),
        b.int64s(ends),
        axes === undefined ? '' : b.int64s(axes),
        steps === undefined ? '' : b.int64s(steps),
      ]);
  };
  const slices: [string, number[], Body][] = [
    [
      'Slice step 1, negative start, clamped end, negative axis',
      [4, 3, 5],
      slice([-3, 1], [1000, -1], [2, 0]),
    ],
    ['Slice without axes (leading axes)', [4, 5], slice([1, 2], [3, 4])],
    ['Slice step 2 whose zeros run past the end', [3, 7], slice([1], [7], [1], [2])],
    ['Slice step 3 leaving a margin', [2, 10], slice([1], [8], [-1], [3])],
    ['Slice step −1 reversing the whole axis (end below −dim)', [3, 4], slice([-1], [-1000], [1], [-1])],
    ['Slice step −2 from a clamped start', [7, 2], slice([10], [0], [0], [-2])],
    ['Slice on two axes with steps 2 and −3', [5, 8, 2], slice([0, -2], [5, 0], [0, 1], [2, -3])],
  ];
  for (const [name, dims, body] of slices) {
    it(name, async () => {
      await checkGradient(lossModel(f64, dims, body));
    });
  }
  it('Slice gradient is R at the sliced positions and 0 elsewhere (hand check, step −2)', async () => {
    // x[5:0:-2] of 7 elements picks x[5], x[3], x[1].
    const lm = lossModel(f64, [7], slice([5], [0], [0], [-2]));
    const r = lossWeights(lm);
    const grad = await gradientAt(lm, values(7, testRandom(1)));
    expect(grad).toEqual([0, r[2], 0, r[1], 0, r[0], 0]);
  });
  it('Gather with duplicate and negative constant indices along axis 1', async () => {
    const lm = lossModel(f64, [2, 4, 3], (b, x) =>
      b.node('Gather', [x, b.initializer('idx', makeTensor('int64', [2, 3], [0, 2, -1, 0, 0, 3]))], {
        axis: 1,
      }),
    );
    const grad = await checkGradient(lm);
    // Row 1 of axis 1 is never gathered.
    for (let n = 0; n < 2; n++) {
      expect(grad.slice(n * 12 + 3, n * 12 + 6)).toEqual([0, 0, 0]);
    }
  });
  it('Gather with a scalar int32 index', async () => {
    await checkGradient(
      lossModel(f64, [3, 4], (b, x) =>
        b.node('Gather', [x, b.initializer('i', makeTensor('int32', [], [-2]))]),
      ),
    );
  });
  it('Gather with indices computed from x (ArgMax on the path is not differentiated)', async () => {
    await checkGradient(
      lossModel(f64, [3, 4], (b, x) =>
        b.node('Gather', [x, b.node('ArgMax', [x], { axis: 1, keepdims: 0 })], { axis: 1 }),
      ),
    );
  });
});

describe('buildGradientGraph: reductions and LayerNormalization (float64)', () => {
  const cases: [string, number[], Body, number][] = [
    [
      'ReduceMax axes attribute, keepdims 0',
      [3, 4, 2],
      (b, x) => b.node('ReduceMax', [x], { axes: [1], keepdims: 0 }),
      17,
    ],
    [
      'ReduceMax (opset 18) axes input, keepdims 1',
      [3, 4, 2],
      (b, x) => b.node('ReduceMax', [x, b.int64s([0, -1])]),
      18,
    ],
    ['ReduceMin over all axes', [3, 4], (b, x) => b.node('ReduceMin', [x], { keepdims: 0 }), 17],
    [
      'LayerNormalization axis −1 with scale and bias',
      [2, 3, 5],
      (b, x, r) =>
        b.node('LayerNormalization', [x, param(b, f64, [5], r), param(b, f64, [5], r)], { epsilon: 1e-3 }),
      17,
    ],
    [
      'LayerNormalization axis 1 with a [3,5] scale',
      [2, 3, 5],
      (b, x, r) => b.node('LayerNormalization', [x, param(b, f64, [3, 5], r)], { axis: 1 }),
      17,
    ],
  ];
  for (const [name, dims, body, opset] of cases) {
    it(name, async () => {
      await checkGradient(lossModel(f64, dims, body, 1, undefined, opset));
    });
  }
  it('ReduceMax splits the gradient between tied maxima (hand check)', async () => {
    const lm = lossModel(f64, [2, 3], (b, x) => b.node('ReduceMax', [x], { axes: [1], keepdims: 0 }));
    const r = lossWeights(lm);
    const grad = await gradientAt(lm, [0.7, 0.1, 0.7, -1, -0.5, -2]);
    // Masked-out positions may come back as −0 (0 · a negative R).
    expect(grad.map((g) => (g === 0 ? 0 : g))).toEqual([r[0]! / 2, 0, r[0]! / 2, 0, r[1], 0]);
  });
});

describe('buildGradientGraph: normalisation layers (float32, directional FD)', () => {
  it('InstanceNormalization', async () => {
    await checkGradient(
      lossModel(f32, [2, 3, 4, 5], (b, x, r) =>
        b.node('InstanceNormalization', [x, param(b, f32, [3], r), param(b, f32, [3], r)], { epsilon: 1e-3 }),
      ),
    );
  });
  it('GroupNormalization opset 18: scale and bias per group', async () => {
    const lm = lossModel(
      f32,
      [2, 6, 3, 4],
      (b, x, r) =>
        b.node('GroupNormalization', [x, param(b, f32, [3], r), param(b, f32, [3], r)], { num_groups: 3 }),
      1,
      undefined,
      18,
    );
    await checkGradient(lm);
  });
  it('GroupNormalization opset 21: scale and bias per channel', async () => {
    const lm = lossModel(
      f32,
      [2, 6, 3, 4],
      (b, x, r) =>
        b.node('GroupNormalization', [x, param(b, f32, [6], r), param(b, f32, [6], r)], { num_groups: 2 }),
      1,
      undefined,
      21,
    );
    await checkGradient(lm);
  });
  it('GroupNormalization with a scale of the wrong opset layout names the node', () => {
    const lm = lossModel(
      f32,
      [1, 4, 2, 2],
      (b, x) =>
        b.node(
          'GroupNormalization',
          [x, b.vector([1, 1, 1, 1]), b.vector([0, 0, 0, 0])],
          { num_groups: 2 },
          { name: 'gn' },
        ),
      1,
      undefined,
      18,
    );
    expectGraphError(
      () => buildGradientGraph(lm.model, { wrt: 'x', loss: 'loss' }),
      'GRAPH_ERR_SHAPE',
      /gn.*\[2\]/,
    );
  });
});

describe('buildGradientGraph: ConvTranspose and AveragePool (float32, directional FD)', () => {
  it('ConvTranspose stride 2, pads and output_padding', async () => {
    await checkGradient(
      convT([1, 3, 4, 5], [3, 2, 3, 3], { strides: [2, 2], pads: [1, 0, 1, 2], output_padding: [1, 1] }),
    );
  });
  it('ConvTranspose with groups and dilations', async () => {
    await checkGradient(
      convT([2, 4, 5, 5], [4, 3, 3, 2], { group: 2, dilations: [2, 1], pads: [1, 1, 2, 0] }),
    );
  });
  it('ConvTranspose 1-D, stride 3, output_padding 2', async () => {
    await checkGradient(convT([1, 2, 5], [2, 2, 3], { strides: [3], output_padding: [2], pads: [1, 0] }));
  });
  it('ConvTranspose auto_pad VALID with bias', async () => {
    await checkGradient(
      lossModel(f32, [1, 2, 4, 4], (b, x, r) =>
        b.node('ConvTranspose', [x, param(b, f32, [2, 3, 2, 2], r), param(b, f32, [3], r)], {
          auto_pad: 'VALID',
          strides: [2, 2],
        }),
      ),
    );
  });
  const pools: [string, number, NodeAttributes][] = [
    [
      'ceil_mode, pads excluded',
      17,
      { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 0, 0, 1], ceil_mode: 1 },
    ],
    [
      'ceil_mode, pads included',
      17,
      { kernel_shape: [3, 2], strides: [2, 2], pads: [1, 1, 1, 0], ceil_mode: 1, count_include_pad: 1 },
    ],
    [
      'ceil_mode, pads included (opset 19 kernel)',
      19,
      { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 0, 0], ceil_mode: 1, count_include_pad: 1 },
    ],
    [
      'dilations (opset 19)',
      19,
      { kernel_shape: [2, 2], dilations: [2, 2], strides: [1, 2], pads: [1, 1, 1, 1] },
    ],
  ];
  for (const [name, opset, attrs] of pools) {
    it(`AveragePool ${name}`, async () => {
      await checkGradient(
        lossModel(f32, [1, 2, 6, 7], (b, x) => b.node('AveragePool', [x], attrs), 1, undefined, opset),
      );
    });
  }
  it('AveragePool ceil_mode window past the end pad: hand check of the 1-D weights', async () => {
    // x of 5, k3 s2 p1 ceil → windows [-1,2), [1,4), [3,6): divisor 3 with pads included.
    const lm = lossModel(f32, [1, 1, 5], (b, x) =>
      b.node('AveragePool', [x], {
        kernel_shape: [3],
        strides: [2],
        pads: [1, 1],
        ceil_mode: 1,
        count_include_pad: 1,
      }),
    );
    const [r0, r1, r2] = lossWeights(lm);
    const grad = await gradientAt(lm, values(5, testRandom(3)));
    const expected = [r0! / 3, (r0! + r1!) / 3, r1! / 3, (r1! + r2!) / 3, r2! / 3];
    grad.forEach((g, i) => {
      expect(g).toBeCloseTo(expected[i]!, 6);
    });
  });
});

describe('buildGradientGraph: Resize (float32, directional FD)', () => {
  const coordModes = ['half_pixel', 'pytorch_half_pixel', 'align_corners', 'asymmetric'] as const;
  const resize = (attrs: NodeAttributes, scales?: number[], sizes?: number[]): Body => {
    return (b, x) =>
      b.node(
        'Resize',
        [x, '', scales === undefined ? '' : b.vector(scales), sizes === undefined ? '' : b.int64s(sizes)],
        attrs,
      );
  };
  // [name, input dims, scales, sizes]: every mode and coordinate mode, up and down, by scales and by sizes.
  const variants: [string, number[], number[] | undefined, number[] | undefined][] = [
    ['upsampling by scales [2, 1.5]', [1, 2, 4, 5], [1, 1, 2, 1.5], undefined],
    ['downsampling by scales [0.5, 0.7]', [2, 1, 8, 7], [1, 1, 0.5, 0.7], undefined],
    ['upsampling to sizes [7, 9] from [4, 5]', [1, 2, 4, 5], undefined, [1, 2, 7, 9]],
    ['downsampling to sizes [3, 4] from [7, 6]', [1, 2, 7, 6], undefined, [1, 2, 3, 4]],
  ];
  for (const mode of ['linear', 'nearest'] as const) {
    for (const coord of coordModes) {
      for (const [name, dims, scales, sizes] of variants) {
        it(`${mode} ${coord}, ${name}`, async () => {
          const attrs = { mode, coordinate_transformation_mode: coord };
          await checkGradient(lossModel(f32, dims, resize(attrs, scales, sizes)));
        });
      }
    }
  }
  const more: [string, number[], Body][] = [
    [
      'linear pytorch_half_pixel to a single row (its length-1 rule)',
      [1, 2, 4, 5],
      resize(
        { mode: 'linear', coordinate_transformation_mode: 'pytorch_half_pixel' },
        undefined,
        [1, 2, 1, 3],
      ),
    ],
    [
      'linear half_pixel, upsampling to sizes [9, 4] (height only changes)',
      [1, 1, 4, 4],
      resize({ mode: 'linear' }, undefined, [1, 1, 9, 4]),
    ],
    [
      'linear on a 2-D input',
      [3, 4],
      resize({ mode: 'linear', coordinate_transformation_mode: 'align_corners' }, [2, 2]),
    ],
    [
      'linear half_pixel_symmetric (opset 19) by scales',
      [1, 1, 4, 5],
      resize({ mode: 'linear', coordinate_transformation_mode: 'half_pixel_symmetric' }, [1, 1, 1.7, 0.8]),
    ],
    [
      'nearest round_prefer_ceil by scales [3, 0.5]',
      [1, 2, 3, 8],
      resize({ mode: 'nearest', nearest_mode: 'round_prefer_ceil' }, [1, 1, 3, 0.5]),
    ],
    [
      'nearest floor to sizes [5, 3]',
      [1, 2, 3, 8],
      resize({ mode: 'nearest', nearest_mode: 'floor' }, undefined, [1, 2, 5, 3]),
    ],
    [
      'nearest ceil, asymmetric, by scales [1.5, 2.5]',
      [1, 1, 4, 3],
      resize(
        { mode: 'nearest', nearest_mode: 'ceil', coordinate_transformation_mode: 'asymmetric' },
        [1, 1, 1.5, 2.5],
      ),
    ],
    [
      'nearest with the opset-18 axes attribute and sizes',
      [1, 2, 5, 6],
      resize({ mode: 'nearest', axes: [2, 3] }, undefined, [8, 4]),
    ],
  ];
  for (const [name, dims, body] of more) {
    it(name, async () => {
      await checkGradient(lossModel(f32, dims, body, 1, undefined, 19));
    });
  }
  it('nearest ×2 upsampling: the gradient is the sum over each 2×2 block (design §5)', async () => {
    const lm = lossModel(f32, [1, 1, 2, 3], resize({ mode: 'nearest' }, [1, 1, 2, 2]));
    const r = lossWeights(lm);
    const grad = await gradientAt(lm, values(6, testRandom(4)));
    grad.forEach((g, k) => {
      const [i, j] = [Math.floor(k / 3), k % 3];
      const block = [0, 1].flatMap((di) => [0, 1].map((dj) => r[(2 * i + di) * 6 + 2 * j + dj]!));
      expect(g).toBeCloseTo(
        block.reduce((a, v) => a + v, 0),
        5,
      );
    });
  });
  it('linear align_corners 2 → 3 along the width: hand-computed weights [1,0], [½,½], [0,1]', async () => {
    const lm = lossModel(
      f32,
      [1, 1, 1, 2],
      resize({ mode: 'linear', coordinate_transformation_mode: 'align_corners' }, undefined, [1, 1, 1, 3]),
    );
    const [r0, r1, r2] = lossWeights(lm);
    const grad = await gradientAt(lm, [0.3, -0.8]);
    expect(grad[0]).toBeCloseTo(r0! + r1! / 2, 6);
    expect(grad[1]).toBeCloseTo(r1! / 2 + r2!, 6);
  });
  it('cubic mode and channel resizing fail with GRAPH_ERR_UNSUPPORTED_OP naming the node', () => {
    const cubic = lossModel(f32, [1, 1, 4, 4], (b, x) =>
      b.node('Resize', [x, '', b.vector([1, 1, 2, 2])], { mode: 'cubic' }, { name: 'upsampler' }),
    );
    expectGraphError(
      () => buildGradientGraph(cubic.model, { wrt: 'x', loss: 'loss' }),
      'GRAPH_ERR_UNSUPPORTED_OP',
      /upsampler.*Resize.*cubic/,
    );
    const channels = lossModel(f32, [1, 2, 4, 4], (b, x) =>
      b.node('Resize', [x, '', b.vector([1, 2, 1, 1])], { mode: 'nearest' }, { name: 'widen' }),
    );
    expectGraphError(
      () => buildGradientGraph(channels.model, { wrt: 'x', loss: 'loss' }),
      'GRAPH_ERR_UNSUPPORTED_OP',
      /widen.*axis 1/,
    );
  });
});

describe('buildGradientGraph: activations, Sum and Dropout (float64, per-element FD)', () => {
  const cases: [string, number[], Body, number?][] = [
    ['Abs', [3, 4], (b, x) => b.node('Abs', [x])],
    [
      'Reciprocal (bases in [0.5, 2.5))',
      [3, 4],
      (b, x) => b.node('Reciprocal', [b.node('Add', [x, b.scalar(1.5, f64)])]),
    ],
    [
      'Reciprocal of negative bases',
      [2, 3],
      (b, x) => b.node('Reciprocal', [b.node('Sub', [x, b.scalar(1.5, f64)])]),
    ],
    ['LeakyRelu, default alpha 0.01', [3, 4], (b, x) => b.node('LeakyRelu', [x])],
    ['LeakyRelu alpha 0.2', [3, 4], (b, x) => b.node('LeakyRelu', [x], { alpha: 0.2 })],
    ['LeakyRelu alpha −0.3 (mask read from x)', [3, 4], (b, x) => b.node('LeakyRelu', [x], { alpha: -0.3 })],
    ['Sin', [3, 4], (b, x) => b.node('Sin', [b.node('Mul', [x, b.scalar(3, f64)])])],
    ['Cos', [3, 4], (b, x) => b.node('Cos', [b.node('Mul', [x, b.scalar(3, f64)])])],
    [
      'Sum of x [3,1] twice with [2,3,4] and [4] constants',
      [3, 1],
      (b, x, r) =>
        b.node('Sum', [x, param(b, f64, [2, 3, 4], r), b.node('Exp', [x]), param(b, f64, [4], r, 'q')]),
    ],
    ['Sum of a single input', [2, 3], (b, x) => b.node('Sum', [b.node('Tanh', [x])])],
    [
      'Dropout without optional inputs, mask output unused',
      [2, 3],
      (b, x) => b.node('Dropout', [b.node('Tanh', [x])], {}, { outputs: 2 })[0]!,
    ],
    [
      'Dropout (opset 12) with ratio and constant training_mode false',
      [2, 3],
      (b, x) =>
        b.node('Dropout', [
          b.node('Exp', [x]),
          b.scalar(0.3, f64),
          b.initializer('training', makeTensor('bool', [], [0])),
        ]),
      12,
    ],
    [
      'Dropout (opset 10, ratio attribute)',
      [2, 3],
      (b, x) => b.node('Dropout', [b.node('Sin', [x])], { ratio: 0.5 }),
      10,
    ],
  ];
  for (const [name, dims, body, opset] of cases) {
    it(name, async () => {
      await checkGradient(lossModel(f64, dims, body, 1, undefined, opset ?? 17));
    });
  }
  it('LeakyRelu gradient is R where x > 0 and alpha·R elsewhere (hand check)', async () => {
    const lm = lossModel(f64, [4], (b, x) => b.node('LeakyRelu', [x], { alpha: 0.25 }));
    const r = lossWeights(lm);
    expect(await gradientAt(lm, [0.5, -0.5, 2, -3])).toEqual([r[0], r[1]! * 0.25, r[2], r[3]! * 0.25]);
  });
  it('Dropout in inference mode passes R through unchanged (hand check)', async () => {
    const lm = lossModel(f64, [5], (b, x) => b.node('Dropout', [x, b.scalar(0.9, f64)]));
    expect(await gradientAt(lm, values(5, testRandom(3)))).toEqual(lossWeights(lm));
  });
  it('Dropout with training_mode true or computed fails with a coded error naming the node', () => {
    const training = lossModel(f64, [3], (b, x) =>
      b.node(
        'Dropout',
        [x, '', b.initializer('on', makeTensor('bool', [], [1]))],
        {},
        { name: 'drop_train' },
      ),
    );
    expectGraphError(
      () => buildGradientGraph(training.model, { wrt: 'x', loss: 'loss' }),
      'GRAPH_ERR_UNSUPPORTED_OP',
      /drop_train.*training mode/,
    );
    const computed = lossModel(f64, [3], (b, x) =>
      b.node(
        'Dropout',
        [x, '', b.node('Greater', [b.node('ReduceSum', [x], { keepdims: 0 }), b.scalar(0, f64)])],
        {},
        { name: 'drop_dyn' },
      ),
    );
    expectGraphError(
      () => buildGradientGraph(computed.model, { wrt: 'x', loss: 'loss' }),
      'GRAPH_ERR_DYNAMIC',
      /drop_dyn.*training_mode/,
    );
  });
});

describe('buildGradientGraph: activations and Mean without float64 kernels (float32, directional FD)', () => {
  const cases: [string, number[], Body][] = [
    ['Softplus', [3, 5], (b, x) => b.node('Softplus', [b.node('Mul', [x, b.scalar(3)])])],
    ['Elu, default alpha 1', [3, 5], (b, x) => b.node('Elu', [b.node('Mul', [x, b.scalar(2)])])],
    ['Elu alpha 0.4', [3, 5], (b, x) => b.node('Elu', [b.node('Mul', [x, b.scalar(2)])], { alpha: 0.4 })],
    // 4x spans [−4, 4), so both saturated regions and the linear one are hit.
    ['HardSigmoid, defaults', [3, 5], (b, x) => b.node('HardSigmoid', [b.node('Mul', [x, b.scalar(4)])])],
    [
      'HardSigmoid alpha 0.5, beta 0.3',
      [3, 5],
      (b, x) => b.node('HardSigmoid', [b.node('Mul', [x, b.scalar(2)])], { alpha: 0.5, beta: 0.3 }),
    ],
    [
      'Mean of x [3,1] twice with a [2,3,4] constant',
      [3, 1],
      (b, x, r) => b.node('Mean', [x, param(b, f32, [2, 3, 4], r), b.node('Tanh', [x])]),
    ],
  ];
  for (const [name, dims, body] of cases) {
    it(name, async () => {
      await checkGradient(lossModel(f32, dims, body));
    });
  }
  it('HardSigmoid gradient is alpha·R inside (0, 1) and 0 where it saturates (hand check)', async () => {
    // 0.2x + 0.5 at x = −3, 0, 2, 3.5: saturates at 0, inside, inside, saturates at 1.
    const lm = lossModel(f32, [4], (b, x) => b.node('HardSigmoid', [x]));
    const r = lossWeights(lm);
    const grad = await gradientAt(lm, [-3, 0, 2, 3.5]);
    expect(grad.map((g) => (g === 0 ? 0 : g))).toEqual([
      0,
      Math.fround(r[1]! * Math.fround(0.2)),
      Math.fround(r[2]! * Math.fround(0.2)),
      0,
    ]);
  });
  for (const approximate of ['none', 'tanh']) {
    it(`Gelu (opset 20), approximate="${approximate}"`, async () => {
      const body: Body = (b, x) => b.node('Gelu', [b.node('Mul', [x, b.scalar(3)])], { approximate });
      await checkGradient(lossModel(f32, [3, 5], body, 1, undefined, 20));
    });
  }
  it('Gelu with an unknown approximate mode fails naming the mode', () => {
    const lm = lossModel(f32, [2], (b, x) => b.node('Gelu', [x], { approximate: 'erf' }), 1, undefined, 20);
    expectGraphError(
      () => buildGradientGraph(lm.model, { wrt: 'x', loss: 'loss' }),
      'GRAPH_ERR_UNSUPPORTED_OP',
      /approximate="erf"/,
    );
  });
  it('Gelu slopes match the closed forms at x = −1, 0, 1 (hand check)', async () => {
    // Exact: Φ(x) + x·φ(x): Φ(1) = 0.8413447, φ(1) = 0.2419707, so 1.0833155 at 1 and −0.0833155 at −1.
    const exact = lossModel(f32, [3], (b, x) => b.node('Gelu', [x]), 1, undefined, 20);
    const r = lossWeights(exact);
    const g = await gradientAt(exact, [-1, 0, 1]);
    [-0.0833155, 0.5, 1.0833155].forEach((slope, i) => {
      expect(g[i]).toBeCloseTo(r[i]! * slope, 5);
    });
    // tanh form at 1: u = √(2/π)·1.044715 = 0.8335620, tanh u = 0.6823840,
    // ½(1 + tanh u) + ½(1 − tanh²u)·√(2/π)·1.134145 = 0.8411920 + 0.2417721 = 1.0829641.
    const tanh = lossModel(
      f32,
      [1],
      (b, x) => b.node('Gelu', [x], { approximate: 'tanh' }),
      1,
      undefined,
      20,
    );
    const [gt] = await gradientAt(tanh, [1]);
    expect(gt).toBeCloseTo(lossWeights(tanh)[0]! * 1.0829641, 5);
  });
  it('Mean of n inputs gives each R/n, summed over its broadcast axes (hand check)', async () => {
    const lm = lossModel(f32, [2], (b, x, r) => b.node('Mean', [x, param(b, f32, [3, 2], r), x]));
    const r = lossWeights(lm);
    const grad = await gradientAt(lm, [0.1, 0.2]);
    [0, 1].forEach((j) => {
      expect(grad[j]).toBeCloseTo((2 * (r[j]! + r[j + 2]! + r[j + 4]!)) / 3, 6);
    });
  });
});

describe('buildGradientGraph: Pad (float64, per-element FD)', () => {
  const pad = (pads: number[], mode?: string, axes?: number[]): Body => {
    return (b, x) =>
      b.node(
        'Pad',
        [b.node('Exp', [x]), b.int64s(pads), '', ...(axes === undefined ? [] : [b.int64s(axes)])],
        mode === undefined ? {} : { mode },
      );
  };
  const cases: [string, number[], Body, number?][] = [
    ['constant, positive pads on two axes', [2, 3, 4], pad([0, 1, 2, 0, 2, 1])],
    ['constant, negative pads crop (mixed with positive on one axis)', [3, 5], pad([-1, 2, 1, -2])],
    [
      'constant, opset-18 axes input with a negative axis',
      [2, 3, 4],
      pad([1, -1, 2, 0], 'constant', [-1, 1]),
      18,
    ],
    ['edge on H and W of NCHW', [1, 2, 3, 4], pad([0, 0, 2, 1, 0, 0, 1, 3], 'edge')],
    [
      'edge on a length-1 axis (head and tail land on one element)',
      [2, 1, 3],
      pad([0, 2, 1, 0, 1, 0], 'edge'),
    ],
    ['reflect on H and W of NCHW', [1, 2, 4, 5], pad([0, 0, 3, 1, 0, 0, 2, 4], 'reflect')],
    ['edge with cropping on the same axes', [3, 6], pad([-1, 2, 2, -3], 'edge')],
    ['reflect with cropping on the same axes', [4, 6], pad([2, -1, -1, 2], 'reflect')],
    ['reflect, opset-18 axes input', [2, 5, 4], pad([2, 1, 1, 3], 'reflect', [1, 2]), 18],
  ];
  for (const [name, dims, body, opset] of cases) {
    it(`Pad ${name}`, async () => {
      await checkGradient(lossModel(f64, dims, body, 1, undefined, opset ?? 17));
    });
  }
  it('Pad with a constant_value computed from x sends the padding’s gradient to it', async () => {
    await checkGradient(
      lossModel(f64, [3, 4], (b, x) =>
        b.node('Pad', [x, b.int64s([1, -1, 0, 2]), b.node('ReduceMean', [x], { keepdims: 0 })]),
      ),
    );
  });
  it('Pad edge and reflect fold the border gradients onto the copied elements (hand check)', async () => {
    // edge [2, 1] of [x0, x1, x2] is [x0, x0, x0, x1, x2, x2].
    const edge = lossModel(f64, [3], (b, x) => b.node('Pad', [x, b.int64s([2, 1])], { mode: 'edge' }));
    const e = lossWeights(edge);
    const ge = await gradientAt(edge, [0.1, 0.2, 0.3]);
    [e[0]! + e[1]! + e[2]!, e[3]!, e[4]! + e[5]!].forEach((want, i) => {
      expect(ge[i]).toBeCloseTo(want, 12);
    });
    // reflect [2, 1] of [x0, x1, x2, x3] is [x2, x1, x0, x1, x2, x3, x2].
    const reflect = lossModel(f64, [4], (b, x) => b.node('Pad', [x, b.int64s([2, 1])], { mode: 'reflect' }));
    const r = lossWeights(reflect);
    const gr = await gradientAt(reflect, [0.1, 0.2, 0.3, 0.4]);
    [r[2]!, r[1]! + r[3]!, r[0]! + r[4]! + r[6]!, r[5]!].forEach((want, i) => {
      expect(gr[i]).toBeCloseTo(want, 12);
    });
  });
  it('Pad wrap mode and computed pads fail with coded errors naming the node', () => {
    const wrap = lossModel(
      f64,
      [2, 3],
      (b, x) => b.node('Pad', [x, b.int64s([0, 1, 0, 1])], { mode: 'wrap' }, { name: 'circular' }),
      1,
      undefined,
      19,
    );
    expectGraphError(
      () => buildGradientGraph(wrap.model, { wrt: 'x', loss: 'loss' }),
      'GRAPH_ERR_UNSUPPORTED_OP',
      /circular.*Pad.*wrap/,
    );
    const b = new GraphBuilder('dynamic_pads');
    const x = b.input('x', f64, [2, 3]);
    const pads = b.input('pads', 'int64', [4]);
    b.node('Pad', [x, pads], {}, { name: 'pad_dyn', output: 'loss' });
    b.output('loss', f64);
    expectGraphError(
      () => buildGradientGraph(b.toModel(), { wrt: 'x', loss: 'loss' }),
      'GRAPH_ERR_DYNAMIC',
      /pad_dyn.*pads/,
    );
  });
});

describe('buildGradientGraph: ReduceSumSquare, ReduceL1, ReduceL2 (float64)', () => {
  const cases: [string, number[], Body, number][] = [
    [
      'ReduceSumSquare axes attribute, keepdims 0',
      [3, 4, 2],
      (b, x) => b.node('ReduceSumSquare', [x], { axes: [1], keepdims: 0 }),
      17,
    ],
    [
      'ReduceSumSquare (opset 18) axes input, keepdims 1',
      [3, 4, 2],
      (b, x) => b.node('ReduceSumSquare', [x, b.int64s([0, -1])]),
      18,
    ],
    ['ReduceL1 over all axes, keepdims 0', [3, 4], (b, x) => b.node('ReduceL1', [x], { keepdims: 0 }), 17],
    [
      'ReduceL1 (opset 18) axes input, keepdims 0',
      [2, 3, 4],
      (b, x) => b.node('ReduceL1', [x, b.int64s([1])], { keepdims: 0 }),
      18,
    ],
    [
      'ReduceL2 axes attribute with a negative axis',
      [3, 4, 2],
      (b, x) => b.node('ReduceL2', [x], { axes: [-2] }),
      17,
    ],
    [
      'ReduceL2 (opset 18) axes input, keepdims 0',
      [3, 4, 2],
      (b, x) => b.node('ReduceL2', [x, b.int64s([0, 2])], { keepdims: 0 }),
      18,
    ],
    ['ReduceL2 over all axes', [2, 5], (b, x) => b.node('ReduceL2', [x], { keepdims: 0 }), 17],
  ];
  for (const [name, dims, body, opset] of cases) {
    it(name, async () => {
      await checkGradient(lossModel(f64, dims, body, 1, undefined, opset));
    });
  }
  for (const op of ['ReduceSumSquare', 'ReduceL1', 'ReduceL2']) {
    it(`${op} (opset 18) with empty axes and noop_with_empty_axes (elementwise x², |x|)`, async () => {
      await checkGradient(
        lossModel(
          f64,
          [2, 3],
          (b, x) => b.node(op, [x, b.int64s([])], { noop_with_empty_axes: 1 }),
          1,
          undefined,
          18,
        ),
      );
    });
  }
  it('ReduceL2 gradient is R·x/‖x‖ per row, and 0 (not NaN) for an all-zero row (hand check)', async () => {
    const lm = lossModel(f64, [2, 2], (b, x) => b.node('ReduceL2', [x], { axes: [1], keepdims: 0 }));
    const r = lossWeights(lm);
    const grad = await gradientAt(lm, [3, -4, 0, 0]);
    [(r[0]! * 3) / 5, (r[0]! * -4) / 5, 0, 0].forEach((want, i) => {
      expect(grad[i]).toBeCloseTo(want, 12);
    });
  });
  it('ReduceSumSquare and ReduceL1 gradients are R·2x and R·sign(x) (hand check)', async () => {
    const square = lossModel(f64, [3], (b, x) => b.node('ReduceSumSquare', [x], { keepdims: 0 }));
    const [rs] = lossWeights(square);
    expect(await gradientAt(square, [0.5, -1, 2])).toEqual([rs!, -2 * rs!, 4 * rs!]);
    const l1 = lossModel(f64, [3], (b, x) => b.node('ReduceL1', [x], { keepdims: 0 }));
    const [r1] = lossWeights(l1);
    expect((await gradientAt(l1, [0.5, -1, 0])).map((g) => (g === 0 ? 0 : g))).toEqual([r1, -r1!, 0]);
  });
});

describe('buildGradientGraph: integer side paths and errors', () => {
  it('a Shape → Gather → Concat chain feeding a Reshape on the path needs no rule', async () => {
    await checkGradient(
      lossModel(f64, [2, 3, 4], (b, x) => {
        const n = b.node('Gather', [
          b.node('Shape', [x]),
          b.initializer('zero', makeTensor('int64', [1], [0])),
        ]);
        const target = b.node('Concat', [n, b.int64s([-1])], { axis: 0 });
        return b.node('Reshape', [b.node('Tanh', [x]), target]);
      }),
    );
  });
  it('a float ConstantOfShape of Shape(x) on the path contributes nothing', async () => {
    const lm = lossModel(f64, [2, 3], (b, x) => {
      const ones = b.node('ConstantOfShape', [b.node('Shape', [x])], { value: makeTensor(f64, [1], [1]) });
      return b.node('Add', [x, ones]);
    });
    expect(await checkGradient(lm)).toEqual(lossWeights(lm));
  });
  it('GRADIENT_OPS lists the new rules', () => {
    expect(GRADIENT_OPS).toEqual(
      expect.arrayContaining([
        'Pow',
        'Sqrt',
        'Erf',
        'Exp',
        'Log',
        'ConvTranspose',
        'Concat',
        'Split',
        'Slice',
        'Gather',
        'ReduceMax',
        'ReduceMin',
        'InstanceNormalization',
        'GroupNormalization',
        'LayerNormalization',
        'Resize',
        'Cast',
        'Constant',
        'Where',
        'Expand',
        'Tile',
        'Max',
        'Min',
        'Abs',
        'Reciprocal',
        'Softplus',
        'LeakyRelu',
        'Elu',
        'HardSigmoid',
        'Sin',
        'Cos',
        'Dropout',
        'Pad',
        'ReduceSumSquare',
        'ReduceL1',
        'ReduceL2',
        'Sum',
        'Mean',
      ]),
    );
  });
  it('an op without a rule fails with GRAPH_ERR_UNSUPPORTED_OP naming the node and op type', () => {
    const lm = lossModel(f64, [3], (b, x) => b.node('Tan', [b.node('Exp', [x])], {}, { name: 'my_tangent' }));
    expectGraphError(
      () => buildGradientGraph(lm.model, { wrt: 'x', loss: 'loss' }),
      'GRAPH_ERR_UNSUPPORTED_OP',
      /my_tangent.*op type Tan/,
    );
  });
  it('ConvTranspose weight gradients, SAME padding and output_padding ≥ stride are rejected', () => {
    const weights = lossModel(f32, [1, 1, 2, 2], (b, w, r) =>
      b.node('ConvTranspose', [param(b, f32, [1, 1, 3, 3], r), w], {}, { name: 'deconv' }),
    );
    expectGraphError(
      () => buildGradientGraph(weights.model, { wrt: 'x', loss: 'loss' }),
      'GRAPH_ERR_UNSUPPORTED_OP',
      /deconv.*weights/,
    );
    const padded = convT([1, 2, 5, 4], [2, 2, 2, 2], { dilations: [3, 2], output_padding: [2, 0] });
    expectGraphError(
      () => buildGradientGraph(padded.model, { wrt: 'x', loss: 'loss' }),
      'GRAPH_ERR_UNSUPPORTED_OP',
      /ConvTranspose.*output_padding.*axis 0/,
    );
    const same = lossModel(f32, [1, 1, 3, 3], (b, xx, r) =>
      b.node(
        'ConvTranspose',
        [xx, param(b, f32, [1, 1, 3, 3], r)],
        { auto_pad: 'SAME_UPPER', strides: [2, 2] },
        { name: 'up' },
      ),
    );
    expectGraphError(
      () => buildGradientGraph(same.model, { wrt: 'x', loss: 'loss' }),
      'GRAPH_ERR_UNSUPPORTED_OP',
      /up.*SAME_UPPER/,
    );
  });
});

describe('buildGradientGraph: forms chosen for onnxruntime speed stay exact', () => {
  const gradientNodes = (lm: { model: Model }) => {
    const forward = new Set(lm.model.graph.nodes.map((n) => n.name));
    return buildGradientGraph(lm.model, { wrt: 'x', loss: 'loss' }).graph.nodes.filter(
      (n) => !forward.has(n.name),
    );
  };
  it('exported GroupNorm (InstanceNormalization with a ones scale) skips the multiply by ones', async () => {
    const lm = lossModel(f32, [2, 6, 3, 4], (b, x, r) => {
      const grouped = b.node('Reshape', [x, b.int64s([2, 3, -1])]);
      const ones = b.initializer('in_scale', makeTensor(f32, [3], [1, 1, 1]));
      const zeros = b.initializer('in_bias', makeTensor(f32, [3], [0, 0, 0]));
      const normed = b.node('InstanceNormalization', [grouped, ones, zeros], { epsilon: 1e-5 });
      const back = b.node('Reshape', [normed, b.int64s([2, 6, 3, 4])]);
      return b.node('Add', [b.node('Mul', [back, param(b, f32, [6, 1, 1], r)]), param(b, f32, [6, 1, 1], r)]);
    });
    expect(gradientNodes(lm).some((n) => n.inputs.includes('in_scale'))).toBe(false);
    await checkGradient(lm);
  });
  it('LayerNormalization with a ones scale (float64, per element)', async () => {
    const lm = lossModel(f64, [3, 4], (b, x) =>
      b.node('LayerNormalization', [x, b.initializer('ones', makeTensor(f64, [4], [1, 1, 1, 1]))], {
        epsilon: 1e-3,
      }),
    );
    await checkGradient(lm);
  });
  const nearest = (scales: number[], attrs: NodeAttributes = {}): Body => {
    return (b, x) => b.node('Resize', [x, '', b.vector(scales)], { mode: 'nearest', ...attrs });
  };
  it('nearest ×2 × ×3 (asymmetric, floor) sums whole blocks with a depthwise Conv of ones', async () => {
    const lm = lossModel(
      f32,
      [2, 3, 3, 2],
      nearest([1, 1, 2, 3], { coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }),
    );
    const ops = gradientNodes(lm).map((n) => n.opType);
    expect(ops).toContain('Conv');
    expect(ops).not.toContain('MatMul');
    const r = lossWeights(lm);
    const grad = await gradientAt(lm, values(36, testRandom(2)));
    // Input (n, c, i, j) is copied to rows 2i, 2i+1 and columns 3j..3j+2 of the [6, 6] output.
    grad.forEach((g, k) => {
      const [nc, i, j] = [Math.floor(k / 6), Math.floor(k / 2) % 3, k % 2];
      let sum = 0;
      for (const di of [0, 1]) {
        for (const dj of [0, 1, 2]) {
          sum += r[nc * 36 + (2 * i + di) * 6 + 3 * j + dj]!;
        }
      }
      expect(g).toBeCloseTo(sum, 5);
    });
    await checkGradient(lm);
  });
  it('nearest ×2 along the width only is a [1, 2] block sum; a non-block factor keeps the MatMuls', async () => {
    const widthOnly = lossModel(f32, [1, 2, 3, 4], nearest([1, 1, 1, 2]));
    expect(gradientNodes(widthOnly).map((n) => n.opType)).toContain('Conv');
    await checkGradient(widthOnly);
    const uneven = lossModel(f32, [1, 2, 3, 4], nearest([1, 1, 1, 1.5]));
    expect(gradientNodes(uneven).map((n) => n.opType)).toContain('MatMul');
    await checkGradient(uneven);
  });
  it('SiLU x · Sigmoid(x), either operand order, takes the fused form (float64, per element)', async () => {
    for (const sigmoidFirst of [false, true]) {
      const lm = lossModel(f64, [2, 3, 4], (b, x) => {
        const s = b.node('Sigmoid', [x]);
        return b.node('Mul', sigmoidFirst ? [s, x] : [x, s]);
      });
      const backward = gradientNodes(lm).map((n) => n.opType);
      // g · R for the loss, then g · (s + y · (1 − s)): the product rule plus σ' would add three Muls.
      expect(backward.filter((o) => o === 'Mul')).toHaveLength(3);
      await checkGradient(lm, 5);
    }
  });
  it('SiLU whose sigmoid has another consumer still sums both paths (float64, per element)', async () => {
    const lm = lossModel(f64, [3, 5], (b, x) => {
      const s = b.node('Sigmoid', [x]);
      return b.node('Add', [b.node('Mul', [x, s]), b.node('Mul', [s, s])]);
    });
    await checkGradient(lm, 6);
  });
  it('ReLU masks with its output, so Conv keeps ReLU as its only consumer', async () => {
    const lm = lossModel(f32, [1, 2, 5, 5], (b, x, r) =>
      b.node('Relu', [
        b.node('Conv', [x, param(b, f32, [3, 2, 3, 3], r)], { pads: [1, 1, 1, 1] }, { name: 'c' }),
      ]),
    );
    const conv = lm.model.graph.nodes.find((n) => n.name === 'c')!.outputs[0]!;
    expect(gradientNodes(lm).some((n) => n.inputs.includes(conv))).toBe(false);
    await checkGradient(lm);
  });
});
