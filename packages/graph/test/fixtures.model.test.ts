import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from '@jest/globals';

import {
  FIXTURE_KINDS,
  type FixtureKind,
  type Model,
  type Node,
  type TensorData,
  type ValueInfo,
  clipTextFixture,
  clipVisionFixture,
  countOps,
  encodeModel,
  fixtureFileName,
  fixtureModel,
  foldConstants,
  inferShapes,
  makeTensor,
  resnetClassifierFixture,
  sdTextEncoderFixture,
  sizeOf,
  unetFixture,
  vaeDecoderFixture,
  vaeEncoderFixture,
  writeFixture,
} from '../src';
import { clipTextReference, project, tinyResnetLogits, weight } from './fixtures.reference';
import { type RunOutput, expectGraphError, runModel, testRandom } from './helpers';

const dir = mkdtempSync(join(tmpdir(), 'synood-graph-fixtures-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const EOS = 49407;

function floats(dims: number[], rand: () => number, lo = -1, hi = 1): TensorData {
  return makeTensor(
    'float32',
    dims,
    Array.from({ length: sizeOf(dims) }, () => lo + (hi - lo) * rand()),
  );
}

/** Token ids with a unique EOS (the largest id) at `eosAt` in each row, padded with EOS after it. */
function tokenIds(dtype: 'int32' | 'int64', rows: number, len: number, rand: () => number): TensorData {
  const values: number[] = [];
  for (let r = 0; r < rows; r++) {
    const eosAt = 1 + ((r * 2) % (len - 1));
    for (let t = 0; t < len; t++) {
      values.push(t < eosAt ? 1 + Math.floor(rand() * 49000) : EOS);
    }
  }
  return makeTensor(dtype, [rows, len], values);
}

type Dim = number | string;

/** What each fixture must expose, written from the real exports' interfaces (design §8, the brief). */
interface Spec {
  inputs: { name: string; dtype: string; dims: Dim[] }[];
  outputs: { name: string; dtype: string; dims: Dim[] }[];
  /** Feeds for a batch of 3; inputs whose first dim is `batch_size` are batch-major. */
  feeds: (rand: () => number) => Record<string, TensorData>;
  /** Concrete output dims for batch `b` under those feeds. */
  runDims: (b: number) => Record<string, number[]>;
}

const SPECS: Record<FixtureKind, Spec> = {
  resnet: {
    inputs: [{ name: 'input', dtype: 'float32', dims: ['batch_size', 3, 'height', 'width'] }],
    outputs: [{ name: 'logits', dtype: 'float32', dims: ['batch_size', 10] }],
    feeds: (r) => ({ input: floats([3, 3, 16, 16], r, -2, 2) }),
    runDims: (b) => ({ logits: [b, 10] }),
  },
  'clip-vision': {
    inputs: [{ name: 'pixel_values', dtype: 'float32', dims: ['batch_size', 3, 32, 32] }],
    outputs: [
      { name: 'image_embeds', dtype: 'float32', dims: ['batch_size', 16] },
      { name: 'last_hidden_state', dtype: 'float32', dims: ['batch_size', 17, 32] },
    ],
    feeds: (r) => ({ pixel_values: floats([3, 3, 32, 32], r, -2, 2) }),
    runDims: (b) => ({ image_embeds: [b, 16], last_hidden_state: [b, 17, 32] }),
  },
  'clip-text': {
    inputs: [{ name: 'input_ids', dtype: 'int64', dims: ['batch_size', 'sequence_length'] }],
    outputs: [
      { name: 'text_embeds', dtype: 'float32', dims: ['batch_size', 16] },
      { name: 'last_hidden_state', dtype: 'float32', dims: ['batch_size', 'sequence_length', 32] },
    ],
    feeds: (r) => ({ input_ids: tokenIds('int64', 3, 7, r) }),
    runDims: (b) => ({ text_embeds: [b, 16], last_hidden_state: [b, 7, 32] }),
  },
  'sd-text-encoder': {
    inputs: [{ name: 'input_ids', dtype: 'int32', dims: ['batch_size', 'sequence_length'] }],
    outputs: [
      { name: 'last_hidden_state', dtype: 'float32', dims: ['batch_size', 'sequence_length', 32] },
      { name: 'pooler_output', dtype: 'float32', dims: ['batch_size', 32] },
    ],
    feeds: (r) => ({ input_ids: tokenIds('int32', 3, 7, r) }),
    runDims: (b) => ({ last_hidden_state: [b, 7, 32], pooler_output: [b, 32] }),
  },
  'vae-encoder': {
    inputs: [{ name: 'sample', dtype: 'float32', dims: ['batch_size', 3, 'height', 'width'] }],
    outputs: [
      {
        name: 'latent_parameters',
        dtype: 'float32',
        dims: ['batch_size', 8, 'height_latent', 'width_latent'],
      },
    ],
    feeds: (r) => ({ sample: floats([3, 3, 12, 8], r) }),
    runDims: (b) => ({ latent_parameters: [b, 8, 6, 4] }),
  },
  'vae-decoder': {
    inputs: [
      { name: 'latent_sample', dtype: 'float32', dims: ['batch_size', 4, 'height_latent', 'width_latent'] },
    ],
    outputs: [{ name: 'sample', dtype: 'float32', dims: ['batch_size', 3, 'height', 'width'] }],
    feeds: (r) => ({ latent_sample: floats([3, 4, 6, 4], r, -3, 3) }),
    runDims: (b) => ({ sample: [b, 3, 12, 8] }),
  },
  unet: {
    inputs: [
      { name: 'sample', dtype: 'float32', dims: ['batch_size', 9, 'height', 'width'] },
      { name: 'timestep', dtype: 'int64', dims: ['timestep_batch'] },
      {
        name: 'encoder_hidden_states',
        dtype: 'float32',
        dims: ['batch_size', 'sequence_length', 32],
      },
    ],
    outputs: [{ name: 'out_sample', dtype: 'float32', dims: ['batch_size', 4, 'height', 'width'] }],
    feeds: (r) => ({
      sample: floats([3, 9, 8, 6], r, -2, 2),
      timestep: makeTensor('int64', [1], [601]),
      encoder_hidden_states: floats([3, 5, 32], r, -2, 2),
    }),
    runDims: (b) => ({ out_sample: [b, 4, 8, 6] }),
  },
};

const built = new Map<FixtureKind, Model>();
function model(kind: FixtureKind): Model {
  let m = built.get(kind);
  if (m === undefined) {
    m = fixtureModel(kind);
    built.set(kind, m);
  }
  return m;
}

/** The first row of a batch-major tensor. */
function firstRow(t: TensorData): TensorData {
  const per = sizeOf(t.dims.slice(1));
  return { dtype: t.dtype, dims: [1, ...t.dims.slice(1)], data: t.data.slice(0, per) } as TensorData;
}

function values(o: RunOutput): number[] {
  return Array.from(o.data, Number);
}

function std(a: number[]): number {
  const m = a.reduce((s, v) => s + v, 0) / a.length;
  return Math.sqrt(a.reduce((s, v) => s + (v - m) ** 2, 0) / a.length);
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / (1 + Math.abs(expected[i]!)));
  }
  expect(worst).toBeLessThan(tol);
}

function ops(m: Model): string[] {
  return m.graph.nodes.map((n) => n.opType);
}

function count(m: Model, op: string): number {
  return ops(m).filter((o) => o === op).length;
}

function producer(m: Model, value: string): Node | undefined {
  return m.graph.nodes.find((n) => n.outputs.includes(value));
}

function defaultOpset(m: Model): number | undefined {
  return m.opsetImports.find((o) => o.domain === '')?.version;
}

function interfaceOf(v: ValueInfo[]): { name: string; dtype: string; dims: Dim[] | null }[] {
  return v.map((x) => ({ name: x.name, dtype: x.dtype, dims: x.dims }));
}

describe.each(FIXTURE_KINDS.map((k) => [k]))('%s fixture in onnxruntime', (kind) => {
  const spec = SPECS[kind];

  it('declares the real export’s input and output names, dtypes and dims', () => {
    const m = model(kind);
    expect(interfaceOf(m.graph.inputs)).toEqual(spec.inputs);
    expect(interfaceOf(m.graph.outputs)).toEqual(spec.outputs);
  });

  it('runs at batch 1 and 3, each row computed independently of the others', async () => {
    const m = model(kind);
    const feeds3 = spec.feeds(testRandom(kind.length));
    const feeds1 = Object.fromEntries(
      Object.entries(feeds3).map(([name, t]) => {
        const batchMajor = spec.inputs.find((i) => i.name === name)!.dims[0] === 'batch_size';
        return [name, batchMajor ? firstRow(t) : t];
      }),
    );
    const out3 = await runModel(m, feeds3);
    const out1 = await runModel(m, feeds1);
    for (const [b, out] of [
      [3, out3],
      [1, out1],
    ] as const) {
      expect(Object.keys(out).sort()).toEqual(spec.outputs.map((o) => o.name).sort());
      for (const [name, dims] of Object.entries(spec.runDims(b))) {
        expect([name, out[name]!.type, out[name]!.dims]).toEqual([name, 'float32', dims]);
      }
    }
    for (const o of spec.outputs) {
      const all = values(out3[o.name]!);
      expect(all.every(Number.isFinite)).toBe(true);
      // Informative: neither collapsed to a constant nor blown up.
      expect(std(all)).toBeGreaterThan(0.05);
      expect(Math.max(...all.map(Math.abs))).toBeLessThan(100);
      const per = all.length / 3;
      expectClose(values(out1[o.name]!), all.slice(0, per), 1e-4);
      // Different inputs give different rows.
      expect(std(all.slice(0, per).map((v, i) => v - all[per + i]!))).toBeGreaterThan(1e-3);
    }
  });

  it('has static shapes the graph toolkit infers as onnxruntime computes them', () => {
    const m = model(kind);
    const feeds = spec.feeds(testRandom(1));
    const shapes = inferShapes(
      m.graph,
      Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.dims])),
      { opset: defaultOpset(m) },
    );
    for (const [name, dims] of Object.entries(spec.runDims(3))) {
      expect([name, shapes.get(name)?.dims]).toEqual([name, dims]);
    }
  });

  it('is deterministic in the seed: same seed, same bytes; another seed, other weights', () => {
    const a = encodeModel(fixtureModel(kind, { seed: 11 })).model;
    const b = encodeModel(fixtureModel(kind, { seed: 11 })).model;
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
    const m11 = fixtureModel(kind, { seed: 11 });
    const m12 = fixtureModel(kind, { seed: 12 });
    expect(ops(m12)).toEqual(ops(m11));
    let compared = 0;
    for (const [name, t] of m11.graph.initializers) {
      // Parameters only: constants such as the UNet's sinusoid frequencies do not depend on the seed.
      if (t.dtype === 'float32' && t.data.length >= 8 && /(weight|weight_t|bias|embedding)$/.test(name)) {
        const other = m12.graph.initializers.get(name)!.data;
        expect(t.data.every((v, i) => v === other[i])).toBe(false);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(3);
  });
});

describe('exporter patterns', () => {
  it('resnet: folded-BN convs with bias, MaxPool k3 s2 p1, residual Adds, GAP → Flatten → Gemm transB=1', () => {
    const m = resnetClassifierFixture();
    expect(defaultOpset(m)).toBe(17);
    const pool = m.graph.nodes.find((n) => n.opType === 'MaxPool')!;
    expect(pool.attributes).toMatchObject({
      kernel_shape: { type: 'ints', value: [3, 3] },
      strides: { type: 'ints', value: [2, 2] },
      pads: { type: 'ints', value: [1, 1, 1, 1] },
    });
    const convs = m.graph.nodes.filter((n) => n.opType === 'Conv');
    // Stem, two convs per BasicBlock, one downsample.
    expect(convs).toHaveLength(6);
    expect(convs.every((c) => c.inputs.length === 3)).toBe(true);
    expect(count(m, 'BatchNormalization')).toBe(0);
    expect(count(m, 'Add')).toBe(2);
    const gemm = m.graph.nodes.find((n) => n.opType === 'Gemm')!;
    expect(gemm.attributes.transB).toEqual({ type: 'int', value: 1 });
    expect(gemm.outputs).toEqual(['logits']);
    expect(producer(m, gemm.inputs[0]!)?.opType).toBe('Flatten');
    expect(ops(m).slice(-3)).toEqual(['GlobalAveragePool', 'Flatten', 'Gemm']);
  });

  it('resnet: a fixed imageSize fixes H and W; the resnet50 layout has the real topology and ~25.5M parameters', () => {
    expect(resnetClassifierFixture({ imageSize: 224 }).graph.inputs[0]!.dims).toEqual([
      'batch_size',
      3,
      224,
      224,
    ]);
    const m = resnetClassifierFixture({ layout: 'resnet50' });
    // 1 stem conv, 16 Bottlenecks of 3 convs, 4 downsample convs; ReLU after the stem, inside and after each block.
    expect(count(m, 'Conv')).toBe(53);
    expect(count(m, 'Relu')).toBe(1 + 16 * 3);
    expect(count(m, 'Add')).toBe(16);
    expect(m.graph.outputs[0]!.dims).toEqual(['batch_size', 1000]);
    let expected = 3 * 64 * 49 + 64;
    let cin = 64;
    for (const [width, depth] of [
      [64, 3],
      [128, 4],
      [256, 6],
      [512, 3],
    ] as const) {
      for (let j = 0; j < depth; j++) {
        expected += cin * width + width + width * width * 9 + width + width * 4 * width + 4 * width;
        if (j === 0) {
          expected += cin * 4 * width + 4 * width;
        }
        cin = 4 * width;
      }
    }
    expected += 2048 * 1000 + 1000;
    let params = 0;
    for (const t of m.graph.initializers.values()) {
      params += t.data.length;
    }
    expect(params).toBe(expected);
    expect(params / 1e6).toBeCloseTo(25.5, 0);
  });

  it('vae-decoder: opset 14 GroupNorm via InstanceNormalization, x·Sigmoid(x), Shape-derived reshapes, Resize with Constant scales', () => {
    const m = vaeDecoderFixture();
    expect(defaultOpset(m)).toBe(14);
    expect(count(m, 'GroupNormalization')).toBe(0);
    expect(count(m, 'LayerNormalization')).toBe(0);
    const inorm = m.graph.nodes.filter((n) => n.opType === 'InstanceNormalization');
    expect(inorm.length).toBeGreaterThan(0);
    for (const n of inorm) {
      const reshape = producer(m, n.inputs[0]!)!;
      expect(reshape.opType).toBe('Reshape');
      const target = producer(m, reshape.inputs[1]!)!;
      expect(target.opType).toBe('Constant');
      expect(
        target.attributes.value?.type === 'tensor' && Array.from(target.attributes.value.value.data, Number),
      ).toEqual([0, 4, -1]);
    }
    for (const s of m.graph.nodes.filter((n) => n.opType === 'Sigmoid')) {
      const mul = m.graph.nodes.find((n) => n.opType === 'Mul' && n.inputs.includes(s.outputs[0]!))!;
      expect(mul.inputs).toContain(s.inputs[0]);
    }
    const resizes = m.graph.nodes.filter((n) => n.opType === 'Resize');
    expect(resizes).toHaveLength(1);
    const scales = producer(m, resizes[0]!.inputs[2]!)!;
    expect(scales.opType).toBe('Constant');
    expect(
      scales.attributes.value?.type === 'tensor' && Array.from(scales.attributes.value.value.data, Number),
    ).toEqual([1, 1, 2, 2]);
    expect(resizes[0]!.attributes.mode).toEqual({ type: 'string', value: 'nearest' });
    expect(count(m, 'Shape')).toBeGreaterThan(0);
    expect(count(m, 'Softmax')).toBe(1);
    // The attention's reshape targets: Concat of Unsqueezed Gathers from Shape.
    const dynamic = m.graph.nodes.filter((n) => {
      if (n.opType !== 'Reshape') {
        return false;
      }
      const target = producer(m, n.inputs[1]!);
      return (
        target?.opType === 'Concat' &&
        target.inputs.some((i) => {
          const u = producer(m, i);
          const g = u?.opType === 'Unsqueeze' ? producer(m, u.inputs[0]!) : undefined;
          return g?.opType === 'Gather' && producer(m, g.inputs[0]!)?.opType === 'Shape';
        })
      );
    });
    expect(dynamic.length).toBeGreaterThanOrEqual(4);
    expect(ops(m)).toEqual(expect.arrayContaining(['MatMul', 'Transpose', 'Div']));
    expect(vaeDecoderFixture({ factor: 8 }).graph.nodes.filter((n) => n.opType === 'Resize')).toHaveLength(3);
    // Under static shapes the Shape chains fold away, as they must for the gradient builder.
    const folded = foldConstants(m.graph, { latent_sample: [1, 4, 4, 4] }, { opset: 14 });
    expect(countOps(folded).Shape ?? 0).toBe(0);
  });

  it('vae-encoder: padded stride-2 convs and a mean ‖ logvar output of 8 channels', () => {
    const m = vaeEncoderFixture({ factor: 4 });
    expect(defaultOpset(m)).toBe(14);
    expect(count(m, 'Pad')).toBe(2);
    expect(count(m, 'InstanceNormalization')).toBeGreaterThan(0);
    expect(producer(m, 'latent_parameters')?.opType).toBe('Conv');
  });

  it('clip-vision: bias-free patch conv, class token, LayerNormalization, quick_gelu, projection MatMul', () => {
    const m = clipVisionFixture();
    expect(defaultOpset(m)).toBe(17);
    const patch = m.graph.nodes.find((n) => n.opType === 'Conv')!;
    expect(patch.inputs).toHaveLength(2);
    expect(patch.attributes.strides).toEqual({ type: 'ints', value: [8, 8] });
    // pre_layrnorm, two per layer, post_layernorm.
    expect(count(m, 'LayerNormalization')).toBe(4);
    expect(ops(m)).toEqual(expect.arrayContaining(['Expand', 'Concat', 'Softmax', 'Sigmoid']));
    const quick = m.graph.nodes.filter((n) => {
      const c =
        n.opType === 'Mul'
          ? n.inputs.map((i) => producer(m, i)).find((p) => p?.opType === 'Constant')
          : undefined;
      return (
        c?.attributes.value?.type === 'tensor' &&
        Math.abs((c.attributes.value.value.data[0] as number) - 1.702) < 1e-6
      );
    });
    expect(quick).toHaveLength(1);
    expect(producer(m, 'image_embeds')?.opType).toBe('MatMul');
  });

  it('clip-text and sd-text-encoder: causal Trilu mask, EOS pooling by ArgMax, opset-17 vs opset-14 LayerNorm', () => {
    const clip = clipTextFixture();
    expect(ops(clip)).toEqual(expect.arrayContaining(['Trilu', 'ArgMax', 'GatherND', 'LayerNormalization']));
    const sd = sdTextEncoderFixture();
    expect(defaultOpset(sd)).toBe(14);
    expect(count(sd, 'LayerNormalization')).toBe(0);
    expect(ops(sd)).toEqual(expect.arrayContaining(['Trilu', 'ArgMax', 'ReduceMean', 'Pow', 'Sqrt', 'Erf']));
  });

  it('unet: sinusoidal timestep embedding, Gemm time MLP, cross-attention on the text states, skip Concat', () => {
    const m = unetFixture();
    expect(defaultOpset(m)).toBe(14);
    expect(ops(m)).toEqual(
      expect.arrayContaining(['Sin', 'Cos', 'Gemm', 'Resize', 'Split', 'InstanceNormalization']),
    );
    const context = m.graph.nodes.filter((n) => n.inputs.includes('encoder_hidden_states'));
    // The key and value projections of the cross-attention read the text states.
    expect(context.map((n) => n.opType)).toEqual(['MatMul', 'MatMul', 'Shape']);
  });
});

describe('fixture numerics against plain-JS re-computations', () => {
  it('tiny resnet logits match torchvision BasicBlock semantics', async () => {
    const width = 2;
    const m = resnetClassifierFixture({ width, classes: 3, seed: 4 });
    const x = floats([2, 3, 20, 20], testRandom(9), -2, 2);
    const out = await runModel(m, { input: x });
    const expected: number[] = [];
    for (let b = 0; b < 2; b++) {
      const image = Float64Array.from(x.data.slice(b * 1200, (b + 1) * 1200) as Float32Array);
      expected.push(...tinyResnetLogits(m, image, 20, 20, width, 3));
    }
    expect(std(expected)).toBeGreaterThan(0.01);
    expectClose(values(out.logits!), expected, 1e-4);
  });

  it('clip text: causal two-layer transformer, EOS pooling at the first largest id, projection', async () => {
    const spec = { width: 8, heads: 2, mlp: 16, layers: 2 };
    const m = clipTextFixture({ ...spec, embedDim: 4, vocabSize: 30, contextLength: 8, seed: 3 });
    const rows = [
      [28, 5, 29, 29, 29, 29],
      [7, 11, 3, 17, 29, 0],
    ];
    const out = await runModel(m, { input_ids: makeTensor('int64', [2, 6], rows.flat()) });
    const refs = rows.map((ids) => clipTextReference(m, ids, { ...spec, activation: 'quick_gelu' }));
    expectClose(
      values(out.last_hidden_state!),
      refs.flatMap((r) => r.hidden.flat()),
      1e-4,
    );
    const projection = weight(m, 'text_projection.weight_t');
    expectClose(
      values(out.text_embeds!),
      refs.flatMap((r) => project(r.pooled, projection, 4)),
      1e-4,
    );
  });

  it('sd text encoder: Erf GELU and the decomposed LayerNorm compute the same transformer', async () => {
    const m = sdTextEncoderFixture({
      hidden: 8,
      heads: 2,
      layers: 1,
      vocabSize: 30,
      contextLength: 8,
      seed: 5,
    });
    const rows = [
      [3, 29, 0, 0, 0],
      [1, 2, 4, 29, 0],
    ];
    const out = await runModel(m, { input_ids: makeTensor('int32', [2, 5], rows.flat()) });
    const refs = rows.map((ids) =>
      clipTextReference(m, ids, { width: 8, heads: 2, mlp: 32, layers: 1, activation: 'gelu' }),
    );
    expectClose(
      values(out.last_hidden_state!),
      refs.flatMap((r) => r.hidden.flat()),
      1e-4,
    );
    expectClose(
      values(out.pooler_output!),
      refs.flatMap((r) => r.pooled),
      1e-4,
    );
  });
});

describe('unet timestep forms', () => {
  it('accepts one timestep for the batch or one per row, and the output depends on it', async () => {
    const m = unetFixture();
    const r = testRandom(21);
    const sample = floats([3, 9, 4, 4], r);
    const context = floats([3, 2, 32], r);
    const run = async (t: TensorData): Promise<number[]> =>
      values((await runModel(m, { sample, timestep: t, encoder_hidden_states: context })).out_sample!);
    const perRow = await run(makeTensor('int64', [3], [601, 601, 1]));
    const shared = await run(makeTensor('int64', [1], [601]));
    const per = perRow.length / 3;
    expectClose(perRow.slice(0, 2 * per), shared.slice(0, 2 * per), 1e-5);
    expect(std(perRow.slice(2 * per).map((v, i) => v - shared[2 * per + i]!))).toBeGreaterThan(1e-4);
  });

  it('takes a float32 scalar timestep when asked, matching the int64 form', async () => {
    const m = unetFixture({ timestepDtype: 'float32', scalarTimestep: true });
    expect(m.graph.inputs[1]).toEqual({ name: 'timestep', dtype: 'float32', dims: [] });
    const r = testRandom(22);
    const feeds = { sample: floats([2, 9, 4, 4], r), encoder_hidden_states: floats([2, 3, 32], r) };
    const scalar = await runModel(m, { ...feeds, timestep: makeTensor('float32', [], [301]) });
    const vector = await runModel(unetFixture(), { ...feeds, timestep: makeTensor('int64', [1], [301]) });
    expectClose(values(scalar.out_sample!), values(vector.out_sample!), 1e-5);
  });
});

describe('writeFixture', () => {
  it('writes once per canonical option set and reuses the file', async () => {
    const cache = join(dir, 'cache');
    const path = await writeFixture('vae-decoder', { seed: 1 }, cache);
    expect(path).toBe(join(cache, fixtureFileName('vae-decoder', { seed: 1 })));
    expect(path).toMatch(/vae-decoder-[0-9a-f]{16}\.onnx$/);
    const first = statSync(path);
    const again = await writeFixture('vae-decoder', { seed: 1 }, cache);
    expect(again).toBe(path);
    const second = statSync(path);
    expect([second.ino, second.mtimeMs]).toEqual([first.ino, first.mtimeMs]);
    // Defaults are part of the key; options another SD part uses are not.
    expect(fixtureFileName('vae-decoder', { seed: 1, width: 16, factor: 2, hidden: 64 })).toBe(
      fixtureFileName('vae-decoder', { seed: 1 }),
    );
    const other = await writeFixture('vae-decoder', { seed: 2 }, cache);
    expect(other).not.toBe(path);
    expect(fixtureFileName('clip-text', { vocabSize: 100 })).not.toBe(fixtureFileName('clip-text'));
    expect(readdirSync(cache).sort()).toEqual(
      [fixtureFileName('vae-decoder', { seed: 1 }), fixtureFileName('vae-decoder', { seed: 2 })].sort(),
    );
    const latent = floats([1, 4, 3, 3], testRandom(5));
    const fromFile = await runModel(path, { latent_sample: latent });
    const inMemory = await runModel(vaeDecoderFixture({ seed: 1 }), { latent_sample: latent });
    expect(values(fromFile.sample!)).toEqual(values(inMemory.sample!));
  });

  it('stores the weights of a model above the threshold in <file>.data beside it', async () => {
    const cache = join(dir, 'external');
    const options = { vocabSize: 500, seed: 3 };
    const path = await writeFixture('clip-text', options, cache, { externalDataAbove: 4096 });
    expect(existsSync(`${path}.data`)).toBe(true);
    expect(statSync(`${path}.data`).size).toBeGreaterThan(500 * 32 * 4);
    expect(statSync(path).size).toBeLessThan(statSync(`${path}.data`).size);
    const ids = makeTensor('int64', [1, 4], [1, 2, 499, 3]);
    const fromFile = await runModel(path, { input_ids: ids });
    const inMemory = await runModel(clipTextFixture(options), { input_ids: ids });
    expect(values(fromFile.text_embeds!)).toEqual(values(inMemory.text_embeds!));
    // Below the default threshold nothing is externalised.
    const inline = await writeFixture('clip-text', options, join(dir, 'inline'));
    expect(existsSync(`${inline}.data`)).toBe(false);
    expect(readdirSync(cache).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});

describe('option checking', () => {
  it('rejects unknown kinds, unknown options and inconsistent sizes with GRAPH_ERR_ARGUMENT', () => {
    expectGraphError(
      () => fixtureModel('bert' as FixtureKind),
      'GRAPH_ERR_ARGUMENT',
      /unknown fixture kind "bert"/,
    );
    expectGraphError(
      () => clipVisionFixture({ widht: 8 } as never),
      'GRAPH_ERR_ARGUMENT',
      /unknown option "widht"/,
    );
    expectGraphError(
      () => clipVisionFixture({ imageSize: 30 }),
      'GRAPH_ERR_ARGUMENT',
      /imageSize.*multiple of patch/,
    );
    expectGraphError(
      () => clipTextFixture({ width: 30, heads: 4 }),
      'GRAPH_ERR_ARGUMENT',
      /multiple of heads/,
    );
    expectGraphError(() => vaeDecoderFixture({ factor: 6 }), 'GRAPH_ERR_ARGUMENT', /power of two/);
    expectGraphError(
      () => vaeEncoderFixture({ width: 10, groups: 4 }),
      'GRAPH_ERR_ARGUMENT',
      /multiple of groups/,
    );
    expectGraphError(
      () => resnetClassifierFixture({ classes: 0 }),
      'GRAPH_ERR_ARGUMENT',
      /classes must be a positive integer/,
    );
    expectGraphError(() => resnetClassifierFixture({ seed: -1 }), 'GRAPH_ERR_ARGUMENT', /seed/);
  });
});
