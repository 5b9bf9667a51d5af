/**
 * The ONNX graph toolkit: an in-memory IR with model I/O (external data included), a builder that appends
 * uniquely named nodes, static shape inference and constant folding under concrete input shapes, and model
 * composition with the preprocessing chains the synthesis stage needs. Pure TypeScript: models are run
 * through `@synood/onnx`, never from here.
 * @packageDocumentation
 */
export { GraphError, GraphErrorCode } from './errors';
export {
  DTYPES,
  DTYPE_INFO,
  HOST_IS_LITTLE_ENDIAN,
  allocData,
  bfloat16BitsToNumber,
  bfloat16ToFloat32,
  cloneGraph,
  describeNode,
  dtypeFromOnnx,
  dtypeToOnnx,
  emptyGraph,
  float16ToFloat32,
  float32ToBfloat16,
  float32ToFloat16,
  getNumber,
  halfBitsToNumber,
  isBigIntDType,
  isFloatDType,
  makeTensor,
  numberToBfloat16Bits,
  numberToHalfBits,
  setElement,
  sizeOf,
  swapBytes,
  tensorBytesLE,
  tensorFromBytesLE,
  tensorToNumbers,
  type Attribute,
  type DType,
  type DataArray,
  type DataArrays,
  type Graph,
  type Model,
  type Node,
  type OpsetImport,
  type TensorData,
  type TensorIn,
  type TensorOf,
  type ValueInfo,
} from './ir';
export {
  consumersOf,
  namesInGraph,
  nodeReads,
  outerReferences,
  producersOf,
  renameValues,
  subgraphsOf,
  topologicalSort,
} from './walk';
export {
  decodeModel,
  encodeModel,
  modelToBytes,
  readModel,
  writeModel,
  type DecodeOptions,
  type EncodeOptions,
  type EncodedModel,
  type ExternalDataLoader,
} from './io';
export {
  DEFAULT_OPSET,
  GraphBuilder,
  attr,
  irVersionForOpset,
  toAttribute,
  type AttributeValue,
  type GraphBuilderOptions,
  type MultiOutputOptions,
  type NodeAttributes,
  type NodeOptions,
  type SingleOutputOptions,
} from './builder';
export {
  SUPPORTED_OPS,
  analyzeGraph,
  inferShapes,
  type GraphAnalysis,
  type InferOptions,
  type ShapeInfo,
} from './shapes';
export { NodeContext } from './context';
export { broadcastShapes } from './shape-utils';
export { countOps, foldConstants, producerOf, pruneUnused, type FoldOptions } from './fold';
export {
  appendClamp01,
  appendResnetPreprocess,
  appendScaleShift,
  composeModels,
  resnetPreprocessGeometry,
  upgradeOpset,
  type AppendOptions,
  type ComposeOptions,
  type ResnetPreprocessOptions,
} from './compose';
export { GRADIENT_OPS, buildGradientGraph, type GradientOptions } from './autodiff/gradient';
export * from './fixtures';
export * from './synthesis';
export { countFlops, type FlopCount } from './flops';
