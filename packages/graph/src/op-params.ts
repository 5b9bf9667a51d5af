/**
 * @file Operator parameters read the same way by shape rules and folding kernels: axes in either their
 * attribute or input form, Reshape targets, Split sizes, Slice bounds, Shape's range, Range's length, Pad
 * amounts and Constant values.
 */
import type { NodeContext } from './context';
import { GraphErrorCode } from './errors';
import { type TensorData, sizeOf } from './ir';
import { type SliceAxis, sliceAxis } from './shape-utils';

/** Axes given as an attribute (older opsets) or as input `index` (newer), or undefined when neither. */
export function axesFrom(ctx: NodeContext, index: number): number[] | undefined {
  const fromAttr = ctx.ints('axes');
  if (fromAttr !== undefined) {
    return fromAttr;
  }
  return ctx.has(index) ? ctx.numbers(index, 'axes') : undefined;
}

/** Axes normalised to [0, rank), rejecting out-of-range and repeated axes. */
export function normaliseAxes(ctx: NodeContext, axes: readonly number[], rank: number): number[] {
  const out = axes.map((a) => ctx.axis(a, rank, 'axis'));
  if (new Set(out).size !== out.length) {
    throw ctx.error(`axes [${axes.join(', ')}] repeat an axis`);
  }
  return out;
}

/** Reshape's target with 0 (copy, unless allowzero) and −1 (inferred) resolved. */
export function resolveReshape(
  ctx: NodeContext,
  input: readonly number[],
  target: readonly number[],
): number[] {
  const allowZero = ctx.int('allowzero', 0) !== 0;
  let inferred = -1;
  const dims = target.map((t, i) => {
    if (t === -1) {
      if (inferred >= 0) {
        throw ctx.error(`shape [${target.join(', ')}] has more than one −1`);
      }
      inferred = i;
      return 1;
    }
    if (t === 0 && !allowZero) {
      if (i >= input.length) {
        throw ctx.error(
          `shape [${target.join(', ')}] copies dim ${i} (0), but the input has rank ${input.length}`,
        );
      }
      return input[i]!;
    }
    if (t < 0) {
      throw ctx.error(`shape [${target.join(', ')}] has a negative dim other than −1`);
    }
    return t;
  });
  const total = sizeOf(input);
  const known = sizeOf(dims);
  if (inferred >= 0) {
    if (known === 0 || total % known !== 0) {
      throw ctx.error(`cannot infer −1 in [${target.join(', ')}] for input [${input.join(', ')}]`);
    }
    dims[inferred] = total / known;
  } else if (known !== total) {
    throw ctx.error(`cannot reshape [${input.join(', ')}] (${total} elements) to [${target.join(', ')}]`);
  }
  return dims;
}

/** Sizes of Split's outputs along its axis. */
export function splitSizes(ctx: NodeContext, dim: number): number[] {
  const n = ctx.outputCount;
  let sizes = ctx.ints('split') ?? (ctx.has(1) ? ctx.numbers(1, 'split') : undefined);
  if (sizes === undefined) {
    const numOutputs = ctx.int('num_outputs', n);
    // Opset 18: the last chunk is smaller when the axis does not divide evenly.
    const chunk = Math.ceil(dim / numOutputs);
    sizes = Array.from({ length: numOutputs }, (_, i) => Math.max(0, Math.min(chunk, dim - i * chunk)));
    if (numOutputs !== n) {
      throw ctx.error(`num_outputs is ${numOutputs} but the node has ${n} outputs`);
    }
  }
  if (sizes.length !== n || sizes.reduce((a, b) => a + b, 0) !== dim || sizes.some((s) => s < 0)) {
    throw ctx.error(`split [${sizes.join(', ')}] does not cut a dim of ${dim} into ${n} outputs`);
  }
  return sizes;
}

/** Slice parameters per axis from attributes (opset < 10) or inputs. */
export function sliceParams(ctx: NodeContext, dims: readonly number[]): SliceAxis[] {
  const fromAttrs = ctx.ints('starts') !== undefined;
  const starts = fromAttrs ? ctx.ints('starts')! : ctx.numbers(1, 'starts');
  const ends = fromAttrs ? (ctx.ints('ends') ?? []) : ctx.numbers(2, 'ends');
  const axes = fromAttrs ? ctx.ints('axes') : ctx.has(3) ? ctx.numbers(3, 'axes') : undefined;
  const steps = !fromAttrs && ctx.has(4) ? ctx.numbers(4, 'steps') : undefined;
  const axisList = normaliseAxes(ctx, axes ?? starts.map((_, i) => i), dims.length);
  if (
    ends.length !== starts.length ||
    axisList.length !== starts.length ||
    (steps && steps.length !== starts.length)
  ) {
    throw ctx.error(
      `starts [${starts.join(', ')}], ends [${ends.join(', ')}], axes and steps must have the same length`,
    );
  }
  return axisList.map((axis, k) => {
    const step = steps?.[k] ?? 1;
    if (step === 0) {
      throw ctx.error('a slice step is 0');
    }
    return sliceAxis(axis, dims[axis]!, starts[k]!, ends[k]!, step);
  });
}

/** The tensor a Constant node holds, from whichever `value*` attribute it has. */
export function constantValue(ctx: NodeContext): TensorData {
  const t = ctx.tensor('value');
  if (t !== undefined) {
    return t;
  }
  const a = ctx.node.attributes;
  const make = (dtype: 'float32' | 'int64', dims: number[], values: number[]): TensorData => {
    const data = dtype === 'float32' ? Float32Array.from(values) : BigInt64Array.from(values.map(BigInt));
    return { dtype, dims, data } as TensorData;
  };
  if (a.value_float?.type === 'float') {
    return make('float32', [], [a.value_float.value]);
  }
  if (a.value_floats?.type === 'floats') {
    return make('float32', [a.value_floats.value.length], a.value_floats.value);
  }
  if (a.value_int?.type === 'int') {
    return make('int64', [], [a.value_int.value]);
  }
  if (a.value_ints?.type === 'ints') {
    return make('int64', [a.value_ints.value.length], a.value_ints.value);
  }
  throw ctx.error(
    'has no value, value_float(s) or value_int(s) attribute (string and sparse constants are unsupported)',
    GraphErrorCode.UnsupportedDtype,
  );
}

/** Shape's [start, end) after clamping. */
export function shapeRange(ctx: NodeContext, rank: number): [number, number] {
  const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  return [clamp(ctx.int('start', 0)), clamp(ctx.int('end', rank))];
}

/** Range's element count: max(ceil((limit − start) / delta), 0), the subtraction done in the input type. */
export function rangeCount(ctx: NodeContext): number {
  const [start, limit, delta] = [0, 1, 2].map((i) => ctx.numbers(i, ['start', 'limit', 'delta'][i]!)[0]!);
  if (delta === 0) {
    throw ctx.error('delta is 0');
  }
  const diff = ctx.input(0).dtype === 'float32' ? Math.fround(limit! - start!) : limit! - start!;
  return Math.max(Math.ceil(diff / delta!), 0);
}

/** Pad amounts [begin per axis..., end per axis...] over all axes. */
export function padAmounts(ctx: NodeContext, rank: number): number[] {
  const given = ctx.ints('pads') ?? ctx.numbers(1, 'pads');
  const axes = ctx.has(3) ? normaliseAxes(ctx, ctx.numbers(3, 'axes'), rank) : [...Array(rank).keys()];
  if (given.length !== 2 * axes.length) {
    throw ctx.error(`pads [${given.join(', ')}] need ${2 * axes.length} entries`);
  }
  const pads = new Array<number>(2 * rank).fill(0);
  axes.forEach((a, k) => {
    pads[a] = given[k]!;
    pads[a + rank] = given[k + axes.length]!;
  });
  return pads;
}
