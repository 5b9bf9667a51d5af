/**
 * @file diffusers' `PNDMScheduler` with `skip_prk_steps = true`, i.e. PLMS (pseudo linear multistep):
 * the schedule with its duplicated warm-up timestep and `step_plms` with its counter and ε history, so a
 * denoising chain here visits the same timesteps with the same update coefficients as the reference.
 */
import { DiffusionError, DiffusionErrorCode } from '../errors';
import { leadingTimesteps, NoiseSchedule, type NoiseScheduleConfig, SD_NOISE_SCHEDULE } from './schedule';
import type { DiffusionScheduler } from './scheduler';

/**
 * diffusers' `_get_prev_sample` (epsilon prediction): x_prev = √(ᾱ_prev/ᾱ_t)·x − (ᾱ_prev − ᾱ_t)·ε /
 * (ᾱ_t·√(1 − ᾱ_prev) + √(ᾱ_t·(1 − ᾱ_t)·ᾱ_prev)), elementwise, coefficients in float64 (reference §3.2).
 */
export function pndmPrevSample(
  sample: Float32Array,
  epsilon: ArrayLike<number>,
  alphaT: number,
  alphaPrev: number,
  out: Float32Array = new Float32Array(sample.length),
): Float32Array {
  const sampleCoeff = Math.sqrt(alphaPrev / alphaT);
  const denom = alphaT * Math.sqrt(1 - alphaPrev) + Math.sqrt(alphaT * (1 - alphaT) * alphaPrev);
  const epsCoeff = (alphaPrev - alphaT) / denom;
  for (let i = 0; i < out.length; i++) {
    out[i] = sampleCoeff * sample[i]! - epsCoeff * epsilon[i]!;
  }
  return out;
}

/**
 * PLMS as diffusers runs it for Stable Diffusion. `set_timesteps(steps)` with leading spacing gives
 * a = [offset, offset + r, …] (r = ⌊T/steps⌋) and the schedule reverse(a[:-1] ++ a[-2:-1] ++ a[-1:]), which
 * repeats the second-highest timestep (e.g. 951, 901, 901, 851, …, 1 for 20 steps). `step` is `step_plms`:
 *
 * - call 0 stores ε₀ and the sample, and steps t → t − r with ε₀;
 * - call 1 (counter 1) does not store its ε₁: it redoes the step t + r → t from the stored sample with
 *   (ε₁ + ε₀)/2;
 * - later calls append ε to the history (keeping the last 4) and use the 2-, 3- and 4-term Adams–Bashforth
 *   combinations (3, −1)/2, (23, −16, 5)/12, (55, −59, 37, −9)/24 of the newest entries, stepping
 *   t → t − r; a step below 0 targets the final ᾱ.
 *
 * The state is elementwise, so a batched latent behaves exactly as its images stepped one by one.
 */
export class PndmScheduler implements DiffusionScheduler {
  readonly kind = 'pndm';
  /** diffusers' `PNDMScheduler.order`. */
  readonly order = 1;
  readonly schedule: NoiseSchedule;
  readonly timesteps: readonly number[];
  private readonly stride: number;
  private counter = 0;
  private ets: Float32Array[] = [];
  private curSample: Float32Array | undefined;

  /**
   * @param numInferenceSteps - `set_timesteps` argument, 1 … T.
   * @throws DiffusionError `DIFFUSION_ERR_ARGUMENT` for a bad step count or config.
   */
  constructor(
    readonly numInferenceSteps: number,
    config: Readonly<NoiseScheduleConfig> = SD_NOISE_SCHEDULE,
  ) {
    this.schedule = new NoiseSchedule(config);
    const a = leadingTimesteps(config, numInferenceSteps);
    // numpy slices of a length-1 array give [] for a[:-1] and a[-2:-1]; Array#slice agrees.
    this.timesteps = [...a.slice(0, -1), ...a.slice(-2, -1), ...a.slice(-1)].reverse();
    this.stride = Math.floor(config.numTrainTimesteps / numInferenceSteps);
  }

  /** Calls of {@link step} since the last {@link reset} (diffusers' `counter`). */
  get stepCount(): number {
    return this.counter;
  }

  reset(): void {
    this.counter = 0;
    this.ets = [];
    this.curSample = undefined;
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    if (modelOutput.length !== sample.length) {
      throw new DiffusionError(
        DiffusionErrorCode.Argument,
        `PNDM step: model output has ${modelOutput.length} values, the sample ${sample.length}`,
      );
    }
    let t = timestep;
    let prev = timestep - this.stride;
    if (this.counter !== 1) {
      this.ets = this.ets.slice(-3);
      this.ets.push(modelOutput.slice());
    } else {
      prev = timestep;
      t = timestep + this.stride;
    }
    const n = sample.length;
    let eps: Float32Array;
    let x = sample;
    const e = this.ets;
    if (e.length === 1 && this.counter === 0) {
      eps = modelOutput;
      this.curSample = sample.slice();
    } else if (e.length === 1 && this.counter === 1) {
      const e0 = e[0]!;
      eps = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        eps[i] = (modelOutput[i]! + e0[i]!) / 2;
      }
      if (this.curSample?.length !== n) {
        throw new DiffusionError(
          DiffusionErrorCode.Scheduler,
          'PNDM step 1 needs the sample stored by step 0 of the same size; call reset() between chains',
        );
      }
      x = this.curSample;
      this.curSample = undefined;
    } else if (e.length === 2) {
      const [a, b] = [e[1]!, e[0]!];
      eps = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        eps[i] = (3 * a[i]! - b[i]!) / 2;
      }
    } else if (e.length === 3) {
      const [a, b, c] = [e[2]!, e[1]!, e[0]!];
      eps = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        eps[i] = (23 * a[i]! - 16 * b[i]! + 5 * c[i]!) / 12;
      }
    } else {
      const [a, b, c, d] = [e[3]!, e[2]!, e[1]!, e[0]!];
      eps = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        eps[i] = (55 * a[i]! - 59 * b[i]! + 37 * c[i]! - 9 * d[i]!) / 24;
      }
    }
    const out = pndmPrevSample(x, eps, this.schedule.alphaAt(t), this.schedule.alphaAt(prev));
    this.counter += 1;
    return out;
  }
}
