/**
 * @file ONNX protobuf ↔ IR, with external-data tensors.
 *
 * Decoding reads initializer and Constant values from `raw_data` (little-endian, whatever the host) and
 * from the typed fields the ONNX spec allows instead: `float_data`; `int32_data`, which also carries int8,
 * uint8, int16, uint16, bool and the float16/bfloat16 bit patterns; `int64_data`; `double_data`;
 * `uint64_data` (uint32 and uint64). Tensors with `data_location = EXTERNAL` are read from the file named
 * by their `location` key at `offset` for `length` bytes (both optional, as in the spec).
 *
 * Encoding always writes `raw_data`; with `externalizeAbove`, initializers of more bytes go to one external
 * file, each at an offset aligned to 64 bytes (4096 from 1 MiB up, so that readers may map pages).
 *
 * What is not kept: sparse initializers (rejected), `quantization_annotation`, `training_info`, and
 * `value_info` entries of non-tensor types (dropped). Model-local functions are kept encoded.
 */
import { type FileHandle, open, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize, sep } from 'node:path';

import { onnx } from 'onnx-proto';

import { GraphError, GraphErrorCode } from './errors';
import {
  type Attribute,
  type DType,
  DTYPE_INFO,
  type Graph,
  type Model,
  type Node,
  type TensorData,
  type ValueInfo,
  allocData,
  dtypeFromOnnx,
  makeTensor,
  sizeOf,
  tensorBytesLE,
  tensorFromBytesLE,
} from './ir';

/** Reads a whole external-data file named by a tensor's `location` key. */
export type ExternalDataLoader = (location: string) => Uint8Array | Promise<Uint8Array>;

/** Options of {@link decodeModel}. */
export interface DecodeOptions {
  /**
   * Supplies external-data files. Each location is requested once. @defaultValue none: a model with
   * external tensors fails with `GRAPH_ERR_EXTERNAL_DATA`
   */
  externalData?: ExternalDataLoader;
}

/** Options of {@link encodeModel} and {@link writeModel}. */
export interface EncodeOptions {
  /**
   * Initializers of more than this many bytes are written to the external file instead of the model.
   * @defaultValue undefined: everything inline (the model must then stay under protobuf's 2 GiB)
   */
  externalizeAbove?: number;
  /**
   * The external file's name as recorded in each tensor's `location` (relative to the model file).
   * @defaultValue `'model.onnx.data'` for {@link encodeModel}; `<model file name>.data` for {@link writeModel}
   */
  externalFile?: string;
}

/** Result of {@link encodeModel}. */
export interface EncodedModel {
  /** The `.onnx` protobuf bytes. */
  model: Uint8Array;
  /** The external-data file's bytes, when some tensor was externalized. */
  external?: Uint8Array;
}

/** protobufjs hands int64 fields back as `Long` objects (or numbers when Long is unavailable). */
type LongLike = number | { low: number; high: number; unsigned?: boolean };

function longToBigInt(v: LongLike | null | undefined, unsigned: boolean): bigint {
  if (v === null || v === undefined) {
    return 0n;
  }
  if (typeof v === 'number') {
    return unsigned ? BigInt.asUintN(64, BigInt(v)) : BigInt(v);
  }
  const big = (BigInt(v.high) << 32n) + BigInt(v.low >>> 0);
  return unsigned ? BigInt.asUintN(64, big) : BigInt.asIntN(64, big);
}

function longToNumber(v: LongLike | null | undefined): number {
  return typeof v === 'number' ? v : Number(longToBigInt(v, false));
}

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/**
 * An int64 field value for protobufjs: a number when exact, else the `{low, high}` pair protobufjs'
 * writer accepts. Numbers beyond the int64 range saturate (so a decoded INT64_MAX sentinel, which became
 * 2^63 as a number, is written back as INT64_MAX).
 */
function toInt64Field(v: number | bigint): number {
  if (typeof v === 'number' && Number.isSafeInteger(v)) {
    return v;
  }
  let big = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number.isFinite(v) ? v : Math.sign(v) * 2 ** 64));
  big = big > INT64_MAX ? INT64_MAX : big < INT64_MIN ? INT64_MIN : big;
  const u = BigInt.asUintN(64, big);
  // protobufjs' LongBits.from reads `low`/`high` from any object; the schema types say number | Long.
  return {
    low: Number(u & 0xffffffffn) | 0,
    high: Number(u >> 32n) | 0,
    unsigned: false,
  } as unknown as number;
}

function modelError(message: string, cause?: unknown): GraphError {
  return new GraphError(GraphErrorCode.Model, message, cause === undefined ? undefined : { cause });
}

function dimsOf(proto: onnx.ITensorProto, where: string): number[] {
  return (proto.dims ?? []).map((d) => {
    const n = longToNumber(d as LongLike);
    if (!Number.isSafeInteger(n) || n < 0) {
      throw modelError(`${where} has dim ${n}; dims must be non-negative integers`);
    }
    return n;
  });
}

function externalKeys(proto: onnx.ITensorProto): Map<string, string> {
  return new Map((proto.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
}

function isExternal(proto: onnx.ITensorProto): boolean {
  return proto.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;
}

interface ExternalRef {
  location: string;
  offset: number;
  length: number;
}

function externalRef(proto: onnx.ITensorProto, where: string): ExternalRef {
  const keys = externalKeys(proto);
  const location = keys.get('location');
  if (location === undefined || location === '') {
    throw new GraphError(GraphErrorCode.ExternalData, `${where} is external but has no location key`);
  }
  const dtype = dtypeFromOnnx(proto.dataType ?? 0, where);
  const expected = sizeOf(dimsOf(proto, where)) * DTYPE_INFO[dtype].bytes;
  const parse = (key: string, fallback: number): number => {
    const text = keys.get(key);
    const v = text === undefined ? fallback : Number(text);
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new GraphError(
        GraphErrorCode.ExternalData,
        `${where}: external-data key ${key} must be a non-negative integer, got ${String(text)}`,
      );
    }
    return v;
  };
  const offset = parse('offset', 0);
  const length = parse('length', expected);
  if (length !== expected) {
    throw new GraphError(
      GraphErrorCode.ExternalData,
      `${where}: external length ${length} in ${location} does not match ${dtype} [${dimsOf(proto, where).join(', ')}] (${expected} bytes)`,
    );
  }
  return { location, offset, length };
}

/** Collects every TensorProto of a graph (initializers and tensor attributes, recursively). */
function forEachTensorProto(
  graph: onnx.IGraphProto,
  visit: (t: onnx.ITensorProto, where: string) => void,
): void {
  for (const t of graph.initializer ?? []) {
    visit(t, `initializer ${t.name ?? ''}`);
  }
  for (const node of graph.node ?? []) {
    for (const a of node.attribute ?? []) {
      if (a.t) {
        visit(a.t, `attribute ${a.name ?? ''} of node ${node.name ?? ''} (${node.opType ?? ''})`);
      }
      if (a.g) {
        forEachTensorProto(a.g, visit);
      }
    }
  }
}

function tensorFromTypedFields(
  proto: onnx.ITensorProto,
  dtype: DType,
  dims: number[],
  where: string,
): TensorData {
  const n = sizeOf(dims);
  const pick = (field: string, values: readonly unknown[] | null | undefined): readonly unknown[] => {
    const list = values ?? [];
    if (list.length !== n) {
      throw modelError(
        `${where}: ${dtype} [${dims.join(', ')}] needs ${n} values in ${field}, got ${list.length}`,
      );
    }
    return list;
  };
  switch (dtype) {
    case 'float32':
      return makeTensor(dtype, dims, pick('float_data', proto.floatData) as number[]);
    case 'float64':
      return makeTensor(dtype, dims, pick('double_data', proto.doubleData) as number[]);
    case 'int64': {
      const list = pick('int64_data', proto.int64Data) as LongLike[];
      const data = allocData('int64', n);
      list.forEach((v, i) => (data[i] = longToBigInt(v, false)));
      return { dtype, dims, data };
    }
    case 'uint64': {
      const list = pick('uint64_data', proto.uint64Data) as LongLike[];
      const data = allocData('uint64', n);
      list.forEach((v, i) => (data[i] = longToBigInt(v, true)));
      return { dtype, dims, data };
    }
    case 'uint32': {
      const list = pick('uint64_data', proto.uint64Data) as LongLike[];
      const data = allocData('uint32', n);
      list.forEach((v, i) => (data[i] = Number(longToBigInt(v, true) & 0xffffffffn)));
      return { dtype, dims, data };
    }
    case 'float16':
    case 'bfloat16': {
      // The spec stores the 16-bit patterns in the low half of each int32_data entry.
      const list = pick('int32_data', proto.int32Data) as number[];
      const data = allocData(dtype, n);
      list.forEach((v, i) => (data[i] = v & 0xffff));
      return { dtype, dims, data };
    }
    case 'int8':
    case 'uint8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'bool':
      return makeTensor(dtype, dims, pick('int32_data', proto.int32Data) as number[]);
  }
}

/** Converts a TensorProto, with its external bytes already loaded when it has any. */
function tensorFromProto(
  proto: onnx.ITensorProto,
  where: string,
  external: Map<onnx.ITensorProto, Uint8Array>,
): TensorData {
  const dtype = dtypeFromOnnx(proto.dataType ?? 0, where);
  const dims = dimsOf(proto, where);
  if (proto.segment) {
    throw modelError(`${where} is a segment of a larger tensor; segmented tensors are not supported`);
  }
  if (isExternal(proto)) {
    const bytes = external.get(proto);
    if (bytes === undefined) {
      throw new GraphError(GraphErrorCode.ExternalData, `${where}: external data were not loaded`);
    }
    return tensorFromBytesLE(dtype, dims, bytes, where);
  }
  if (proto.rawData && proto.rawData.length > 0) {
    return tensorFromBytesLE(dtype, dims, proto.rawData, where);
  }
  return tensorFromTypedFields(proto, dtype, dims, where);
}

const TEXT_DECODER = new TextDecoder();
const TEXT_ENCODER = new TextEncoder();

function attributeFromProto(
  a: onnx.IAttributeProto,
  where: string,
  external: Map<onnx.ITensorProto, Uint8Array>,
): Attribute {
  const T = onnx.AttributeProto.AttributeType;
  const has = (field: string): boolean => Object.hasOwn(a, field);
  let type = a.type ?? T.UNDEFINED;
  // IR versions before 2 did not record the type; infer it from the field that is set.
  if (type === T.UNDEFINED) {
    type = has('f')
      ? T.FLOAT
      : has('i')
        ? T.INT
        : has('s')
          ? T.STRING
          : has('t')
            ? T.TENSOR
            : has('g')
              ? T.GRAPH
              : (a.floats?.length ?? 0) > 0
                ? T.FLOATS
                : (a.ints?.length ?? 0) > 0
                  ? T.INTS
                  : (a.strings?.length ?? 0) > 0
                    ? T.STRINGS
                    : T.UNDEFINED;
  }
  if (a.refAttrName) {
    return { type: 'opaque', value: onnx.AttributeProto.encode(a).finish() };
  }
  switch (type) {
    case T.INT:
      return { type: 'int', value: longToNumber(a.i as LongLike) };
    case T.FLOAT:
      return { type: 'float', value: a.f ?? 0 };
    case T.STRING:
      return { type: 'string', value: TEXT_DECODER.decode(a.s ?? new Uint8Array(0)) };
    case T.INTS:
      return { type: 'ints', value: (a.ints ?? []).map((v) => longToNumber(v as LongLike)) };
    case T.FLOATS:
      return { type: 'floats', value: [...(a.floats ?? [])] };
    case T.STRINGS:
      return { type: 'strings', value: (a.strings ?? []).map((s) => TEXT_DECODER.decode(s)) };
    case T.TENSOR:
      if (!a.t) {
        throw modelError(`${where} is a TENSOR attribute without a tensor`);
      }
      return { type: 'tensor', value: tensorFromProto(a.t, where, external) };
    case T.GRAPH:
      if (!a.g) {
        throw modelError(`${where} is a GRAPH attribute without a graph`);
      }
      return { type: 'graph', value: graphFromProto(a.g, external) };
    case T.TENSORS:
    case T.GRAPHS:
    case T.SPARSE_TENSOR:
    case T.SPARSE_TENSORS:
    case T.TYPE_PROTO:
    case T.TYPE_PROTOS:
    case T.UNDEFINED:
      return { type: 'opaque', value: onnx.AttributeProto.encode(a).finish() };
  }
}

function valueInfoFromProto(v: onnx.IValueInfoProto, where: string): ValueInfo | undefined {
  const name = v.name ?? '';
  const tt = v.type?.tensorType;
  if (!tt) {
    return undefined;
  }
  const dtype = dtypeFromOnnx(tt.elemType ?? 0, `${where} ${name}`);
  if (!tt.shape) {
    return { name, dtype, dims: null };
  }
  const dims = (tt.shape.dim ?? []).map((d): number | string => {
    if (d.dimParam) {
      return d.dimParam;
    }
    if (Object.hasOwn(d, 'dimValue')) {
      return longToNumber(d.dimValue as LongLike);
    }
    return '';
  });
  return { name, dtype, dims };
}

function interfaceValue(v: onnx.IValueInfoProto, where: string): ValueInfo {
  const info = valueInfoFromProto(v, where);
  if (!info) {
    throw new GraphError(
      GraphErrorCode.UnsupportedDtype,
      `${where} ${v.name ?? ''} is not a tensor (sequences, maps and optionals are not supported)`,
    );
  }
  return info;
}

function graphFromProto(g: onnx.IGraphProto, external: Map<onnx.ITensorProto, Uint8Array>): Graph {
  if ((g.sparseInitializer ?? []).length > 0) {
    throw modelError(`graph ${g.name ?? ''} has sparse initializers, which are not supported`);
  }
  const initializers = new Map<string, TensorData>();
  for (const t of g.initializer ?? []) {
    const name = t.name ?? '';
    initializers.set(name, tensorFromProto(t, `initializer ${name}`, external));
  }
  const nodes = (g.node ?? []).map((n): Node => {
    const nodeName = n.name ?? '';
    const attributes: Record<string, Attribute> = {};
    for (const a of n.attribute ?? []) {
      const attrName = a.name ?? '';
      attributes[attrName] = attributeFromProto(
        a,
        `attribute ${attrName} of node ${nodeName} (${n.opType ?? ''})`,
        external,
      );
    }
    const node: Node = {
      name: nodeName,
      opType: n.opType ?? '',
      domain: n.domain ?? '',
      inputs: [...(n.input ?? [])],
      outputs: [...(n.output ?? [])],
      attributes,
    };
    if (n.docString) {
      node.docString = n.docString;
    }
    return node;
  });
  const graph: Graph = {
    name: g.name ?? '',
    nodes,
    inputs: (g.input ?? []).map((v) => interfaceValue(v, 'graph input')),
    outputs: (g.output ?? []).map((v) => interfaceValue(v, 'graph output')),
    initializers,
    valueInfo: (g.valueInfo ?? []).flatMap((v) => valueInfoFromProto(v, 'value_info') ?? []),
  };
  if (g.docString) {
    graph.docString = g.docString;
  }
  return graph;
}

function parseModelProto(bytes: Uint8Array): onnx.ModelProto {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw modelError(`the ${bytes.byteLength} bytes are not an ONNX ModelProto: ${detail}`, err);
  }
}

function modelFromProto(proto: onnx.ModelProto, external: Map<onnx.ITensorProto, Uint8Array>): Model {
  if (!proto.graph) {
    throw modelError('the model has no graph');
  }
  const model: Model = {
    irVersion: longToNumber(proto.irVersion as LongLike),
    opsetImports: proto.opsetImport.map((o) => ({
      domain: o.domain ?? '',
      version: longToNumber(o.version as LongLike),
    })),
    producerName: proto.producerName,
    graph: graphFromProto(proto.graph, external),
  };
  if (proto.producerVersion) {
    model.producerVersion = proto.producerVersion;
  }
  if (proto.domain) {
    model.domain = proto.domain;
  }
  const modelVersion = longToNumber(proto.modelVersion as LongLike);
  if (modelVersion !== 0) {
    model.modelVersion = modelVersion;
  }
  if (proto.docString) {
    model.docString = proto.docString;
  }
  if (proto.metadataProps.length > 0) {
    model.metadata = Object.fromEntries(proto.metadataProps.map((e) => [e.key ?? '', e.value ?? '']));
  }
  if (proto.functions.length > 0) {
    model.functions = proto.functions.map((f) => onnx.FunctionProto.encode(f).finish());
  }
  return model;
}

/** Reads `length` bytes at `offset` of an external file; `where` names the tensor for error messages. */
type ExternalRangeReader = (ref: ExternalRef, where: string) => Promise<Uint8Array>;

async function loadExternal(
  proto: onnx.ModelProto,
  read: ExternalRangeReader | undefined,
): Promise<Map<onnx.ITensorProto, Uint8Array>> {
  const pending: { tensor: onnx.ITensorProto; ref: ExternalRef; where: string }[] = [];
  if (proto.graph) {
    forEachTensorProto(proto.graph, (tensor, where) => {
      if (isExternal(tensor)) {
        pending.push({ tensor, ref: externalRef(tensor, where), where });
      }
    });
  }
  const out = new Map<onnx.ITensorProto, Uint8Array>();
  if (pending.length > 0 && read === undefined) {
    throw new GraphError(
      GraphErrorCode.ExternalData,
      `${pending[0]!.where} is stored in external file ${pending[0]!.ref.location}, and no externalData loader was given (use readModel for models on disk)`,
    );
  }
  for (const p of pending) {
    out.set(p.tensor, await read!(p.ref, p.where));
  }
  return out;
}

function sliceExternal(file: Uint8Array, ref: ExternalRef, where: string): Uint8Array {
  if (ref.offset + ref.length > file.byteLength) {
    throw new GraphError(
      GraphErrorCode.ExternalData,
      `${where}: bytes ${ref.offset}..${ref.offset + ref.length} are beyond the end of ${ref.location} (${file.byteLength} bytes)`,
    );
  }
  return file.subarray(ref.offset, ref.offset + ref.length);
}

/**
 * Decodes ONNX model bytes into the IR, loading external-data tensors through `options.externalData`.
 *
 * @throws GraphError `GRAPH_ERR_MODEL` for malformed protobuf or tensor data sizes,
 * `GRAPH_ERR_UNSUPPORTED_DTYPE` for string/complex tensors or non-tensor graph inputs,
 * `GRAPH_ERR_EXTERNAL_DATA` when external data are missing or too short.
 */
export async function decodeModel(bytes: Uint8Array, options: DecodeOptions = {}): Promise<Model> {
  const proto = parseModelProto(bytes);
  const loader = options.externalData;
  const files = new Map<string, Promise<Uint8Array>>();
  const read: ExternalRangeReader | undefined =
    loader === undefined
      ? undefined
      : async (ref, where) => {
          let file = files.get(ref.location);
          if (file === undefined) {
            file = Promise.resolve(loader(ref.location));
            files.set(ref.location, file);
          }
          return sliceExternal(await file, ref, where);
        };
  return modelFromProto(proto, await loadExternal(proto, read));
}

/**
 * Checks that an external-data location stays inside the model's folder (the rule of ONNX's checker):
 * relative, without `..` components that leave it.
 */
function resolveLocation(modelDir: string, location: string, where: string): string {
  const clean = normalize(location);
  if (isAbsolute(location) || clean === '..' || clean.startsWith(`..${sep}`)) {
    throw new GraphError(
      GraphErrorCode.ExternalData,
      `${where}: external-data location ${location} must be a relative path inside the model's folder`,
    );
  }
  return join(modelDir, clean);
}

/**
 * Reads an ONNX model from disk, resolving external-data files relative to the model file's folder. Large
 * external files are read range by range, so files beyond Node's 2 GiB `readFile` limit work.
 *
 * @throws GraphError `GRAPH_ERR_EXTERNAL_DATA` naming the file when an external file is missing or too
 * short, plus the errors of {@link decodeModel}.
 */
export async function readModel(path: string): Promise<Model> {
  const bytes = await readFile(path);
  const proto = parseModelProto(bytes);
  const modelDir = dirname(path);
  const handles = new Map<string, Promise<FileHandle>>();
  const read: ExternalRangeReader = async (ref, where) => {
    const file = resolveLocation(modelDir, ref.location, where);
    let handle = handles.get(file);
    if (handle === undefined) {
      handle = open(file, 'r');
      handles.set(file, handle);
    }
    let fh;
    try {
      fh = await handle;
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      throw new GraphError(
        GraphErrorCode.ExternalData,
        `${where} is stored in external file ${file}, which cannot be opened (${detail})`,
        { cause: err },
      );
    }
    const out = new Uint8Array(ref.length);
    let done = 0;
    while (done < ref.length) {
      const { bytesRead } = await fh.read(out, done, ref.length - done, ref.offset + done);
      if (bytesRead === 0) {
        throw new GraphError(
          GraphErrorCode.ExternalData,
          `${where}: bytes ${ref.offset}..${ref.offset + ref.length} are beyond the end of external file ${file}`,
        );
      }
      done += bytesRead;
    }
    return out;
  };
  try {
    return modelFromProto(proto, await loadExternal(proto, read));
  } finally {
    for (const h of handles.values()) {
      await h.then(
        (fh) => fh.close(),
        () => undefined,
      );
    }
  }
}

const PROTOBUF_LIMIT = 2 ** 31 - 1;

interface ExternalWriter {
  readonly above: number;
  readonly location: string;
  chunks: { offset: number; bytes: Uint8Array }[];
  size: number;
}

function tensorToProto(name: string, t: TensorData, ext: ExternalWriter | undefined): onnx.ITensorProto {
  const base: onnx.ITensorProto = {
    name,
    dataType: DTYPE_INFO[t.dtype].onnx,
    dims: t.dims.map((d) => toInt64Field(d)),
  };
  const bytes = tensorBytesLE(t);
  if (ext && bytes.byteLength > ext.above) {
    const align = bytes.byteLength >= 1 << 20 ? 4096 : 64;
    const offset = Math.ceil(ext.size / align) * align;
    ext.chunks.push({ offset, bytes });
    ext.size = offset + bytes.byteLength;
    return {
      ...base,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: ext.location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(bytes.byteLength) },
      ],
    };
  }
  return { ...base, rawData: bytes };
}

function valueInfoToProto(v: ValueInfo): onnx.IValueInfoProto {
  const tensorType: onnx.TypeProto.ITensor = { elemType: DTYPE_INFO[v.dtype].onnx };
  if (v.dims !== null) {
    tensorType.shape = {
      dim: v.dims.map((d) =>
        typeof d === 'number' ? { dimValue: toInt64Field(d) } : d === '' ? {} : { dimParam: d },
      ),
    };
  }
  return { name: v.name, type: { tensorType } };
}

function attributeToProto(name: string, a: Attribute): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case 'int':
      return { name, type: T.INT, i: toInt64Field(a.value) };
    case 'float':
      return { name, type: T.FLOAT, f: a.value };
    case 'string':
      return { name, type: T.STRING, s: TEXT_ENCODER.encode(a.value) };
    case 'ints':
      return { name, type: T.INTS, ints: a.value.map((v) => toInt64Field(v)) };
    case 'floats':
      return { name, type: T.FLOATS, floats: [...a.value] };
    case 'strings':
      return { name, type: T.STRINGS, strings: a.value.map((s) => TEXT_ENCODER.encode(s)) };
    case 'tensor':
      return { name, type: T.TENSOR, t: tensorToProto('', a.value, undefined) };
    case 'graph':
      return { name, type: T.GRAPH, g: graphToProto(a.value, undefined) };
    case 'opaque':
      return onnx.AttributeProto.decode(a.value);
  }
}

function graphToProto(g: Graph, ext: ExternalWriter | undefined): onnx.IGraphProto {
  const proto: onnx.IGraphProto = {
    name: g.name,
    node: g.nodes.map((n) => {
      const node: onnx.INodeProto = {
        name: n.name,
        opType: n.opType,
        domain: n.domain,
        input: [...n.inputs],
        output: [...n.outputs],
        attribute: Object.entries(n.attributes).map(([k, a]) => attributeToProto(k, a)),
      };
      if (n.docString !== undefined) {
        node.docString = n.docString;
      }
      return node;
    }),
    input: g.inputs.map(valueInfoToProto),
    output: g.outputs.map(valueInfoToProto),
    initializer: [...g.initializers].map(([name, t]) => tensorToProto(name, t, ext)),
    valueInfo: g.valueInfo.map(valueInfoToProto),
  };
  if (g.docString !== undefined) {
    proto.docString = g.docString;
  }
  return proto;
}

function inlineBytes(g: Graph, above: number | undefined): number {
  let total = 0;
  for (const t of g.initializers.values()) {
    const n = t.data.byteLength;
    total += above !== undefined && n > above ? 0 : n;
  }
  for (const node of g.nodes) {
    for (const a of Object.values(node.attributes)) {
      total +=
        a.type === 'tensor'
          ? a.value.data.byteLength
          : a.type === 'graph'
            ? inlineBytes(a.value, undefined)
            : 0;
    }
  }
  return total;
}

/**
 * Encodes a model to ONNX protobuf bytes, optionally moving large initializers to an external file.
 *
 * @throws GraphError `GRAPH_ERR_ARGUMENT` for a negative threshold or an empty file name,
 * `GRAPH_ERR_MODEL` when the inline data would exceed protobuf's 2 GiB limit (pass `externalizeAbove`).
 */
export function encodeModel(model: Model, options: EncodeOptions = {}): EncodedModel {
  const above = options.externalizeAbove;
  if (above !== undefined && (!Number.isSafeInteger(above) || above < 0)) {
    throw new GraphError(
      GraphErrorCode.Argument,
      `externalizeAbove must be a non-negative integer, got ${above}`,
    );
  }
  const location = options.externalFile ?? 'model.onnx.data';
  if (location === '' || isAbsolute(location)) {
    throw new GraphError(
      GraphErrorCode.Argument,
      `externalFile must be a relative file name, got "${location}"`,
    );
  }
  const inline = inlineBytes(model.graph, above);
  if (inline > PROTOBUF_LIMIT) {
    throw modelError(
      `the model holds ${inline} bytes of inline tensor data, beyond protobuf's 2 GiB limit; pass externalizeAbove to store large initializers externally`,
    );
  }
  const ext: ExternalWriter | undefined =
    above === undefined ? undefined : { above, location, chunks: [], size: 0 };
  const proto: onnx.IModelProto = {
    irVersion: toInt64Field(model.irVersion),
    opsetImport: model.opsetImports.map((o) => ({ domain: o.domain, version: toInt64Field(o.version) })),
    producerName: model.producerName,
    graph: graphToProto(model.graph, ext),
  };
  if (model.producerVersion !== undefined) {
    proto.producerVersion = model.producerVersion;
  }
  if (model.domain !== undefined) {
    proto.domain = model.domain;
  }
  if (model.modelVersion !== undefined) {
    proto.modelVersion = toInt64Field(model.modelVersion);
  }
  if (model.docString !== undefined) {
    proto.docString = model.docString;
  }
  if (model.metadata !== undefined) {
    proto.metadataProps = Object.entries(model.metadata).map(([key, value]) => ({ key, value }));
  }
  if (model.functions !== undefined) {
    proto.functions = model.functions.map((f) => onnx.FunctionProto.decode(f));
  }
  const bytes = onnx.ModelProto.encode(proto).finish();
  if (!ext || ext.chunks.length === 0) {
    return { model: bytes };
  }
  const external = new Uint8Array(ext.size);
  for (const c of ext.chunks) {
    external.set(c.bytes, c.offset);
  }
  return { model: bytes, external };
}

/**
 * Writes a model to `path`; with `externalizeAbove`, large initializers go to `externalFile` beside it
 * (default `<file name>.data`), which {@link readModel} and onnxruntime resolve relative to the model.
 */
export async function writeModel(path: string, model: Model, options: EncodeOptions = {}): Promise<void> {
  const externalFile = options.externalFile ?? `${basename(path)}.data`;
  const { model: bytes, external } = encodeModel(model, { ...options, externalFile });
  if (external) {
    await writeFile(join(dirname(path), externalFile), external);
  }
  await writeFile(path, bytes);
}

/** Encoded bytes of a model without external data (for in-memory sessions). */
export function modelToBytes(model: Model): Uint8Array {
  return encodeModel(model).model;
}
