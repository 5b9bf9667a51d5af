/**
 * @file The gradient rule of each supported op type (default domain).
 */
import type { GradRule } from './context';
import { averagePoolGrad, convGrad, globalAveragePoolGrad, maxPoolGrad } from './conv';
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
  batchNormGrad,
  logSoftmaxGrad,
  reduceLogSumExpGrad,
  reduceMeanGrad,
  reduceSumGrad,
  softmaxGrad,
} from './reduce';
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
};
