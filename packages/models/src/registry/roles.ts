/**
 * The roles a model file can play in a run. Consumers ask the registry for a role, never for a repository
 * or a file name, so a custom catalog can swap the model behind a role without touching code.
 */
export const MODEL_ROLES = [
  /** CLIP image tower: `pixel_values` → `image_embeds` (stages 3, 6, 7, 9). */
  'clip.vision',
  /** CLIP text tower: `input_ids` → `text_embeds` (stage 4, InD prompts). */
  'clip.text',
  /** CLIP BPE tokenizer (`tokenizer.json`). */
  'clip.tokenizer',
  /** Stable Diffusion 2 inpainting text encoder (OpenCLIP ViT-H). */
  'sd.text_encoder',
  /** Stable Diffusion 2 inpainting tokenizer (CLIP BPE `vocab.json` + `merges.txt`). */
  'sd.tokenizer',
  /** Stable Diffusion 2 inpainting VAE encoder. */
  'sd.vae_encoder',
  /** Stable Diffusion 2 inpainting VAE decoder (also differentiated for the synthesis gradient). */
  'sd.vae_decoder',
  /** Stable Diffusion 2 inpainting 9-channel UNet. */
  'sd.unet',
  /** The OOD scorer of synthesis: torchvision ResNet50, ImageNet-1k V2 weights. */
  'classifier',
  /** The vision-language model that lists contextual elements (stage 1). */
  'vlm',
] as const;

/** One of {@link MODEL_ROLES}. */
export type ModelRole = (typeof MODEL_ROLES)[number];

/** Whether `value` names a known role. */
export function isModelRole(value: string): value is ModelRole {
  return (MODEL_ROLES as readonly string[]).includes(value);
}
