/**
 * @file The sampler interface the inpainting pipeline drives.
 */
import type { NoiseSchedule } from './schedule';

/** Samplers this package implements. */
export const SCHEDULER_KINDS = ['pndm', 'ddim'] as const;

/** One of {@link SCHEDULER_KINDS}. */
export type SchedulerKind = (typeof SCHEDULER_KINDS)[number];

/**
 * A denoising sampler over flat float32 latents, after diffusers' `set_timesteps(steps)`: `timesteps` is the
 * full schedule; {@link reset} starts a new chain (diffusers re-runs `set_timesteps` for every pipeline
 * call, which clears multistep state the same way).
 */
export interface DiffusionScheduler {
  readonly kind: SchedulerKind;
  /** diffusers' `order` (timesteps per model evaluation), used by the strength truncation. */
  readonly order: number;
  /** The `set_timesteps` argument. */
  readonly numInferenceSteps: number;
  /** The full inference schedule, descending. */
  readonly timesteps: readonly number[];
  /** The training schedule (β, ᾱ, `addNoise`). */
  readonly schedule: NoiseSchedule;
  /** Clears the state of the previous chain. */
  reset(): void;
  /**
   * One denoising step: the sample at the previous timestep, from the model's ε prediction at `timestep`.
   * Returns a new array; the inputs are not modified.
   */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array;
}
