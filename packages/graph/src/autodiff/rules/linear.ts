/**
 * @file Gradients of MatMul (2-D and batched, with batch broadcasting) and Gemm.
 */
import { GraphErrorCode } from '../../errors';
import type { GradContext, GradRule } from './context';

function swapLast(ctx: GradContext, v: string, rank: number): string {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 1] = rank - 2;
  perm[rank - 2] = rank - 1;
  return ctx.b.node('Transpose', [v], { perm });
}

/**
 * Y = A·B: dA = g·Bᵀ and dB = Aᵀ·g, each summed over the batch dims its operand was broadcast along.
 */
export const matMulGrad: GradRule = (ctx) => {
  const a = ctx.dims(0);
  const bd = ctx.dims(1);
  if (a.length < 2 || bd.length < 2) {
    throw ctx.error(
      'gradient of a MatMul with a 1-D operand is not supported; reshape it to 2-D',
      GraphErrorCode.UnsupportedOp,
    );
  }
  const g = ctx.grad();
  const out = ctx.outDims();
  const gA = ctx.needs(0) ? ctx.op('MatMul', g, swapLast(ctx, ctx.in(1), bd.length)) : undefined;
  const gB = ctx.needs(1) ? ctx.op('MatMul', swapLast(ctx, ctx.in(0), a.length), g) : undefined;
  // The products carry the broadcast batch dims of Y and the operand's own matrix dims.
  const withMatrix = (dims: number[]): number[] => [...out.slice(0, -2), ...dims.slice(-2)];
  return [
    gA === undefined ? undefined : ctx.unbroadcast(gA, withMatrix(a), a),
    gB === undefined ? undefined : ctx.unbroadcast(gB, withMatrix(bd), bd),
  ];
};

/**
 * Y = α·A'·B' + β·C with A' = transA ? Aᵀ : A (likewise B'). Each operand gradient is one Gemm:
 * dA = α·g·B'ᵀ (transposed back when transA), dB = α·A'ᵀ·g (likewise), dC = β·g reduced to C's shape.
 */
export const gemmGrad: GradRule = (ctx) => {
  const alpha = ctx.float('alpha', 1);
  const beta = ctx.float('beta', 1);
  const transA = ctx.int('transA', 0) !== 0;
  const transB = ctx.int('transB', 0) !== 0;
  const g = ctx.grad();
  const a = ctx.in(0);
  const b = ctx.in(1);
  const gemm = (x: string, y: string, tA: boolean, tB: boolean): string =>
    ctx.b.node('Gemm', [x, y], { alpha, transA: tA ? 1 : 0, transB: tB ? 1 : 0 });
  const gA = ctx.needs(0) ? (transA ? gemm(b, g, transB, true) : gemm(g, b, false, !transB)) : undefined;
  const gB = ctx.needs(1) ? (transB ? gemm(g, a, true, transA) : gemm(a, g, !transA, false)) : undefined;
  let gC: string | undefined;
  if (ctx.has(2) && ctx.needs(2)) {
    const scaled = beta === 1 ? g : ctx.op('Mul', g, ctx.scalar(beta));
    gC = ctx.unbroadcast(scaled, ctx.outDims(), ctx.dims(2));
  }
  return [gA, gB, gC];
};
