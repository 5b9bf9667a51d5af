import { describe, expect, it } from '@jest/globals';

import {
  type Model,
  GraphBuilder,
  appendClamp01,
  appendResnetPreprocess,
  appendScaleShift,
  composeModels,
  foldConstants,
  makeTensor,
  resnetPreprocessGeometry,
} from '../src';
import { firstDifference, randomTensor, runModel, testRandom, expectGraphError } from './helpers';

/** y = op(x, w) (+ z) with the same value, node and initializer names in both models. */
function tiny(op: 'Add' | 'Mul', w: number[], withZ: boolean, opset = 17): Model {
  const b = new GraphBuilder(op, { opset });
  const x = b.input('x', 'float32', ['n', 3]);
  const wName = b.initializer('w', makeTensor('float32', [3], w));
  let y = b.node(op, [x, wName], {}, { name: 'op', output: withZ ? 't' : 'y' });
  if (withZ) {
    y = b.node('Add', [y, b.input('z', 'float32', ['n', 3])], {}, { output: 'y' });
  } else {
    b.output(b.node('Relu', [x], {}, { output: 'y2' }), 'float32', ['n', 3]);
  }
  b.output(y, 'float32', ['n', 3]);
  return b.toModel();
}

describe('composeModels', () => {
  it('chains two models with colliding names and matches running them one after the other', async () => {
    const a = tiny('Add', [1, -2, 0.5], false);
    const b = tiny('Mul', [3, 0.25, -1], true);
    const ab = composeModels(a, b, { connect: { y: 'x' } });
    expect(ab.graph.inputs.map((v) => v.name)).toEqual(['a/x', 'b/z']);
    expect(ab.graph.outputs.map((v) => v.name)).toEqual(['a/y2', 'b/y']);
    expect(ab.graph.nodes.map((n) => n.name)).toEqual(['a/op', 'a/Relu', 'b/op', 'b/Add']);
    expect([...ab.graph.initializers.keys()]).toEqual(['a/w', 'b/w']);

    const rand = testRandom(11);
    const x = randomTensor('float32', [2, 3], rand);
    const z = randomTensor('float32', [2, 3], rand);
    const outA = await runModel(a, { x });
    const yA = makeTensor('float32', [2, 3], outA.y!.data as Float32Array);
    const outB = await runModel(b, { x: yA, z });
    const out = await runModel(ab, { 'a/x': x, 'b/z': z });
    expect(Array.from(out['b/y']!.data)).toEqual(Array.from(outB.y!.data));
    expect(Array.from(out['a/y2']!.data)).toEqual(Array.from(outA.y2!.data));
    // Hand check of one element: ((x + 1) · 3) + z.
    const x0 = (x.data as Float32Array)[0]!;
    const z0 = (z.data as Float32Array)[0]!;
    expect(out['b/y']!.data[0]).toBeCloseTo((x0 + 1) * 3 + z0, 5);
  });

  it('upgrades the lower opset (axes attribute → input at 18) so mixed exports run', async () => {
    const a13 = new GraphBuilder('a', { opset: 13 });
    a13.output(
      a13.node(
        'ReduceMean',
        [a13.input('x', 'float32', [2, 3, 4])],
        { axes: [2], keepdims: 0 },
        { output: 'm' },
      ),
      'float32',
      [2, 3],
    );
    const b18 = new GraphBuilder('b', { opset: 18 });
    b18.output(
      b18.node(
        'ReduceMean',
        [b18.input('m', 'float32', [2, 3]), b18.int64s([1])],
        { keepdims: 0 },
        { output: 'mm' },
      ),
      'float32',
      [2],
    );
    const ab = composeModels(a13.toModel(), b18.toModel(), { connect: { m: 'm' } });
    expect(ab.opsetImports).toEqual([{ domain: '', version: 18 }]);
    const x = makeTensor(
      'float32',
      [2, 3, 4],
      Array.from({ length: 24 }, (_, i) => i),
    );
    // Mean of 0..11 and of 12..23.
    expect(Array.from((await runModel(ab, { 'a/x': x }))['b/mm']!.data)).toEqual([5.5, 17.5]);
  });

  it('rejects unknown connection names, type mismatches and empty prefixes that collide', () => {
    const a = tiny('Add', [1, 1, 1], false);
    const b = tiny('Mul', [1, 1, 1], true);
    expectGraphError(() => composeModels(a, b, { connect: { nope: 'x' } }), 'GRAPH_ERR_COMPOSE', 'nope');
    expectGraphError(() => composeModels(a, b, { connect: { y: 'nope' } }), 'GRAPH_ERR_COMPOSE');
    const ints = new GraphBuilder('i');
    ints.output(ints.node('Identity', [ints.input('x', 'int64', [2])], {}, { output: 'y' }), 'int64', [2]);
    expectGraphError(
      () => composeModels(ints.toModel(), b, { connect: { y: 'x' } }),
      'GRAPH_ERR_COMPOSE',
      'int64',
    );
    expectGraphError(
      () => composeModels(a, b, { connect: { y: 'x' }, prefixA: '', prefixB: '' }),
      'GRAPH_ERR_COMPOSE',
      'both models',
    );
  });
});

describe('graph-op helpers', () => {
  it('appendScaleShift then appendClamp01 maps a VAE output x to clamp(x / 2 + 0.5, 0, 1)', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [5]);
    b.output(appendClamp01(b, appendScaleShift(b, x, 0.5, 0.5)), 'float32', [5]);
    const out = await runModel(b.toModel(), { x: makeTensor('float32', [5], [-1, 0, 0.5, 2, 3]) });
    expect(Array.from(Object.values(out)[0]!.data)).toEqual([0, 0.5, 0.75, 1, 1]);
  });

  it('computes torchvision geometry: long side int(232 · long / short), crop offsets with Python rounding', () => {
    expect(resnetPreprocessGeometry(512, 512)).toEqual({ resized: [232, 232], top: 4, left: 4 });
    // 232 · 400 / 300 = 309.33 → 309; (309 − 224) / 2 = 42.5 rounds to even: 42.
    expect(resnetPreprocessGeometry(300, 400)).toEqual({ resized: [232, 309], top: 4, left: 42 });
    expect(resnetPreprocessGeometry(400, 300)).toEqual({ resized: [309, 232], top: 42, left: 4 });
    // 232 · 333 / 250 = 309.02 → 309 again; 232 · 500 / 375 = 309.33.
    expect(resnetPreprocessGeometry(250, 333).resized).toEqual([232, 309]);
  });

  const MEAN = [0.485, 0.456, 0.406];
  const STD = [0.229, 0.224, 0.225];

  async function preprocess(height: number, width: number, image: Float32Array, batch = 1, opset = 17) {
    const b = new GraphBuilder('pre', { opset });
    const x = b.input('image', 'float32', ['n', 3, height, width]);
    b.output(appendResnetPreprocess(b, x, { height, width }), 'float32', ['n', 3, 224, 224]);
    const out = await runModel(b.toModel(opset), {
      image: makeTensor('float32', [batch, 3, height, width], image),
    });
    return { graph: b.graph, out: Object.values(out)[0]! };
  }

  it('normalises a constant image to (c − mean) / std everywhere, [1, 3, 224, 224] from 512 × 512', async () => {
    const c = [0.2, 0.5, 0.9];
    const image = new Float32Array(3 * 512 * 512).map((_, i) => c[Math.floor(i / (512 * 512))]!);
    const { out } = await preprocess(512, 512, image);
    expect(out.dims).toEqual([1, 3, 224, 224]);
    const data = out.data as Float32Array;
    for (let ch = 0; ch < 3; ch++) {
      const expected = (c[ch]! - MEAN[ch]!) / STD[ch]!;
      for (const i of [0, 1, 224 * 100 + 37, 224 * 224 - 1]) {
        expect(data[ch * 224 * 224 + i]).toBeCloseTo(expected, 5);
      }
    }
  });

  it('keeps a horizontal ramp a ramp: values follow the half-pixel source coordinate, for square and non-square inputs', async () => {
    for (const [height, width] of [
      [512, 512],
      [300, 400],
    ] as const) {
      // image[c, i, j] = j / (W − 1): linear in j, so bilinear interpolation reproduces it at any source point.
      const image = new Float32Array(3 * height * width).map((_, i) => (i % width) / (width - 1));
      const { out } = await preprocess(height, width, image);
      expect(out.dims).toEqual([1, 3, 224, 224]);
      const { resized, left } = resnetPreprocessGeometry(height, width);
      const data = out.data as Float32Array;
      for (const ch of [0, 2]) {
        for (const k of [0, 1, 100, 223]) {
          const src = (left + k + 0.5) * (width / resized[1]) - 0.5;
          const expected = (src / (width - 1) - MEAN[ch]!) / STD[ch]!;
          for (const row of [0, 150, 223]) {
            expect(data[ch * 224 * 224 + row * 224 + k]).toBeCloseTo(expected, 4);
          }
        }
      }
    }
  });

  it('keeps the batch dimension dynamic (opset 17 sizes from Shape, opset 18 sizes on axes) and folds for a fixed batch', async () => {
    const rand = testRandom(5);
    const image = Float32Array.from({ length: 2 * 3 * 240 * 260 }, () => rand());
    const r17 = await preprocess(240, 260, image, 2, 17);
    const r18 = await preprocess(240, 260, image, 2, 18);
    expect(r17.out.dims).toEqual([2, 3, 224, 224]);
    expect(firstDifference(r18.out.data, r17.out.data)).toBe(-1);
    const folded = foldConstants(r17.graph, { image: [2, 3, 240, 260] });
    expect(folded.nodes.map((n) => n.opType)).toEqual(['Resize', 'Slice', 'Sub', 'Div']);
    const f = await runModel(
      { irVersion: 8, opsetImports: [{ domain: '', version: 17 }], producerName: 't', graph: folded },
      { image: { dtype: 'float32', dims: [2, 3, 240, 260], data: image } },
    );
    expect(firstDifference(Object.values(f)[0]!.data, r17.out.data)).toBe(-1);
  });
});
