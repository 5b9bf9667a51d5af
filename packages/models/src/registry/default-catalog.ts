import { type ModelCatalog, type ModelCatalogInput, parseModelCatalog } from './catalog';

/*
 * Provenance of the default catalog (checked against the Hub's published file listings; see
 * docs/models.md for the full notes):
 * - Xenova/clip-vit-base-patch16: `onnx/vision_model.onnx`, `onnx/text_model.onnx` and `tokenizer.json`
 *   are on `main`. The split towers arrived in a later commit than the first upload (b01c87e holds only
 *   the combined `onnx/model.onnx`), and no full hash of that commit was found, so the entry follows
 *   `main` and the lock file pins what the first pull got.
 * - stabilityai/stable-diffusion-2-inpainting publishes PyTorch/safetensors weights only. Community ONNX
 *   conversions exist but are single-user uploads, so the ONNX parts are exported locally with Optimum;
 *   the tokenizer files come from the official repository at commit d497d7c.
 * - torchvision's ResNet50 IMAGENET1K_V2 has no public ONNX export (the ONNX model zoo's
 *   `resnet50-v2-7` is the pre-activation ResNet v2 architecture, not these weights): exported locally.
 * - onnx-community/Florence-2-base-ft at commit a7cbb30: the four fp32 ONNX parts and the processor files.
 * No sha256 of these files was found published in a form tied to these revisions, so every downloadable
 * entry is `unverified` (hashes are never guessed): `synood models pull` records them in the lock file.
 */

const CLIP_REPO = 'hf://Xenova/clip-vit-base-patch16@main';
const SD_TOKENIZER =
  'hf://stabilityai/stable-diffusion-2-inpainting@d497d7cecee8c509187544d93311d87c15664e55';
const FLORENCE = 'hf://onnx-community/Florence-2-base-ft@a7cbb3082bec12e48b43f50ea12f93f4d31182f2';

/** Folder (inside the cache) that `optimum-cli export onnx` writes the SD2-inpainting pipeline into. */
export const SD2_INPAINTING_EXPORT_DIR = 'stable-diffusion-2-inpainting-onnx';
/** Path (inside the cache) of the exported torchvision ResNet50 IMAGENET1K_V2 classifier. */
export const RESNET50_EXPORT_PATH = 'resnet50-imagenet1k-v2/model.onnx';

/** The Optimum command that exports SD2-inpainting to ONNX; `{cache}` is the cache folder. */
export const SD2_INPAINTING_EXPORT_COMMAND =
  'optimum-cli export onnx --model stabilityai/stable-diffusion-2-inpainting --task inpainting ' +
  `{cache}/${SD2_INPAINTING_EXPORT_DIR}/`;

/**
 * The torch.onnx export of torchvision ResNet50 with IMAGENET1K_V2 weights: opset 17, input `input`,
 * output `logits`, dynamic batch axis; `{cache}` is the cache folder. `dynamo=False` (torch ≥ 2.5) keeps the
 * TorchScript exporter, whose standard-op graphs the gradient builder handles.
 */
export const RESNET50_EXPORT_COMMAND =
  `mkdir -p {cache}/resnet50-imagenet1k-v2 && python -c "import torch, torchvision; ` +
  'm = torchvision.models.resnet50(weights=torchvision.models.ResNet50_Weights.IMAGENET1K_V2).eval(); ' +
  `torch.onnx.export(m, torch.randn(1, 3, 224, 224), '{cache}/${RESNET50_EXPORT_PATH}', opset_version=17, ` +
  "input_names=['input'], output_names=['logits'], dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}}, " +
  'dynamo=False)"';

const SD_EXPORT = {
  command: SD2_INPAINTING_EXPORT_COMMAND,
  docs: 'docs/models.md#stable-diffusion-2-inpainting',
};

/** The default catalog as JSON (the format of `--catalog FILE`); a starting point for custom catalogs. */
export const DEFAULT_MODEL_CATALOG_JSON: ModelCatalogInput = {
  version: 1,
  models: [
    {
      role: 'clip.vision',
      description: 'CLIP ViT-B/16 image tower (pixel_values → image_embeds), fp32 ONNX by Xenova',
      unverified: true,
      files: [
        {
          name: 'model',
          source: `${CLIP_REPO}/onnx/vision_model.onnx`,
          path: 'Xenova/clip-vit-base-patch16/onnx/vision_model.onnx',
        },
      ],
    },
    {
      role: 'clip.text',
      description: 'CLIP ViT-B/16 text tower (input_ids → text_embeds), fp32 ONNX by Xenova',
      unverified: true,
      files: [
        {
          name: 'model',
          source: `${CLIP_REPO}/onnx/text_model.onnx`,
          path: 'Xenova/clip-vit-base-patch16/onnx/text_model.onnx',
        },
      ],
    },
    {
      role: 'clip.tokenizer',
      description: 'CLIP BPE tokenizer (77 tokens)',
      unverified: true,
      files: [
        {
          name: 'tokenizer',
          source: `${CLIP_REPO}/tokenizer.json`,
          path: 'Xenova/clip-vit-base-patch16/tokenizer.json',
        },
      ],
    },
    {
      role: 'sd.text_encoder',
      description: 'SD2-inpainting text encoder (OpenCLIP ViT-H), exported with Optimum',
      exportRequired: SD_EXPORT,
      files: [{ name: 'model', path: `${SD2_INPAINTING_EXPORT_DIR}/text_encoder/model.onnx` }],
    },
    {
      role: 'sd.tokenizer',
      description: 'SD2-inpainting CLIP tokenizer, from the official repository',
      unverified: true,
      files: [
        {
          name: 'vocab',
          source: `${SD_TOKENIZER}/tokenizer/vocab.json`,
          path: 'stabilityai/stable-diffusion-2-inpainting/tokenizer/vocab.json',
        },
        {
          name: 'merges',
          source: `${SD_TOKENIZER}/tokenizer/merges.txt`,
          path: 'stabilityai/stable-diffusion-2-inpainting/tokenizer/merges.txt',
        },
      ],
    },
    {
      role: 'sd.vae_encoder',
      description: 'SD2-inpainting VAE encoder, exported with Optimum',
      exportRequired: SD_EXPORT,
      files: [{ name: 'model', path: `${SD2_INPAINTING_EXPORT_DIR}/vae_encoder/model.onnx` }],
    },
    {
      role: 'sd.vae_decoder',
      description: 'SD2-inpainting VAE decoder, exported with Optimum',
      exportRequired: SD_EXPORT,
      files: [{ name: 'model', path: `${SD2_INPAINTING_EXPORT_DIR}/vae_decoder/model.onnx` }],
    },
    {
      role: 'sd.unet',
      description: 'SD2-inpainting 9-channel UNet, exported with Optimum (weights in external data)',
      exportRequired: SD_EXPORT,
      files: [
        { name: 'model', path: `${SD2_INPAINTING_EXPORT_DIR}/unet/model.onnx` },
        { name: 'model_data', path: `${SD2_INPAINTING_EXPORT_DIR}/unet/model.onnx_data` },
      ],
    },
    {
      role: 'classifier',
      description: 'torchvision ResNet50, IMAGENET1K_V2 weights (input → logits), exported with torch.onnx',
      exportRequired: { command: RESNET50_EXPORT_COMMAND, docs: 'docs/models.md#resnet50-imagenet1k_v2' },
      files: [{ name: 'model', path: RESNET50_EXPORT_PATH }],
    },
    {
      role: 'vlm',
      description: 'Florence-2-base-ft (captioning), fp32 ONNX by onnx-community',
      unverified: true,
      files: [
        {
          name: 'vision_encoder',
          source: `${FLORENCE}/onnx/vision_encoder.onnx`,
          path: 'onnx-community/Florence-2-base-ft/onnx/vision_encoder.onnx',
        },
        {
          name: 'embed_tokens',
          source: `${FLORENCE}/onnx/embed_tokens.onnx`,
          path: 'onnx-community/Florence-2-base-ft/onnx/embed_tokens.onnx',
        },
        {
          name: 'encoder',
          source: `${FLORENCE}/onnx/encoder_model.onnx`,
          path: 'onnx-community/Florence-2-base-ft/onnx/encoder_model.onnx',
        },
        {
          name: 'decoder',
          source: `${FLORENCE}/onnx/decoder_model_merged.onnx`,
          path: 'onnx-community/Florence-2-base-ft/onnx/decoder_model_merged.onnx',
        },
        {
          name: 'tokenizer',
          source: `${FLORENCE}/tokenizer.json`,
          path: 'onnx-community/Florence-2-base-ft/tokenizer.json',
        },
        {
          name: 'tokenizer_config',
          source: `${FLORENCE}/tokenizer_config.json`,
          path: 'onnx-community/Florence-2-base-ft/tokenizer_config.json',
        },
        {
          name: 'config',
          source: `${FLORENCE}/config.json`,
          path: 'onnx-community/Florence-2-base-ft/config.json',
        },
        {
          name: 'generation_config',
          source: `${FLORENCE}/generation_config.json`,
          path: 'onnx-community/Florence-2-base-ft/generation_config.json',
        },
        {
          name: 'preprocessor_config',
          source: `${FLORENCE}/preprocessor_config.json`,
          path: 'onnx-community/Florence-2-base-ft/preprocessor_config.json',
        },
      ],
    },
  ],
};

/** The built-in catalog: every role of the method, with real public sources or export instructions. */
export const DEFAULT_MODEL_CATALOG: ModelCatalog = parseModelCatalog(
  DEFAULT_MODEL_CATALOG_JSON,
  'default catalog',
);
