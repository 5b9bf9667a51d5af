import { describe, expect, it } from '@jest/globals';

import { GraphBuilder, countFlops, makeTensor } from '../src';

describe('countFlops', () => {
  it('counts 2 × MACs of Conv, ConvTranspose, MatMul and Gemm from hand-computed shapes', () => {
    const b = new GraphBuilder('flops');
    const x = b.input('x', 'float32', ['n', 2, 5, 5]);
    const zeros = (dims: number[]): ReturnType<typeof makeTensor> =>
      makeTensor('float32', dims, new Array<number>(dims.reduce((a, d) => a * d, 1)).fill(0));
    // Conv 2→4, 3×3, pad 1: out [n,4,5,5], each output 2·9 MACs.
    const c = b.node('Conv', [x, b.initializer('w', zeros([4, 2, 3, 3]))], { pads: [1, 1, 1, 1] });
    // ConvTranspose 4→3, 2×2, stride 2: each input element scatters into 3·4 outputs.
    const t = b.node('ConvTranspose', [c, b.initializer('wt', zeros([4, 3, 2, 2]))], { strides: [2, 2] });
    const flat = b.node('Flatten', [t], { axis: 1 }); // [n, 300]
    const m = b.node('MatMul', [flat, b.initializer('m', zeros([300, 7]))]); // [n, 7]
    b.node('Gemm', [m, b.initializer('g', zeros([5, 7]))], { transB: 1 }, { output: 'y' }); // [n, 5]
    b.output('y', 'float32', null);
    const n = 3;
    const count = countFlops(b.graph, { x: [n, 2, 5, 5] });
    expect(count.byOp).toEqual({
      Conv: 2 * n * 4 * 25 * 2 * 9,
      ConvTranspose: 2 * n * 4 * 25 * 3 * 4,
      MatMul: 2 * n * 7 * 300,
      Gemm: 2 * n * 5 * 7,
    });
    expect(count.total).toBe(2 * n * (1800 + 1200 + 2100 + 35));
  });
});
