import { describe, expect, it } from '@jest/globals';

import { type Model, type NodeAttributes, buildGradientGraph, sizeOf } from '../src';
import {
  type LossModel,
  checkGradient,
  f32,
  gradientAt,
  lossModel,
  lossWeights,
  param,
  values,
} from './grad-check';
import { testRandom } from './helpers';

/** Geometry of a 2-D Conv for the hand-written reference gradient. */
interface Geometry {
  x: readonly [number, number, number, number];
  w: readonly [number, number, number, number];
  strides: readonly [number, number];
  dilations: readonly [number, number];
  /** [top, left, bottom, right]. */
  pads: readonly [number, number, number, number];
  group: number;
}

function outSide(g: Geometry, axis: 0 | 1): number {
  const span = g.dilations[axis] * (g.w[axis + 2]! - 1) + 1;
  return Math.floor((g.x[axis + 2]! + g.pads[axis] + g.pads[axis + 2]! - span) / g.strides[axis]) + 1;
}

/**
 * ∂/∂x of Σ R ⊙ Conv(x, W) by the definition: every output element y[n, m, oh, ow] reads
 * x[n, c, oh·s − p + kh·d, ow·s − p + kw·d] with weight W[m, c − group·C/G, kh, kw], so it adds R·W there.
 */
function referenceGradient(g: Geometry, weights: Float32Array, r: readonly number[]): number[] {
  const [n, c, h, w] = g.x;
  const [m, cg, kh, kw] = g.w;
  const oh = outSide(g, 0);
  const ow = outSide(g, 1);
  const mg = m / g.group;
  const dx = new Array<number>(n * c * h * w).fill(0);
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < m; o++) {
      const group = Math.floor(o / mg);
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          const rv = r[((b * m + o) * oh + i) * ow + j]!;
          for (let ci = 0; ci < cg; ci++) {
            for (let a = 0; a < kh; a++) {
              for (let e = 0; e < kw; e++) {
                const y = i * g.strides[0] - g.pads[0] + a * g.dilations[0];
                const z = j * g.strides[1] - g.pads[1] + e * g.dilations[1];
                if (y < 0 || y >= h || z < 0 || z >= w) {
                  continue;
                }
                const channel = group * cg + ci;
                dx[((b * c + channel) * h + y) * w + z]! += rv * weights[((o * cg + ci) * kh + a) * kw + e]!;
              }
            }
          }
        }
      }
    }
  }
  return dx;
}

function convModel(g: Geometry): LossModel {
  return lossModel(f32, [...g.x], (b, x, rand) =>
    b.node('Conv', [x, param(b, f32, [...g.w], rand, 'w')], {
      strides: [...g.strides],
      dilations: [...g.dilations],
      pads: [...g.pads],
      group: g.group,
    }),
  );
}

function gradientOps(model: Model): string[] {
  const forward = new Set(model.graph.nodes.map((n) => n.name));
  const gm = buildGradientGraph(model, { wrt: 'x', loss: 'loss' });
  return gm.graph.nodes.filter((n) => !forward.has(n.name)).map((n) => n.opType);
}

const base = { strides: [1, 1], dilations: [1, 1], pads: [0, 0, 0, 0], group: 1 } as const;

// [name, geometry, the op the input gradient should be]: stride 1 with pads ≤ d·(k − 1) takes the
// flipped-weight Conv, anything else the ConvTranspose.
const cases: [string, Geometry, 'Conv' | 'ConvTranspose'][] = [
  ['3×3 pad 1, 3 → 5 channels', { ...base, x: [2, 3, 6, 5], w: [5, 3, 3, 3], pads: [1, 1, 1, 1] }, 'Conv'],
  ['1×1 without padding (no flip)', { ...base, x: [1, 4, 3, 3], w: [6, 4, 1, 1] }, 'Conv'],
  [
    'depthwise (group = C = 4) 3×3 pad 1',
    { ...base, x: [1, 4, 5, 6], w: [4, 1, 3, 3], pads: [1, 1, 1, 1], group: 4 },
    'Conv',
  ],
  [
    'depthwise with channel multiplier 2 (group 3, 3 → 6)',
    { ...base, x: [1, 3, 5, 5], w: [6, 1, 3, 2], pads: [1, 0, 1, 1], group: 3 },
    'Conv',
  ],
  [
    'grouped (group 2, 4 → 6) with dilations [2, 1] and asymmetric pads',
    { ...base, x: [2, 4, 7, 6], w: [6, 2, 3, 2], dilations: [2, 1], pads: [3, 0, 1, 1], group: 2 },
    'Conv',
  ],
  [
    'pads at the limit d·(k − 1) on one side and 0 on the other',
    { ...base, x: [1, 2, 5, 5], w: [3, 2, 3, 3], pads: [2, 0, 0, 2] },
    'Conv',
  ],
  [
    'a pad above d·(k − 1) falls back to ConvTranspose',
    { ...base, x: [1, 2, 5, 5], w: [3, 2, 3, 3], pads: [3, 1, 1, 1] },
    'ConvTranspose',
  ],
  [
    'stride 2 takes ConvTranspose',
    { ...base, x: [1, 3, 7, 8], w: [4, 3, 3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
    'ConvTranspose',
  ],
  [
    'depthwise stride 2 takes ConvTranspose',
    { ...base, x: [1, 4, 8, 7], w: [4, 1, 3, 3], strides: [2, 2], pads: [1, 1, 1, 1], group: 4 },
    'ConvTranspose',
  ],
  [
    'grouped stride [1, 2] takes ConvTranspose',
    { ...base, x: [1, 4, 6, 7], w: [6, 2, 3, 3], strides: [1, 2], pads: [1, 1, 1, 1], group: 2 },
    'ConvTranspose',
  ],
];

describe('Conv input gradient: flipped-weight Conv at stride 1, ConvTranspose otherwise', () => {
  for (const [name, geometry, op] of cases) {
    it(`${name}: ${op}, equal to the definition and to FD`, async () => {
      const lm = convModel(geometry);
      const ops = gradientOps(lm.model);
      expect(ops.filter((o) => o === 'Conv' || o === 'ConvTranspose')).toEqual([op]);
      const x = values(sizeOf(geometry.x), testRandom(5));
      const grad = await gradientAt(lm, x);
      const weights = lm.model.graph.initializers.get('w')!.data as Float32Array;
      const expected = referenceGradient(geometry, weights, lossWeights(lm));
      expect(grad).toHaveLength(expected.length);
      const scale = Math.max(...expected.map(Math.abs));
      grad.forEach((v, i) => {
        expect(Math.abs(v - expected[i]!)).toBeLessThan(1e-5 * scale);
      });
      await checkGradient(lm, 7);
    });
  }

  it('builds the flipped weights from W with graph ops, adding no float initializer', () => {
    const lm = convModel({ ...base, x: [1, 4, 6, 6], w: [6, 2, 3, 3], pads: [1, 1, 1, 1], group: 2 });
    const gm = buildGradientGraph(lm.model, { wrt: 'x', loss: 'loss' });
    const added = [...gm.graph.initializers].filter(([k]) => !lm.model.graph.initializers.has(k));
    // The loss seed is the only float added: W' costs no second copy of the weights in the file.
    expect(added.filter(([, t]) => t.dtype !== 'int64').map(([, t]) => sizeOf(t.dims))).toEqual([1]);
    const grad = gm.graph.nodes.find((n) => n.opType === 'Conv' && n.name.startsWith('grad/'))!;
    const slice = gm.graph.nodes.find((n) => n.outputs[0] === grad.inputs[1])!;
    expect(slice.opType).toBe('Slice');
    expect(grad.attributes.pads).toEqual({ type: 'ints', value: [1, 1, 1, 1] });
  });

  it('1-D and 3-D stride-1 convolutions match FD', async () => {
    const oneD: NodeAttributes = { pads: [2, 1], dilations: [2] };
    const lm1 = lossModel(f32, [2, 3, 9], (b, x, r) =>
      b.node('Conv', [x, param(b, f32, [4, 3, 3], r)], oneD),
    );
    expect(gradientOps(lm1.model)).toContain('Conv');
    await checkGradient(lm1);
    const lm3 = lossModel(f32, [1, 2, 4, 5, 3], (b, x, r) =>
      b.node('Conv', [x, param(b, f32, [3, 2, 3, 2, 3], r)], { pads: [1, 0, 1, 1, 1, 1] }),
    );
    expect(gradientOps(lm3.model)).toContain('Conv');
    await checkGradient(lm3);
  });

  it('auto_pad SAME_LOWER with an even kernel at stride 1 (asymmetric resolved pads)', async () => {
    const lm = lossModel(f32, [1, 2, 6, 5], (b, x, r) =>
      b.node('Conv', [x, param(b, f32, [3, 2, 4, 2], r)], { auto_pad: 'SAME_LOWER' }),
    );
    expect(gradientOps(lm.model)).toContain('Conv');
    await checkGradient(lm);
  });
});
