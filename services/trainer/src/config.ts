/**
 * The trainer's configuration: the shared worker settings (see `@synood/service-kit`) and its own variables, parsed
 * once at startup.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `SYNOOD_CLIP_VISION_MODEL` | catalog `clip.vision` in the model cache | CLIP image tower, for the OOD sets of `evaluate` |
 * | `SYNOOD_EVAL_BATCH_SIZE` | 32 | OOD images per CLIP run |
 * | `SYNOOD_TRAINER_CONCURRENCY` | stage table (1 each) | jobs at once per stage of this service |
 */
import { type Env, envVar, processEnv } from '@synood/config';
import { z } from 'zod';

import { type WorkerRuntimeConfig, parseServiceEnv } from '@synood/service-kit';

/** The trainer's own variables. */
export const trainerEnvShape = {
  SYNOOD_CLIP_VISION_MODEL: z.string().min(1).optional(),
  SYNOOD_EVAL_BATCH_SIZE: envVar.int(1, 1024).default(32),
  SYNOOD_TRAINER_CONCURRENCY: envVar.int(1, 64).optional(),
};

/** The trainer's settings. */
export interface TrainerConfig {
  runtime: WorkerRuntimeConfig;
  /** Explicit model paths; absent ones come from the catalog and the model cache. */
  models: { vision?: string };
  batch: { images: number };
  /** Jobs at once for each of the trainer's stages. */
  concurrency?: number;
}

/**
 * Parses the trainer's configuration from `env`.
 *
 * @throws ConfigError (`CONFIG_ERR_INVALID`) listing every bad variable.
 */
export function loadTrainerConfig(env: Env = processEnv()): TrainerConfig {
  const { runtime, values: v } = parseServiceEnv(trainerEnvShape, env);
  return {
    runtime,
    models: v.SYNOOD_CLIP_VISION_MODEL === undefined ? {} : { vision: v.SYNOOD_CLIP_VISION_MODEL },
    batch: { images: v.SYNOOD_EVAL_BATCH_SIZE },
    ...(v.SYNOOD_TRAINER_CONCURRENCY === undefined ? {} : { concurrency: v.SYNOOD_TRAINER_CONCURRENCY }),
  };
}
