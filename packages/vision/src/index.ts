/**
 * Image decode, resize, crop, normalise and encode for the vision models: sharp (libvips) reads and
 * writes files; resizing, cropping and normalisation are plain TypeScript with the interpolation stated
 * exactly (Pillow's antialiased resize, or torch's `antialias=False`). No model inference here.
 * @packageDocumentation
 */
export { VisionError, VisionErrorCode } from './errors';
export { checkImage, type RgbImage } from './image';
export {
  ALPHA_MODES,
  type AlphaMode,
  DECODABLE_FORMATS,
  type DecodedImage,
  decodeImage,
  type DecodeOptions,
  FAIL_ON_LEVELS,
  type FailOnLevel,
  type ImageFormat,
} from './decode';
export {
  RESIZE_KERNELS,
  resizeExact,
  type ResizeKernel,
  type ResizeOptions,
  resizeShortSide,
  shortSideSize,
} from './resize';
export { centerCrop, centerCropOffsets } from './crop';
export { type NchwTensor, type Rgb3, toNchwFloat32 } from './tensor';
export {
  applyPreset,
  type BatchOptions,
  CLIP_PRESET,
  type DecodeFailure,
  type EncodedImage,
  type PreprocessedBatch,
  preprocess,
  preprocessBatch,
  type PreprocessPreset,
  RESNET_PRESET,
} from './preset';
export { encodeJpeg, encodePng } from './encode';
export { type InformationRichness, informationRichnessOf } from './richness';
