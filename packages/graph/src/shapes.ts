/**
 * @file Static shape and type inference with concrete dims, and the analysis pass that also propagates
 * constant values (so that Reshape targets computed by Shape → Gather → Concat chains are known).
 *
 * Rules follow onnxruntime's CPU kernels where they and the ONNX text differ, and say so where they do.
 * Operators whose axes moved from an attribute to an input (Squeeze/Unsqueeze/Split/ReduceSum at opset 13,
 * the other reductions at 18, Slice at 10, Pad at 11) are read from whichever form the node uses.
 */
import { type ShapeInfo, NodeContext } from './context';
import { GraphError, GraphErrorCode } from './errors';
import {
  type DType,
  type Graph,
  type Node,
  type TensorData,
  describeNode,
  dtypeFromOnnx,
  sizeOf,
} from './ir';
import { evaluateNode } from './kernels';
import {
  axesFrom,
  constantValue,
  normaliseAxes,
  padAmounts,
  rangeCount,
  resolveReshape,
  shapeRange,
  sliceParams,
  splitSizes,
} from './op-params';
import { broadcastShapes } from './shape-utils';
import { topologicalSort } from './walk';

export type { ShapeInfo } from './context';

/** A shape rule: the output infos of a node, one per output slot. */
type Rule = (ctx: NodeContext) => ShapeInfo[];

const same = (info: ShapeInfo): ShapeInfo => ({ dtype: info.dtype, dims: [...info.dims] });

function broadcast(ctx: NodeContext, idx: readonly number[]): number[] {
  const shapes = idx.filter((i) => ctx.has(i)).map((i) => ctx.input(i).dims);
  const out = broadcastShapes(shapes);
  if (out === undefined) {
    throw ctx.error(`shapes ${shapes.map((s) => `[${s.join(', ')}]`).join(' and ')} do not broadcast`);
  }
  return out;
}

function requireSameType(ctx: NodeContext, idx: readonly number[]): DType {
  const types = idx.filter((i) => ctx.has(i)).map((i) => ctx.input(i).dtype);
  const first = types[0]!;
  if (types.some((t) => t !== first)) {
    throw ctx.error(`inputs have different element types (${types.join(', ')})`, GraphErrorCode.Type);
  }
  return first;
}

const unary: Rule = (ctx) => [same(ctx.input(0))];

function elementwise(outType?: DType): Rule {
  return (ctx) => {
    const idx = ctx.node.inputs.map((_, i) => i);
    const dtype = requireSameType(ctx, idx);
    return [{ dtype: outType ?? dtype, dims: broadcast(ctx, idx) }];
  };
}

const pow: Rule = (ctx) => [{ dtype: ctx.input(0).dtype, dims: broadcast(ctx, [0, 1]) }];

const where: Rule = (ctx) => {
  if (ctx.input(0).dtype !== 'bool') {
    throw ctx.error(`condition is ${ctx.input(0).dtype}, should be bool`, GraphErrorCode.Type);
  }
  return [{ dtype: requireSameType(ctx, [1, 2]), dims: broadcast(ctx, [0, 1, 2]) }];
};

const withAxisCheck: Rule = (ctx) => {
  const x = ctx.input(0);
  ctx.axis(ctx.int('axis', ctx.opset >= 13 ? -1 : 1), x.dims.length);
  return [same(x)];
};

/** Spatial attributes shared by convolutions and pools. */
interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  autoPad: string;
}

function windowAttrs(ctx: NodeContext, spatial: number, kernel: number[]): Window {
  const ones = new Array<number>(spatial).fill(1);
  const strides = ctx.ints('strides') ?? ones;
  const dilations = ctx.ints('dilations') ?? ones;
  const pads = ctx.ints('pads') ?? new Array<number>(2 * spatial).fill(0);
  const autoPad = ctx.string('auto_pad', 'NOTSET');
  if (kernel.length !== spatial || strides.length !== spatial || dilations.length !== spatial) {
    throw ctx.error(
      `kernel_shape [${kernel.join(', ')}], strides [${strides.join(', ')}] and dilations [${dilations.join(', ')}] need ${spatial} entries each`,
      GraphErrorCode.Attribute,
    );
  }
  if (pads.length !== 2 * spatial) {
    throw ctx.error(`pads [${pads.join(', ')}] need ${2 * spatial} entries`, GraphErrorCode.Attribute);
  }
  if (![...strides, ...dilations, ...kernel].every((v) => Number.isInteger(v) && v >= 1)) {
    throw ctx.error(
      'kernel_shape, strides and dilations must be positive integers',
      GraphErrorCode.Attribute,
    );
  }
  if (!['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'].includes(autoPad)) {
    throw ctx.error(
      `auto_pad ${autoPad} is not NOTSET, SAME_UPPER, SAME_LOWER or VALID`,
      GraphErrorCode.Attribute,
    );
  }
  return { kernel, strides, dilations, pads, autoPad };
}

/** Output length of a convolution or pool along one axis. */
function windowOutput(ctx: NodeContext, w: Window, axis: number, inSize: number, ceilMode: boolean): number {
  const s = w.strides[axis]!;
  const span = w.dilations[axis]! * (w.kernel[axis]! - 1) + 1;
  if (w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER') {
    return Math.ceil(inSize / s);
  }
  const padHead = w.autoPad === 'VALID' ? 0 : w.pads[axis]!;
  const padTail = w.autoPad === 'VALID' ? 0 : w.pads[axis + w.kernel.length]!;
  const numerator = inSize + padHead + padTail - span;
  if (numerator < 0) {
    throw ctx.error(
      `spatial axis ${axis}: input ${inSize} with pads ${padHead}+${padTail} is smaller than the dilated kernel ${span}`,
    );
  }
  let out = (ceilMode ? Math.ceil(numerator / s) : Math.floor(numerator / s)) + 1;
  // onnxruntime (after onnx/onnx#5741, as PyTorch): with ceil_mode the last window must start inside the
  // input or its head padding.
  if (ceilMode && (out - 1) * s >= inSize + padHead) {
    out -= 1;
  }
  return out;
}

const conv: Rule = (ctx) => {
  const x = ctx.input(0);
  const w = ctx.input(1);
  const rank = x.dims.length;
  if (rank < 3 || w.dims.length !== rank) {
    throw ctx.error(`X [${x.dims.join(', ')}] and W [${w.dims.join(', ')}] must have the same rank ≥ 3`);
  }
  const group = ctx.int('group', 1);
  const win = windowAttrs(ctx, rank - 2, ctx.ints('kernel_shape') ?? w.dims.slice(2));
  if (x.dims[1] !== w.dims[1]! * group) {
    throw ctx.error(
      `X has ${x.dims[1]} channels but W [${w.dims.join(', ')}] with group ${group} expects ${w.dims[1]! * group}`,
    );
  }
  const m = w.dims[0]!;
  if (m % group !== 0) {
    throw ctx.error(`${m} output channels are not divisible by group ${group}`);
  }
  if (ctx.has(2) && (ctx.input(2).dims.length !== 1 || ctx.input(2).dims[0] !== m)) {
    throw ctx.error(`bias [${ctx.input(2).dims.join(', ')}] should be [${m}]`);
  }
  const spatial = x.dims.slice(2).map((d, i) => windowOutput(ctx, win, i, d, false));
  return [{ dtype: x.dtype, dims: [x.dims[0]!, m, ...spatial] }];
};

const convTranspose: Rule = (ctx) => {
  const x = ctx.input(0);
  const w = ctx.input(1);
  const rank = x.dims.length;
  if (rank < 3 || w.dims.length !== rank) {
    throw ctx.error(`X [${x.dims.join(', ')}] and W [${w.dims.join(', ')}] must have the same rank ≥ 3`);
  }
  const spatial = rank - 2;
  const group = ctx.int('group', 1);
  const win = windowAttrs(ctx, spatial, ctx.ints('kernel_shape') ?? w.dims.slice(2));
  if (x.dims[1] !== w.dims[0]) {
    throw ctx.error(`X has ${x.dims[1]} channels but W [${w.dims.join(', ')}] expects ${w.dims[0]}`);
  }
  const m = w.dims[1]! * group;
  if (ctx.has(2) && (ctx.input(2).dims.length !== 1 || ctx.input(2).dims[0] !== m)) {
    throw ctx.error(`bias [${ctx.input(2).dims.join(', ')}] should be [${m}]`);
  }
  const outputPadding = ctx.ints('output_padding') ?? new Array<number>(spatial).fill(0);
  const outputShape = ctx.ints('output_shape');
  const dims = x.dims.slice(2).map((inSize, i) => {
    if (outputShape !== undefined) {
      return outputShape[outputShape.length - spatial + i]!;
    }
    const s = win.strides[i]!;
    const span = win.dilations[i]! * (win.kernel[i]! - 1) + 1;
    const full = s * (inSize - 1) + outputPadding[i]! + span;
    if (win.autoPad === 'SAME_UPPER' || win.autoPad === 'SAME_LOWER') {
      return inSize * s;
    }
    if (win.autoPad === 'VALID') {
      return full;
    }
    const out = full - win.pads[i]! - win.pads[i + spatial]!;
    if (out < 1) {
      throw ctx.error(`spatial axis ${i}: pads leave ${out} output elements`);
    }
    return out;
  });
  return [{ dtype: x.dtype, dims: [x.dims[0]!, m, ...dims] }];
};

const gemm: Rule = (ctx) => {
  const a = ctx.input(0);
  const b = ctx.input(1);
  if (a.dims.length !== 2 || b.dims.length !== 2) {
    throw ctx.error(`A [${a.dims.join(', ')}] and B [${b.dims.join(', ')}] must be matrices`);
  }
  const [m, ka] = ctx.int('transA', 0) ? [a.dims[1]!, a.dims[0]!] : [a.dims[0]!, a.dims[1]!];
  const [kb, n] = ctx.int('transB', 0) ? [b.dims[1]!, b.dims[0]!] : [b.dims[0]!, b.dims[1]!];
  if (ka !== kb) {
    throw ctx.error(`inner dims differ: A gives ${ka}, B gives ${kb} (transA/transB applied)`);
  }
  if (ctx.has(2)) {
    const c = ctx.input(2).dims;
    const bc = broadcastShapes([c, [m, n]]);
    if (bc?.length !== 2 || bc[0] !== m || bc[1] !== n) {
      throw ctx.error(`C [${c.join(', ')}] does not broadcast to [${m}, ${n}]`);
    }
  }
  return [{ dtype: requireSameType(ctx, [0, 1]), dims: [m, n] }];
};

const matmul: Rule = (ctx) => {
  const a = ctx.input(0).dims;
  const b = ctx.input(1).dims;
  if (a.length === 0 || b.length === 0) {
    throw ctx.error('MatMul inputs must have rank ≥ 1');
  }
  const aa = a.length === 1 ? [1, a[0]!] : a;
  const bb = b.length === 1 ? [b[0]!, 1] : b;
  if (aa[aa.length - 1] !== bb[bb.length - 2]) {
    throw ctx.error(`inner dims differ: [${a.join(', ')}] × [${b.join(', ')}]`);
  }
  const batch = broadcastShapes([aa.slice(0, -2), bb.slice(0, -2)]);
  if (batch === undefined) {
    throw ctx.error(`batch dims of [${a.join(', ')}] and [${b.join(', ')}] do not broadcast`);
  }
  const dims = [...batch];
  if (a.length > 1) {
    dims.push(aa[aa.length - 2]!);
  }
  if (b.length > 1) {
    dims.push(bb[bb.length - 1]!);
  }
  return [{ dtype: requireSameType(ctx, [0, 1]), dims }];
};

function reduce(outType?: DType): Rule {
  return (ctx) => {
    const x = ctx.input(0);
    const keep = ctx.int('keepdims', 1) !== 0;
    const given = axesFrom(ctx, 1) ?? [];
    if (given.length === 0 && ctx.int('noop_with_empty_axes', 0) !== 0) {
      return [same(x)];
    }
    const axes = given.length === 0 ? x.dims.map((_, i) => i) : normaliseAxes(ctx, given, x.dims.length);
    const dims: number[] = [];
    x.dims.forEach((d, i) => {
      if (!axes.includes(i)) {
        dims.push(d);
      } else if (keep) {
        dims.push(1);
      }
    });
    return [{ dtype: outType ?? x.dtype, dims }];
  };
}

const argReduce: Rule = (ctx) => {
  const x = ctx.input(0);
  const axis = ctx.axis(ctx.int('axis', 0), x.dims.length);
  const keep = ctx.int('keepdims', 1) !== 0;
  const dims = keep ? x.dims.map((d, i) => (i === axis ? 1 : d)) : x.dims.filter((_, i) => i !== axis);
  return [{ dtype: 'int64', dims }];
};

const reshape: Rule = (ctx) => {
  const x = ctx.input(0);
  const target = ctx.numbers(1, 'shape');
  return [{ dtype: x.dtype, dims: resolveReshape(ctx, x.dims, target) }];
};

const transpose: Rule = (ctx) => {
  const x = ctx.input(0);
  const rank = x.dims.length;
  const perm = ctx.ints('perm') ?? x.dims.map((_, i) => rank - 1 - i);
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw ctx.error(
      `perm [${perm.join(', ')}] is not a permutation of rank ${rank}`,
      GraphErrorCode.Attribute,
    );
  }
  return [{ dtype: x.dtype, dims: perm.map((p) => x.dims[p]!) }];
};

const flatten: Rule = (ctx) => {
  const x = ctx.input(0);
  const axis = ctx.axis(ctx.int('axis', 1), x.dims.length, 'axis', true);
  return [{ dtype: x.dtype, dims: [sizeOf(x.dims.slice(0, axis)), sizeOf(x.dims.slice(axis))] }];
};

const squeeze: Rule = (ctx) => {
  const x = ctx.input(0);
  const given = axesFrom(ctx, 1);
  // No axes (or an empty axes tensor) squeezes every size-1 dim.
  if (given === undefined || given.length === 0) {
    return [{ dtype: x.dtype, dims: x.dims.filter((d) => d !== 1) }];
  }
  const axes = normaliseAxes(ctx, given, x.dims.length);
  for (const a of axes) {
    if (x.dims[a] !== 1) {
      throw ctx.error(`cannot squeeze axis ${a} of [${x.dims.join(', ')}]: its size is ${x.dims[a]}`);
    }
  }
  return [{ dtype: x.dtype, dims: x.dims.filter((_, i) => !axes.includes(i)) }];
};

const unsqueeze: Rule = (ctx) => {
  const x = ctx.input(0);
  const given = axesFrom(ctx, 1);
  if (given === undefined) {
    throw ctx.error('axes are required');
  }
  const rank = x.dims.length + given.length;
  const axes = normaliseAxes(ctx, given, rank);
  const dims: number[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) {
    dims.push(axes.includes(i) ? 1 : x.dims[k++]!);
  }
  return [{ dtype: x.dtype, dims }];
};

const concat: Rule = (ctx) => {
  const infos = ctx.node.inputs.map((_, i) => ctx.input(i));
  const first = infos[0]!;
  const rank = first.dims.length;
  const axis = ctx.axis(ctx.int('axis', Number.NaN), rank);
  const dtype = requireSameType(
    ctx,
    infos.map((_, i) => i),
  );
  const dims = [...first.dims];
  dims[axis] = 0;
  for (const info of infos) {
    if (info.dims.length !== rank || info.dims.some((d, i) => i !== axis && d !== first.dims[i])) {
      throw ctx.error(
        `inputs [${infos.map((s) => `[${s.dims.join(', ')}]`).join(', ')}] differ outside axis ${axis}`,
      );
    }
    dims[axis] += info.dims[axis]!;
  }
  return [{ dtype, dims }];
};

const split: Rule = (ctx) => {
  const x = ctx.input(0);
  const axis = ctx.axis(ctx.int('axis', 0), x.dims.length);
  return splitSizes(ctx, x.dims[axis]!).map((s) => ({
    dtype: x.dtype,
    dims: x.dims.map((d, i) => (i === axis ? s : d)),
  }));
};

const slice: Rule = (ctx) => {
  const x = ctx.input(0);
  const dims = [...x.dims];
  for (const p of sliceParams(ctx, x.dims)) {
    dims[p.axis] = p.count;
  }
  return [{ dtype: x.dtype, dims }];
};

const gather: Rule = (ctx) => {
  const x = ctx.input(0);
  const idx = ctx.input(1);
  if (idx.dtype !== 'int64' && idx.dtype !== 'int32') {
    throw ctx.error(`indices are ${idx.dtype}, should be int32 or int64`, GraphErrorCode.Type);
  }
  const axis = ctx.axis(ctx.int('axis', 0), x.dims.length);
  return [{ dtype: x.dtype, dims: [...x.dims.slice(0, axis), ...idx.dims, ...x.dims.slice(axis + 1)] }];
};

const gatherElements: Rule = (ctx) => {
  const x = ctx.input(0);
  const idx = ctx.input(1);
  if (idx.dims.length !== x.dims.length) {
    throw ctx.error(`indices [${idx.dims.join(', ')}] must have the rank of data [${x.dims.join(', ')}]`);
  }
  ctx.axis(ctx.int('axis', 0), x.dims.length);
  return [{ dtype: x.dtype, dims: [...idx.dims] }];
};

const gatherND: Rule = (ctx) => {
  const x = ctx.input(0).dims;
  const idx = ctx.input(1).dims;
  const b = ctx.int('batch_dims', 0);
  const last = idx[idx.length - 1];
  if (last === undefined || last > x.length - b) {
    throw ctx.error(`indices [${idx.join(', ')}] do not index data [${x.join(', ')}]`);
  }
  return [{ dtype: ctx.input(0).dtype, dims: [...idx.slice(0, -1), ...x.slice(b + last)] }];
};

function pool(withIndices: boolean): Rule {
  return (ctx) => {
    const x = ctx.input(0);
    const rank = x.dims.length;
    if (rank < 3) {
      throw ctx.error(`X [${x.dims.join(', ')}] must have rank ≥ 3`);
    }
    const kernel = ctx.ints('kernel_shape');
    if (kernel === undefined) {
      throw ctx.error('kernel_shape is required', GraphErrorCode.Attribute);
    }
    const win = windowAttrs(ctx, rank - 2, kernel);
    const ceil = ctx.int('ceil_mode', 0) !== 0;
    const dims = [
      x.dims[0]!,
      x.dims[1]!,
      ...x.dims.slice(2).map((d, i) => windowOutput(ctx, win, i, d, ceil)),
    ];
    const out: ShapeInfo[] = [{ dtype: x.dtype, dims }];
    if (withIndices) {
      out.push({ dtype: 'int64', dims: [...dims] });
    }
    return out;
  };
}

const globalPool: Rule = (ctx) => {
  const x = ctx.input(0);
  if (x.dims.length < 3) {
    throw ctx.error(`X [${x.dims.join(', ')}] must have rank ≥ 3`);
  }
  return [{ dtype: x.dtype, dims: [x.dims[0]!, x.dims[1]!, ...x.dims.slice(2).map(() => 1)] }];
};

function perChannel(ctx: NodeContext, indices: readonly number[], channels: number): void {
  for (const i of indices) {
    if (ctx.has(i)) {
      const d = ctx.input(i).dims;
      if (d.length !== 1 || d[0] !== channels) {
        throw ctx.error(`input ${i} [${d.join(', ')}] should be [${channels}]`);
      }
    }
  }
}

const batchNorm: Rule = (ctx) => {
  const x = ctx.input(0);
  if (x.dims.length < 2) {
    throw ctx.error(`X [${x.dims.join(', ')}] must have rank ≥ 2`);
  }
  const c = x.dims[1]!;
  perChannel(ctx, [1, 2, 3, 4], c);
  const out: ShapeInfo[] = [same(x)];
  for (let i = 1; i < ctx.outputCount; i++) {
    out.push({ dtype: x.dtype, dims: [c] });
  }
  return out;
};

const instanceNorm: Rule = (ctx) => {
  const x = ctx.input(0);
  if (x.dims.length < 3) {
    throw ctx.error(`X [${x.dims.join(', ')}] must have rank ≥ 3`);
  }
  perChannel(ctx, [1, 2], x.dims[1]!);
  return [same(x)];
};

const groupNorm: Rule = (ctx) => {
  const x = ctx.input(0);
  const groups = ctx.int('num_groups', Number.NaN);
  const c = x.dims[1];
  if (x.dims.length < 3 || c === undefined || !(groups >= 1) || c % groups !== 0) {
    throw ctx.error(`num_groups ${groups} must divide the ${String(c)} channels of X [${x.dims.join(', ')}]`);
  }
  // Opset 18 takes scale/bias per group, opset 21 per channel; accept either.
  for (const i of [1, 2]) {
    const d = ctx.input(i).dims;
    if (d.length !== 1 || (d[0] !== c && d[0] !== groups)) {
      throw ctx.error(`input ${i} [${d.join(', ')}] should be [${c}] (or [${groups}] before opset 21)`);
    }
  }
  return [same(x)];
};

const layerNorm: Rule = (ctx) => {
  const x = ctx.input(0);
  const axis = ctx.axis(ctx.int('axis', -1), x.dims.length);
  const stat = x.dims.map((d, i) => (i < axis ? d : 1));
  const statType: DType = ctx.int('stash_type', 1) === 1 ? 'float32' : x.dtype;
  const out: ShapeInfo[] = [same(x)];
  for (let i = 1; i < ctx.outputCount; i++) {
    out.push({ dtype: statType, dims: [...stat] });
  }
  return out;
};

/** Output dims of Resize (opset ≥ 11: X, roi, scales, sizes; opset 10: X, scales). */
export function resizeOutput(ctx: NodeContext): number[] {
  const x = ctx.input(0);
  const rank = x.dims.length;
  const scalesIndex = ctx.opset >= 11 && ctx.node.opType === 'Resize' ? 2 : 1;
  const sizesIndex = 3;
  const axes = normaliseAxes(ctx, ctx.ints('axes') ?? x.dims.map((_, i) => i), rank);
  const sizes =
    ctx.node.opType === 'Resize' &&
    ctx.opset >= 11 &&
    ctx.has(sizesIndex) &&
    ctx.input(sizesIndex).dims[0] !== 0
      ? ctx.numbers(sizesIndex, 'sizes')
      : undefined;
  const dims = [...x.dims];
  if (sizes !== undefined) {
    if (sizes.length !== axes.length) {
      throw ctx.error(`sizes [${sizes.join(', ')}] need ${axes.length} entries`);
    }
    const policy = ctx.string('keep_aspect_ratio_policy', 'stretch');
    if (policy === 'stretch') {
      axes.forEach((a, k) => (dims[a] = sizes[k]!));
    } else {
      const ratios = axes.map((a, k) => sizes[k]! / x.dims[a]!);
      const scale = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
      axes.forEach((a) => (dims[a] = Math.round(scale * x.dims[a]!)));
    }
    return dims;
  }
  const scales = ctx.floats('scales') ?? ctx.numbers(scalesIndex, 'scales');
  if (scales.length !== axes.length) {
    throw ctx.error(`scales [${scales.join(', ')}] need ${axes.length} entries`);
  }
  // onnxruntime multiplies in float32 and truncates: static_cast<int64_t>(scale * float(dim)).
  axes.forEach(
    (a, k) => (dims[a] = Math.floor(Math.fround(Math.fround(scales[k]!) * Math.fround(x.dims[a]!)))),
  );
  return dims;
}

const resize: Rule = (ctx) => [{ dtype: ctx.input(0).dtype, dims: resizeOutput(ctx) }];

const cast: Rule = (ctx) => [
  {
    dtype: dtypeFromOnnx(ctx.int('to', 0), `attribute to of ${describeNode(ctx.node)}`),
    dims: [...ctx.input(0).dims],
  },
];

const castLike: Rule = (ctx) => [{ dtype: ctx.input(1).dtype, dims: [...ctx.input(0).dims] }];

const constant: Rule = (ctx) => {
  const t = constantValue(ctx);
  return [{ dtype: t.dtype, dims: [...t.dims] }];
};

const constantOfShape: Rule = (ctx) => {
  const dims = ctx.numbers(0, 'shape');
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) {
    throw ctx.error(`shape [${dims.join(', ')}] has a negative dim`);
  }
  return [{ dtype: ctx.tensor('value')?.dtype ?? 'float32', dims }];
};

const shape: Rule = (ctx) => {
  const [s, e] = shapeRange(ctx, ctx.input(0).dims.length);
  return [{ dtype: 'int64', dims: [Math.max(0, e - s)] }];
};

const expand: Rule = (ctx) => {
  const x = ctx.input(0);
  const target = ctx.numbers(1, 'shape');
  const dims = broadcastShapes([x.dims, target]);
  if (dims === undefined) {
    throw ctx.error(`[${x.dims.join(', ')}] cannot expand to [${target.join(', ')}]`);
  }
  return [{ dtype: x.dtype, dims }];
};

const range: Rule = (ctx) => [{ dtype: requireSameType(ctx, [0, 1, 2]), dims: [rangeCount(ctx)] }];

const pad: Rule = (ctx) => {
  const x = ctx.input(0);
  const rank = x.dims.length;
  const pads = padAmounts(ctx, rank);
  const dims = x.dims.map((d, i) => d + pads[i]! + pads[i + rank]!);
  if (dims.some((d) => d < 0)) {
    throw ctx.error(`pads [${pads.join(', ')}] crop [${x.dims.join(', ')}] below zero`);
  }
  return [{ dtype: x.dtype, dims }];
};

const tile: Rule = (ctx) => {
  const x = ctx.input(0);
  const reps = ctx.numbers(1, 'repeats');
  if (reps.length !== x.dims.length) {
    throw ctx.error(`repeats [${reps.join(', ')}] need ${x.dims.length} entries`);
  }
  return [{ dtype: x.dtype, dims: x.dims.map((d, i) => d * reps[i]!) }];
};

const topK: Rule = (ctx) => {
  const x = ctx.input(0);
  const axis = ctx.axis(ctx.int('axis', -1), x.dims.length);
  const k = ctx.has(1) ? ctx.numbers(1, 'K')[0]! : ctx.int('k', Number.NaN);
  if (!(k >= 0) || k > x.dims[axis]!) {
    throw ctx.error(`K = ${k} is outside [0, ${x.dims[axis]}]`);
  }
  const dims = x.dims.map((d, i) => (i === axis ? k : d));
  return [
    { dtype: x.dtype, dims },
    { dtype: 'int64', dims: [...dims] },
  ];
};

const depthToSpace: Rule = (ctx) => {
  const x = ctx.input(0);
  const b = ctx.int('blocksize', Number.NaN);
  const [n, c, h, w] = x.dims;
  if (x.dims.length !== 4 || !(b >= 1) || c! % (b * b) !== 0) {
    throw ctx.error(`X [${x.dims.join(', ')}] channels must be divisible by blocksize² (${b}²)`);
  }
  return [{ dtype: x.dtype, dims: [n!, c! / (b * b), h! * b, w! * b] }];
};

const spaceToDepth: Rule = (ctx) => {
  const x = ctx.input(0);
  const b = ctx.int('blocksize', Number.NaN);
  const [n, c, h, w] = x.dims;
  if (x.dims.length !== 4 || !(b >= 1) || h! % b !== 0 || w! % b !== 0) {
    throw ctx.error(`X [${x.dims.join(', ')}] spatial dims must be divisible by blocksize ${b}`);
  }
  return [{ dtype: x.dtype, dims: [n!, c! * b * b, h! / b, w! / b] }];
};

const maxUnpool: Rule = (ctx) => {
  const x = ctx.input(0);
  if (ctx.has(2)) {
    return [{ dtype: x.dtype, dims: ctx.numbers(2, 'output_shape') }];
  }
  const kernel = ctx.ints('kernel_shape') ?? [];
  const win = windowAttrs(ctx, x.dims.length - 2, kernel);
  const spatial = x.dims
    .slice(2)
    .map((d, i) => (d - 1) * win.strides[i]! + kernel[i]! - win.pads[i]! - win.pads[i + kernel.length]!);
  return [{ dtype: x.dtype, dims: [x.dims[0]!, x.dims[1]!, ...spatial] }];
};

const dropout: Rule = (ctx) => {
  const x = ctx.input(0);
  return [same(x), { dtype: 'bool', dims: [...x.dims] }];
};

const clip: Rule = (ctx) => {
  for (const i of [1, 2]) {
    if (ctx.has(i) && ctx.input(i).dims.length !== 0) {
      throw ctx.error(`${i === 1 ? 'min' : 'max'} must be a scalar, is [${ctx.input(i).dims.join(', ')}]`);
    }
  }
  return [same(ctx.input(0))];
};

const UNARY_OPS = [
  'Identity',
  'Relu',
  'Sigmoid',
  'Tanh',
  'Sqrt',
  'Neg',
  'Erf',
  'Exp',
  'Log',
  'Abs',
  'Reciprocal',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Sin',
  'Cos',
  'Tan',
  'Asin',
  'Acos',
  'Atan',
  'Sinh',
  'Cosh',
  'Asinh',
  'Acosh',
  'Atanh',
  'Softplus',
  'Softsign',
  'Elu',
  'Selu',
  'Celu',
  'LeakyRelu',
  'ThresholdedRelu',
  'HardSigmoid',
  'HardSwish',
  'Gelu',
  'Mish',
  'Shrink',
  'Not',
  'Trilu',
  'CumSum',
  'LRN',
  'LpNormalization',
  'MeanVarianceNormalization',
  'BitwiseNot',
];

/** Shape rules by default-domain op type. */
const RULES: Record<string, Rule> = {
  ...Object.fromEntries(UNARY_OPS.map((op) => [op, unary])),
  IsNaN: (ctx) => [{ dtype: 'bool', dims: [...ctx.input(0).dims] }],
  IsInf: (ctx) => [{ dtype: 'bool', dims: [...ctx.input(0).dims] }],
  Clip: clip,
  Dropout: dropout,
  Softmax: withAxisCheck,
  LogSoftmax: withAxisCheck,
  Hardmax: withAxisCheck,
  Add: elementwise(),
  Sub: elementwise(),
  Mul: elementwise(),
  Div: elementwise(),
  Mod: elementwise(),
  Max: elementwise(),
  Min: elementwise(),
  Sum: elementwise(),
  Mean: elementwise(),
  PRelu: elementwise(),
  BitShift: elementwise(),
  BitwiseAnd: elementwise(),
  BitwiseOr: elementwise(),
  BitwiseXor: elementwise(),
  And: elementwise(),
  Or: elementwise(),
  Xor: elementwise(),
  Equal: elementwise('bool'),
  Less: elementwise('bool'),
  Greater: elementwise('bool'),
  LessOrEqual: elementwise('bool'),
  GreaterOrEqual: elementwise('bool'),
  Pow: pow,
  Where: where,
  Conv: conv,
  ConvTranspose: convTranspose,
  Gemm: gemm,
  MatMul: matmul,
  ReduceMean: reduce(),
  ReduceSum: reduce(),
  ReduceMax: reduce(),
  ReduceMin: reduce(),
  ReduceProd: reduce(),
  ReduceL1: reduce(),
  ReduceL2: reduce(),
  ReduceLogSum: reduce(),
  ReduceLogSumExp: reduce(),
  ReduceSumSquare: reduce(),
  ArgMax: argReduce,
  ArgMin: argReduce,
  Reshape: reshape,
  Transpose: transpose,
  Flatten: flatten,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Concat: concat,
  Split: split,
  Slice: slice,
  Gather: gather,
  GatherElements: gatherElements,
  GatherND: gatherND,
  ScatterElements: (ctx) => [same(ctx.input(0))],
  ScatterND: (ctx) => [same(ctx.input(0))],
  MaxPool: (ctx) => pool(ctx.outputCount > 1)(ctx),
  AveragePool: pool(false),
  LpPool: pool(false),
  GlobalAveragePool: globalPool,
  GlobalMaxPool: globalPool,
  GlobalLpPool: globalPool,
  MaxUnpool: maxUnpool,
  BatchNormalization: batchNorm,
  InstanceNormalization: instanceNorm,
  GroupNormalization: groupNorm,
  LayerNormalization: layerNorm,
  Resize: resize,
  Upsample: resize,
  Cast: cast,
  CastLike: castLike,
  Constant: constant,
  ConstantOfShape: constantOfShape,
  Shape: shape,
  Size: () => [{ dtype: 'int64', dims: [] }],
  Expand: expand,
  Range: range,
  Pad: pad,
  Tile: tile,
  TopK: topK,
  DepthToSpace: depthToSpace,
  SpaceToDepth: spaceToDepth,
};

/** Op types {@link inferShapes} has a rule for (default domain). */
export const SUPPORTED_OPS: readonly string[] = Object.keys(RULES).sort();

/** Options of {@link inferShapes} and {@link analyzeGraph}. */
export interface InferOptions {
  /** Default-domain opset of the model (decides Resize's input layout and Softmax's default axis). @defaultValue 17 */
  opset?: number;
  /**
   * Nodes whose inputs are all constant are evaluated (to learn shape-determining values) when every
   * output has at most this many elements. @defaultValue 1 << 20
   */
  maxEvaluatedElements?: number;
}

/** Result of {@link analyzeGraph}. */
export interface GraphAnalysis {
  /** Element type and concrete dims of every value. */
  shapes: Map<string, ShapeInfo>;
  /** Values known to be constant: initializers (that are not also inputs) and evaluated node outputs. */
  values: Map<string, TensorData>;
  /** The graph's nodes in topological order. */
  order: Node[];
}

function inputShapeOf(graph: Graph, name: string, given: Record<string, number[]>): number[] {
  const decl = graph.inputs.find((v) => v.name === name)!;
  const shape = Object.hasOwn(given, name) ? given[name] : undefined;
  if (shape === undefined) {
    if (decl.dims?.every((d) => typeof d === 'number')) {
      return decl.dims;
    }
    throw new GraphError(
      GraphErrorCode.Input,
      `graph input ${name} has dims [${decl.dims?.join(', ') ?? 'unknown'}]; give its concrete shape in inputShapes`,
    );
  }
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new GraphError(
      GraphErrorCode.Input,
      `inputShapes.${name} [${shape.join(', ')}] must hold non-negative integers`,
    );
  }
  if (decl.dims !== null) {
    const bad =
      decl.dims.length !== shape.length || decl.dims.some((d, i) => typeof d === 'number' && d !== shape[i]);
    if (bad) {
      throw new GraphError(
        GraphErrorCode.Input,
        `inputShapes.${name} [${shape.join(', ')}] contradicts the declared dims [${decl.dims.join(', ')}]`,
      );
    }
  }
  return [...shape];
}

/**
 * Infers every value's element type and concrete dims, propagating constant values through the
 * integer/shape operators so that shape inputs computed inside the graph are known.
 *
 * @throws GraphError `GRAPH_ERR_INPUT` for missing or contradicting input shapes,
 * `GRAPH_ERR_UNSUPPORTED_OP` naming the node and op type, `GRAPH_ERR_SHAPE` / `GRAPH_ERR_TYPE` naming the
 * node for incompatible inputs, `GRAPH_ERR_DYNAMIC` when a shape-determining input is not constant.
 */
export function analyzeGraph(
  graph: Graph,
  inputShapes: Record<string, number[]>,
  options: InferOptions = {},
): GraphAnalysis {
  const opset = options.opset ?? 17;
  const maxElements = options.maxEvaluatedElements ?? 1 << 20;
  const shapes = new Map<string, ShapeInfo>();
  const values = new Map<string, TensorData>();
  const inputNames = new Set(graph.inputs.map((v) => v.name));
  for (const name of Object.keys(inputShapes)) {
    if (!inputNames.has(name)) {
      throw new GraphError(
        GraphErrorCode.Input,
        `inputShapes names ${name}, which is not a graph input (inputs: ${[...inputNames].join(', ')})`,
      );
    }
  }
  for (const [name, t] of graph.initializers) {
    shapes.set(name, { dtype: t.dtype, dims: [...t.dims] });
    // Before IR 4 an initializer listed as an input is only a default the caller may override.
    if (!inputNames.has(name)) {
      values.set(name, t);
    }
  }
  for (const v of graph.inputs) {
    if (!graph.initializers.has(v.name) || Object.hasOwn(inputShapes, v.name)) {
      shapes.set(v.name, { dtype: v.dtype, dims: inputShapeOf(graph, v.name, inputShapes) });
    }
  }
  const order = topologicalSort(graph);
  for (const node of order) {
    if ((node.domain !== '' && node.domain !== 'ai.onnx') || !Object.hasOwn(RULES, node.opType)) {
      throw new GraphError(
        GraphErrorCode.UnsupportedOp,
        `${describeNode(node)}: shape inference does not support op type ${node.domain === '' ? '' : `${node.domain}.`}${node.opType}`,
      );
    }
    const infos = node.inputs.map((n) => (n === '' ? undefined : shapes.get(n)));
    const known = node.inputs.map((n) => (n === '' ? undefined : values.get(n)));
    const ctx = new NodeContext(node, infos, known, opset);
    const outs = RULES[node.opType]!(ctx);
    node.outputs.forEach((name, i) => {
      if (name === '') {
        return;
      }
      const info = outs[i];
      if (info === undefined) {
        throw ctx.error(`has no output ${i}`);
      }
      shapes.set(name, info);
    });
    if (outs.every((o) => sizeOf(o.dims) <= maxElements)) {
      const results = evaluateNode(ctx, outs);
      if (results !== undefined) {
        node.outputs.forEach((name, i) => {
          const r = results[i];
          if (name !== '' && r !== undefined) {
            values.set(name, r);
          }
        });
      }
    }
  }
  return { shapes, values, order };
}

/**
 * Element type and concrete dims of every value of a graph for concrete input shapes (inputs with fully
 * static declared dims may be left out). See {@link analyzeGraph} for the errors.
 */
export function inferShapes(
  graph: Graph,
  inputShapes: Record<string, number[]>,
  options: InferOptions = {},
): Map<string, ShapeInfo> {
  return analyzeGraph(graph, inputShapes, options).shapes;
}
