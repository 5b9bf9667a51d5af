/**
 * @file Stable Diffusion 2 inpainting (diffusers' `StableDiffusionInpaintPipeline` with a 9-channel UNet)
 * over onnxruntime sessions of the four Optimum-exported roles. What it reproduces (reference §3.1–3.3):
 *
 * - the image is resized to the configured size (bicubic, Pillow's antialiased filter, aspect not kept) and
 *   mapped to [-1, 1] as `VaeImageProcessor` does (x/255, then 2x − 1);
 * - the VAE encoder's `latent_parameters` (mean ‖ log-variance) give a posterior sample
 *   mean + exp(½·clamp(logvar, −30, 20))·n with n drawn per image from a seeded {@link Rng}, times the
 *   scaling factor 0.18215; an export that samples inside the graph (`latent_sample`) is used as is;
 * - the mask is all ones and the masked image all zeros in [-1, 1], so the masked-image latents are one
 *   constant per size and seed: encoded once and cached (the reference re-encodes them every call);
 * - classifier-free guidance runs the unconditional (empty prompt, encoded once and cached) and the
 *   conditional batch in one UNet call, ordered [uncond × N, cond × N] like diffusers, and combines
 *   ε = ε_u + g·(ε_c − ε_u);
 * - the UNet input is concat(latents, mask, masked-image latents) on the channel axis; the `timestep`
 *   input's element type and rank are read from the model;
 * - decoding divides by the scaling factor and maps to bytes as `postprocess` does:
 *   round_half_even(clamp(x/2 + ½, 0, 1)·255) in float32.
 *
 * Buffers that do not change between steps (the UNet's mask, masked-image latents and text states) are
 * written once per denoising chain; only the latent channels are rewritten per step.
 */
import { type InferenceSession, Tensor, runSession } from '@synood/onnx';
import { Rng } from '@synood/tensor';
import { type ResizeOptions, type RgbImage, checkImage, resizeExact } from '@synood/vision';

import { DiffusionError, DiffusionErrorCode, requireArg } from './errors';
import { createScheduler, strengthTimesteps } from './schedulers/factory';
import { type NoiseScheduleConfig, SD_NOISE_SCHEDULE } from './schedulers/schedule';
import { type DiffusionScheduler, SCHEDULER_KINDS, type SchedulerKind } from './schedulers/scheduler';
import {
  type TensorMeta,
  floatTensor,
  inputsOf,
  outputsOf,
  pickMeta,
  readFloat,
  requireFloat,
} from './session-io';

/**
 * Turns prompts into fixed-length token id rows (row-major `[texts.length, length]`). The service wires
 * the CLIP tokenizer of the text encoder here (for SD 2, OpenCLIP's BPE padded with `!`, id 0), so this
 * package needs no tokenizer of its own.
 */
export interface PromptTokenizer {
  encodeIds(texts: readonly string[]): { ids: BigInt64Array | Int32Array; length: number };
}

/** The four onnxruntime sessions of an SD inpainting export (Optimum's folder layout names them so). */
export interface InpaintingModels {
  /** `input_ids` int32/int64 [N, L] → `last_hidden_state` [N, L, D]. */
  textEncoder: InferenceSession;
  /** `sample` [N, 3, H, W] in [-1, 1] → `latent_parameters` [N, 8, h, w] (or a sampled `latent_sample` [N, 4, h, w]). */
  vaeEncoder: InferenceSession;
  /** `latent_sample` [N, 4, h, w] (unscaled latents) → `sample` [N, 3, H, W]. */
  vaeDecoder: InferenceSession;
  /** `sample` [B, 9, h, w], `timestep`, `encoder_hidden_states` [B, L, D] → `out_sample` [B, 4, h, w]. */
  unet: InferenceSession;
}

/** How the UNet's `timestep` input is fed: from its declared shape, or forced. */
export const TIMESTEP_LAYOUTS = ['auto', 'scalar', 'single', 'batch'] as const;

/**
 * `auto`: a declared rank-0 input gets a scalar, a fixed dim its size (1 or the UNet batch), a symbolic
 * dim `[1]` (what diffusers' ONNX pipelines feed; exports broadcast it); `scalar`: `[]`; `single`: `[1]`;
 * `batch`: one entry per UNet batch row.
 */
export type TimestepLayout = (typeof TIMESTEP_LAYOUTS)[number];

/** Settings of {@link InpaintingPipeline}; defaults are the reference's (design §4). */
export interface InpaintingConfig {
  /** Image width fed to the VAE, a multiple of 8. @defaultValue 512 */
  width: number;
  /** Image height, a multiple of 8. @defaultValue 512 */
  height: number;
  /** `num_inference_steps`. @defaultValue 20 */
  steps: number;
  /** img2img strength in (0, 1]. @defaultValue 0.6 */
  strength: number;
  /** Classifier-free guidance scale; ≤ 1 turns guidance off (one UNet batch). @defaultValue 8 */
  guidanceScale: number;
  /** @defaultValue `'pndm'` */
  scheduler: SchedulerKind;
  /** @defaultValue {@link SD_NOISE_SCHEDULE} */
  noiseSchedule: Readonly<NoiseScheduleConfig>;
  /** VAE `scaling_factor`. @defaultValue 0.18215 */
  scalingFactor: number;
  /** How the input image is resized. @defaultValue bicubic, antialiased (Pillow) */
  resize: ResizeOptions;
  /** @defaultValue `'auto'` */
  timestepLayout: TimestepLayout;
}

/** The reference settings: 512², 20 PNDM steps at strength 0.6, CFG 8, scaling 0.18215. */
export const DEFAULT_INPAINTING_CONFIG: Readonly<InpaintingConfig> = Object.freeze({
  width: 512,
  height: 512,
  steps: 20,
  strength: 0.6,
  guidanceScale: 8,
  scheduler: 'pndm',
  noiseSchedule: SD_NOISE_SCHEDULE,
  scalingFactor: 0.18215,
  resize: Object.freeze<ResizeOptions>({ kernel: 'bicubic', antialias: true }),
  timestepLayout: 'auto',
});

/** Text-encoder hidden states of a batch of prompts, row-major `[count, length, width]`, float32. */
export interface PromptEmbeddings {
  readonly data: Float32Array;
  readonly count: number;
  readonly length: number;
  readonly width: number;
}

/** Latents of a batch, row-major `[count, ...shape]`. */
export interface LatentBatch {
  readonly data: Float32Array;
  readonly count: number;
  /** Per-image dims `[4, h, w]`. */
  readonly shape: readonly [number, number, number];
}

/** Called after every UNet step of a chain. */
export type StepListener = (step: number, steps: number, timestep: number) => void;

/** One plain (unguided) inpainting request. */
export interface InpaintRequest {
  image: RgbImage;
  prompt: string;
  /** Seed string of the posterior draw. */
  posteriorSeed: string;
  /** Seed string of the initial noise. */
  noiseSeed: string;
}

const LATENT_CHANNELS = 4;
const LOGVAR_MIN = -30;
const LOGVAR_MAX = 20;

interface Roles {
  textIds: TensorMeta;
  textHidden: TensorMeta;
  encIn: TensorMeta;
  encOut: TensorMeta;
  decIn: TensorMeta;
  decOut: TensorMeta;
  unetSample: TensorMeta;
  unetTimestep: TensorMeta;
  unetContext: TensorMeta;
  unetOut: TensorMeta;
}

function modelError(message: string): DiffusionError {
  return new DiffusionError(DiffusionErrorCode.Model, message);
}

function resolveConfig(partial: Partial<InpaintingConfig>): InpaintingConfig {
  const c: InpaintingConfig = { ...DEFAULT_INPAINTING_CONFIG, ...partial };
  for (const [name, v] of [
    ['width', c.width],
    ['height', c.height],
  ] as const) {
    requireArg(
      Number.isSafeInteger(v) && v >= 8 && v % 8 === 0,
      `${name} must be a positive multiple of 8, got ${String(v)}`,
    );
  }
  requireArg(
    (SCHEDULER_KINDS as readonly string[]).includes(c.scheduler),
    `scheduler is ${c.scheduler}. Should be one of: ${SCHEDULER_KINDS.join(', ')}`,
  );
  requireArg(
    Number.isFinite(c.guidanceScale),
    `guidanceScale must be a finite number, got ${String(c.guidanceScale)}`,
  );
  requireArg(
    Number.isFinite(c.scalingFactor) && c.scalingFactor > 0,
    `scalingFactor must be > 0, got ${String(c.scalingFactor)}`,
  );
  requireArg(
    Number.isFinite(c.strength) && c.strength > 0 && c.strength <= 1,
    `strength must be in (0, 1], got ${String(c.strength)}`,
  );
  requireArg(
    (TIMESTEP_LAYOUTS as readonly string[]).includes(c.timestepLayout),
    `timestepLayout is ${c.timestepLayout}. Should be one of: ${TIMESTEP_LAYOUTS.join(', ')}`,
  );
  return c;
}

function resolveRoles(models: InpaintingModels): Roles {
  const tIn = inputsOf(models.textEncoder);
  const textIds = pickMeta(tIn, ['input_ids'], 'text encoder', 'input');
  if (textIds.type !== 'int32' && textIds.type !== 'int64') {
    throw modelError(`text encoder input_ids is ${textIds.type}; int32 or int64 expected`);
  }
  const extra = tIn.filter((m) => m.name !== 'input_ids');
  if (extra.length > 0) {
    throw modelError(
      `text encoder declares inputs besides input_ids (${extra.map((m) => m.name).join(', ')}); ` +
        'export the SD text encoder with input_ids only (Optimum does)',
    );
  }
  const textHidden = pickMeta(outputsOf(models.textEncoder), ['last_hidden_state'], 'text encoder', 'output');
  const encIn = pickMeta(inputsOf(models.vaeEncoder), ['sample'], 'VAE encoder', 'input');
  const encOut = pickMeta(
    outputsOf(models.vaeEncoder),
    ['latent_parameters', 'latent_sample', 'latent_dist'],
    'VAE encoder',
    'output',
  );
  const decIn = pickMeta(inputsOf(models.vaeDecoder), ['latent_sample'], 'VAE decoder', 'input');
  const decOut = pickMeta(outputsOf(models.vaeDecoder), ['sample'], 'VAE decoder', 'output');
  const uIn = inputsOf(models.unet);
  const unetSample = pickMeta(uIn, ['sample'], 'UNet', 'input');
  const unetTimestep = pickMeta(uIn, ['timestep'], 'UNet', 'input');
  const unetContext = pickMeta(uIn, ['encoder_hidden_states'], 'UNet', 'input');
  const uOut = outputsOf(models.unet);
  const unetOut = pickMeta(uOut, uOut.length === 1 ? [] : ['out_sample'], 'UNet', 'output');
  for (const [meta, role] of [
    [textHidden, 'text encoder output'],
    [encIn, 'VAE encoder input'],
    [encOut, 'VAE encoder output'],
    [decIn, 'VAE decoder input'],
    [decOut, 'VAE decoder output'],
    [unetSample, 'UNet input'],
    [unetContext, 'UNet input'],
    [unetOut, 'UNet output'],
  ] as const) {
    requireFloat(meta, role);
  }
  if (!['int64', 'int32', 'float32', 'float16'].includes(unetTimestep.type)) {
    throw modelError(`UNet timestep is ${unetTimestep.type}; int64, int32, float32 or float16 expected`);
  }
  const channels = unetSample.shape[1];
  if (typeof channels === 'number' && channels !== 9) {
    throw modelError(
      `UNet sample has ${channels} channels; an inpainting UNet takes 9 (latents 4, mask 1, masked-image latents 4)`,
    );
  }
  return {
    textIds,
    textHidden,
    encIn,
    encOut,
    decIn,
    decOut,
    unetSample,
    unetTimestep,
    unetContext,
    unetOut,
  };
}

/** Rounds half to even, as numpy's `round` does. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** x/255 as float32, then 2x − 1 as float32 (`VaeImageProcessor`'s `pil_to_numpy` and `normalize`). */
const PIXEL_TO_UNIT: Float32Array = (() => {
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) {
    lut[v] = Math.fround(2 * Math.fround(v / 255) - 1);
  }
  return lut;
})();

/**
 * SD 2 inpainting over onnxruntime sessions (see the file notes for what is reproduced). Sessions stay
 * owned by the caller: the pipeline never releases them.
 */
export class InpaintingPipeline {
  readonly config: Readonly<InpaintingConfig>;
  /** The timesteps every denoising chain visits (the strength-truncated schedule). */
  readonly timesteps: readonly number[];
  private readonly roles: Roles;
  private readonly scheduler: DiffusionScheduler;
  private uncond: PromptEmbeddings | undefined;
  private readonly maskedCache = new Map<string, LatentBatch>();

  /**
   * @throws DiffusionError `DIFFUSION_ERR_MODEL` when a model lacks a role's inputs or outputs (the message
   * lists what it declares), `DIFFUSION_ERR_ARGUMENT` for a bad config value.
   */
  constructor(
    readonly models: InpaintingModels,
    readonly tokenizer: PromptTokenizer,
    config: Partial<InpaintingConfig> = {},
  ) {
    this.config = Object.freeze(resolveConfig(config));
    this.roles = resolveRoles(models);
    this.scheduler = createScheduler(this.config.scheduler, this.config.steps, this.config.noiseSchedule);
    this.timesteps = strengthTimesteps(this.scheduler, this.config.strength).timesteps;
  }

  /** Whether the UNet runs the unconditional batch too. */
  get guided(): boolean {
    return this.config.guidanceScale > 1;
  }

  /** Resizes images to the configured size and maps them to [-1, 1], NCHW float32. */
  preprocess(images: readonly RgbImage[]): Float32Array {
    const { width, height, resize } = this.config;
    const plane = width * height;
    const out = new Float32Array(images.length * 3 * plane);
    images.forEach((image, n) => {
      checkImage(image, `images[${n}]`);
      const sized = resizeExact(image, width, height, resize).data;
      const base = n * 3 * plane;
      for (let p = 0; p < plane; p++) {
        out[base + p] = PIXEL_TO_UNIT[sized[3 * p]!]!;
        out[base + plane + p] = PIXEL_TO_UNIT[sized[3 * p + 1]!]!;
        out[base + 2 * plane + p] = PIXEL_TO_UNIT[sized[3 * p + 2]!]!;
      }
    });
    return out;
  }

  /**
   * Text-encoder hidden states of prompts.
   *
   * @throws DiffusionError `DIFFUSION_ERR_ARGUMENT` when the tokenizer's rows do not match the model,
   * `DIFFUSION_ERR_OUTPUT` for unexpected outputs.
   */
  async encodePrompts(prompts: readonly string[]): Promise<PromptEmbeddings> {
    requireArg(prompts.length > 0, 'encodePrompts needs at least one prompt');
    const { ids, length } = this.tokenizer.encodeIds(prompts);
    requireArg(
      Number.isSafeInteger(length) && length > 0 && ids.length === prompts.length * length,
      `the tokenizer returned ${ids.length} ids for ${prompts.length} prompts of length ${length}`,
    );
    const meta = this.roles.textIds;
    const declared = meta.shape[1];
    requireArg(
      typeof declared !== 'number' || declared === length,
      `the text encoder takes ${String(declared)} tokens per prompt, the tokenizer gives ${length}`,
    );
    const dims = [prompts.length, length];
    // A tag check rather than instanceof: tokenizers may hand over arrays from another realm (jest, vm).
    const isInt32 = Object.prototype.toString.call(ids) === '[object Int32Array]';
    let feed: Tensor;
    if (meta.type === 'int64') {
      feed = new Tensor(
        'int64',
        isInt32 ? BigInt64Array.from(ids as Int32Array, (v) => BigInt(v)) : (ids as BigInt64Array),
        dims,
      );
    } else {
      feed = new Tensor(
        'int32',
        isInt32 ? (ids as Int32Array) : Int32Array.from(ids as BigInt64Array, (v) => Number(v)),
        dims,
      );
    }
    const results = await runSession(this.models.textEncoder, { [meta.name]: feed });
    const out = results[this.roles.textHidden.name];
    const width = out?.dims[2];
    if (out?.dims.length !== 3 || typeof width !== 'number') {
      throw new DiffusionError(
        DiffusionErrorCode.Output,
        `text encoder output ${this.roles.textHidden.name} is not [N, L, D] (got [${(out?.dims ?? []).join(', ')}])`,
      );
    }
    const data = readFloat(results, this.roles.textHidden.name, 'text encoder', [
      prompts.length,
      length,
      width,
    ]);
    return { data, count: prompts.length, length, width };
  }

  /** The empty prompt's hidden states, encoded on first use and cached. */
  async unconditionalEmbedding(): Promise<PromptEmbeddings> {
    this.uncond ??= await this.encodePrompts(['']);
    return this.uncond;
  }

  /**
   * VAE-encodes `count` images (NCHW in [-1, 1]) and draws the posterior sample of image i from `rngs[i]`
   * (4·h·w normal draws, in C, H, W order), times the scaling factor.
   *
   * @throws DiffusionError `DIFFUSION_ERR_OUTPUT` when the encoder's output is not [N, 8, h, w] or
   * [N, 4, h, w].
   */
  async encodeImages(pixels: Float32Array, count: number, rngs: readonly Rng[]): Promise<LatentBatch> {
    const { width, height, scalingFactor } = this.config;
    requireArg(
      pixels.length === count * 3 * width * height && rngs.length === count,
      `encodeImages needs ${count} images of 3×${height}×${width} and ${count} generators`,
    );
    const { encIn, encOut } = this.roles;
    const results = await runSession(this.models.vaeEncoder, {
      [encIn.name]: floatTensor(encIn, pixels, [count, 3, height, width]),
    });
    const dims = results[encOut.name]?.dims ?? [];
    const [n, c, h, w] = dims;
    const sampled = c === LATENT_CHANNELS;
    if (
      dims.length !== 4 ||
      n !== count ||
      (c !== 2 * LATENT_CHANNELS && !sampled) ||
      typeof h !== 'number' ||
      typeof w !== 'number'
    ) {
      throw new DiffusionError(
        DiffusionErrorCode.Output,
        `VAE encoder output ${encOut.name} has dims [${dims.join(', ')}]; expected [${count}, 8, h, w] ` +
          `(mean ‖ log-variance) or [${count}, 4, h, w] (a sample)`,
      );
    }
    const params = readFloat(results, encOut.name, 'VAE encoder', [count, c, h, w]);
    const per = LATENT_CHANNELS * h * w;
    const out = new Float32Array(count * per);
    const draw = new Float32Array(per);
    for (let i = 0; i < count; i++) {
      const src = i * c * h * w;
      if (sampled) {
        for (let k = 0; k < per; k++) {
          out[i * per + k] = scalingFactor * params[src + k]!;
        }
        continue;
      }
      rngs[i]!.fillNormal(draw);
      for (let k = 0; k < per; k++) {
        const mean = params[src + k]!;
        const logvar = Math.min(Math.max(params[src + per + k]!, LOGVAR_MIN), LOGVAR_MAX);
        out[i * per + k] = scalingFactor * (mean + Math.exp(0.5 * logvar) * draw[k]!);
      }
    }
    return { data: out, count, shape: [LATENT_CHANNELS, h, w] };
  }

  /**
   * Latents of the masked image (all zeros in [-1, 1]: mid-grey) for one image, with the posterior drawn
   * from `seed`; encoded once per seed and cached.
   */
  async maskedImageLatents(seed: string): Promise<LatentBatch> {
    const cached = this.maskedCache.get(seed);
    if (cached !== undefined) {
      return cached;
    }
    const { width, height } = this.config;
    const latents = await this.encodeImages(new Float32Array(3 * width * height), 1, [new Rng(seed)]);
    this.maskedCache.set(seed, latents);
    return latents;
  }

  /**
   * The chain's starting latents: the image latents noised to the first timestep (`add_noise`), or pure
   * noise at strength 1 (diffusers' `is_strength_max`; `init_noise_sigma` is 1).
   */
  startLatents(imageLatents: Float32Array, noise: Float32Array): Float32Array {
    requireArg(
      imageLatents.length === noise.length,
      `image latents (${imageLatents.length}) and noise (${noise.length}) differ in size`,
    );
    if (this.config.strength === 1) {
      return noise.slice();
    }
    return this.scheduler.schedule.addNoise(imageLatents, noise, this.timesteps[0]!);
  }

  private timestepFeed(t: number, rows: number): Tensor {
    const meta = this.roles.unetTimestep;
    const declared = meta.shape;
    let dims: number[];
    switch (this.config.timestepLayout) {
      case 'scalar':
        dims = [];
        break;
      case 'single':
        dims = [1];
        break;
      case 'batch':
        dims = [rows];
        break;
      case 'auto': {
        const d0 = declared[0];
        dims = declared.length === 0 ? [] : typeof d0 === 'number' ? [d0] : [1];
        if (typeof d0 === 'number' && d0 !== 1 && d0 !== rows) {
          throw modelError(
            `UNet timestep is declared [${d0}] but the UNet batch is ${rows}; give timestepLayout or re-export`,
          );
        }
        break;
      }
    }
    const size = dims.length === 0 ? 1 : dims[0]!;
    switch (meta.type) {
      case 'int64':
        return new Tensor('int64', new BigInt64Array(size).fill(BigInt(t)), dims);
      case 'int32':
        return new Tensor('int32', new Int32Array(size).fill(t), dims);
      default:
        return floatTensor(meta, new Float32Array(size).fill(t), dims);
    }
  }

  /**
   * Runs the denoising chain from `start` (latents at the first timestep) with the prompts' hidden states,
   * with guidance when {@link guided}. Returns the final latents (scaled, as diffusers' `output_type="latent"`).
   *
   * @throws DiffusionError `DIFFUSION_ERR_ARGUMENT` for mismatched sizes, `DIFFUSION_ERR_OUTPUT` for a UNet
   * output of the wrong shape or with non-finite values.
   */
  async denoise(
    start: LatentBatch,
    cond: PromptEmbeddings,
    masked: LatentBatch,
    onStep?: StepListener,
  ): Promise<Float32Array> {
    const n = start.count;
    const [c, h, w] = start.shape;
    const per = c * h * w;
    const plane = h * w;
    requireArg(
      cond.count === n && start.data.length === n * per,
      `denoise: ${n} latents but ${cond.count} prompt embeddings`,
    );
    requireArg(
      masked.data.length === per,
      `denoise: masked-image latents have ${masked.data.length} values, the latents ${per} per image`,
    );
    const guided = this.guided;
    const rows = guided ? 2 * n : n;
    const g = this.config.guidanceScale;
    // Constant parts of the UNet input, written once per chain: mask (1) and masked-image latents.
    const sample = new Float32Array(rows * 9 * plane);
    for (let r = 0; r < rows; r++) {
      const base = r * 9 * plane;
      sample.fill(1, base + 4 * plane, base + 5 * plane);
      sample.set(masked.data, base + 5 * plane);
    }
    const { length, width } = cond;
    const ctxPer = length * width;
    const context = new Float32Array(rows * ctxPer);
    if (guided) {
      const uncond = await this.unconditionalEmbedding();
      if (uncond.length !== length || uncond.width !== width) {
        throw new DiffusionError(
          DiffusionErrorCode.Output,
          `empty-prompt states are [${uncond.length}, ${uncond.width}], the prompts' [${length}, ${width}]`,
        );
      }
      for (let i = 0; i < n; i++) {
        context.set(uncond.data, i * ctxPer);
      }
      context.set(cond.data, n * ctxPer);
    } else {
      context.set(cond.data);
    }
    const { unetSample, unetContext, unetOut } = this.roles;
    const contextTensor = floatTensor(unetContext, context, [rows, length, width]);
    let latents = start.data;
    // A scheduler per chain: PNDM keeps state between steps, and chains of concurrent calls interleave
    // at every awaited UNet run.
    const scheduler = createScheduler(this.config.scheduler, this.config.steps, this.config.noiseSchedule);
    const steps = this.timesteps.length;
    for (let k = 0; k < steps; k++) {
      const t = this.timesteps[k]!;
      for (let r = 0; r < rows; r++) {
        const i = guided && r >= n ? r - n : r;
        sample.set(latents.subarray(i * per, (i + 1) * per), r * 9 * plane);
      }
      const results = await runSession(this.models.unet, {
        [unetSample.name]: floatTensor(unetSample, sample, [rows, 9, h, w]),
        [this.roles.unetTimestep.name]: this.timestepFeed(t, rows),
        [unetContext.name]: contextTensor,
      });
      const eps = readFloat(results, unetOut.name, 'UNet', [rows, c, h, w]);
      let noisePred: Float32Array;
      if (guided) {
        noisePred = new Float32Array(n * per);
        const offset = n * per;
        for (let j = 0; j < noisePred.length; j++) {
          const u = eps[j]!;
          noisePred[j] = u + g * (eps[offset + j]! - u);
        }
      } else {
        noisePred = eps;
      }
      latents = scheduler.step(noisePred, t, latents);
      onStep?.(k + 1, steps, t);
    }
    return latents;
  }

  /**
   * Decodes scaled latents (`z₀`) to 8-bit images: the decoder gets z₀ / scaling factor, the output maps
   * to bytes as diffusers' `postprocess` (see the file notes).
   *
   * @throws DiffusionError `DIFFUSION_ERR_OUTPUT` when the decoder's output is not [N, 3, H, W].
   */
  async decode(latents: LatentBatch): Promise<RgbImage[]> {
    const { decIn, decOut } = this.roles;
    const n = latents.count;
    const [c, h, w] = latents.shape;
    const z = new Float32Array(latents.data.length);
    const inv = 1 / this.config.scalingFactor;
    for (let i = 0; i < z.length; i++) {
      z[i] = latents.data[i]! * inv;
    }
    const results = await runSession(this.models.vaeDecoder, {
      [decIn.name]: floatTensor(decIn, z, [n, c, h, w]),
    });
    const dims = results[decOut.name]?.dims ?? [];
    const [, ch, height, width] = dims;
    if (dims.length !== 4 || ch !== 3 || typeof height !== 'number' || typeof width !== 'number') {
      throw new DiffusionError(
        DiffusionErrorCode.Output,
        `VAE decoder output ${decOut.name} has dims [${dims.join(', ')}]; expected [${n}, 3, H, W]`,
      );
    }
    const x = readFloat(results, decOut.name, 'VAE decoder', [n, 3, height, width]);
    return imagesFromUnit(x, n, height, width);
  }

  /**
   * Plain inpainting (no gradient guidance) of a batch: what the reference's pipeline call returns for one
   * pass, with every draw seeded per image.
   *
   * @param maskedImageSeed - seed of the masked-image posterior draw (one per run).
   */
  async inpaint(requests: readonly InpaintRequest[], maskedImageSeed: string): Promise<RgbImage[]> {
    requireArg(requests.length > 0, 'inpaint needs at least one request');
    const n = requests.length;
    const pixels = this.preprocess(requests.map((r) => r.image));
    const image = await this.encodeImages(
      pixels,
      n,
      requests.map((r) => new Rng(r.posteriorSeed)),
    );
    const noise = new Float32Array(image.data.length);
    const per = noise.length / n;
    requests.forEach((r, i) => {
      new Rng(r.noiseSeed).fillNormal(noise.subarray(i * per, (i + 1) * per));
    });
    const cond = await this.encodePrompts(requests.map((r) => r.prompt));
    const masked = await this.maskedImageLatents(maskedImageSeed);
    const z0 = await this.denoise({ ...image, data: this.startLatents(image.data, noise) }, cond, masked);
    return this.decode({ ...image, data: z0 });
  }
}

/**
 * `[N, 3, H, W]` decoder output in [-1, 1] to 8-bit HWC images: round_half_even(clamp(x/2 + ½, 0, 1)·255),
 * each operation in float32 as torch and numpy do it.
 */
export function imagesFromUnit(x: Float32Array, n: number, height: number, width: number): RgbImage[] {
  const plane = height * width;
  requireArg(x.length === n * 3 * plane, `expected ${n}×3×${height}×${width} values, got ${x.length}`);
  const images: RgbImage[] = [];
  for (let i = 0; i < n; i++) {
    const data = new Uint8Array(3 * plane);
    for (let ch = 0; ch < 3; ch++) {
      const base = (i * 3 + ch) * plane;
      for (let p = 0; p < plane; p++) {
        const unit = Math.min(Math.max(Math.fround(Math.fround(x[base + p]! / 2) + 0.5), 0), 1);
        data[3 * p + ch] = roundHalfEven(Math.fround(unit * 255));
      }
    }
    images.push({ width, height, data });
  }
  return images;
}
