import { onnx } from 'onnx-proto';

import { OnnxError, OnnxErrorCode } from './errors';

/** The opset every generated model imports (default domain). */
export const OPSET_VERSION = 17;
/** The ONNX IR version of generated models (ONNX 1.10+, read by every onnxruntime we support). */
export const IR_VERSION = 8;

/** A node attribute; build one with {@link intAttr}, {@link floatAttr} or {@link intsAttr}. */
export type AttributeSpec =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'ints'; readonly value: readonly number[] };

/** An integer attribute (ONNX `INT`, e.g. `transB`, `axis`, `keepdims`). */
export function intAttr(value: number): AttributeSpec {
  return { kind: 'int', value };
}

/** A float attribute (ONNX `FLOAT`, stored as float32, e.g. Gemm's `alpha`). */
export function floatAttr(value: number): AttributeSpec {
  return { kind: 'float', value };
}

/** An integer-list attribute (ONNX `INTS`, e.g. `axes` before opset 18). */
export function intsAttr(value: readonly number[]): AttributeSpec {
  return { kind: 'ints', value };
}

/** One graph node. */
export interface NodeSpec {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes?: Readonly<Record<string, AttributeSpec>>;
  /** Node name, for onnxruntime's error messages. @defaultValue the first output's name */
  readonly name?: string;
}

/** Element types the builder supports: float32 data, int64 shapes/indices, float16 graph inputs/outputs. */
export type ElementType = 'float32' | 'int64' | 'float16';

/** A graph input or output. */
export interface ValueSpec {
  readonly name: string;
  /** @defaultValue `'float32'` */
  readonly type?: ElementType;
  /** A number is a fixed dim, a string a symbolic one (`dim_param`). */
  readonly dims: readonly (number | string)[];
}

/** A constant tensor stored in the model. */
export interface InitializerSpec {
  readonly name: string;
  readonly type: ElementType;
  readonly dims: readonly number[];
  readonly values: ArrayLike<number>;
}

/** A whole single-graph model. */
export interface GraphSpec {
  /** @defaultValue `'graph'` */
  readonly name?: string;
  readonly nodes: readonly NodeSpec[];
  readonly inputs: readonly ValueSpec[];
  readonly outputs: readonly ValueSpec[];
  readonly initializers?: readonly InitializerSpec[];
}

const DATA_TYPE: Record<ElementType, onnx.TensorProto.DataType> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  float16: onnx.TensorProto.DataType.FLOAT16,
};

function modelError(message: string): OnnxError {
  return new OnnxError(OnnxErrorCode.Model, message);
}

function checkInt(where: string, v: number): number {
  if (!Number.isSafeInteger(v)) {
    throw modelError(`${where} must be a safe integer, got ${v}`);
  }
  return v;
}

function encodeAttribute(node: string, name: string, a: AttributeSpec): onnx.IAttributeProto {
  const where = `attribute ${name} of node ${node}`;
  const { AttributeType } = onnx.AttributeProto;
  switch (a.kind) {
    case 'int':
      return { name, type: AttributeType.INT, i: checkInt(where, a.value) };
    case 'float':
      return { name, type: AttributeType.FLOAT, f: a.value };
    case 'ints':
      return { name, type: AttributeType.INTS, ints: a.value.map((v) => checkInt(where, v)) };
  }
}

function encodeValue(v: ValueSpec): onnx.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: DATA_TYPE[v.type ?? 'float32'],
        shape: { dim: v.dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

/** Little-endian raw bytes, the layout ONNX's `raw_data` mandates whatever the host's byte order. */
function encodeInitializer(t: InitializerSpec): onnx.ITensorProto {
  const count = t.dims.reduce((n, d) => n * checkInt(`dim of initializer ${t.name}`, d), 1);
  if (t.values.length !== count) {
    throw modelError(
      `initializer ${t.name} has ${t.values.length} values, dims [${t.dims.join(', ')}] need ${count}`,
    );
  }
  if (t.type === 'float16') {
    throw modelError(
      `initializer ${t.name}: float16 initializers are not supported (use float32 and a Cast)`,
    );
  }
  const width = t.type === 'float32' ? 4 : 8;
  const bytes = new Uint8Array(count * width);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < count; i++) {
    const v = t.values[i]!;
    if (t.type === 'float32') {
      view.setFloat32(i * 4, v, true);
    } else {
      view.setBigInt64(i * 8, BigInt(checkInt(`value of initializer ${t.name}`, v)), true);
    }
  }
  return { name: t.name, dataType: DATA_TYPE[t.type], dims: [...t.dims], rawData: bytes };
}

/**
 * Encodes a single-graph ONNX model (IR version {@link IR_VERSION}, default-domain opset
 * {@link OPSET_VERSION}) to bytes for `createSession`. Only what the in-memory kernels need: int, float
 * and int-list attributes, float32/int64 values with fixed or symbolic dims, optional initializers.
 * Graph validity (known ops, wiring) is checked by onnxruntime when the session is created.
 *
 * @throws OnnxError `ONNX_ERR_MODEL` for non-integer int attributes or initializer size mismatches.
 */
export function buildModel(graph: GraphSpec, producerName = 'synood'): Uint8Array {
  const nodes = graph.nodes.map((n): onnx.INodeProto => {
    const name = n.name ?? n.outputs[0] ?? n.opType;
    return {
      name,
      opType: n.opType,
      input: [...n.inputs],
      output: [...n.outputs],
      attribute: Object.entries(n.attributes ?? {}).map(([k, a]) => encodeAttribute(name, k, a)),
    };
  });
  const model: onnx.IModelProto = {
    irVersion: IR_VERSION,
    producerName,
    opsetImport: [{ domain: '', version: OPSET_VERSION }],
    graph: {
      name: graph.name ?? 'graph',
      node: nodes,
      input: graph.inputs.map(encodeValue),
      output: graph.outputs.map(encodeValue),
      initializer: (graph.initializers ?? []).map(encodeInitializer),
    },
  };
  return onnx.ModelProto.encode(model).finish();
}
