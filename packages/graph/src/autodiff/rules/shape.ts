/**
 * @file Gradients of the operators that only move elements: the gradient of a reshape-like operator is
 * the reshape back to the input's dims, of a Transpose the inverse permutation.
 */
import type { GradRule } from './context';

/** Reshape, Flatten, Squeeze and Unsqueeze: reshape the gradient back to the input's dims. */
export const reshapeGrad: GradRule = (ctx) => [ctx.reshape(ctx.grad(), ctx.dims(0))];

/** Transpose: transpose the gradient by the inverse permutation. */
export const transposeGrad: GradRule = (ctx) => {
  const rank = ctx.dims(0).length;
  const perm = ctx.ints('perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  const inverse = new Array<number>(rank);
  perm.forEach((p, i) => {
    inverse[p] = i;
  });
  return [ctx.b.node('Transpose', [ctx.grad()], { perm: inverse })];
};
