/**
 * @file The in-memory ONNX representation every other module works on: plain objects, no protobuf
 * classes, no Long values. Tensors hold typed arrays in host byte order; 64-bit integers are BigInts.
 *
 * Conventions: IR objects are plain data. Functions in this package that transform a graph return a new
 * graph and never mutate their argument, except {@link GraphBuilder}, whose job is to append to the graph
 * it wraps. Tensor `data` arrays are shared between copies and must be treated as immutable.
 */
import { GraphError, GraphErrorCode } from './errors';

/** Element types this toolkit represents. */
export const DTYPES = [
  'float32',
  'float16',
  'bfloat16',
  'float64',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'bool',
] as const;

/** An ONNX tensor element type. */
export type DType = (typeof DTYPES)[number];

/**
 * The typed array holding each element type. float16 and bfloat16 are raw bit patterns (convert with
 * {@link float16ToFloat32} / {@link bfloat16ToFloat32}); bool is one byte per element, 0 or 1.
 */
export interface DataArrays {
  float32: Float32Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  float64: Float64Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
}

/** Any of the {@link DataArrays}. */
export type DataArray = DataArrays[DType];

/** A tensor of one element type. */
export interface TensorOf<D extends DType> {
  readonly dtype: D;
  /** Row-major dims; `[]` is a scalar. */
  readonly dims: number[];
  /** `product(dims)` elements; shared between copies, never mutated. */
  readonly data: DataArrays[D];
}

/** A tensor of any of the dtypes in `D` (distributes over unions, so `dtype` discriminates). */
export type TensorIn<D extends DType> = { [K in D]: TensorOf<K> }[D];

/** A constant tensor: discriminated on `dtype`, so narrowing the dtype narrows the array type. */
export type TensorData = TensorIn<DType>;

/** A graph input, output or annotated intermediate value. */
export interface ValueInfo {
  readonly name: string;
  readonly dtype: DType;
  /**
   * A number is a fixed dim, a string a symbolic one (`dim_param`); `''` is a dim with neither. `null` means
   * the rank is unknown (the value's type carries no shape), which differs from `[]`, a scalar.
   */
  readonly dims: (number | string)[] | null;
}

/** A node attribute, discriminated on `type` (ONNX `AttributeProto.AttributeType`). */
export type Attribute =
  | { readonly type: 'int'; readonly value: number }
  | { readonly type: 'float'; readonly value: number }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'ints'; readonly value: number[] }
  | { readonly type: 'floats'; readonly value: number[] }
  | { readonly type: 'strings'; readonly value: string[] }
  | { readonly type: 'tensor'; readonly value: TensorData }
  | { readonly type: 'graph'; readonly value: Graph }
  /**
   * Attribute kinds this toolkit does not interpret (tensor lists, graph lists, sparse tensors, type
   * protos, references to function attributes): the encoded `AttributeProto`, written back unchanged.
   */
  | { readonly type: 'opaque'; readonly value: Uint8Array };

/** One operator application. */
export interface Node {
  /** Unique in the graph for nodes this package creates; may be `''` in decoded models. */
  name: string;
  opType: string;
  /** Operator-set domain; `''` is the default ONNX domain. */
  domain: string;
  /** Input value names; `''` marks an absent optional input. */
  inputs: string[];
  /** Output value names; `''` marks an output the node need not produce. */
  outputs: string[];
  attributes: Record<string, Attribute>;
  docString?: string;
}

/** A computation graph: nodes in topological order, its interface, constants and annotations. */
export interface Graph {
  name: string;
  nodes: Node[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** Constant tensors by value name. */
  initializers: Map<string, TensorData>;
  /** Type and shape annotations of intermediate values (optional; may be empty). */
  valueInfo: ValueInfo[];
  docString?: string;
}

/** An operator set the model imports. */
export interface OpsetImport {
  /** `''` (or `ai.onnx`) is the default domain. */
  domain: string;
  version: number;
}

/** A whole ONNX model. */
export interface Model {
  irVersion: number;
  opsetImports: OpsetImport[];
  producerName: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph: Graph;
  /** `metadata_props` as key → value. */
  metadata?: Record<string, string>;
  /**
   * Model-local functions (`FunctionProto`), kept encoded: written back unchanged, never interpreted.
   * Nodes calling them are unsupported by shape inference and folding.
   */
  functions?: Uint8Array[];
}

interface DTypeInfo {
  /** `TensorProto.DataType` number. */
  readonly onnx: number;
  /** Bytes per element in `raw_data`. */
  readonly bytes: number;
  readonly create: (n: number) => DataArray;
}

/** Per-dtype facts: ONNX enum, element width, array constructor. */
export const DTYPE_INFO: Readonly<Record<DType, DTypeInfo>> = {
  float32: { onnx: 1, bytes: 4, create: (n) => new Float32Array(n) },
  uint8: { onnx: 2, bytes: 1, create: (n) => new Uint8Array(n) },
  int8: { onnx: 3, bytes: 1, create: (n) => new Int8Array(n) },
  uint16: { onnx: 4, bytes: 2, create: (n) => new Uint16Array(n) },
  int16: { onnx: 5, bytes: 2, create: (n) => new Int16Array(n) },
  int32: { onnx: 6, bytes: 4, create: (n) => new Int32Array(n) },
  int64: { onnx: 7, bytes: 8, create: (n) => new BigInt64Array(n) },
  bool: { onnx: 9, bytes: 1, create: (n) => new Uint8Array(n) },
  float16: { onnx: 10, bytes: 2, create: (n) => new Uint16Array(n) },
  float64: { onnx: 11, bytes: 8, create: (n) => new Float64Array(n) },
  uint32: { onnx: 12, bytes: 4, create: (n) => new Uint32Array(n) },
  uint64: { onnx: 13, bytes: 8, create: (n) => new BigUint64Array(n) },
  bfloat16: { onnx: 16, bytes: 2, create: (n) => new Uint16Array(n) },
};

const BY_ONNX = new Map<number, DType>(DTYPES.map((d) => [DTYPE_INFO[d].onnx, d]));

const ONNX_TYPE_NAMES: Record<number, string> = {
  8: 'string',
  14: 'complex64',
  15: 'complex128',
  17: 'float8e4m3fn',
  18: 'float8e4m3fnuz',
  19: 'float8e5m2',
  20: 'float8e5m2fnuz',
  21: 'uint4',
  22: 'int4',
  23: 'float4e2m1',
};

/**
 * The dtype of an ONNX `TensorProto.DataType` number.
 *
 * @throws GraphError `GRAPH_ERR_UNSUPPORTED_DTYPE` naming `where` for string, complex and sub-byte types.
 */
export function dtypeFromOnnx(code: number, where: string): DType {
  const d = BY_ONNX.get(code);
  if (d === undefined) {
    const known = ONNX_TYPE_NAMES[code];
    throw new GraphError(
      GraphErrorCode.UnsupportedDtype,
      `${where} has element type ${known ?? `#${code}`}; supported: ${DTYPES.join(', ')}`,
    );
  }
  return d;
}

/** The ONNX `TensorProto.DataType` number of a dtype (e.g. for Cast's `to`). */
export function dtypeToOnnx(dtype: DType): number {
  return DTYPE_INFO[dtype].onnx;
}

/** True for float32, float16, bfloat16 and float64. */
export function isFloatDType(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16' || dtype === 'float64';
}

/** True for int64 and uint64, whose data are BigInts. */
export function isBigIntDType(dtype: DType): dtype is 'int64' | 'uint64' {
  return dtype === 'int64' || dtype === 'uint64';
}

/** Number of elements of a shape (1 for a scalar). */
export function sizeOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) {
    n *= d;
  }
  return n;
}

/** An uninitialised (zero) array for `n` elements of a dtype. */
export function allocData<D extends DType>(dtype: D, n: number): DataArrays[D] {
  return DTYPE_INFO[dtype].create(n) as DataArrays[D];
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The float value of one IEEE binary16 bit pattern. */
export function halfBitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) {
    return sign * f * 2 ** -24;
  }
  if (e === 31) {
    return f === 0 ? sign * Infinity : NaN;
  }
  return sign * (1 + f / 1024) * 2 ** (e - 15);
}

/** The IEEE binary16 bit pattern nearest to `v` (round half to even, overflow to ±Infinity). */
export function numberToHalfBits(v: number): number {
  if (Number.isNaN(v)) {
    return 0x7e00;
  }
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  // 65520 is halfway between the largest half (65504) and 2^16; half to even rounds it up to infinity.
  if (a >= 65520) {
    return sign | 0x7c00;
  }
  if (a < 2 ** -14) {
    // Subnormal: an integer count of 2^-24; a carry to 1024 is exactly the smallest normal's pattern.
    return sign | roundHalfEven(a * 2 ** 24);
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) {
    e -= 1;
  } else if (2 ** (e + 1) <= a) {
    e += 1;
  }
  // A mantissa carry to 1024 moves into the exponent field, which is the correctly rounded result.
  return sign | (((e + 15) << 10) + roundHalfEven((a / 2 ** e - 1) * 1024));
}

/** The float value of one bfloat16 bit pattern. */
export function bfloat16BitsToNumber(h: number): number {
  U32[0] = (h & 0xffff) << 16;
  return F32[0]!;
}

/** The bfloat16 bit pattern nearest to `v` rounded to float32 first (round half to even; NaN stays NaN). */
export function numberToBfloat16Bits(v: number): number {
  if (Number.isNaN(v)) {
    return 0x7fc0;
  }
  F32[0] = v;
  const bits = U32[0]!;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float16 bit patterns → float32 values. */
export function float16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    out[i] = halfBitsToNumber(bits[i]!);
  }
  return out;
}

/** Values → float16 bit patterns (round half to even). */
export function float32ToFloat16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    out[i] = numberToHalfBits(values[i]!);
  }
  return out;
}

/** bfloat16 bit patterns → float32 values (exact: bfloat16 is the top half of a float32). */
export function bfloat16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const view = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) {
    view[i] = bits[i]! << 16;
  }
  return out;
}

/** Values → bfloat16 bit patterns (round half to even from float32). */
export function float32ToBfloat16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    out[i] = numberToBfloat16Bits(values[i]!);
  }
  return out;
}

function checkDims(dims: readonly number[], where: string): void {
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new GraphError(
        GraphErrorCode.Argument,
        `${where}: dims must be non-negative integers, got [${dims.join(', ')}]`,
      );
    }
  }
}

/**
 * A tensor from element values: numbers are converted to the dtype (float16/bfloat16 rounded to their bit
 * patterns, bool as value ≠ 0, integers by the typed array's wrap-around), BigInts are accepted for int64
 * and uint64. A single value with `dims` of more elements is not broadcast.
 *
 * @throws GraphError `GRAPH_ERR_ARGUMENT` when the value count does not match the dims.
 */
export function makeTensor<D extends DType>(
  dtype: D,
  dims: readonly number[],
  values: ArrayLike<number | bigint>,
): TensorIn<D> {
  checkDims(dims, `makeTensor(${dtype})`);
  const n = sizeOf(dims);
  if (values.length !== n) {
    throw new GraphError(
      GraphErrorCode.Argument,
      `makeTensor(${dtype}): dims [${dims.join(', ')}] need ${n} values, got ${values.length}`,
    );
  }
  const data = allocData(dtype, n);
  for (let i = 0; i < n; i++) {
    setElement(dtype, data, i, values[i]!);
  }
  return { dtype, dims: [...dims], data };
}

/** Writes element `i` of `data` (of `dtype`) from a number or BigInt, converting as {@link makeTensor} does. */
export function setElement(dtype: DType, data: DataArray, i: number, v: number | bigint): void {
  switch (dtype) {
    case 'int64':
    case 'uint64': {
      const big = typeof v === 'bigint' ? v : BigInt(Math.trunc(v));
      (data as BigInt64Array)[i] = dtype === 'int64' ? BigInt.asIntN(64, big) : BigInt.asUintN(64, big);
      return;
    }
    case 'float16':
      (data as Uint16Array)[i] = numberToHalfBits(Number(v));
      return;
    case 'bfloat16':
      (data as Uint16Array)[i] = numberToBfloat16Bits(Number(v));
      return;
    case 'bool':
      (data as Uint8Array)[i] = Number(v) !== 0 ? 1 : 0;
      return;
    case 'float32':
    case 'float64':
      (data as Float64Array)[i] = Number(v);
      return;
    case 'int8':
    case 'uint8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32':
      // Typed-array stores wrap integers modulo 2^bits (the ONNX/C++ behaviour for casts between ints).
      (data as Int32Array)[i] = typeof v === 'bigint' ? Number(BigInt.asIntN(32, v)) : Math.trunc(v);
      return;
  }
}

/** Element `i` as a number: float16/bfloat16 decoded, 64-bit integers converted (exact up to 2^53). */
export function getNumber(t: TensorData, i: number): number {
  switch (t.dtype) {
    case 'float16':
      return halfBitsToNumber(t.data[i]!);
    case 'bfloat16':
      return bfloat16BitsToNumber(t.data[i]!);
    case 'int64':
    case 'uint64':
      return Number(t.data[i]!);
    case 'float32':
    case 'float64':
    case 'int8':
    case 'uint8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32':
    case 'bool':
      return t.data[i]!;
  }
}

/** All elements as numbers (see {@link getNumber}). */
export function tensorToNumbers(t: TensorData): number[] {
  const out = new Array<number>(t.data.length);
  for (let i = 0; i < t.data.length; i++) {
    out[i] = getNumber(t, i);
  }
  return out;
}

/** The bytes of a tensor's data in ONNX `raw_data` order (little-endian), as a fresh array. */
export function tensorBytesLE(t: TensorData): Uint8Array {
  const src = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Uint8Array(src);
  if (!HOST_IS_LITTLE_ENDIAN) {
    swapBytes(out, DTYPE_INFO[t.dtype].bytes);
  }
  return out;
}

/** Whether typed arrays on this host are little-endian (every platform Node ships for, in practice). */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverses the byte order of each `width`-byte element in place. */
export function swapBytes(bytes: Uint8Array, width: number): void {
  if (width === 1) {
    return;
  }
  for (let i = 0; i + width <= bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

/** A tensor whose data are a copy of little-endian bytes (the `raw_data` layout). */
export function tensorFromBytesLE(
  dtype: DType,
  dims: number[],
  bytes: Uint8Array,
  where: string,
): TensorData {
  const n = sizeOf(dims);
  const width = DTYPE_INFO[dtype].bytes;
  if (bytes.length !== n * width) {
    throw new GraphError(
      GraphErrorCode.Model,
      `${where}: ${dtype} [${dims.join(', ')}] needs ${n * width} bytes of data, got ${bytes.length}`,
    );
  }
  const data = allocData(dtype, n);
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  view.set(bytes);
  if (!HOST_IS_LITTLE_ENDIAN) {
    swapBytes(view, width);
  }
  return { dtype, dims, data } as TensorData;
}

/** A display name for a node in error messages: its name, else its first output, with the op type. */
export function describeNode(node: Node): string {
  const id = node.name !== '' ? node.name : `<unnamed, output ${node.outputs[0] ?? '?'}>`;
  return `node ${id} (${node.domain === '' ? '' : `${node.domain}.`}${node.opType})`;
}

/** An empty graph. */
export function emptyGraph(name = 'graph'): Graph {
  return { name, nodes: [], inputs: [], outputs: [], initializers: new Map(), valueInfo: [] };
}

/** A copy of a graph whose arrays, maps and nodes can be changed without touching the original. */
export function cloneGraph(graph: Graph): Graph {
  return {
    ...graph,
    nodes: graph.nodes.map((n) => ({
      ...n,
      inputs: [...n.inputs],
      outputs: [...n.outputs],
      attributes: { ...n.attributes },
    })),
    inputs: [...graph.inputs],
    outputs: [...graph.outputs],
    initializers: new Map(graph.initializers),
    valueInfo: [...graph.valueInfo],
  };
}
