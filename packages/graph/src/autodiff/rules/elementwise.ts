/**
 * @file Gradients of the broadcasting arithmetic operators (binary and the variadic Sum and Mean), the
 * pointwise activations, and inference-mode Dropout.
 */
import { GraphErrorCode } from '../../errors';
import { tensorToNumbers } from '../../ir';
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

/**
 * The operand x of a SiLU written as x · Sigmoid(x) (0 or 1), or undefined for any other Mul. Both
 * operands and the output must share one shape, so no broadcast reduction is involved.
 */
function siluInput(ctx: GradContext): number | undefined {
  const out = ctx.outDims();
  const same = (i: number): boolean => ctx.dims(i).join() === out.join();
  for (const i of [0, 1]) {
    const s = ctx.producer(1 - i);
    if (
      s?.opType === 'Sigmoid' &&
      (s.domain === '' || s.domain === 'ai.onnx') &&
      s.inputs[0] === ctx.in(i) &&
      ctx.in(0) !== ctx.in(1) &&
      same(0) &&
      same(1)
    ) {
      return i;
    }
  }
  return undefined;
}

/**
 * d(a · b) = (g · b, g · a). For SiLU y = x · s, s = σ(x), the whole derivative through both operands is
 * given to x as g · (s + y · (1 − s)): four elementwise passes where the product rule plus σ' take six
 * (SiLU runs at full resolution in VAE decoders). s then gets nothing from this node, so the Sigmoid's own
 * rule only carries what other consumers of s send, and the sum over paths is unchanged.
 */
export const mulGrad: GradRule = (ctx) => {
  const x = siluInput(ctx);
  if (x !== undefined && ctx.needs(x)) {
    const s = ctx.in(1 - x);
    const slope = ctx.op('Add', s, ctx.op('Mul', ctx.out(), ctx.op('Sub', ctx.scalar(1), s)));
    const grads: (string | undefined)[] = [undefined, undefined];
    grads[x] = ctx.op('Mul', ctx.grad(), slope);
    return grads;
  }
  return binaryGrads(
    ctx,
    () => ctx.op('Mul', ctx.grad(), ctx.in(1)),
    () => ctx.op('Mul', ctx.grad(), ctx.in(0)),
  );
};

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

/**
 * ReLU: g where x > 0, else 0. The mask reads the output y (y > 0 exactly where x > 0), so x keeps the
 * ReLU as its only consumer and onnxruntime can still fuse Conv + ReLU in the forward half.
 */
export const reluGrad: GradRule = (ctx) => [
  ctx.op('Where', ctx.op('Greater', ctx.out(), ctx.scalar(0)), ctx.grad(), ctx.scalar(0)),
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

/** Sum (variadic, broadcasting): d(Σ xᵢ)/dxᵢ = 1, so each input gets g reduced over its broadcast axes. */
export const sumGrad: GradRule = (ctx) => {
  const out = ctx.outDims();
  return ctx.node.inputs.map((_, i) =>
    ctx.needs(i) ? ctx.unbroadcast(ctx.grad(), out, ctx.dims(i)) : undefined,
  );
};

/** Mean of n inputs (variadic, broadcasting): each input gets g / n reduced over its broadcast axes. */
export const meanGrad: GradRule = (ctx) => {
  const out = ctx.outDims();
  let share: string | undefined;
  return ctx.node.inputs.map((_, i) => {
    if (!ctx.needs(i)) {
      return undefined;
    }
    share ??= ctx.op('Div', ctx.grad(), ctx.scalar(ctx.node.inputs.length));
    return ctx.unbroadcast(share, out, ctx.dims(i));
  });
};

/**
 * LeakyRelu (alpha, default 0.01): g where x > 0, else alpha · g (alpha at 0, as torch). With alpha > 0 the
 * mask reads y (y > 0 exactly where x > 0), so x keeps the LeakyRelu as its only consumer, as for ReLU.
 */
export const leakyReluGrad: GradRule = (ctx) => {
  const alpha = ctx.float('alpha', 0.01);
  const g = ctx.grad();
  const pos = ctx.op('Greater', alpha > 0 ? ctx.out() : ctx.in(0), ctx.scalar(0));
  return [ctx.op('Where', pos, g, ctx.op('Mul', g, ctx.scalar(alpha)))];
};

/** Elu (alpha, default 1): y' = 1 for x > 0, else alpha · eˣ = y + alpha. */
export const eluGrad: GradRule = (ctx) => {
  const g = ctx.grad();
  const slope = ctx.op('Add', ctx.out(), ctx.scalar(ctx.float('alpha', 1)));
  return [ctx.op('Where', ctx.op('Greater', ctx.in(0), ctx.scalar(0)), g, ctx.op('Mul', g, slope))];
};

/**
 * HardSigmoid y = max(0, min(1, alpha · x + beta)) (defaults 0.2, 0.5): alpha · g where 0 < y < 1 (the open
 * linear region, read from y), 0 where it saturates.
 */
export const hardSigmoidGrad: GradRule = (ctx) => {
  const y = ctx.out();
  const inside = ctx.op('And', ctx.op('Greater', y, ctx.scalar(0)), ctx.op('Less', y, ctx.scalar(1)));
  const scaled = ctx.op('Mul', ctx.grad(), ctx.scalar(ctx.float('alpha', 0.2)));
  return [ctx.op('Where', inside, scaled, ctx.scalar(0))];
};

/** Softplus y = ln(1 + eˣ): y' = σ(x). */
/** √(2/π), the tanh approximation's scale. */
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
/** The cubic coefficient of the tanh approximation. */
const GELU_CUBIC = 0.044715;

/**
 * Gelu (opset 20). Exact: y = x·Φ(x), y' = Φ(x) + x·φ(x) with Φ(x) = ½(1 + erf(x/√2)) and
 * φ(x) = e^(−x²/2)/√(2π). `approximate="tanh"`: y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³), so
 * y' = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²). Emitted with Erf/Exp/Tanh (opset 13).
 */
export const geluGrad: GradRule = (ctx) => {
  const x = ctx.in(0);
  const x2 = ctx.op('Mul', x, x);
  const mode = ctx.string('approximate', 'none');
  let slope: string;
  if (mode === 'tanh') {
    const u = ctx.op(
      'Mul',
      ctx.op('Add', x, ctx.op('Mul', ctx.op('Mul', x2, x), ctx.scalar(GELU_CUBIC))),
      ctx.scalar(SQRT_2_OVER_PI),
    );
    const t = ctx.op('Tanh', u);
    const half = ctx.op('Mul', ctx.op('Add', t, ctx.scalar(1)), ctx.scalar(0.5));
    const du = ctx.op(
      'Mul',
      ctx.op('Add', ctx.op('Mul', x2, ctx.scalar(3 * GELU_CUBIC)), ctx.scalar(1)),
      ctx.scalar(SQRT_2_OVER_PI),
    );
    const sech2 = ctx.op('Sub', ctx.scalar(1), ctx.op('Mul', t, t));
    slope = ctx.op('Add', half, ctx.op('Mul', ctx.op('Mul', ctx.op('Mul', x, ctx.scalar(0.5)), sech2), du));
  } else if (mode === 'none') {
    const cdf = ctx.op(
      'Mul',
      ctx.op('Add', ctx.op('Erf', ctx.op('Mul', x, ctx.scalar(Math.SQRT1_2))), ctx.scalar(1)),
      ctx.scalar(0.5),
    );
    const pdf = ctx.op(
      'Mul',
      ctx.op('Exp', ctx.op('Mul', x2, ctx.scalar(-0.5))),
      ctx.scalar(1 / Math.sqrt(2 * Math.PI)),
    );
    slope = ctx.op('Add', cdf, ctx.op('Mul', x, pdf));
  } else {
    throw ctx.error(`approximate="${mode}" is not a Gelu mode (none or tanh)`, GraphErrorCode.UnsupportedOp);
  }
  return [ctx.op('Mul', ctx.grad(), slope)];
};

export const softplusGrad: GradRule = (ctx) => [ctx.op('Mul', ctx.grad(), ctx.op('Sigmoid', ctx.in(0)))];

/**
 * Dropout in inference mode is the identity on output 0; the mask (output 1) is boolean and carries no
 * gradient. A `training_mode` input (opset 12 on) must be a known false: training-mode Dropout draws a
 * fresh mask per run, which a gradient graph cannot replay.
 */
export const dropoutGrad: GradRule = (ctx) => {
  if (ctx.has(2)) {
    const mode = ctx.values[2];
    if (mode === undefined) {
      throw ctx.error(
        `training_mode (${ctx.in(2)}) is not a constant, so the gradient cannot assume inference mode`,
        GraphErrorCode.Dynamic,
      );
    }
    if (tensorToNumbers(mode).some((v) => v !== 0)) {
      throw ctx.error('gradient of Dropout in training mode is not supported', GraphErrorCode.UnsupportedOp);
    }
  }
  return [ctx.maybeGrad(0)];
};
