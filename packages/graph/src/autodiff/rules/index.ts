/**
 * @file The gradient rule of each supported op type (default domain).
 */
import type { GradRule } from './context';
import { averagePoolGrad, convGrad, convTransposeGrad, globalAveragePoolGrad, maxPoolGrad } from './conv';
import {
  addGrad,
  clipGrad,
  divGrad,
  identityGrad,
  mulGrad,
  negGrad,
  reluGrad,
  sigmoidGrad,
  subGrad,
  tanhGrad,
} from './elementwise';
import { gemmGrad, matMulGrad } from './linear';
import {
  castGrad,
  constantGrad,
  erfGrad,
  expGrad,
  extremumGrad,
  logGrad,
  powGrad,
  sqrtGrad,
  whereGrad,
} from './math';
import { groupNormGrad, instanceNormGrad, layerNormGrad } from './norm';
import {
  batchNormGrad,
  logSoftmaxGrad,
  reduceExtremumGrad,
  reduceLogSumExpGrad,
  reduceMeanGrad,
  reduceSumGrad,
  softmaxGrad,
} from './reduce';
import { resizeGrad } from './resize';
import { concatGrad, expandGrad, gatherGrad, sliceGrad, splitGrad, tileGrad } from './select';
import { reshapeGrad, transposeGrad } from './shape';

/** Gradient rules by op type. */
export const GRAD_RULES: Readonly<Record<string, GradRule>> = {
  Add: addGrad,
  Sub: subGrad,
  Mul: mulGrad,
  Div: divGrad,
  Neg: negGrad,
  Identity: identityGrad,
  Relu: reluGrad,
  Sigmoid: sigmoidGrad,
  Tanh: tanhGrad,
  Clip: clipGrad,
  MatMul: matMulGrad,
  Gemm: gemmGrad,
  Conv: convGrad,
  MaxPool: maxPoolGrad,
  AveragePool: averagePoolGrad,
  GlobalAveragePool: globalAveragePoolGrad,
  BatchNormalization: batchNormGrad,
  Reshape: reshapeGrad,
  Flatten: reshapeGrad,
  Squeeze: reshapeGrad,
  Unsqueeze: reshapeGrad,
  Transpose: transposeGrad,
  ReduceSum: reduceSumGrad,
  ReduceMean: reduceMeanGrad,
  ReduceLogSumExp: reduceLogSumExpGrad,
  Softmax: softmaxGrad,
  LogSoftmax: logSoftmaxGrad,
  Pow: powGrad,
  Sqrt: sqrtGrad,
  Erf: erfGrad,
  Exp: expGrad,
  Log: logGrad,
  Max: extremumGrad,
  Min: extremumGrad,
  Where: whereGrad,
  Cast: castGrad,
  Constant: constantGrad,
  ConvTranspose: convTransposeGrad,
  Concat: concatGrad,
  Split: splitGrad,
  Slice: sliceGrad,
  Gather: gatherGrad,
  Expand: expandGrad,
  Tile: tileGrad,
  ReduceMax: reduceExtremumGrad,
  ReduceMin: reduceExtremumGrad,
  InstanceNormalization: instanceNormGrad,
  GroupNormalization: groupNormGrad,
  LayerNormalization: layerNormGrad,
  Resize: resizeGrad,
};
