import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from '@jest/globals';
import { onnx } from 'onnx-proto';

import {
  type DType,
  type Graph,
  type Model,
  type TensorData,
  GraphBuilder,
  GraphError,
  attr,
  decodeModel,
  encodeModel,
  makeTensor,
  readModel,
  writeModel,
} from '../src';

import { expectGraphError, expectGraphRejection } from './helpers';

const dir = mkdtempSync(join(tmpdir(), 'synood-graph-io-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Raw bit patterns or values per dtype, chosen to hit sign bits, extremes and special floats. */
const EVERY_DTYPE: Record<DType, TensorData> = {
  float32: makeTensor('float32', [2, 3], [0, -1.5, 3.25, 1e-38, -3.4e38, Number.NaN]),
  float16: { dtype: 'float16', dims: [5], data: Uint16Array.of(0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00) },
  bfloat16: { dtype: 'bfloat16', dims: [3], data: Uint16Array.of(0x3f80, 0x4049, 0xff80) },
  float64: makeTensor('float64', [3], [Math.PI, -1e308, 5e-324]),
  int8: makeTensor('int8', [4], [-128, -1, 0, 127]),
  uint8: makeTensor('uint8', [3], [0, 128, 255]),
  int16: makeTensor('int16', [3], [-32768, 7, 32767]),
  uint16: makeTensor('uint16', [2], [0, 65535]),
  int32: makeTensor('int32', [3], [-(2 ** 31), 12345, 2 ** 31 - 1]),
  uint32: makeTensor('uint32', [2], [0, 2 ** 32 - 1]),
  int64: makeTensor('int64', [4], [-(2n ** 63n), -5n, 2n ** 53n + 1n, 2n ** 63n - 1n]),
  uint64: makeTensor('uint64', [3], [0n, 2n ** 63n, 2n ** 64n - 1n]),
  bool: makeTensor('bool', [2, 2], [1, 0, 0, 1]),
};

/** A model exercising every IR field: all dtypes, Constant nodes, every attribute kind, a subgraph. */
function richModel(): Model {
  const b = new GraphBuilder('rich');
  const x = b.input('x', 'float32', ['batch', 3, '']);
  b.input('unknown_rank', 'int64', null);
  for (const [dtype, t] of Object.entries(EVERY_DTYPE)) {
    b.initializer(`init_${dtype}`, t);
  }
  const c = b.constant(makeTensor('int64', [2], [3, -4]));
  const cf = b.constant(makeTensor('float16', [], [0.5]));
  const y = b.node('Relu', [x], {}, { name: 'relu' });
  b.node(
    'CustomOp',
    [y, c, '', cf],
    {
      big: attr.int(2 ** 40),
      neg: -5,
      f: attr.float(0.25),
      s: 'half_pixel',
      ints: [1, -2, 2 ** 50],
      floats: [0.5, 1.5],
      strings: ['a', 'ünïcode'],
      t: makeTensor('int32', [2], [7, -7]),
    },
    { domain: 'com.example', outputs: ['custom_a', ''] },
  );
  const then = new GraphBuilder('then_branch', { outerScope: [y] });
  then.output(then.node('Identity', [y]), 'float32', null);
  const otherwise = new GraphBuilder('else_branch', { outerScope: [x] });
  otherwise.output(otherwise.node('Neg', [x]), 'float32', [2, 3, 'w']);
  const cond = b.initializer('cond', makeTensor('bool', [], [1]));
  const out = b.node('If', [cond], { then_branch: then.graph, else_branch: otherwise.graph });
  b.output(out, 'float32', ['batch', 3, '']);
  b.graph.valueInfo.push({ name: y, dtype: 'float32', dims: ['batch', 3, 7] });
  b.graph.docString = 'graph doc';
  b.graph.nodes[0]!.docString = 'node doc';
  const model = b.toModel(17, [{ domain: 'com.example', version: 1 }]);
  model.producerVersion = '1.2.3';
  model.domain = 'ai.synood';
  model.modelVersion = 7;
  model.docString = 'model doc';
  model.metadata = { author: 'test', note: 'ü' };
  return model;
}

describe('encodeModel / decodeModel', () => {
  it('round-trips every field of a model: all dtypes, Constant nodes, attribute kinds, subgraphs, metadata', async () => {
    const model = richModel();
    const back = await decodeModel(encodeModel(model).model);
    expect(back).toEqual(model);
    // toEqual on typed arrays compares element types too; check one explicitly for bit-exact NaN/denormals.
    expect(back.graph.initializers.get('init_float64')!.data).toEqual(
      Float64Array.of(Math.PI, -1e308, 5e-324),
    );
    expect(back.graph.initializers.get('init_uint64')!.data).toEqual(
      BigUint64Array.of(0n, 2n ** 63n, 2n ** 64n - 1n),
    );
  });

  it('writes int64 attributes exactly, saturating numbers beyond the int64 range (INT64_MAX sentinels)', async () => {
    const b = new GraphBuilder('attrs');
    const x = b.input('x', 'float32', [1]);
    b.output(
      b.node('Op', [x], {
        big: attr.int(2 ** 40 + 3),
        neg: attr.int(-(2 ** 45)),
        max: attr.int(2 ** 63),
        min: attr.ints([-(2 ** 63)]),
      }),
      'float32',
    );
    const bytes = encodeModel(b.toModel()).model;
    const proto = onnx.ModelProto.decode(bytes);
    const graphProto = proto.graph as onnx.GraphProto;
    const attrs = new Map((graphProto.node[0] as onnx.NodeProto).attribute.map((a) => [a.name ?? '', a]));
    const asBig = (v: unknown): bigint => {
      const l = v as { low: number; high: number };
      return (BigInt(l.high) << 32n) + BigInt(l.low >>> 0);
    };
    expect(asBig(attrs.get('big')!.i)).toBe(2n ** 40n + 3n);
    expect(asBig(attrs.get('neg')!.i)).toBe(-(2n ** 45n));
    expect(asBig(attrs.get('max')!.i)).toBe(2n ** 63n - 1n);
    expect(asBig(attrs.get('min')!.ints![0])).toBe(-(2n ** 63n));
    const back = await decodeModel(bytes);
    expect(back.graph.nodes[0]!.attributes).toEqual({
      big: { type: 'int', value: 2 ** 40 + 3 },
      neg: { type: 'int', value: -(2 ** 45) },
      max: { type: 'int', value: 2 ** 63 },
      min: { type: 'ints', value: [-(2 ** 63)] },
    });
  });

  it('keeps attribute kinds it does not interpret (tensor lists) as opaque bytes, written back unchanged', async () => {
    const proto: onnx.IModelProto = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'g',
        node: [
          {
            opType: 'Op',
            input: [],
            output: ['y'],
            attribute: [
              {
                name: 'ts',
                type: onnx.AttributeProto.AttributeType.TENSORS,
                tensors: [{ dataType: 1, dims: [1], floatData: [2] }],
              },
            ],
          },
        ],
      },
    };
    const model = await decodeModel(onnx.ModelProto.encode(proto).finish());
    const a = model.graph.nodes[0]!.attributes.ts!;
    expect(a.type).toBe('opaque');
    const again = onnx.ModelProto.decode(encodeModel(model).model);
    const ts = ((again.graph as onnx.GraphProto).node[0] as onnx.NodeProto).attribute[0]!;
    expect(ts.type).toBe(onnx.AttributeProto.AttributeType.TENSORS);
    expect(ts.tensors![0]!.floatData).toEqual([2]);
  });

  it('decodes the typed-field encodings of every dtype (float_data, int32_data, int64_data, double_data, uint64_data)', async () => {
    const T = onnx.TensorProto.DataType;
    const long = (v: bigint): number => {
      const u = BigInt.asUintN(64, v);
      return { low: Number(u & 0xffffffffn) | 0, high: Number(u >> 32n) | 0 } as unknown as number;
    };
    const initializer: onnx.ITensorProto[] = [
      { name: 'f32', dataType: T.FLOAT, dims: [2], floatData: [1.5, -2] },
      { name: 'f64', dataType: T.DOUBLE, dims: [2], doubleData: [Math.E, -0.1] },
      { name: 'f16', dataType: T.FLOAT16, dims: [2], int32Data: [0x3c00, 0xbc00] },
      { name: 'bf16', dataType: T.BFLOAT16, dims: [1], int32Data: [0x4049] },
      { name: 'i8', dataType: T.INT8, dims: [2], int32Data: [-128, 127] },
      { name: 'u8', dataType: T.UINT8, dims: [2], int32Data: [0, 255] },
      { name: 'i16', dataType: T.INT16, dims: [2], int32Data: [-32768, 32767] },
      { name: 'u16', dataType: T.UINT16, dims: [1], int32Data: [65535] },
      { name: 'i32', dataType: T.INT32, dims: [2], int32Data: [-(2 ** 31), 2 ** 31 - 1] },
      { name: 'b', dataType: T.BOOL, dims: [3], int32Data: [1, 0, 1] },
      {
        name: 'i64',
        dataType: T.INT64,
        dims: [3],
        int64Data: [long(-(2n ** 63n)), -3, long(2n ** 62n + 1n)],
      },
      { name: 'u32', dataType: T.UINT32, dims: [1], uint64Data: [long(2n ** 32n - 1n)] },
      { name: 'u64', dataType: T.UINT64, dims: [2], uint64Data: [long(2n ** 64n - 1n), 5] },
      { name: 'scalar', dataType: T.INT64, dims: [], int64Data: [42] },
    ];
    const bytes = onnx.ModelProto.encode({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'typed',
        initializer,
        node: [
          {
            opType: 'Constant',
            output: ['c'],
            attribute: [
              {
                name: 'value',
                type: onnx.AttributeProto.AttributeType.TENSOR,
                t: { dataType: T.INT64, dims: [2], int64Data: [-1, 9] },
              },
            ],
          },
        ],
      },
    }).finish();
    const g = (await decodeModel(bytes)).graph;
    const data = (name: string): unknown => g.initializers.get(name)!.data;
    expect(data('f32')).toEqual(Float32Array.of(1.5, -2));
    expect(data('f64')).toEqual(Float64Array.of(Math.E, -0.1));
    expect(data('f16')).toEqual(Uint16Array.of(0x3c00, 0xbc00));
    expect(data('bf16')).toEqual(Uint16Array.of(0x4049));
    expect(data('i8')).toEqual(Int8Array.of(-128, 127));
    expect(data('u8')).toEqual(Uint8Array.of(0, 255));
    expect(data('i16')).toEqual(Int16Array.of(-32768, 32767));
    expect(data('u16')).toEqual(Uint16Array.of(65535));
    expect(data('i32')).toEqual(Int32Array.of(-(2 ** 31), 2 ** 31 - 1));
    expect(g.initializers.get('b')).toEqual({ dtype: 'bool', dims: [3], data: Uint8Array.of(1, 0, 1) });
    expect(data('i64')).toEqual(BigInt64Array.of(-(2n ** 63n), -3n, 2n ** 62n + 1n));
    expect(data('u32')).toEqual(Uint32Array.of(2 ** 32 - 1));
    expect(data('u64')).toEqual(BigUint64Array.of(2n ** 64n - 1n, 5n));
    expect(g.initializers.get('scalar')).toEqual({ dtype: 'int64', dims: [], data: BigInt64Array.of(42n) });
    expect(g.nodes[0]!.attributes.value).toEqual({
      type: 'tensor',
      value: { dtype: 'int64', dims: [2], data: BigInt64Array.of(-1n, 9n) },
    });
  });

  it('rejects data of the wrong size, string tensors and garbage bytes with coded errors naming the tensor', async () => {
    const T = onnx.TensorProto.DataType;
    const modelWith = (t: onnx.ITensorProto): Uint8Array =>
      onnx.ModelProto.encode({
        irVersion: 8,
        opsetImport: [{ version: 17 }],
        graph: { name: 'g', initializer: [t] },
      }).finish();
    await expectGraphRejection(
      decodeModel(modelWith({ name: 'short', dataType: T.FLOAT, dims: [3], rawData: new Uint8Array(8) })),
      'GRAPH_ERR_MODEL',
      'initializer short',
    );
    await expectGraphRejection(
      decodeModel(modelWith({ name: 'few', dataType: T.INT64, dims: [2], int64Data: [1] })),
      'GRAPH_ERR_MODEL',
      'int64_data',
    );
    await expectGraphRejection(
      decodeModel(
        modelWith({ name: 'words', dataType: T.STRING, dims: [1], stringData: [new Uint8Array(1)] }),
      ),
      'GRAPH_ERR_UNSUPPORTED_DTYPE',
      'string',
    );
    await expectGraphRejection(decodeModel(Uint8Array.of(0xff, 0xff, 0xff)), 'GRAPH_ERR_MODEL');
  });
});

describe('external data', () => {
  function weightModel(): Model {
    const b = new GraphBuilder('ext');
    const x = b.input('x', 'float32', [2, 4]);
    const w = b.initializer(
      'w',
      makeTensor(
        'float32',
        [4, 3],
        Array.from({ length: 12 }, (_, i) => i / 4 - 1),
      ),
    );
    const bias = b.initializer('bias', makeTensor('float32', [3], [0.5, -0.5, 2]));
    const big = b.initializer(
      'ids',
      makeTensor(
        'int64',
        [40],
        Array.from({ length: 40 }, (_, i) => BigInt(i) - 20n),
      ),
    );
    b.initializer('tiny', makeTensor('int64', [1], [7]));
    const y = b.node('Gemm', [x, w, bias]);
    b.output(y, 'float32', [2, 3]);
    b.output(b.node('Identity', [big]), 'int64', [40]);
    return b.toModel();
  }

  it('writes initializers above the threshold to one file beside the model and reads them back', async () => {
    const model = weightModel();
    const path = join(dir, 'ext.onnx');
    await writeModel(path, model, { externalizeAbove: 32 });
    // w (48 B) and ids (320 B) go out, bias (12 B) and tiny (8 B) stay inline.
    const proto = onnx.ModelProto.decode(readFileSync(path));
    const locations = Object.fromEntries(
      (proto.graph as onnx.GraphProto).initializer.map((t): [string, number] => [
        t.name ?? '',
        t.dataLocation ?? 0,
      ]),
    );
    expect(locations).toEqual({ w: 1, bias: 0, ids: 1, tiny: 0 });
    expect(statSync(join(dir, 'ext.onnx.data')).size).toBeGreaterThanOrEqual(48 + 320);
    expect(await readModel(path)).toEqual(model);
  });

  it('reads external data through a loader in decodeModel, once per file', async () => {
    const model = weightModel();
    const { model: bytes, external } = encodeModel(model, {
      externalizeAbove: 0,
      externalFile: 'weights.bin',
    });
    expect(external).toBeDefined();
    const asked: string[] = [];
    const back = await decodeModel(bytes, {
      externalData: (location) => {
        asked.push(location);
        return external!;
      },
    });
    expect(back).toEqual(model);
    expect(asked).toEqual(['weights.bin']);
    await expectGraphRejection(decodeModel(bytes), 'GRAPH_ERR_EXTERNAL_DATA', 'weights.bin');
  });

  it('fails with GRAPH_ERR_EXTERNAL_DATA naming the file when it is missing or too short', async () => {
    const path = join(dir, 'missing.onnx');
    await writeModel(path, weightModel(), { externalizeAbove: 32, externalFile: 'missing.weights' });
    unlinkSync(join(dir, 'missing.weights'));
    const err = await readModel(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GraphError);
    expect(err).toMatchObject({ code: 'GRAPH_ERR_EXTERNAL_DATA' });
    expect((err as Error).message).toContain(join(dir, 'missing.weights'));
    const { model: bytes } = encodeModel(weightModel(), { externalizeAbove: 32 });
    await expectGraphRejection(
      decodeModel(bytes, { externalData: () => new Uint8Array(10) }),
      'GRAPH_ERR_EXTERNAL_DATA',
      'beyond the end of model.onnx.data',
    );
  });

  it('refuses external locations that leave the model folder', async () => {
    const T = onnx.TensorProto.DataType;
    const path = join(dir, 'escape.onnx');
    const bytes = onnx.ModelProto.encode({
      irVersion: 8,
      opsetImport: [{ version: 17 }],
      graph: {
        name: 'g',
        initializer: [
          {
            name: 'w',
            dataType: T.FLOAT,
            dims: [1],
            dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
            externalData: [{ key: 'location', value: '../../etc/passwd' }],
          },
        ],
      },
    }).finish();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path, bytes);
    await expectGraphRejection(readModel(path), 'GRAPH_ERR_EXTERNAL_DATA', 'inside the model');
  });
});

describe('GraphBuilder', () => {
  it('appends to an existing graph with names that collide with nothing already there', () => {
    const g: Graph = {
      name: 'old',
      nodes: [
        {
          name: 'Relu',
          opType: 'Relu',
          domain: '',
          inputs: ['x'],
          outputs: ['Relu_output_0'],
          attributes: {},
        },
      ],
      inputs: [{ name: 'x', dtype: 'float32', dims: [1] }],
      outputs: [],
      initializers: new Map([['scalar', makeTensor('float32', [], [1])]]),
      valueInfo: [],
    };
    const b = new GraphBuilder(g);
    const y = b.node('Relu', ['Relu_output_0']);
    const s = b.scalar(2);
    const [p, q] = b.node('Split', [y], { axis: 0 }, { outputs: 2 });
    expect(g.nodes.map((n) => n.name)).toEqual(['Relu', 'Relu_1', 'Split']);
    expect([y, s, p, q]).toEqual(['Relu_1_output_0', 'scalar_1', 'Split_output_0', 'Split_output_1']);
    expectGraphError(() => b.node('Relu', ['nope']), 'GRAPH_ERR_NAME', 'nope');
    expectGraphError(() => b.input('x', 'float32', [1]), 'GRAPH_ERR_NAME');
  });

  it('builds models with the IR version of their opset and appends to decoded models at their opset', () => {
    const b = new GraphBuilder('m', { opset: 13 });
    b.output(b.node('Relu', [b.input('x', 'float32', [1])], { unused: undefined }), 'float32');
    expect(b.graph.nodes[0]!.attributes).toEqual({});
    const model = b.toModel();
    expect([model.irVersion, model.opsetImports]).toEqual([7, [{ domain: '', version: 13 }]]);
    expect([b.toModel(17).irVersion, b.toModel(21).irVersion]).toEqual([8, 10]);
    expect(GraphBuilder.forModel(model).opset).toBe(13);
  });

  it('infers attribute types from plain values, with known float attributes kept FLOAT', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 2]);
    b.node('Gemm', [x, x], { alpha: 1, transB: 1, pads: [1, 2], scales: [2, 2], mode: 'linear', f: 0.5 });
    expect(b.graph.nodes[0]!.attributes).toEqual({
      alpha: { type: 'float', value: 1 },
      transB: { type: 'int', value: 1 },
      pads: { type: 'ints', value: [1, 2] },
      scales: { type: 'floats', value: [2, 2] },
      mode: { type: 'string', value: 'linear' },
      f: { type: 'float', value: 0.5 },
    });
  });
});
