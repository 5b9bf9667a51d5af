/**
 * @file Gradients of the pointwise math operators (Pow, Sqrt, Erf, Exp, Log, Abs, Reciprocal, Sin, Cos),
 * the selections Max, Min and Where, Cast, and Constant.
 */
import { dtypeToOnnx, tensorToNumbers } from '../../ir';
import type { GradContext, GradRule } from './context';

/** The factor ∂(aᵇ)/∂a = b·a^(b−1), with the exponent folded into constants when it is known. */
function powBaseFactor(ctx: GradContext): string | undefined {
  const a = ctx.in(0);
  const known = ctx.values[1];
  if (known !== undefined) {
    const exps = tensorToNumbers(known);
    const e = exps[0];
    if (e !== undefined && exps.every((v) => v === e)) {
      if (e === 0) {
        // 0·a^(−1) would be NaN at a = 0; the derivative of a constant 1 is 0 everywhere.
        return undefined;
      }
      if (e === 1) {
        return ctx.scalar(1);
      }
      if (e === 2) {
        return ctx.op('Mul', a, ctx.scalar(2));
      }
      return ctx.op('Mul', ctx.op('Pow', a, ctx.scalar(e - 1)), ctx.scalar(e));
    }
    const dims = known.dims;
    return ctx.op(
      'Mul',
      ctx.op(
        'Pow',
        a,
        ctx.constant(
          dims,
          exps.map((v) => v - 1),
        ),
      ),
      ctx.constant(dims, exps),
    );
  }
  // The exponent may have another type than the base (Pow's T1); the formula needs the base's.
  const b =
    ctx.input(1).dtype === ctx.dtype
      ? ctx.in(1)
      : ctx.b.node('Cast', [ctx.in(1)], { to: dtypeToOnnx(ctx.dtype) });
  return ctx.op('Mul', b, ctx.op('Pow', a, ctx.op('Sub', b, ctx.scalar(1))));
}

/**
 * y = aᵇ: da = g·b·a^(b−1) (a constant exponent is folded, 0 gives a zero gradient) and
 * db = g·y·ln a, each reduced over its broadcast axes. db is NaN where a ≤ 0, as the derivative is.
 */
export const powGrad: GradRule = (ctx) => {
  const out = ctx.outDims();
  const g = ctx.grad();
  let gA: string | undefined;
  if (ctx.needs(0)) {
    const factor = powBaseFactor(ctx);
    gA = ctx.unbroadcast(ctx.op('Mul', g, factor ?? ctx.scalar(0)), out, ctx.dims(0));
  }
  let gB: string | undefined;
  if (ctx.needs(1)) {
    const full = ctx.op('Mul', g, ctx.op('Mul', ctx.out(), ctx.op('Log', ctx.in(0))));
    gB = ctx.unbroadcast(full, out, ctx.dims(1));
    const type = ctx.input(1).dtype;
    if (type !== ctx.dtype) {
      gB = ctx.b.node('Cast', [gB], { to: dtypeToOnnx(type) });
    }
  }
  return [gA, gB];
};

/** √x' = 1 / (2y). */
export const sqrtGrad: GradRule = (ctx) => [
  ctx.op('Div', ctx.grad(), ctx.op('Mul', ctx.out(), ctx.scalar(2))),
];

/** erf' = 2/√π · e^(−x²). */
export const erfGrad: GradRule = (ctx) => {
  const x = ctx.in(0);
  const bell = ctx.op('Exp', ctx.op('Neg', ctx.op('Mul', x, x)));
  return [ctx.op('Mul', ctx.grad(), ctx.op('Mul', bell, ctx.scalar(2 / Math.sqrt(Math.PI))))];
};

/** exp' = y. */
export const expGrad: GradRule = (ctx) => [ctx.op('Mul', ctx.grad(), ctx.out())];

/** log' = 1 / x. */
export const logGrad: GradRule = (ctx) => [ctx.op('Div', ctx.grad(), ctx.in(0))];

/** |x|' = sign(x), 0 at x = 0 (the subgradient torch also takes). */
export const absGrad: GradRule = (ctx) => [ctx.op('Mul', ctx.grad(), ctx.op('Sign', ctx.in(0)))];

/** (1/x)' = −1/x² = −y², read from the output y = 1/x. */
export const reciprocalGrad: GradRule = (ctx) => {
  const y = ctx.out();
  return [ctx.op('Neg', ctx.op('Mul', ctx.grad(), ctx.op('Mul', y, y)))];
};

/** sin' = cos x. */
export const sinGrad: GradRule = (ctx) => [ctx.op('Mul', ctx.grad(), ctx.op('Cos', ctx.in(0)))];

/** cos' = −sin x. */
export const cosGrad: GradRule = (ctx) => [
  ctx.op('Neg', ctx.op('Mul', ctx.grad(), ctx.op('Sin', ctx.in(0)))),
];

/**
 * Max and Min (variadic, broadcasting): each input gets g where it equals the result. Ties split the
 * gradient evenly between the tied inputs (the subgradient torch's maximum/minimum also use), so the
 * gradients always sum to g.
 */
export const extremumGrad: GradRule = (ctx) => {
  const y = ctx.out();
  const out = ctx.outDims();
  const masks = ctx.node.inputs.map((n) =>
    ctx.b.node('Cast', [ctx.op('Equal', n, y)], { to: dtypeToOnnx(ctx.dtype) }),
  );
  const count = masks.reduce((acc, m) => ctx.op('Add', acc, m));
  const share = ctx.op('Div', ctx.grad(), count);
  return masks.map((m, i) =>
    ctx.needs(i) ? ctx.unbroadcast(ctx.op('Mul', share, m), out, ctx.dims(i)) : undefined,
  );
};

/** Where: X gets g where the condition holds, Y where it does not, each reduced over its broadcast axes. */
export const whereGrad: GradRule = (ctx) => {
  const out = ctx.outDims();
  const zero = ctx.scalar(0, ctx.outputShapes[0]!.dtype);
  const cond = ctx.in(0);
  const g = ctx.grad();
  return [
    undefined,
    ctx.needs(1) ? ctx.unbroadcast(ctx.op('Where', cond, g, zero), out, ctx.dims(1)) : undefined,
    ctx.needs(2) ? ctx.unbroadcast(ctx.op('Where', cond, zero, g), out, ctx.dims(2)) : undefined,
  ];
};

/** Cast between float types: the gradient cast back to the input's type (non-float inputs get none). */
export const castGrad: GradRule = (ctx) => [
  ctx.b.node('Cast', [ctx.grad()], { to: dtypeToOnnx(ctx.input(0).dtype) }),
];

/** Constant has no inputs, so nothing flows back. */
export const constantGrad: GradRule = () => [];
