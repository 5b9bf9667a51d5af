/**
 * @file diffusers' `DDIMScheduler` at η = 0 (deterministic), leading spacing, no sample clipping or
 * thresholding: the configuration `DDIMScheduler.from_config` gives from Stable Diffusion's scheduler
 * config. An alternative to PNDM without its multistep state.
 */
import { DiffusionError, DiffusionErrorCode } from '../errors';
import { leadingTimesteps, NoiseSchedule, type NoiseScheduleConfig, SD_NOISE_SCHEDULE } from './schedule';
import type { DiffusionScheduler } from './scheduler';

/**
 * One DDIM step at η = 0 from timestep t (ᾱ_t) to the previous one (ᾱ_prev), elementwise:
 * x̂₀ = (x − √(1 − ᾱ_t)·ε)/√ᾱ_t, x_prev = √ᾱ_prev·x̂₀ + √(1 − ᾱ_prev)·ε.
 */
export function ddimPrevSample(
  sample: Float32Array,
  epsilon: Float32Array,
  alphaT: number,
  alphaPrev: number,
  out: Float32Array = new Float32Array(sample.length),
): Float32Array {
  const sqrtBetaT = Math.sqrt(1 - alphaT);
  const sqrtAlphaT = Math.sqrt(alphaT);
  const sqrtAlphaPrev = Math.sqrt(alphaPrev);
  const sqrtBetaPrev = Math.sqrt(1 - alphaPrev);
  for (let i = 0; i < out.length; i++) {
    const x0 = (sample[i]! - sqrtBetaT * epsilon[i]!) / sqrtAlphaT;
    out[i] = sqrtAlphaPrev * x0 + sqrtBetaPrev * epsilon[i]!;
  }
  return out;
}

/**
 * DDIM (η = 0): schedule reverse(round(k·⌊T/steps⌋) + offset), k = 0 … steps − 1 (951, 901, …, 1 for 20
 * steps); each step goes from t to t − ⌊T/steps⌋, the step below 0 targeting the final ᾱ. Stateless.
 */
export class DdimScheduler implements DiffusionScheduler {
  readonly kind = 'ddim';
  /** diffusers' `DDIMScheduler.order`. */
  readonly order = 1;
  readonly schedule: NoiseSchedule;
  readonly timesteps: readonly number[];
  private readonly stride: number;

  /**
   * @param numInferenceSteps - `set_timesteps` argument, 1 … T.
   * @throws DiffusionError `DIFFUSION_ERR_ARGUMENT` for a bad step count or config.
   */
  constructor(
    readonly numInferenceSteps: number,
    config: Readonly<NoiseScheduleConfig> = SD_NOISE_SCHEDULE,
  ) {
    this.schedule = new NoiseSchedule(config);
    this.timesteps = leadingTimesteps(config, numInferenceSteps).reverse();
    this.stride = Math.floor(config.numTrainTimesteps / numInferenceSteps);
  }

  reset(): void {
    // Stateless: every step depends only on its own inputs.
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    if (modelOutput.length !== sample.length) {
      throw new DiffusionError(
        DiffusionErrorCode.Argument,
        `DDIM step: model output has ${modelOutput.length} values, the sample ${sample.length}`,
      );
    }
    const prev = timestep - this.stride;
    return ddimPrevSample(sample, modelOutput, this.schedule.alphaAt(timestep), this.schedule.alphaAt(prev));
  }
}
