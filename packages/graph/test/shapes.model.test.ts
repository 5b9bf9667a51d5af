import { describe, expect, it } from '@jest/globals';

import { type DType, type TensorData, GraphBuilder, GraphError, attr, inferShapes, makeTensor } from '../src';
import { randomTensor, runModel, testRandom, expectGraphError } from './helpers';

/** One shape-inference case: a small model built with the builder, checked against onnxruntime. */
interface Case {
  name: string;
  opset?: number;
  /** Graph inputs: dtype and the concrete shape fed (declared with symbolic dims). */
  inputs: Record<string, [DType, number[]]>;
  /** Appends the nodes; returns the outputs with their element types. */
  build: (b: GraphBuilder, x: Record<string, string>) => [string, DType][];
  /** Specific feeds (e.g. valid indices); the rest are random. */
  feeds?: Record<string, TensorData>;
}

const i64 = (b: GraphBuilder, v: number[]): string => b.int64s(v);
const f32 = (b: GraphBuilder, v: number[], dims = [v.length]): string =>
  b.initializer('f', makeTensor('float32', dims, v));
const w = (b: GraphBuilder, dims: number[]): string =>
  b.initializer('w', randomTensor('float32', dims, testRandom(dims.reduce((a, c) => a * 31 + c, 7))));
const one = (name: string, dtype: DType = 'float32'): [string, DType][] => [[name, dtype]];

const CASES: Case[] = [
  // Conv: strides, pads, dilations, groups, auto_pad, 1-D.
  {
    name: 'Conv strides 2, pads 1, bias',
    inputs: { x: ['float32', [1, 3, 11, 13]] },
    build: (b, { x }) =>
      one(
        b.node('Conv', [x!, w(b, [8, 3, 3, 3]), f32(b, new Array<number>(8).fill(0.1))], {
          strides: [2, 2],
          pads: [1, 1, 1, 1],
        }),
      ),
  },
  {
    name: 'Conv dilations, asymmetric pads, strides [1, 2]',
    inputs: { x: ['float32', [2, 3, 12, 10]] },
    build: (b, { x }) =>
      one(
        b.node('Conv', [x!, w(b, [4, 3, 3, 2])], { dilations: [2, 3], pads: [0, 1, 2, 0], strides: [1, 2] }),
      ),
  },
  {
    name: 'Conv group 2, stride 3',
    inputs: { x: ['float32', [2, 6, 9, 10]] },
    build: (b, { x }) => one(b.node('Conv', [x!, w(b, [4, 3, 3, 3])], { group: 2, strides: [3, 3] })),
  },
  {
    name: 'Conv depthwise',
    inputs: { x: ['float32', [1, 4, 7, 7]] },
    build: (b, { x }) => one(b.node('Conv', [x!, w(b, [4, 1, 3, 3])], { group: 4, pads: [1, 1, 1, 1] })),
  },
  {
    name: 'Conv auto_pad SAME_UPPER / SAME_LOWER / VALID, stride 2',
    inputs: { x: ['float32', [1, 2, 11, 8]] },
    build: (b, { x }) => [
      [b.node('Conv', [x!, w(b, [3, 2, 3, 3])], { auto_pad: 'SAME_UPPER', strides: [2, 2] }), 'float32'],
      [b.node('Conv', [x!, w(b, [3, 2, 4, 3])], { auto_pad: 'SAME_LOWER', strides: [2, 3] }), 'float32'],
      [b.node('Conv', [x!, w(b, [3, 2, 3, 2])], { auto_pad: 'VALID', strides: [2, 2] }), 'float32'],
    ],
  },
  {
    name: 'Conv 1-D',
    inputs: { x: ['float32', [2, 3, 10]] },
    build: (b, { x }) => one(b.node('Conv', [x!, w(b, [5, 3, 4])], { strides: [3], pads: [2, 1] })),
  },
  // ConvTranspose: output_padding, groups, dilations, output_shape, auto_pad.
  {
    name: 'ConvTranspose strides 2, pads 1, output_padding [1, 0]',
    inputs: { x: ['float32', [1, 4, 5, 6]] },
    build: (b, { x }) =>
      one(
        b.node('ConvTranspose', [x!, w(b, [4, 2, 3, 3])], {
          strides: [2, 2],
          pads: [1, 1, 1, 1],
          output_padding: [1, 0],
        }),
      ),
  },
  {
    name: 'ConvTranspose group 2, dilations [2, 1], stride 3, bias',
    inputs: { x: ['float32', [2, 4, 3, 4]] },
    build: (b, { x }) =>
      one(
        b.node('ConvTranspose', [x!, w(b, [4, 3, 3, 3]), f32(b, new Array<number>(6).fill(0))], {
          group: 2,
          dilations: [2, 1],
          strides: [3, 3],
        }),
      ),
  },
  {
    name: 'ConvTranspose output_shape',
    inputs: { x: ['float32', [1, 2, 4, 4]] },
    build: (b, { x }) =>
      one(b.node('ConvTranspose', [x!, w(b, [2, 3, 3, 3])], { strides: [2, 2], output_shape: [9, 8] })),
  },
  {
    name: 'ConvTranspose auto_pad SAME_UPPER and VALID',
    inputs: { x: ['float32', [1, 2, 5, 3]] },
    build: (b, { x }) => [
      [
        b.node('ConvTranspose', [x!, w(b, [2, 3, 3, 3])], { strides: [2, 2], auto_pad: 'SAME_UPPER' }),
        'float32',
      ],
      [b.node('ConvTranspose', [x!, w(b, [2, 3, 3, 2])], { strides: [2, 3], auto_pad: 'VALID' }), 'float32'],
    ],
  },
  // Gemm and MatMul.
  {
    name: 'Gemm transA, transB, C broadcast [N] and [M, 1]',
    inputs: { a: ['float32', [4, 3]], bm: ['float32', [5, 4]] },
    build: (b, { a, bm }) => [
      [b.node('Gemm', [a!, bm!, f32(b, [1, 2, 3, 4, 5])], { transA: 1, transB: 1, alpha: 0.5 }), 'float32'],
      [b.node('Gemm', [a!, w(b, [4, 2]), f32(b, [1, 2, 3], [3, 1])], { transA: 1 }), 'float32'],
      [b.node('Gemm', [bm!, a!]), 'float32'],
    ],
  },
  {
    name: 'MatMul batched, broadcasting and 1-D operands',
    inputs: { a: ['float32', [2, 1, 3, 4]], bm: ['float32', [5, 4, 2]], v: ['float32', [4]] },
    build: (b, { a, bm, v }) => [
      [b.node('MatMul', [a!, bm!]), 'float32'],
      [b.node('MatMul', [v!, bm!]), 'float32'],
      [b.node('MatMul', [a!, v!]), 'float32'],
      [b.node('MatMul', [v!, v!]), 'float32'],
    ],
  },
  // Broadcasting elementwise ops.
  {
    name: 'Add/Sub/Mul/Div/Pow/Equal/Where with numpy broadcasting',
    inputs: { a: ['float32', [2, 1, 4]], c: ['float32', [3, 1]], e: ['float32', [4]] },
    build: (b, { a, c, e }) => {
      const sum = b.node('Add', [a!, c!]);
      const eq = b.node('Equal', [c!, e!]);
      return [
        [sum, 'float32'],
        [b.node('Sub', [c!, a!]), 'float32'],
        [b.node('Mul', [e!, c!]), 'float32'],
        [b.node('Div', [a!, b.scalar(2)]), 'float32'],
        [b.node('Pow', [c!, e!]), 'float32'],
        [eq, 'bool'],
        [b.node('Where', [eq, a!, b.scalar(0)]), 'float32'],
      ];
    },
  },
  {
    name: 'unary ops keep the shape; Clip with min/max; Softmax/LogSoftmax with negative axes',
    inputs: { x: ['float32', [2, 3, 4]] },
    build: (b, { x }) =>
      (['Sqrt', 'Neg', 'Erf', 'Relu', 'Sigmoid', 'Tanh', 'Identity'] as const)
        .map((op): [string, DType] => [b.node(op, [x!]), 'float32'])
        .concat([
          [b.node('Clip', [x!, b.scalar(0), b.scalar(1)]), 'float32'],
          [b.node('Clip', [x!, '', b.scalar(0.5)]), 'float32'],
          [b.node('Softmax', [x!], { axis: 1 }), 'float32'],
          [b.node('LogSoftmax', [x!], { axis: -1 }), 'float32'],
        ]),
  },
  {
    name: 'activations with attributes, Dropout with its mask, Sum and Mean broadcasting',
    opset: 13,
    inputs: { x: ['float32', [2, 3, 4]], c: ['float32', [3, 1]] },
    build: (b, { x, c }) => {
      const training = b.initializer('training', makeTensor('bool', [], [0]));
      const [y, mask] = b.node('Dropout', [x!, b.scalar(0.2), training], {}, { outputs: 2 });
      return (['Abs', 'Reciprocal', 'Softplus', 'Sin', 'Cos'] as const)
        .map((op): [string, DType] => [b.node(op, [x!]), 'float32'])
        .concat([
          [b.node('LeakyRelu', [x!], { alpha: 0.2 }), 'float32'],
          [b.node('Elu', [x!], { alpha: 0.5 }), 'float32'],
          [b.node('HardSigmoid', [x!], { alpha: 0.3, beta: 0.4 }), 'float32'],
          [y!, 'float32'],
          [mask!, 'bool'],
          [b.node('Sum', [x!, c!, b.scalar(1)]), 'float32'],
          [b.node('Mean', [c!, x!]), 'float32'],
        ]);
    },
  },
  // Reductions: axes as attribute (opset < 18 except ReduceSum) and as input.
  {
    name: 'reductions at opset 17: ReduceMean/Max/LogSumExp axes attribute, ReduceSum axes input',
    inputs: { x: ['float32', [2, 3, 4, 5]] },
    build: (b, { x }) => [
      [b.node('ReduceMean', [x!], { axes: [-1, 1], keepdims: 0 }), 'float32'],
      [b.node('ReduceMax', [x!], { axes: [2] }), 'float32'],
      [b.node('ReduceLogSumExp', [x!], { keepdims: 0 }), 'float32'],
      [b.node('ReduceSum', [x!, i64(b, [0, -2])], { keepdims: 1 }), 'float32'],
      [b.node('ReduceSum', [x!, i64(b, [])], { noop_with_empty_axes: 1 }), 'float32'],
      [b.node('ReduceSum', [x!], { keepdims: 0 }), 'float32'],
    ],
  },
  {
    name: 'reductions at opset 18: axes as an input',
    opset: 18,
    inputs: { x: ['float32', [2, 3, 4]] },
    build: (b, { x }) => [
      [b.node('ReduceMean', [x!, i64(b, [-1])], { keepdims: 1 }), 'float32'],
      [b.node('ReduceMax', [x!, i64(b, [0, 2])], { keepdims: 0 }), 'float32'],
      [b.node('ReduceLogSumExp', [x!, i64(b, [1])]), 'float32'],
    ],
  },
  {
    name: 'reductions ReduceSumSquare/L1/L2 at opset 17: axes attribute',
    inputs: { x: ['float32', [2, 3, 4]] },
    build: (b, { x }) => [
      [b.node('ReduceSumSquare', [x!], { axes: [1], keepdims: 0 }), 'float32'],
      [b.node('ReduceL1', [x!], { axes: [-1, 0] }), 'float32'],
      [b.node('ReduceL2', [x!], { keepdims: 0 }), 'float32'],
    ],
  },
  {
    name: 'reductions ReduceSumSquare/L1/L2 at opset 18: axes input, noop_with_empty_axes',
    opset: 18,
    inputs: { x: ['float32', [2, 3, 4]] },
    build: (b, { x }) => [
      [b.node('ReduceSumSquare', [x!, i64(b, [0, 2])]), 'float32'],
      [b.node('ReduceL1', [x!, i64(b, [-2])], { keepdims: 0 }), 'float32'],
      [b.node('ReduceL2', [x!, i64(b, [])], { noop_with_empty_axes: 1 }), 'float32'],
    ],
  },
  // Reshape family.
  {
    name: 'Reshape with 0 and −1, allowzero, Flatten, Transpose',
    opset: 18,
    inputs: { x: ['float32', [2, 3, 4]] },
    build: (b, { x }) => [
      [b.node('Reshape', [x!, i64(b, [0, -1])]), 'float32'],
      [b.node('Reshape', [x!, i64(b, [4, 0, -1])]), 'float32'],
      [b.node('Reshape', [x!, i64(b, [-1, 2, 2])], { allowzero: 1 }), 'float32'],
      [b.node('Flatten', [x!], { axis: 0 }), 'float32'],
      [b.node('Flatten', [x!], { axis: -1 }), 'float32'],
      [b.node('Flatten', [x!], { axis: 3 }), 'float32'],
      [b.node('Transpose', [x!], { perm: [1, 2, 0] }), 'float32'],
      [b.node('Transpose', [x!]), 'float32'],
    ],
  },
  {
    name: 'Reshape target computed from Shape → Gather → Unsqueeze → Concat',
    inputs: { x: ['float32', [2, 6, 4, 5]] },
    build: (b, { x }) => {
      const n = b.node('Unsqueeze', [
        b.node('Gather', [b.node('Shape', [x!]), b.scalar(0, 'int64')], { axis: 0 }),
        i64(b, [0]),
      ]);
      const target = b.node('Concat', [n, i64(b, [3]), i64(b, [-1])], { axis: 0 });
      return one(b.node('Reshape', [x!, target]));
    },
  },
  {
    name: 'Squeeze (axes input and none) and Unsqueeze with negative axes',
    inputs: { x: ['float32', [1, 3, 1, 2]] },
    build: (b, { x }) => [
      [b.node('Squeeze', [x!, i64(b, [-2])]), 'float32'],
      [b.node('Squeeze', [x!]), 'float32'],
      [b.node('Unsqueeze', [x!, i64(b, [0, -1])]), 'float32'],
      [b.node('Unsqueeze', [x!, i64(b, [2, 4])]), 'float32'],
    ],
  },
  {
    name: 'Concat on a negative axis; Split by sizes input and evenly',
    inputs: { a: ['float32', [2, 3, 4]], c: ['float32', [2, 3, 2]] },
    build: (b, { a, c }) => {
      const cat = b.node('Concat', [a!, c!, a!], { axis: -1 });
      const parts = b.node('Split', [cat, i64(b, [3, 7])], { axis: 2 }, { outputs: 2 });
      const thirds = b.node('Split', [a!], { axis: 1 }, { outputs: 3 });
      return [cat, ...parts, ...thirds].map((n): [string, DType] => [n, 'float32']);
    },
  },
  {
    name: 'Split with num_outputs (opset 18) on an uneven axis',
    opset: 18,
    inputs: { x: ['float32', [8, 2]] },
    build: (b, { x }) =>
      b.node('Split', [x!], { num_outputs: 3 }, { outputs: 3 }).map((n): [string, DType] => [n, 'float32']),
  },
  {
    name: 'Slice with negative starts/ends, negative steps, clamped bounds, axes subset',
    inputs: { x: ['float32', [5, 7, 6]] },
    build: (b, { x }) => [
      [b.node('Slice', [x!, i64(b, [1, -3]), i64(b, [-1, 1000])]), 'float32'],
      [b.node('Slice', [x!, i64(b, [-1]), i64(b, [-1000]), i64(b, [1]), i64(b, [-2])]), 'float32'],
      [b.node('Slice', [x!, i64(b, [0, 5]), i64(b, [9, 1]), i64(b, [-1, 0]), i64(b, [4, -3])]), 'float32'],
      [b.node('Slice', [x!, i64(b, [4]), i64(b, [2]), i64(b, [2])]), 'float32'],
    ],
  },
  {
    name: 'Gather with a matrix of indices, negative indices, a scalar index',
    inputs: { x: ['float32', [4, 5, 3]] },
    build: (b, { x }) => [
      [
        b.node('Gather', [x!, b.initializer('idx', makeTensor('int64', [2, 2], [0, -1, 3, 2]))], { axis: 1 }),
        'float32',
      ],
      [b.node('Gather', [x!, b.scalar(-2, 'int64')], { axis: 0 }), 'float32'],
      [
        b.node('Gather', [x!, b.initializer('idx32', makeTensor('int32', [3], [2, 0, 1]))], { axis: -1 }),
        'float32',
      ],
    ],
  },
  // Pools and normalisations.
  {
    name: 'MaxPool k3 s2 p1 with Indices; ceil_mode; dilations',
    inputs: { x: ['float32', [1, 2, 8, 9]], s: ['float32', [1, 1, 5, 6]] },
    build: (b, { x, s }) => {
      const [y, idx] = b.node(
        'MaxPool',
        [x!],
        { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
        { outputs: 2 },
      );
      return [
        [y!, 'float32'],
        [idx!, 'int64'],
        [
          b.node('MaxPool', [s!], {
            kernel_shape: [2, 2],
            strides: [2, 2],
            pads: [1, 1, 1, 1],
            ceil_mode: 1,
          }),
          'float32',
        ],
        [b.node('MaxPool', [s!], { kernel_shape: [3, 2], strides: [2, 2], ceil_mode: 1 }), 'float32'],
        [b.node('MaxPool', [x!], { kernel_shape: [2, 2], dilations: [2, 3], strides: [1, 2] }), 'float32'],
        [
          b.node('MaxPool', [x!], { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' }),
          'float32',
        ],
      ];
    },
  },
  {
    name: 'AveragePool with pads and ceil_mode; GlobalAveragePool',
    inputs: { x: ['float32', [2, 3, 7, 6]] },
    build: (b, { x }) => [
      [
        b.node('AveragePool', [x!], {
          kernel_shape: [3, 3],
          strides: [2, 2],
          pads: [1, 1, 1, 1],
          count_include_pad: 1,
        }),
        'float32',
      ],
      [b.node('AveragePool', [x!], { kernel_shape: [2, 4], strides: [2, 3], ceil_mode: 1 }), 'float32'],
      [b.node('GlobalAveragePool', [x!]), 'float32'],
    ],
  },
  {
    name: 'BatchNormalization, InstanceNormalization, LayerNormalization',
    inputs: { x: ['float32', [2, 3, 4, 5]] },
    build: (b, { x }) => [
      [
        b.node(
          'BatchNormalization',
          [x!, f32(b, [1, 2, 3]), f32(b, [0, 0, 0]), f32(b, [0, 1, 0]), f32(b, [1, 1, 1])],
          { epsilon: 1e-5 },
        ),
        'float32',
      ],
      [b.node('InstanceNormalization', [x!, f32(b, [1, 2, 3]), f32(b, [0, 1, 0])]), 'float32'],
      [b.node('LayerNormalization', [x!, w(b, [4, 5]), w(b, [4, 5])], { axis: -2 }), 'float32'],
    ],
  },
  {
    name: 'GroupNormalization (opset 18, scale per group)',
    opset: 18,
    inputs: { x: ['float32', [2, 4, 3, 3]] },
    build: (b, { x }) =>
      one(b.node('GroupNormalization', [x!, f32(b, [1, 2]), f32(b, [0, 0])], { num_groups: 2 })),
  },
  // Resize.
  {
    name: 'Resize by scales (nearest, from a Constant) and by sizes (linear, half_pixel); fractional scales',
    inputs: { x: ['float32', [1, 3, 7, 5]] },
    build: (b, { x }) => {
      const scales = b.constant(makeTensor('float32', [4], [1, 1, 2, 2]));
      return [
        [b.node('Resize', [x!, '', scales], { mode: 'nearest' }), 'float32'],
        [
          b.node('Resize', [x!, '', '', i64(b, [1, 3, 4, 9])], {
            mode: 'linear',
            coordinate_transformation_mode: 'half_pixel',
          }),
          'float32',
        ],
        [b.node('Resize', [x!, '', f32(b, [1, 1, 1.5, 0.7])], { mode: 'linear' }), 'float32'],
        [
          b.node('Resize', [x!, '', f32(b, [1, 1, 232 / 224, 1.0357])], {
            mode: 'linear',
            coordinate_transformation_mode: 'pytorch_half_pixel',
          }),
          'float32',
        ],
      ];
    },
  },
  {
    name: 'Resize opset 18: sizes on axes, keep_aspect_ratio_policy',
    opset: 18,
    inputs: { x: ['float32', [1, 2, 6, 4]] },
    build: (b, { x }) => [
      [b.node('Resize', [x!, '', '', i64(b, [9, 3])], { mode: 'linear', axes: [2, 3] }), 'float32'],
      [
        b.node('Resize', [x!, '', '', i64(b, [9, 9])], {
          mode: 'nearest',
          axes: [2, 3],
          keep_aspect_ratio_policy: 'not_larger',
        }),
        'float32',
      ],
      [
        b.node('Resize', [x!, '', '', i64(b, [9, 9])], {
          mode: 'nearest',
          axes: [2, 3],
          keep_aspect_ratio_policy: 'not_smaller',
        }),
        'float32',
      ],
    ],
  },
  // Shape and constant-producing ops.
  {
    name: 'Shape with start/end, Cast, Constant, ConstantOfShape, Expand, Range, Pad',
    opset: 18,
    inputs: { x: ['float32', [2, 3, 4]], c: ['float32', [3, 1]] },
    build: (b, { x, c }) => {
      const shape = b.node('Shape', [x!], { start: 1, end: -1 });
      return [
        [shape, 'int64'],
        [b.node('Shape', [x!], { start: -10 }), 'int64'],
        [b.node('Cast', [x!], { to: 7 }), 'int64'],
        [b.node('Constant', [], { value_ints: [1, 2, 3] }), 'int64'],
        [
          b.node('ConstantOfShape', [b.node('Shape', [x!])], { value: makeTensor('int32', [1], [5]) }),
          'int32',
        ],
        [b.node('ConstantOfShape', [shape]), 'float32'],
        [b.node('Expand', [c!, i64(b, [2, 1, 4])]), 'float32'],
        [b.node('Range', [b.scalar(0.5), b.scalar(3.2), b.scalar(0.7)]), 'float32'],
        [b.node('Range', [b.scalar(10, 'int64'), b.scalar(1, 'int64'), b.scalar(-3, 'int64')]), 'int64'],
        [b.node('Pad', [x!, i64(b, [1, 0, 2, -1, 3, 0])]), 'float32'],
        [b.node('Pad', [x!, i64(b, [2, 1, 1, 0]), '', i64(b, [-1, 0])], { mode: 'reflect' }), 'float32'],
        [b.node('Pad', [x!, i64(b, [0, -1, 1, 2, 1, 0])], { mode: 'edge' }), 'float32'],
      ];
    },
  },
];

describe('inferShapes agrees with onnxruntime', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const b = new GraphBuilder('case', { opset: c.opset ?? 17 });
    const names: Record<string, string> = {};
    const feeds: Record<string, TensorData> = {};
    const rand = testRandom(42);
    for (const [name, [dtype, dims]] of Object.entries(c.inputs)) {
      // Symbolic dims, so that only the given shapes can inform inference.
      names[name] = b.input(
        name,
        dtype,
        dims.map((_, i) => `${name}_${i}`),
      );
      feeds[name] = c.feeds?.[name] ?? randomTensor(dtype, dims, rand);
    }
    const outputs = c.build(b, names);
    for (const [name, dtype] of outputs) {
      b.output(name, dtype);
    }
    const ort = await runModel(b.toModel(), feeds);
    const inferred = inferShapes(
      b.graph,
      Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.dims])),
      { opset: c.opset ?? 17 },
    );
    const got = outputs.map(([name]) => [name, inferred.get(name)?.dtype, inferred.get(name)?.dims]);
    const want = outputs.map(([name]) => [name, ort[name]!.type, ort[name]!.dims]);
    expect(got).toEqual(want);
  });
});

describe('inferShapes on hand-derived cases and errors', () => {
  it('matches the ResNet50 stem computed by hand: 224 → conv7 s2 p3 → 112 → maxpool k3 s2 p1 → 56', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['n', 3, 224, 224]);
    const c = b.node('Conv', [x, w(b, [64, 3, 7, 7])], { strides: [2, 2], pads: [3, 3, 3, 3] });
    const p = b.node('MaxPool', [c], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
    const g = b.node('Flatten', [b.node('GlobalAveragePool', [p])]);
    const fc = b.node('Gemm', [g, w(b, [10, 64]), w(b, [10])], { transB: 1 });
    const s = inferShapes(b.graph, { x: [2, 3, 224, 224] });
    expect([s.get(c)!.dims, s.get(p)!.dims, s.get(g)!.dims, s.get(fc)!.dims]).toEqual([
      [2, 64, 112, 112],
      [2, 64, 56, 56],
      [2, 64],
      [2, 10],
    ]);
  });

  it('names the node and op type of unsupported ops and shape mismatches', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3]);
    b.node('NonZero', [x], {}, { name: 'nz' });
    expectGraphError(() => inferShapes(b.graph, {}), 'GRAPH_ERR_UNSUPPORTED_OP', /nz.*NonZero/);
    const c = new GraphBuilder();
    const y = c.input('y', 'float32', [2, 3]);
    c.node('Add', [y, c.initializer('v', makeTensor('float32', [4], [1, 2, 3, 4]))], {}, { name: 'bad_add' });
    expectGraphError(() => inferShapes(c.graph, {}), 'GRAPH_ERR_SHAPE', /bad_add.*\[2, 3\].*\[4\]/);
    const d = new GraphBuilder();
    const z = d.input('z', 'float32', [1, 4, 5, 5]);
    d.node('Conv', [z, w(d, [2, 3, 3, 3])], {}, { name: 'conv_c' });
    expectGraphError(() => inferShapes(d.graph, {}), 'GRAPH_ERR_SHAPE', 'conv_c');
    const e = new GraphBuilder();
    e.node('Relu', [e.input('q', 'float32', ['n'])], {}, { name: 'custom', domain: 'com.microsoft' });
    expectGraphError(
      () => inferShapes(e.graph, { q: [3] }),
      'GRAPH_ERR_UNSUPPORTED_OP',
      'com.microsoft.Relu',
    );
  });

  it('reports missing or contradicting input shapes and non-constant shape inputs', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['n', 3]);
    const t = b.input('target', 'int64', [2]);
    b.node('Reshape', [x, t], {}, { name: 'dyn' });
    expectGraphError(() => inferShapes(b.graph, { target: [2] }), 'GRAPH_ERR_INPUT', 'x');
    expectGraphError(() => inferShapes(b.graph, { x: [2, 4], target: [2] }), 'GRAPH_ERR_INPUT');
    expectGraphError(() => inferShapes(b.graph, { x: [2, 3], target: [2], extra: [1] }), 'GRAPH_ERR_INPUT');
    expectGraphError(() => inferShapes(b.graph, { x: [2, 3] }), 'GRAPH_ERR_DYNAMIC', /dyn.*shape/);
    expect(new GraphError('GRAPH_ERR_SHAPE', 'm')).toBeInstanceOf(Error);
    expect(attr.int(1)).toEqual({ type: 'int', value: 1 });
  });
});
