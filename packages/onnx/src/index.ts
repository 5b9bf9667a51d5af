/**
 * The only importer of onnxruntime-node in the monorepo: session creation (CPU or CUDA), input checks,
 * in-memory ONNX model building, and the onnxruntime-backed `LinalgBackend` of `@synood/tensor`. Other
 * packages use onnxruntime through these exports, including the re-exported `Tensor` and
 * `InferenceSession` type. Platform constraints (CPU-only npm binaries, CUDA installed separately, the
 * jest realm issue) are documented in `session.ts`.
 * @packageDocumentation
 */
export { Tensor, type InferenceSession } from 'onnxruntime-node';

export { OnnxError, OnnxErrorCode, OnnxInputError, type InputProblem, type TensorSignature } from './errors';
export {
  CUDA_INSTALL_COMMAND,
  createSession,
  describeFeeds,
  describeTensor,
  releaseSession,
  runSession,
  sessionOptions,
  validateInputs,
  type ExecutionProvider,
  type GraphOptimizationLevel,
  type SessionConfig,
} from './session';
export {
  buildModel,
  floatAttr,
  intAttr,
  intsAttr,
  IR_VERSION,
  OPSET_VERSION,
  type AttributeSpec,
  type ElementType,
  type GraphSpec,
  type InitializerSpec,
  type NodeSpec,
  type ValueSpec,
} from './model-builder';
export { OrtLinalgBackend } from './linalg-backend';
export {
  adaptFloatFeeds,
  asFloat32,
  fromFloat16Bits,
  runBatched,
  toFloat16Bits,
  type RunBatchedOptions,
} from './batching';
