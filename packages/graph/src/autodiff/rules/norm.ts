/**
 * @file Gradients of InstanceNormalization, GroupNormalization and LayerNormalization with respect to X.
 * All three normalise x over some axes, x̂ = (x − μ)/σ with σ = √(var + ε), then scale and shift; with
 * dx̂ = g·γ the input gradient is dx = (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) / σ over the normalised axes
 * (design §5). μ and σ are recomputed from x in the backward graph; a constant scale of ones (the
 * InstanceNormalization inside an exported GroupNorm) is not multiplied.
 */
import { GraphErrorCode } from '../../errors';
import { sizeOf, tensorToNumbers } from '../../ir';
import type { GradContext, GradRule } from './context';

/**
 * dx from dx̂ for x normalised over `axes` (x, dx̂ and the result share `dims`). With c = x − μ and
 * a = 1/σ (per normalised group), x̂ = a·c and the design's formula expands to
 * dx = a·dx̂ − a·mean(dx̂) − a³·mean(dx̂·c)·c: five full-size elementwise passes after c where the
 * literal form takes seven, and no x̂ (these passes, not the reductions, dominate at decoder resolutions).
 */
function normBackward(
  ctx: GradContext,
  x: string,
  dims: readonly number[],
  axes: readonly number[],
  dxHat: string,
  eps: number,
): string {
  const count = ctx.scalar(sizeOf(axes.map((a) => dims[a]!)));
  const mean = (v: string): string => ctx.op('Div', ctx.sumKeep(v, axes), count);
  const centred = ctx.op('Sub', x, mean(x));
  // ReduceSumSquare takes its axes as an input from opset 18 on, as an attribute before.
  const sumSquares =
    ctx.opset >= 18
      ? ctx.b.node('ReduceSumSquare', [centred, ctx.b.int64s(axes, 'axes')], { keepdims: 1 })
      : ctx.b.node('ReduceSumSquare', [centred], { axes: [...axes], keepdims: 1 });
  const variance = ctx.op('Div', sumSquares, count);
  const invStd = ctx.op('Reciprocal', ctx.op('Sqrt', ctx.op('Add', variance, ctx.scalar(eps))));
  const shift = ctx.op('Neg', ctx.op('Mul', invStd, mean(dxHat)));
  const invStd3 = ctx.op('Mul', invStd, ctx.op('Mul', invStd, invStd));
  const slope = ctx.op('Neg', ctx.op('Mul', invStd3, mean(ctx.op('Mul', dxHat, centred))));
  // Two Adds rather than one three-input Sum: onnxruntime's broadcasting Sum runs on one thread.
  return ctx.op('Add', ctx.op('Add', ctx.op('Mul', dxHat, invStd), ctx.op('Mul', centred, slope)), shift);
}

/** Whether input `i` is a constant whose every element is 1 (a scale that needs no multiply). */
function isOnes(ctx: GradContext, i: number): boolean {
  const v = ctx.values[i];
  return v !== undefined && tensorToNumbers(v).every((e) => e === 1);
}

function onlyX(ctx: GradContext, params: string): void {
  if (ctx.node.inputs.some((_, i) => i > 0 && ctx.needs(i))) {
    throw ctx.error(
      `gradients with respect to ${ctx.node.opType} ${params} are not supported`,
      GraphErrorCode.UnsupportedOp,
    );
  }
}

/** A per-channel vector reshaped to broadcast over [N, C, spatial…] of rank `rank`. */
function perChannel(ctx: GradContext, v: string, rank: number): string {
  return ctx.reshape(v, [-1, ...new Array<number>(rank - 2).fill(1)]);
}

/** InstanceNormalization: per (n, c) over the spatial axes, γ per channel. */
export const instanceNormGrad: GradRule = (ctx) => {
  onlyX(ctx, 'scale or bias');
  const x = ctx.dims(0);
  const rank = x.length;
  const dxHat = isOnes(ctx, 1) ? ctx.grad() : ctx.op('Mul', ctx.grad(), perChannel(ctx, ctx.in(1), rank));
  const axes = x.slice(2).map((_, i) => i + 2);
  return [normBackward(ctx, ctx.in(0), x, axes, dxHat, ctx.float('epsilon', 1e-5))];
};

/**
 * GroupNormalization: x viewed as [N, G, C/G·spatial] and normalised over the last axis. γ is per group
 * before opset 21 (applied in that view) and per channel from 21 (applied before it), as onnxruntime
 * runs each opset.
 */
export const groupNormGrad: GradRule = (ctx) => {
  onlyX(ctx, 'scale or bias');
  const x = ctx.dims(0);
  const rank = x.length;
  const groups = ctx.int('num_groups', Number.NaN);
  const channels = x[1]!;
  const perChannelScale = ctx.opset >= 21;
  const expected = perChannelScale ? channels : groups;
  const scaleDims = ctx.dims(1);
  if (scaleDims.length !== 1 || scaleDims[0] !== expected) {
    throw ctx.error(
      `scale [${scaleDims.join(', ')}] should be [${expected}] at opset ${ctx.opset} (per ${perChannelScale ? 'channel from opset 21' : 'group before opset 21'})`,
    );
  }
  const view = [x[0]!, groups, sizeOf(x.slice(1)) / groups];
  const dxHat = isOnes(ctx, 1)
    ? ctx.reshape(ctx.grad(), view)
    : perChannelScale
      ? ctx.reshape(ctx.op('Mul', ctx.grad(), perChannel(ctx, ctx.in(1), rank)), view)
      : ctx.op('Mul', ctx.reshape(ctx.grad(), view), ctx.reshape(ctx.in(1), [groups, 1]));
  const dx = normBackward(ctx, ctx.reshape(ctx.in(0), view), view, [2], dxHat, ctx.float('epsilon', 1e-5));
  return [ctx.reshape(dx, x)];
};

/**
 * LayerNormalization (opset 17): normalised over axes [axis, rank), γ broadcast over them. Only output
 * Y is differentiated; Mean and InvStdDev are statistics no loss should depend on.
 */
export const layerNormGrad: GradRule = (ctx) => {
  onlyX(ctx, 'Scale or B');
  if (ctx.maybeGrad(1) !== undefined || ctx.maybeGrad(2) !== undefined) {
    throw ctx.error(
      'gradients through the Mean or InvStdDev outputs of LayerNormalization are not supported',
      GraphErrorCode.UnsupportedOp,
    );
  }
  const x = ctx.dims(0);
  const axis = ctx.axis(ctx.int('axis', -1), x.length);
  const axes = x.slice(axis).map((_, i) => i + axis);
  const dxHat = isOnes(ctx, 1) ? ctx.grad() : ctx.op('Mul', ctx.grad(), ctx.in(1));
  return [normBackward(ctx, ctx.in(0), x, axes, dxHat, ctx.float('epsilon', 1e-5))];
};
