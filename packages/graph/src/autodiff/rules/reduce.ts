/**
 * @file Gradients of the reductions (sum, mean, max/min, log-sum-exp, sum of squares, L1 and L2 norms),
 * Softmax and LogSoftmax, and BatchNormalization in inference mode.
 */
import { GraphErrorCode } from '../../errors';
import { axesFrom, normaliseAxes } from '../../op-params';
import { dtypeToOnnx, sizeOf } from '../../ir';
import type { GradContext, GradRule } from './context';

/** The reduced axes of a Reduce* node (attribute or input 1), normalised; all axes when none are given. */
function reducedAxes(ctx: GradContext): number[] {
  const rank = ctx.dims(0).length;
  const axes = axesFrom(ctx, 1);
  if (axes === undefined || axes.length === 0) {
    // noop_with_empty_axes = 1 with no axes is an identity.
    return ctx.int('noop_with_empty_axes', 0) !== 0 ? [] : Array.from({ length: rank }, (_, i) => i);
  }
  return normaliseAxes(ctx, axes, rank);
}

/** Dims of the reduction's result with keepdims = 1. */
function keptDims(ctx: GradContext, axes: readonly number[]): number[] {
  return ctx.dims(0).map((d, i) => (axes.includes(i) ? 1 : d));
}

/** A reduction's output (or its gradient) reshaped to keepdims form and expanded over the input. */
function spread(ctx: GradContext, v: string, axes: readonly number[]): string {
  const kept = ctx.reshape(v, keptDims(ctx, axes));
  return ctx.b.node('Expand', [kept, ctx.b.int64s(ctx.dims(0), 'shape')]);
}

/** ReduceSum: the gradient spread over the reduced axes. */
export const reduceSumGrad: GradRule = (ctx) => [spread(ctx, ctx.grad(), reducedAxes(ctx))];

/** ReduceMean: the gradient spread over the reduced axes, divided by their element count. */
export const reduceMeanGrad: GradRule = (ctx) => {
  const axes = reducedAxes(ctx);
  const count = sizeOf(axes.map((a) => ctx.dims(0)[a]!));
  return [ctx.op('Div', spread(ctx, ctx.grad(), axes), ctx.scalar(count))];
};

/** ReduceLogSumExp: softmax over the reduced axes times g, i.e. exp(x − y)·g. */
export const reduceLogSumExpGrad: GradRule = (ctx) => {
  const axes = reducedAxes(ctx);
  const prob = ctx.op('Exp', ctx.op('Sub', ctx.in(0), spread(ctx, ctx.out(), axes)));
  return [ctx.op('Mul', prob, spread(ctx, ctx.grad(), axes))];
};

/**
 * ReduceSumSquare y = Σ x²: dx = 2x · g spread over the reduced axes (the 2 applied to the smaller g). With
 * noop_with_empty_axes onnxruntime returns x², whose derivative is the same formula over no axes.
 */
export const reduceSumSquareGrad: GradRule = (ctx) => {
  const axes = reducedAxes(ctx);
  return [ctx.op('Mul', spread(ctx, ctx.op('Mul', ctx.grad(), ctx.scalar(2)), axes), ctx.in(0))];
};

/** ReduceL1 y = Σ |x|: dx = sign(x) · g spread over the reduced axes (0 at x = 0). */
export const reduceL1Grad: GradRule = (ctx) => {
  const axes = reducedAxes(ctx);
  return [ctx.op('Mul', spread(ctx, ctx.grad(), axes), ctx.op('Sign', ctx.in(0)))];
};

/**
 * ReduceL2 y = √(Σ x²): dx = x · g / y spread over the reduced axes. Where y = 0 (an all-zero slice) the
 * factor is 0 rather than NaN, the subgradient torch's norm takes; g / y is formed at the reduced size.
 */
export const reduceL2Grad: GradRule = (ctx) => {
  const axes = reducedAxes(ctx);
  const y = ctx.out();
  const zero = ctx.scalar(0);
  const scale = ctx.op('Where', ctx.op('Equal', y, zero), zero, ctx.op('Div', ctx.grad(), y));
  return [ctx.op('Mul', spread(ctx, scale, axes), ctx.in(0))];
};

/**
 * ReduceMax and ReduceMin: g goes to the positions that attain the extremum. Ties split g evenly among
 * the tied positions (torch's amax/amin convention), so the gradient still sums to g.
 */
export const reduceExtremumGrad: GradRule = (ctx) => {
  const axes = reducedAxes(ctx);
  if (axes.length === 0) {
    return [ctx.grad()];
  }
  const hits = ctx.op('Equal', ctx.in(0), spread(ctx, ctx.out(), axes));
  const mask = ctx.b.node('Cast', [hits], { to: dtypeToOnnx(ctx.dtype) });
  const share = ctx.op('Div', spread(ctx, ctx.grad(), axes), ctx.sumKeep(mask, axes));
  return [ctx.op('Mul', mask, share)];
};

function softmaxAxis(ctx: GradContext): number {
  const rank = ctx.dims(0).length;
  return ctx.axis(ctx.int('axis', ctx.opset >= 13 ? -1 : 1), rank);
}

function sumKeep(ctx: GradContext, v: string, axis: number): string {
  return ctx.b.node('ReduceSum', [v, ctx.b.int64s([axis], 'axes')], { keepdims: 1 });
}

/** Softmax: y ⊙ (g − Σ g ⊙ y) over the softmax axis (opset ≥ 13, one axis). */
export const softmaxGrad: GradRule = (ctx) => {
  const axis = softmaxAxis(ctx);
  const y = ctx.out();
  const g = ctx.grad();
  return [ctx.op('Mul', y, ctx.op('Sub', g, sumKeep(ctx, ctx.op('Mul', g, y), axis)))];
};

/** LogSoftmax: g − softmax(x) · Σ g, with softmax(x) = exp(y). */
export const logSoftmaxGrad: GradRule = (ctx) => {
  const axis = softmaxAxis(ctx);
  const g = ctx.grad();
  return [ctx.op('Sub', g, ctx.op('Mul', ctx.op('Exp', ctx.out()), sumKeep(ctx, g, axis)))];
};

/**
 * BatchNormalization in inference mode: g · scale / √(var + ε), the factor broadcast over the channel
 * axis.
 */
export const batchNormGrad: GradRule = (ctx) => {
  if (ctx.int('training_mode', 0) !== 0) {
    throw ctx.error(
      'gradient of BatchNormalization in training mode is not supported',
      GraphErrorCode.UnsupportedOp,
    );
  }
  if ([1, 2, 3, 4].some((i) => ctx.needs(i))) {
    throw ctx.error(
      'gradients with respect to BatchNormalization parameters are not supported',
      GraphErrorCode.UnsupportedOp,
    );
  }
  const eps = ctx.float('epsilon', 1e-5);
  const factor = ctx.op('Div', ctx.in(1), ctx.op('Sqrt', ctx.op('Add', ctx.in(4), ctx.scalar(eps))));
  const rank = ctx.dims(0).length;
  const shaped = ctx.reshape(factor, [-1, ...Array<number>(rank - 2).fill(1)]);
  return [ctx.op('Mul', ctx.grad(), shaped)];
};
