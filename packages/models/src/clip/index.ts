/**
 * CLIP adapters: the BPE tokenizer over a Hugging Face `tokenizer.json`, and the image and text towers over
 * onnxruntime sessions (`pixel_values → image_embeds`, `input_ids → text_embeds`), batched, returning raw
 * and L2-normalised features.
 */
export { ClipError, ClipErrorCode } from './errors';
export {
  CLIP_CONTEXT_LENGTH,
  CLIP_END_TOKEN,
  CLIP_START_TOKEN,
  type ClipEncodeOptions,
  ClipTokenizer,
  type ClipTokenizerOptions,
  type ClipTokens,
  cleanClipText,
} from './tokenizer';
export { type ClipFeatures, describeSessionIo } from './session-io';
export {
  type ClipImageEncoderOptions,
  type ClipImageFailure,
  type ClipImageFeatures,
  type ClipImageInput,
  ClipImageEncoder,
  type EncodeImagesOptions,
} from './image-encoder';
export {
  type ClipTextEncoderOptions,
  type ClipTextFeatures,
  ClipTextEncoder,
  type EncodeTextsOptions,
} from './text-encoder';
export { type ClipLetterVocabIds, clipLetterVocab, clipTokenizerJson } from './tokenizer-json';
