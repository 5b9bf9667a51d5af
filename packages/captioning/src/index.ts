/**
 * MLLM captioning, stage 1 of SynOOD (reference §2, design §4): for every in-distribution image, the
 * elements of the scene other than its main object, which become the inpainting prompt
 * `A photo only remain <elements>.`.
 *
 * - The question to the vision-language model ({@link captionQuestion}) and the parser of its answers
 *   ({@link parseElements}), which drops the class name, its WordNet synonyms ({@link WordNetSynonyms})
 *   and plurals.
 * - Inpainting prompts in `compat` mode (the released code: the answer's first 73 characters) or `clean`
 *   mode (parsed elements fitted to 77 CLIP tokens): {@link compatPrompt}, {@link cleanPrompt}.
 * - Backends behind {@link CaptionBackend}: {@link OpenAiBackend} (any OpenAI-compatible chat-completions
 *   endpoint, with timeouts, retries, a concurrency limit and a circuit breaker), {@link ClipTagsBackend}
 *   (zero-shot CLIP tagging against a WordNet vocabulary, the offline default) and {@link LocalBackend}
 *   (a local ONNX export run by `@huggingface/transformers`).
 * - {@link captionShard}: the caption stage's batch interface, one record per image, per-image errors
 *   recorded, a down model server surfaced as one retryable `CAPTION_ERR_UNAVAILABLE`.
 * @packageDocumentation
 */
export * from './errors';
export * from './nouns';
export * from './parse';
export * from './prompt';
export * from './wordnet';
export * from './backend';
export * from './batch';
export { fileFeatureCache } from './feature-cache';
export { CircuitBreaker, type BreakerTicket, type CircuitBreakerOptions } from './backends/breaker';
export { OpenAiBackend, type OpenAiBackendOptions, parseRetryAfter } from './backends/openai';
export {
  ClipTagsBackend,
  type ClipTagsOptions,
  clipImageEmbedder,
  clipTextEmbedder,
  DEFAULT_TAG_TEMPLATE,
  type ImageEmbedder,
  type ImageEmbeddings,
  type TagImageInput,
  type TextEmbedder,
  type TextFeatureCache,
} from './backends/clip-tags';
export {
  checkLocalModelDir,
  createLocalBackend,
  LOCAL_DTYPE_SUFFIXES,
  LOCAL_MODEL_TYPES,
  LocalBackend,
  type LocalBackendOptions,
  type LocalDtype,
  type LocalFamily,
  type LocalModelCheck,
  RECOMMENDED_EXPORTS,
  type TransformersRuntime,
} from './backends/local';
export { mapWithConcurrency } from './pool';
