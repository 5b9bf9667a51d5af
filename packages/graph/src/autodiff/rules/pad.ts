/**
 * @file Gradient of Pad in its constant, reflect and edge modes. Negative pads crop: onnxruntime slices
 * them off first and pads what is left, so the gradient folds the padding back onto the kept elements
 * and then re-pads the cropped margins with zeros.
 */
import { GraphErrorCode } from '../../errors';
import { padAmounts } from '../../op-params';
import type { GradContext, GradRule } from './context';
import { slice1 } from './select';

/** `Pad(v, pads)` with zeros, pads over all axes as [begin per axis..., end per axis...]. */
function zeroPad(ctx: GradContext, v: string, pads: readonly number[]): string {
  return ctx.b.node('Pad', [v, ctx.b.int64s(pads, 'pads')]);
}

/** `v` with `before` and `after` zeros along one axis. */
function place(ctx: GradContext, v: string, axis: number, before: number, after: number): string {
  const rank = ctx.dims(0).length;
  const pads = new Array<number>(2 * rank).fill(0);
  pads[axis] = before;
  pads[axis + rank] = after;
  return before === 0 && after === 0 ? v : zeroPad(ctx, v, pads);
}

/**
 * One axis of an edge or reflect pad undone: `g`, of length lo + n + hi along `axis`, folded onto the n
 * elements it was padded from. Each border element of g is added to the element it copies.
 */
function foldAxis(
  ctx: GradContext,
  g: string,
  axis: number,
  [lo, n, hi]: readonly [number, number, number],
  mode: 'edge' | 'reflect',
): string {
  const end = lo + n + hi;
  let sum = slice1(ctx, g, axis, lo, lo + n);
  const add = (v: string): void => {
    sum = ctx.op('Add', sum, v);
  };
  if (mode === 'edge') {
    // Every head position copies element 0 and every tail position element n − 1.
    if (lo > 0) {
      add(place(ctx, ctx.sumKeep(slice1(ctx, g, axis, 0, lo), [axis]), axis, 0, n - 1));
    }
    if (hi > 0) {
      add(place(ctx, ctx.sumKeep(slice1(ctx, g, axis, lo + n, end), [axis]), axis, n - 1, 0));
    }
    return sum;
  }
  // Head position j copies element lo − j and tail position lo + n + k element n − 2 − k, so each border
  // reversed lines up with the run of elements 1..lo, or n − 1 − hi..n − 2.
  if (lo > 0) {
    add(place(ctx, slice1(ctx, g, axis, lo - 1, -(end + 1), -1), axis, 1, n - 1 - lo));
  }
  if (hi > 0) {
    add(place(ctx, slice1(ctx, g, axis, end - 1, lo + n - 1, -1), axis, n - 1 - hi, 1));
  }
  return sum;
}

/**
 * Pad (pads from input 1, or the attribute before opset 11; opset 18's `axes` input): y copies each kept
 * element of x once in constant mode, so dx is the slab of g at the kept positions; edge and reflect modes
 * also copy border elements into the padding, whose gradient {@link foldAxis} adds back, one axis at a
 * time as the padding composes. Cropped (negative-pad) margins get zeros. A float constant_value on the
 * path gets the sum of g over the padding.
 */
export const padGrad: GradRule = (ctx) => {
  const mode = ctx.string('mode', 'constant');
  if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge') {
    throw ctx.error(
      `gradient of Pad mode ${mode} is not supported (constant, reflect and edge are)`,
      GraphErrorCode.UnsupportedOp,
    );
  }
  const x = ctx.dims(0);
  const rank = x.length;
  const pads = padAmounts(ctx, rank);
  const lo = pads.slice(0, rank).map((p) => Math.max(p, 0));
  const hi = pads.slice(rank).map((p) => Math.max(p, 0));
  const kept = x.map((d, a) => d + Math.min(pads[a]!, 0) + Math.min(pads[a + rank]!, 0));
  const padded = x.map((_, a) => a).filter((a) => lo[a]! > 0 || hi[a]! > 0);
  const g = ctx.grad();
  let inner = g;
  if (mode === 'constant') {
    if (padded.length > 0) {
      const b = ctx.b;
      inner = b.node('Slice', [
        g,
        b.int64s(
          padded.map((a) => lo[a]!),
          'starts',
        ),
        b.int64s(
          padded.map((a) => lo[a]! + kept[a]!),
          'ends',
        ),
        b.int64s(padded, 'axes'),
      ]);
    }
  } else {
    for (const a of padded) {
      if (mode === 'reflect' && Math.max(lo[a]!, hi[a]!) >= kept[a]!) {
        throw ctx.error(
          `reflect pads ${lo[a]} and ${hi[a]} on axis ${a} must be smaller than its kept size ${kept[a]}`,
        );
      }
      inner = foldAxis(ctx, inner, a, [lo[a]!, kept[a]!, hi[a]!], mode);
    }
  }
  const crop = pads.map((p) => Math.max(-p, 0));
  const gx = crop.some((c) => c > 0) ? zeroPad(ctx, inner, crop) : inner;
  let gValue: string | undefined;
  if (mode === 'constant' && ctx.needs(2)) {
    const total = (v: string): string => ctx.b.node('ReduceSum', [v], { keepdims: 0 });
    gValue = ctx.reshape(ctx.op('Sub', total(g), total(inner)), ctx.dims(2));
  }
  return [ctx.needs(0) ? gx : undefined, undefined, gValue];
};
