/**
 * @file Gradients of the operators that select or replicate elements: Concat, Split, Slice, Gather, Expand
 * and Tile. Each scatters the upstream gradient back to where the elements came from, summing where one
 * element was used several times.
 */
import { makeTensor, sizeOf, tensorToNumbers } from '../../ir';
import { sliceParams, splitSizes } from '../../op-params';
import type { GradContext, GradRule } from './context';

/** `Slice(v, [start], [end], [axis], [step])` with constant bounds. */
export function slice1(
  ctx: GradContext,
  v: string,
  axis: number,
  start: number,
  end: number,
  step = 1,
): string {
  const b = ctx.b;
  return b.node('Slice', [
    v,
    b.int64s([start], 'starts'),
    b.int64s([end], 'ends'),
    b.int64s([axis], 'axes'),
    b.int64s([step], 'steps'),
  ]);
}

/** Concat: each input's gradient is its slab of g along the axis. */
export const concatGrad: GradRule = (ctx) => {
  const rank = ctx.dims(0).length;
  const axis = ctx.axis(ctx.int('axis', Number.NaN), rank);
  let offset = 0;
  return ctx.node.inputs.map((_, i) => {
    const size = ctx.dims(i)[axis]!;
    const begin = offset;
    offset += size;
    return ctx.needs(i) ? slice1(ctx, ctx.grad(), axis, begin, begin + size) : undefined;
  });
};

/**
 * Split (sizes from the `split` input or attribute, or equal chunks / opset 18's `num_outputs`): the
 * upstream gradients concatenated back along the axis, zeros standing in for outputs that receive none.
 */
export const splitGrad: GradRule = (ctx) => {
  const x = ctx.dims(0);
  const axis = ctx.axis(ctx.int('axis', 0), x.length);
  const sizes = splitSizes(ctx, x[axis]!);
  const parts: string[] = [];
  sizes.forEach((size, i) => {
    if (size === 0) {
      return;
    }
    const g = ctx.node.outputs[i] === '' ? undefined : ctx.maybeGrad(i);
    parts.push(g ?? ctx.zeros(x.map((d, k) => (k === axis ? size : d))));
  });
  return [parts.length === 1 ? parts[0]! : ctx.b.node('Concat', parts, { axis })];
};

/**
 * Slice: g is placed back at the sliced positions with zeros elsewhere. Per axis, a negative step is
 * undone by reversing g, a step s > 1 by interleaving s − 1 zeros after each element (Reshape to
 * [.., n, 1, ..], Pad to [.., n, s, ..], Reshape to [.., n·s, ..]); one final Pad restores the margins.
 * No index tensors are built, so the cost is that of g and the result.
 */
export const sliceGrad: GradRule = (ctx) => {
  const x = ctx.dims(0);
  const rank = x.length;
  const params = sliceParams(ctx, x);
  if (params.some((p) => p.count === 0)) {
    return [ctx.zeros(x)];
  }
  let g = ctx.grad();
  const cur = [...ctx.outDims()];
  const pads = new Array<number>(2 * rank).fill(0);
  for (const p of params) {
    const a = p.axis;
    const n = p.count;
    let first = p.start;
    let step = p.step;
    if (step < 0) {
      // Reversed, g's elements sit at ascending positions first, first + |step|, …
      g = slice1(ctx, g, a, -1, -(n + 1), -1);
      first = p.start + (n - 1) * step;
      step = -step;
    }
    if (step > 1 && n > 1) {
      const split = [...cur.slice(0, a), n, 1, ...cur.slice(a + 1)];
      const widen = new Array<number>(2 * (rank + 1)).fill(0);
      widen[rank + 1 + a + 1] = step - 1;
      const spread = ctx.b.node('Pad', [ctx.reshape(g, split), ctx.b.int64s(widen, 'pads')]);
      const widened = n * step;
      cur[a] = widened;
      g = ctx.reshape(spread, cur);
      // The zeros after the last element may run past the input's end.
      const room = x[a]! - first;
      if (widened > room) {
        g = slice1(ctx, g, a, 0, room);
        cur[a] = room;
      }
    }
    pads[a] = first;
    pads[a + rank] = x[a]! - first - cur[a]!;
  }
  return [pads.some((v) => v !== 0) ? ctx.b.node('Pad', [g, ctx.b.int64s(pads, 'pads')]) : g];
};

/**
 * Gather: the gradient is added into zeros at the gathered rows with ScatterElements(reduction = add)
 * on the [outer, axis, inner] view, so rows gathered several times collect every contribution. Known
 * indices are normalised into a constant; others are used as given (ScatterElements accepts negatives).
 */
export const gatherGrad: GradRule = (ctx) => {
  const x = ctx.dims(0);
  const axis = ctx.axis(ctx.int('axis', 0), x.length);
  const outer = sizeOf(x.slice(0, axis));
  const inner = sizeOf(x.slice(axis + 1));
  const n = sizeOf(ctx.dims(1));
  if (n === 0) {
    return [ctx.zeros(x)];
  }
  const known = ctx.values[1];
  const idx =
    known === undefined
      ? ctx.reshape(ctx.in(1), [1, n, 1])
      : ctx.b.initializer(
          'gather_indices',
          makeTensor(
            'int64',
            [1, n, 1],
            tensorToNumbers(known).map((i) => (i < 0 ? i + x[axis]! : i)),
          ),
        );
  const view = [outer, n, inner];
  const scattered = ctx.b.node(
    'ScatterElements',
    [
      ctx.zeros([outer, x[axis]!, inner]),
      ctx.b.node('Expand', [idx, ctx.b.int64s(view, 'shape')]),
      ctx.reshape(ctx.grad(), view),
    ],
    { axis: 1, reduction: 'add' },
  );
  return [ctx.reshape(scattered, x)];
};

/** Expand: g summed over the broadcast axes. */
export const expandGrad: GradRule = (ctx) => [ctx.unbroadcast(ctx.grad(), ctx.outDims(), ctx.dims(0))];

/** Tile: g viewed as [r₀, d₀, r₁, d₁, …] and summed over the repeat axes. */
export const tileGrad: GradRule = (ctx) => {
  const x = ctx.dims(0);
  const reps = ctx.numbers(1, 'repeats');
  if (reps.every((r) => r === 1)) {
    return [ctx.grad()];
  }
  const view = x.flatMap((d, i) => [reps[i]!, d]);
  const axes = x.map((_, i) => 2 * i);
  const summed = ctx.b.node('ReduceSum', [ctx.reshape(ctx.grad(), view), ctx.b.int64s(axes, 'axes')], {
    keepdims: 0,
  });
  return [ctx.reshape(summed, x)];
};
