/**
 * Stable Diffusion inpainting for SynOOD's near-boundary OOD synthesis (reference §3, design §4):
 * PNDM/PLMS and DDIM schedulers exactly as diffusers computes them, the inpainting prompt, the SD2-style
 * inpainting pipeline over onnxruntime sessions, and the gradient-guided noise refinement. Pure math over
 * typed arrays plus model runs through `@synood/onnx`; no file or network I/O.
 * @packageDocumentation
 */
export { DiffusionError, DiffusionErrorCode } from './errors';
export * from './schedulers';
export {
  CLIP_CONTEXT,
  COMPAT_CAPTION_CHARS,
  INPAINT_PROMPT_PREFIX,
  PROMPT_MODES,
  inpaintPrompt,
  parseElements,
  type InpaintPromptOptions,
  type PromptMode,
} from './prompt';
export {
  DEFAULT_INPAINTING_CONFIG,
  InpaintingPipeline,
  TIMESTEP_LAYOUTS,
  imagesFromUnit,
  type InpaintRequest,
  type InpaintingConfig,
  type InpaintingModels,
  type LatentBatch,
  type PromptEmbeddings,
  type PromptTokenizer,
  type StepListener,
  type TimestepLayout,
} from './pipeline';
export {
  DEFAULT_SYNTHESIS_CONFIG,
  SYNTHESIS_FORMATS,
  SynOodSynthesizer,
  buildGuidanceModel,
  synthesisSeeds,
  type GradientModelNames,
  type GuidanceModelOptions,
  type SynthesisConfig,
  type SynthesisFormat,
  type SynthesisProgress,
  type SynthesisRequest,
  type SynthesisResult,
  type SynthesisSeeds,
  type SynthesisTimings,
} from './synthesis';
export { type TensorMeta, inputsOf, outputsOf } from './session-io';
