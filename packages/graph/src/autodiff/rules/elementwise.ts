/**
 * @file Gradients of the broadcasting arithmetic operators and the pointwise activations.
 */
import type { GradContext, GradRule } from './context';

function binaryGrads(ctx: GradContext, ga: () => string, gb: () => string): (string | undefined)[] {
  const out = ctx.outDims();
  return [
    ctx.needs(0) ? ctx.unbroadcast(ga(), out, ctx.dims(0)) : undefined,
    ctx.needs(1) ? ctx.unbroadcast(gb(), out, ctx.dims(1)) : undefined,
  ];
}

/** d(a + b) = (g, g), each reduced over its broadcast axes. */
export const addGrad: GradRule = (ctx) =>
  binaryGrads(
    ctx,
    () => ctx.grad(),
    () => ctx.grad(),
  );

/** d(a − b) = (g, −g). */
export const subGrad: GradRule = (ctx) =>
  binaryGrads(
    ctx,
    () => ctx.grad(),
    () => ctx.op('Neg', ctx.grad()),
  );

/** d(a · b) = (g · b, g · a). */
export const mulGrad: GradRule = (ctx) =>
  binaryGrads(
    ctx,
    () => ctx.op('Mul', ctx.grad(), ctx.in(1)),
    () => ctx.op('Mul', ctx.grad(), ctx.in(0)),
  );

/** d(a / b) = (g / b, −g · y / b) with y = a / b, which saves recomputing b². */
export const divGrad: GradRule = (ctx) =>
  binaryGrads(
    ctx,
    () => ctx.op('Div', ctx.grad(), ctx.in(1)),
    () => ctx.op('Neg', ctx.op('Div', ctx.op('Mul', ctx.grad(), ctx.out()), ctx.in(1))),
  );

/** d(−x) = −g. */
export const negGrad: GradRule = (ctx) => [ctx.op('Neg', ctx.grad())];

/** Identity passes the gradient through. */
export const identityGrad: GradRule = (ctx) => [ctx.grad()];

/** ReLU: g where x > 0, else 0. */
export const reluGrad: GradRule = (ctx) => [
  ctx.op('Where', ctx.op('Greater', ctx.in(0), ctx.scalar(0)), ctx.grad(), ctx.scalar(0)),
];

/** σ' = y(1 − y). */
export const sigmoidGrad: GradRule = (ctx) => {
  const y = ctx.out();
  return [ctx.op('Mul', ctx.grad(), ctx.op('Mul', y, ctx.op('Sub', ctx.scalar(1), y)))];
};

/** tanh' = 1 − y². */
export const tanhGrad: GradRule = (ctx) => {
  const y = ctx.out();
  return [ctx.op('Mul', ctx.grad(), ctx.op('Sub', ctx.scalar(1), ctx.op('Mul', y, y)))];
};

/**
 * Clip passes the gradient where min ≤ x ≤ max, bounds included as torch's clamp does; the bounds are
 * inputs from opset 11 on and attributes before.
 */
export const clipGrad: GradRule = (ctx) => {
  const x = ctx.in(0);
  const bound = (i: number, name: string): string | undefined => {
    if (ctx.has(i)) {
      return ctx.in(i);
    }
    const a = ctx.attribute(name);
    return a?.type === 'float' ? ctx.scalar(a.value) : undefined;
  };
  const lo = bound(1, 'min');
  const hi = bound(2, 'max');
  const conds = [
    ...(lo === undefined ? [] : [ctx.op('GreaterOrEqual', x, lo)]),
    ...(hi === undefined ? [] : [ctx.op('LessOrEqual', x, hi)]),
  ];
  if (conds.length === 0) {
    return [ctx.grad()];
  }
  const mask = conds.length === 2 ? ctx.op('And', conds[0]!, conds[1]!) : conds[0]!;
  return [ctx.op('Where', mask, ctx.grad(), ctx.scalar(0))];
};
