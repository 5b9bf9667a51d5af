/**
 * @file The training noise schedule shared by every sampler: betas, ᾱ (cumulative products of 1 − β) in
 * float64, forward noising, and the strength truncation of an inference schedule.
 */
import { DiffusionError, DiffusionErrorCode, requireArg } from '../errors';

/** Beta schedules diffusers offers that Stable Diffusion checkpoints use. */
export const BETA_SCHEDULES = ['scaled_linear', 'linear'] as const;

/** One of {@link BETA_SCHEDULES}. */
export type BetaSchedule = (typeof BETA_SCHEDULES)[number];

/** The training-time noise schedule and the sampler settings every Stable Diffusion scheduler config holds. */
export interface NoiseScheduleConfig {
  /** Diffusion steps of training, T. */
  readonly numTrainTimesteps: number;
  /** β₀. */
  readonly betaStart: number;
  /** β_{T−1}. */
  readonly betaEnd: number;
  /**
   * `scaled_linear`: β = (linspace(√β₀, √β_{T−1}, T))² (Stable Diffusion); `linear`: β = linspace(β₀, β_{T−1}, T).
   */
  readonly betaSchedule: BetaSchedule;
  /** Added to every inference timestep (diffusers `steps_offset`). */
  readonly stepsOffset: number;
  /** Whether the step past t = 0 targets ᾱ = 1 (true) or ᾱ₀ (false). */
  readonly setAlphaToOne: boolean;
}

/**
 * Stable Diffusion 2 (inpainting)'s `scheduler_config.json`: scaled-linear betas 0.00085 → 0.012 over 1000
 * steps, `steps_offset` 1, `set_alpha_to_one` false (reference §3.1).
 */
export const SD_NOISE_SCHEDULE: Readonly<NoiseScheduleConfig> = Object.freeze({
  numTrainTimesteps: 1000,
  betaStart: 0.00085,
  betaEnd: 0.012,
  betaSchedule: 'scaled_linear',
  stepsOffset: 1,
  setAlphaToOne: false,
});

/**
 * numpy's `linspace(start, stop, n)`: start + i·(stop − start)/(n − 1), with the last value exactly `stop`.
 */
function linspace(start: number, stop: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / (n - 1);
  for (let i = 0; i < n; i++) {
    out[i] = start + i * step;
  }
  out[n - 1] = stop;
  return out;
}

function checkConfig(config: NoiseScheduleConfig): void {
  requireArg(
    Number.isSafeInteger(config.numTrainTimesteps) && config.numTrainTimesteps >= 2,
    `numTrainTimesteps must be an integer ≥ 2, got ${String(config.numTrainTimesteps)}`,
  );
  requireArg(
    config.betaStart > 0 && config.betaEnd < 1 && config.betaStart <= config.betaEnd,
    `betas must satisfy 0 < betaStart ≤ betaEnd < 1, got ${String(config.betaStart)} → ${String(config.betaEnd)}`,
  );
  requireArg(
    (BETA_SCHEDULES as readonly string[]).includes(config.betaSchedule),
    `betaSchedule is ${config.betaSchedule}. Should be one of: ${BETA_SCHEDULES.join(', ')}`,
  );
  requireArg(
    Number.isSafeInteger(config.stepsOffset) && config.stepsOffset >= 0,
    `stepsOffset must be a non-negative integer, got ${String(config.stepsOffset)}`,
  );
}

/**
 * The betas of a schedule, in float64. diffusers builds them in float32 torch tensors; computing in float64
 * keeps ᾱ accurate to ~1e-16 instead of ~1e-7 (the two agree to float32 precision).
 *
 * @throws DiffusionError `DIFFUSION_ERR_ARGUMENT` for an invalid config.
 */
export function betasOf(config: NoiseScheduleConfig = SD_NOISE_SCHEDULE): Float64Array {
  checkConfig(config);
  const n = config.numTrainTimesteps;
  if (config.betaSchedule === 'linear') {
    return linspace(config.betaStart, config.betaEnd, n);
  }
  const roots = linspace(Math.sqrt(config.betaStart), Math.sqrt(config.betaEnd), n);
  return roots.map((r) => r * r);
}

/** ᾱ_t = Π_{s ≤ t} (1 − β_s), in float64. */
export function cumulativeAlphas(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let prod = 1;
  for (let t = 0; t < betas.length; t++) {
    prod *= 1 - betas[t]!;
    out[t] = prod;
  }
  return out;
}

/** A training noise schedule with ᾱ lookups: the part of a scheduler that does not depend on the sampler. */
export class NoiseSchedule {
  /** β_t, t = 0 … T − 1. */
  readonly betas: Float64Array;
  /** ᾱ_t, t = 0 … T − 1. */
  readonly alphasCumprod: Float64Array;
  /** The ᾱ a step past t = 0 targets: 1 with `setAlphaToOne`, else ᾱ₀. */
  readonly finalAlphaCumprod: number;

  constructor(readonly config: Readonly<NoiseScheduleConfig> = SD_NOISE_SCHEDULE) {
    this.betas = betasOf(config);
    this.alphasCumprod = cumulativeAlphas(this.betas);
    this.finalAlphaCumprod = config.setAlphaToOne ? 1 : this.alphasCumprod[0]!;
  }

  /** Training steps T. */
  get numTrainTimesteps(): number {
    return this.config.numTrainTimesteps;
  }

  /**
   * ᾱ at timestep `t`; a negative `t` (the step past 0) gives {@link finalAlphaCumprod}.
   *
   * @throws DiffusionError `DIFFUSION_ERR_SCHEDULER` when `t` is not an integer below T.
   */
  alphaAt(t: number): number {
    if (!Number.isSafeInteger(t) || t >= this.alphasCumprod.length) {
      throw new DiffusionError(
        DiffusionErrorCode.Scheduler,
        `timestep ${String(t)} is outside the training schedule (integers below ${this.alphasCumprod.length})`,
      );
    }
    return t < 0 ? this.finalAlphaCumprod : this.alphasCumprod[t]!;
  }

  /**
   * Forward noising q(x_t | x₀): √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε, elementwise (diffusers `add_noise`).
   *
   * @param out - where to write; a new array by default. May alias `original` or `noise`.
   * @throws DiffusionError `DIFFUSION_ERR_ARGUMENT` when the arrays differ in length.
   */
  addNoise(
    original: Float32Array,
    noise: Float32Array,
    timestep: number,
    out: Float32Array = new Float32Array(original.length),
  ): Float32Array {
    requireArg(
      original.length === noise.length && out.length === original.length,
      `addNoise needs arrays of one length, got sample ${original.length}, noise ${noise.length}, out ${out.length}`,
    );
    const a = this.alphaAt(timestep);
    requireArg(timestep >= 0, `addNoise needs a timestep ≥ 0, got ${timestep}`);
    const sa = Math.sqrt(a);
    const sb = Math.sqrt(1 - a);
    for (let i = 0; i < out.length; i++) {
      out[i] = sa * original[i]! + sb * noise[i]!;
    }
    return out;
  }
}

/** The "leading" timestep spacing: round(k·⌊T/steps⌋) + offset for k = 0 … steps − 1, ascending. */
export function leadingTimesteps(config: NoiseScheduleConfig, steps: number): number[] {
  requireArg(
    Number.isSafeInteger(steps) && steps >= 1 && steps <= config.numTrainTimesteps,
    `inference steps must be an integer in [1, ${config.numTrainTimesteps}], got ${String(steps)}`,
  );
  const ratio = Math.floor(config.numTrainTimesteps / steps);
  return Array.from({ length: steps }, (_, k) => k * ratio + config.stepsOffset);
}

/** A schedule cut by img2img/inpainting `strength`. */
export interface TruncatedTimesteps {
  /** The timesteps the denoising loop visits, the first one being where the image latents are noised. */
  readonly timesteps: readonly number[];
  /** Index into the full schedule where they start (`t_start · order`). */
  readonly startIndex: number;
  /** diffusers' returned step count, `steps − t_start`. */
  readonly steps: number;
}

/**
 * diffusers' img2img/inpainting `get_timesteps`: init = min(⌊steps·strength⌋, steps),
 * t_start = max(steps − init, 0), and the loop runs `timesteps[t_start · order:]`. PNDM and DDIM have
 * order 1, so with PNDM's duplicated warm-up entry 20 steps at strength 0.6 give the 13 timesteps
 * 601, 551, …, 1 (reference §3.2).
 *
 * @param timesteps - the scheduler's full schedule after `set_timesteps(steps)`.
 * @throws DiffusionError `DIFFUSION_ERR_ARGUMENT` for a strength outside [0, 1] or one so small that no
 * timestep remains.
 */
export function truncateTimesteps(
  timesteps: readonly number[],
  steps: number,
  strength: number,
  order = 1,
): TruncatedTimesteps {
  requireArg(
    Number.isFinite(strength) && strength >= 0 && strength <= 1,
    `strength must be in [0, 1], got ${String(strength)}`,
  );
  requireArg(
    Number.isSafeInteger(steps) && steps >= 1,
    `inference steps must be a positive integer, got ${String(steps)}`,
  );
  const init = Math.min(Math.trunc(steps * strength), steps);
  const tStart = Math.max(steps - init, 0);
  const startIndex = tStart * order;
  const kept = timesteps.slice(startIndex);
  requireArg(
    kept.length > 0 && steps - tStart > 0,
    `strength ${strength} with ${steps} steps leaves no denoising step (⌊steps·strength⌋ = ${init}); ` +
      'raise strength or steps',
  );
  return { timesteps: kept, startIndex, steps: steps - tStart };
}
