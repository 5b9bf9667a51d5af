/**
 * @file TypeScript kernels for constant folding: the integer and shape operators exporters emit around
 * Reshape/Expand/Resize targets, plus exact float elementwise arithmetic.
 *
 * Every kernel must give bit-identical results to onnxruntime's CPU kernel, or decline (return undefined)
 * so the node stays in the graph. That is why float work is limited to operations IEEE rounds correctly
 * (+, −, ×, ÷, √, negation, floor/ceil, comparisons): computing them in float64 and rounding once to
 * float32 equals the float32 operation. Transcendentals (Exp, Pow, Erf, …) are never folded.
 */
import type { NodeContext, ShapeInfo } from './context';
import {
  type DType,
  type DataArray,
  type TensorData,
  allocData,
  dtypeFromOnnx,
  getNumber,
  isBigIntDType,
  isFloatDType,
  setElement,
  sizeOf,
} from './ir';
import { broadcastIndex, stridedIndex, stridesOf } from './shape-utils';
import { constantValue, padAmounts, rangeCount, shapeRange, sliceParams, splitSizes } from './op-params';

type Kernel = (ctx: NodeContext, outs: ShapeInfo[]) => (TensorData | undefined)[] | undefined;

function tensor(dtype: DType, dims: number[], data: DataArray): TensorData {
  return { dtype, dims, data } as TensorData;
}

/** Gathers `src[map[i]]` into a new tensor of the source's dtype. */
function remap(src: TensorData, dims: number[], map: ArrayLike<number>): TensorData {
  const data = allocData(src.dtype, map.length);
  const from = src.data as Float64Array;
  const to = data as Float64Array;
  for (let i = 0; i < map.length; i++) {
    to[i] = from[map[i]!]!;
  }
  return tensor(src.dtype, dims, data);
}

/** All inputs (present ones) known, or undefined. */
function allValues(ctx: NodeContext): TensorData[] | undefined {
  const out: TensorData[] = [];
  for (let i = 0; i < ctx.node.inputs.length; i++) {
    if (!ctx.has(i)) {
      continue;
    }
    const v = ctx.values[i];
    if (v === undefined) {
      return undefined;
    }
    out.push(v);
  }
  return out;
}

/** Same data, new dims (Reshape, Squeeze, Unsqueeze, Flatten, Identity). */
const view: Kernel = (ctx, outs) => {
  const x = ctx.values[0];
  return x && allValues(ctx) ? [tensor(x.dtype, outs[0]!.dims, x.data)] : undefined;
};

type Scalar = number | bigint;

function read(t: TensorData, i: number): Scalar {
  return isBigIntDType(t.dtype) ? (t.data as BigInt64Array)[i]! : getNumber(t, i);
}

/** Rounds a float64 result to the output type as onnxruntime's float kernels produce it. */
function store(dtype: DType, data: DataArray, i: number, v: Scalar): void {
  if (dtype === 'float16' || dtype === 'bfloat16') {
    // onnxruntime computes half types in float32 and converts back.
    setElement(dtype, data, i, Math.fround(Number(v)));
  } else {
    setElement(dtype, data, i, v);
  }
}

type BinaryOp = (a: Scalar, b: Scalar, dtype: DType) => Scalar | boolean | undefined;

function binary(op: BinaryOp, outType?: DType): Kernel {
  return (ctx, outs) => {
    const vals = allValues(ctx);
    if (vals?.length !== 2) {
      return undefined;
    }
    const [a, b] = vals as [TensorData, TensorData];
    const dims = outs[0]!.dims;
    const dtype = outType ?? a.dtype;
    const ia = broadcastIndex(a.dims, dims);
    const ib = broadcastIndex(b.dims, dims);
    const data = allocData(dtype, ia.length);
    for (let i = 0; i < ia.length; i++) {
      const r = op(read(a, ia[i]!), read(b, ib[i]!), a.dtype);
      if (r === undefined) {
        return undefined;
      }
      store(dtype, data, i, typeof r === 'boolean' ? (r ? 1 : 0) : r);
    }
    return [tensor(dtype, dims, data)];
  };
}

/** Wraps an integer result to the dtype's width (typed-array stores wrap 8–32-bit ints themselves). */
function wrapBig(v: bigint, dtype: DType): bigint {
  return dtype === 'uint64' ? BigInt.asUintN(64, v) : BigInt.asIntN(64, v);
}

const add: BinaryOp = (a, b, t) =>
  typeof a === 'bigint' ? wrapBig(a + (b as bigint), t) : a + (b as number);
const sub: BinaryOp = (a, b, t) =>
  typeof a === 'bigint' ? wrapBig(a - (b as bigint), t) : a - (b as number);
const mul: BinaryOp = (a, b, t) => {
  if (typeof a === 'bigint') {
    return wrapBig(a * (b as bigint), t);
  }
  // Products of 32-bit ints can exceed 2^53; Math.imul wraps exactly as C++ does.
  return isFloatDType(t) ? a * (b as number) : Math.imul(a, b as number);
};
const div: BinaryOp = (a, b, t) => {
  if (typeof a === 'bigint') {
    return b === 0n ? undefined : wrapBig(a / (b as bigint), t);
  }
  if (isFloatDType(t)) {
    return a / (b as number);
  }
  // Integer division truncates toward zero in onnxruntime (C++ semantics); by zero is undefined behaviour.
  return b === 0 ? undefined : Math.trunc(a / (b as number));
};

function modOp(fmod: boolean): BinaryOp {
  return (a, b, t) => {
    if (typeof a === 'bigint') {
      const bb = b as bigint;
      if (bb === 0n) {
        return undefined;
      }
      const r = a % bb;
      return wrapBig(!fmod && r !== 0n && r < 0n !== bb < 0n ? r + bb : r, t);
    }
    const bn = b as number;
    if (!isFloatDType(t) && bn === 0) {
      return undefined;
    }
    const r = a % bn;
    if (fmod || isFloatDType(t)) {
      // Float Mod requires fmod=1 in ONNX; the remainder of IEEE values is exact.
      return r;
    }
    return r !== 0 && r < 0 !== bn < 0 ? r + bn : r;
  };
}

const cmp = (f: (a: Scalar, b: Scalar) => boolean): BinaryOp => f;

/**
 * An elementwise unary kernel: `op` on numbers (floats always; 8–32-bit ints when `int` is given), `big`
 * on 64-bit ints. A missing variant declines.
 */
function unary(op: ((a: number) => number) | undefined, big?: (a: bigint) => bigint): Kernel {
  return (ctx, outs) => {
    const x = ctx.values[0];
    if (!x) {
      return undefined;
    }
    const dims = outs[0]!.dims;
    if (isBigIntDType(x.dtype)) {
      if (!big) {
        return undefined;
      }
      const src = x.data as BigInt64Array;
      const data = allocData(x.dtype, src.length) as BigInt64Array;
      for (let i = 0; i < src.length; i++) {
        data[i] = wrapBig(big(src[i]!), x.dtype);
      }
      return [tensor(x.dtype, dims, data)];
    }
    if (!op) {
      return undefined;
    }
    const data = allocData(x.dtype, x.data.length);
    for (let i = 0; i < x.data.length; i++) {
      store(x.dtype, data, i, op(getNumber(x, i)));
    }
    return [tensor(x.dtype, dims, data)];
  };
}

/** A float-only unary kernel. */
function floatUnary(op: (a: number) => number): Kernel {
  return (ctx, outs) => {
    const x = ctx.values[0];
    return x && isFloatDType(x.dtype) ? unary(op)(ctx, outs) : undefined;
  };
}

const INT_RANGE: Partial<Record<DType, [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  int64: [-(2 ** 63), 2 ** 63 - 1],
  uint64: [0, 2 ** 64 - 1],
};

function castTo(x: TensorData, to: DType, dims: number[]): TensorData | undefined {
  const n = x.data.length;
  const data = allocData(to, n);
  for (let i = 0; i < n; i++) {
    const v = read(x, i);
    if (typeof v === 'bigint' && isFloatDType(to) && (v > 2n ** 53n || v < -(2n ** 53n))) {
      // Number(v) would round once to float64 and again to the target, where C++ rounds once.
      return undefined;
    }
    if (to === 'bool') {
      setElement(to, data, i, typeof v === 'bigint' ? (v !== 0n ? 1 : 0) : v !== 0 ? 1 : 0);
    } else if (isFloatDType(to)) {
      // Half types are produced from float32 in onnxruntime, as above.
      setElement(to, data, i, to === 'float64' ? Number(v) : Math.fround(Number(v)));
    } else if (typeof v === 'bigint') {
      setElement(to, data, i, v);
    } else if (isFloatDType(x.dtype)) {
      // Float → int is a C++ static_cast: truncation, undefined out of the target's range (so not folded).
      const t = Math.trunc(v);
      const [lo, hi] = INT_RANGE[to]!;
      if (!(t >= lo && t <= hi)) {
        return undefined;
      }
      setElement(to, data, i, isBigIntDType(to) ? BigInt(t) : t);
    } else {
      setElement(to, data, i, isBigIntDType(to) ? BigInt(v) : v);
    }
  }
  return tensor(to, dims, data);
}

const cast: Kernel = (ctx, outs) => {
  const x = ctx.values[0];
  return x ? [castTo(x, dtypeFromOnnx(ctx.int('to', 0), 'Cast to'), outs[0]!.dims)] : undefined;
};

const castLike: Kernel = (ctx, outs) => {
  const x = ctx.values[0];
  return x && ctx.has(1) ? [castTo(x, ctx.input(1).dtype, outs[0]!.dims)] : undefined;
};

const shape: Kernel = (ctx, outs) => {
  const dims = ctx.input(0).dims;
  const [s, e] = shapeRange(ctx, dims.length);
  return [tensor('int64', outs[0]!.dims, BigInt64Array.from(dims.slice(s, e).map(BigInt)))];
};

const size: Kernel = (ctx) => [tensor('int64', [], BigInt64Array.of(BigInt(sizeOf(ctx.input(0).dims))))];

const constantOfShape: Kernel = (ctx, outs) => {
  const value = ctx.tensor('value');
  const dtype = value?.dtype ?? 'float32';
  const n = sizeOf(outs[0]!.dims);
  const data = allocData(dtype, n);
  if (value !== undefined) {
    (data as Float64Array).fill((value.data as Float64Array)[0]!);
  }
  return [tensor(dtype, outs[0]!.dims, data)];
};

const transpose: Kernel = (ctx, outs) => {
  const x = ctx.values[0];
  if (!x) {
    return undefined;
  }
  const rank = x.dims.length;
  const perm = ctx.ints('perm') ?? x.dims.map((_, i) => rank - 1 - i);
  const inStrides = stridesOf(x.dims);
  // A strided walk over the output whose per-axis step is the input stride of the permuted axis (dims of
  // ones make stridedIndex use the steps as raw strides).
  return [
    remap(
      x,
      outs[0]!.dims,
      stridedIndex(
        x.dims.map(() => 1),
        x.dims.map(() => 0),
        perm.map((p) => inStrides[p]!),
        outs[0]!.dims,
      ),
    ),
  ];
};

const slice: Kernel = (ctx, outs) => {
  const x = ctx.values[0];
  if (!x || !allValues(ctx)) {
    return undefined;
  }
  const starts = x.dims.map(() => 0);
  const steps = x.dims.map(() => 1);
  const counts = [...x.dims];
  for (const p of sliceParams(ctx, x.dims)) {
    starts[p.axis] = p.start;
    steps[p.axis] = p.step;
    counts[p.axis] = p.count;
  }
  return [remap(x, outs[0]!.dims, stridedIndex(x.dims, starts, steps, counts))];
};

const gather: Kernel = (ctx, outs) => {
  const vals = allValues(ctx);
  if (!vals) {
    return undefined;
  }
  const [x, idx] = vals as [TensorData, TensorData];
  const axis = ctx.axis(ctx.int('axis', 0), x.dims.length);
  const dim = x.dims[axis]!;
  const outer = sizeOf(x.dims.slice(0, axis));
  const inner = sizeOf(x.dims.slice(axis + 1));
  const n = idx.data.length;
  const map = new Int32Array(outer * n * inner);
  let k = 0;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < n; j++) {
      let g = Number(read(idx, j));
      g = g < 0 ? g + dim : g;
      if (g < 0 || g >= dim) {
        return undefined;
      }
      for (let i = 0; i < inner; i++) {
        map[k++] = (o * dim + g) * inner + i;
      }
    }
  }
  return [remap(x, outs[0]!.dims, map)];
};

const concat: Kernel = (ctx, outs) => {
  const vals = allValues(ctx);
  if (!vals) {
    return undefined;
  }
  const dims = outs[0]!.dims;
  const axis = ctx.axis(ctx.int('axis', 0), dims.length);
  const outer = sizeOf(dims.slice(0, axis));
  const dtype = vals[0]!.dtype;
  const data = allocData(dtype, sizeOf(dims)) as Float64Array;
  let k = 0;
  for (let o = 0; o < outer; o++) {
    for (const v of vals) {
      const block = sizeOf(v.dims.slice(axis));
      const src = v.data as Float64Array;
      for (let i = 0; i < block; i++) {
        data[k++] = src[o * block + i]!;
      }
    }
  }
  return [tensor(dtype, dims, data)];
};

const split: Kernel = (ctx, outs) => {
  const x = ctx.values[0];
  if (!x || !allValues(ctx)) {
    return undefined;
  }
  const axis = ctx.axis(ctx.int('axis', 0), x.dims.length);
  let offset = 0;
  return splitSizes(ctx, x.dims[axis]!).map((s, k) => {
    const starts = x.dims.map((_, i) => (i === axis ? offset : 0));
    offset += s;
    return remap(
      x,
      outs[k]!.dims,
      stridedIndex(
        x.dims,
        starts,
        x.dims.map(() => 1),
        outs[k]!.dims,
      ),
    );
  });
};

const expand: Kernel = (ctx, outs) => {
  const x = ctx.values[0];
  return x && allValues(ctx) ? [remap(x, outs[0]!.dims, broadcastIndex(x.dims, outs[0]!.dims))] : undefined;
};

const tile: Kernel = (ctx, outs) => {
  const x = ctx.values[0];
  if (!x || !allValues(ctx)) {
    return undefined;
  }
  const dims = outs[0]!.dims;
  const strides = stridesOf(x.dims);
  const map = new Int32Array(sizeOf(dims));
  const outStrides = stridesOf(dims);
  for (let k = 0; k < map.length; k++) {
    let src = 0;
    for (let a = 0; a < dims.length; a++) {
      const i = Math.floor(k / outStrides[a]!) % dims[a]!;
      src += (i % x.dims[a]!) * strides[a]!;
    }
    map[k] = src;
  }
  return [remap(x, dims, map)];
};

const whereK: Kernel = (ctx, outs) => {
  const vals = allValues(ctx);
  if (vals?.length !== 3) {
    return undefined;
  }
  const [c, x, y] = vals as [TensorData, TensorData, TensorData];
  const dims = outs[0]!.dims;
  const ic = broadcastIndex(c.dims, dims);
  const ix = broadcastIndex(x.dims, dims);
  const iy = broadcastIndex(y.dims, dims);
  const data = allocData(x.dtype, ic.length) as Float64Array;
  const cd = c.data as Uint8Array;
  for (let i = 0; i < ic.length; i++) {
    data[i] = cd[ic[i]!] ? (x.data as Float64Array)[ix[i]!]! : (y.data as Float64Array)[iy[i]!]!;
  }
  return [tensor(x.dtype, dims, data)];
};

const range: Kernel = (ctx, outs) => {
  const vals = allValues(ctx);
  if (vals?.length !== 3) {
    return undefined;
  }
  const [start, , delta] = vals as [TensorData, TensorData, TensorData];
  const n = rangeCount(ctx);
  const dtype = start.dtype;
  const data = allocData(dtype, n);
  if (isBigIntDType(dtype)) {
    const s = (start.data as BigInt64Array)[0]!;
    const d = (delta.data as BigInt64Array)[0]!;
    for (let i = 0; i < n; i++) {
      (data as BigInt64Array)[i] = wrapBig(s + BigInt(i) * d, dtype);
    }
  } else {
    // onnxruntime accumulates value += delta in the element type, so float rounding compounds.
    let v = getNumber(start, 0);
    const d = getNumber(delta, 0);
    for (let i = 0; i < n; i++) {
      store(dtype, data, i, v);
      v = dtype === 'float32' ? Math.fround(v + d) : v + d;
    }
  }
  return [tensor(dtype, outs[0]!.dims, data)];
};

const pad: Kernel = (ctx, outs) => {
  const x = ctx.values[0];
  if (!x || !allValues(ctx) || ctx.string('mode', 'constant') !== 'constant') {
    return undefined;
  }
  const rank = x.dims.length;
  const pads = padAmounts(ctx, rank);
  const dims = outs[0]!.dims;
  const fill = ctx.has(2) ? ctx.values[2]! : undefined;
  const data = allocData(x.dtype, sizeOf(dims)) as Float64Array;
  if (fill) {
    data.fill((fill.data as Float64Array)[0]!);
  } else if (ctx.float('value', 0) !== 0) {
    // Opset < 11 keeps the pad value in an attribute.
    for (let i = 0; i < data.length; i++) {
      setElement(x.dtype, data, i, ctx.float('value', 0));
    }
  }
  const outStrides = stridesOf(dims);
  const inStrides = stridesOf(x.dims);
  const src = x.data as Float64Array;
  for (let k = 0; k < src.length; k++) {
    let dst = 0;
    let inside = true;
    for (let a = 0; a < rank; a++) {
      const i = (Math.floor(k / inStrides[a]!) % x.dims[a]!) + pads[a]!;
      if (i < 0 || i >= dims[a]!) {
        inside = false;
        break;
      }
      dst += i * outStrides[a]!;
    }
    if (inside) {
      data[dst] = src[k]!;
    }
  }
  return [tensor(x.dtype, dims, data)];
};

const constant: Kernel = (ctx) => [constantValue(ctx)];

const logical =
  (f: (a: boolean, b: boolean) => boolean): BinaryOp =>
  (a, b) =>
    f(a !== 0, b !== 0);

/** Folding kernels by default-domain op type. */
const KERNELS: Record<string, Kernel> = {
  Constant: constant,
  Identity: view,
  Reshape: view,
  Squeeze: view,
  Unsqueeze: view,
  Flatten: view,
  Shape: shape,
  Size: size,
  Cast: cast,
  CastLike: castLike,
  ConstantOfShape: constantOfShape,
  Transpose: transpose,
  Slice: slice,
  Gather: gather,
  Concat: concat,
  Split: split,
  Expand: expand,
  Tile: tile,
  Where: whereK,
  Range: range,
  Pad: pad,
  Add: binary(add),
  Sub: binary(sub),
  Mul: binary(mul),
  Div: binary(div),
  Mod: (ctx, outs) => binary(modOp(ctx.int('fmod', 0) !== 0))(ctx, outs),
  // Float Max/Min NaN handling differs between onnxruntime versions: fold integers only.
  Max: binary((a, b, t) => (isFloatDType(t) ? undefined : a >= b ? a : b)),
  Min: binary((a, b, t) => (isFloatDType(t) ? undefined : a <= b ? a : b)),
  Equal: binary(
    cmp((a, b) => a === b),
    'bool',
  ),
  Less: binary(
    cmp((a, b) => a < b),
    'bool',
  ),
  Greater: binary(
    cmp((a, b) => a > b),
    'bool',
  ),
  LessOrEqual: binary(
    cmp((a, b) => a <= b),
    'bool',
  ),
  GreaterOrEqual: binary(
    cmp((a, b) => a >= b),
    'bool',
  ),
  And: binary(logical((a, b) => a && b)),
  Or: binary(logical((a, b) => a || b)),
  Xor: binary(logical((a, b) => a !== b)),
  Not: (ctx, outs) => {
    const x = ctx.values[0];
    return x
      ? [
          tensor(
            'bool',
            outs[0]!.dims,
            (x.data as Uint8Array).map((v) => (v ? 0 : 1)),
          ),
        ]
      : undefined;
  },
  Neg: unary(
    (a) => -a,
    (a) => -a,
  ),
  Abs: unary(
    (a) => Math.abs(a),
    (a) => (a < 0n ? -a : a),
  ),
  Sqrt: floatUnary((a) => Math.sqrt(a)),
  Floor: floatUnary((a) => Math.floor(a)),
  Ceil: floatUnary((a) => Math.ceil(a)),
};

/**
 * Evaluates a node whose inputs are constant (Shape and Size need only the input's shape), or returns
 * undefined when the node cannot be folded exactly. `outs` are the node's inferred output infos.
 */
export function evaluateNode(ctx: NodeContext, outs: ShapeInfo[]): (TensorData | undefined)[] | undefined {
  const kernel = KERNELS[ctx.node.opType];
  if (kernel === undefined || Object.values(ctx.node.attributes).some((a) => a.type === 'graph')) {
    return undefined;
  }
  if (
    ctx.node.opType !== 'Shape' &&
    ctx.node.opType !== 'Size' &&
    ctx.node.opType !== 'Constant' &&
    !allValues(ctx)
  ) {
    return undefined;
  }
  return kernel(ctx, outs);
}
