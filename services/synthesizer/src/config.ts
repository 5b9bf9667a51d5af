/**
 * The synthesizer's configuration: the shared worker settings (see `@synood/service-kit`) and its own variables,
 * parsed once at startup. The synthesis settings themselves (steps, strength, guidance, iterations, loss,
 * size, …) come from each run's spec.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `SYNOOD_SD_TEXT_ENCODER`, `SYNOOD_SD_VAE_ENCODER`, `SYNOOD_SD_VAE_DECODER`, `SYNOOD_SD_UNET` | catalog `sd.*` | SD 2 inpainting ONNX parts |
 * | `SYNOOD_SD_TOKENIZER` | catalog `sd.tokenizer` | a `tokenizer.json`, or the folder of `vocab.json` + `merges.txt` |
 * | `SYNOOD_CLASSIFIER_MODEL` | catalog `classifier` | the OOD scorer of the guidance (ResNet50) |
 * | `SYNOOD_VAE_SCALE_FACTOR` | 8 | image side ÷ latent side of the VAE (SD: 8) |
 * | `SYNOOD_SYNTHESIZE_CONCURRENCY` | stage table (1) | synthesize jobs at once |
 */
import { type Env, envVar, processEnv } from '@synood/config';
import { z } from 'zod';

import { type WorkerRuntimeConfig, parseServiceEnv } from '@synood/service-kit';

/** The synthesizer's own variables. */
export const synthesizerEnvShape = {
  SYNOOD_SD_TEXT_ENCODER: z.string().min(1).optional(),
  SYNOOD_SD_TOKENIZER: z.string().min(1).optional(),
  SYNOOD_SD_VAE_ENCODER: z.string().min(1).optional(),
  SYNOOD_SD_VAE_DECODER: z.string().min(1).optional(),
  SYNOOD_SD_UNET: z.string().min(1).optional(),
  SYNOOD_CLASSIFIER_MODEL: z.string().min(1).optional(),
  SYNOOD_VAE_SCALE_FACTOR: envVar.int(1, 64).default(8),
  SYNOOD_SYNTHESIZE_CONCURRENCY: envVar.int(1, 64).optional(),
};

/** The synthesizer's settings. */
export interface SynthesizerConfig {
  runtime: WorkerRuntimeConfig;
  /** Explicit model paths; absent ones come from the catalog and the model cache. */
  models: {
    textEncoder?: string;
    tokenizer?: string;
    vaeEncoder?: string;
    vaeDecoder?: string;
    unet?: string;
    classifier?: string;
  };
  /** Image side ÷ latent side. */
  vaeScaleFactor: number;
  concurrency?: number;
}

/**
 * Parses the synthesizer's configuration from `env`.
 *
 * @throws ConfigError (`CONFIG_ERR_INVALID`) listing every bad variable.
 */
export function loadSynthesizerConfig(env: Env = processEnv()): SynthesizerConfig {
  const { runtime, values: v } = parseServiceEnv(synthesizerEnvShape, env);
  const models: SynthesizerConfig['models'] = {};
  for (const [key, value] of [
    ['textEncoder', v.SYNOOD_SD_TEXT_ENCODER],
    ['tokenizer', v.SYNOOD_SD_TOKENIZER],
    ['vaeEncoder', v.SYNOOD_SD_VAE_ENCODER],
    ['vaeDecoder', v.SYNOOD_SD_VAE_DECODER],
    ['unet', v.SYNOOD_SD_UNET],
    ['classifier', v.SYNOOD_CLASSIFIER_MODEL],
  ] as const) {
    if (value !== undefined) {
      models[key] = value;
    }
  }
  return {
    runtime,
    models,
    vaeScaleFactor: v.SYNOOD_VAE_SCALE_FACTOR,
    ...(v.SYNOOD_SYNTHESIZE_CONCURRENCY === undefined
      ? {}
      : { concurrency: v.SYNOOD_SYNTHESIZE_CONCURRENCY }),
  };
}
