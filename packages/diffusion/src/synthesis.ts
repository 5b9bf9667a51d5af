/**
 * @file SynOOD's gradient-guided synthesis (reference §3.3, design §4): per image, ε is drawn from a seed
 * derived from (run seed, image id); each of the iterations restarts from the ORIGINAL image latents,
 * noises them with ε to the first truncated timestep, denoises without gradient, then the gradient model
 * (VAE decoder → clamp → ResNet preprocessing → classifier → loss, differentiated by `@synood/graph`) gives
 * ∂Lᵢ/∂z at z = z₀/0.18215 and ε ← ε − r·∂Lᵢ/∂z (the "skip gradient": the UNet chain is not
 * differentiated). The last iteration's decode is the output; its gradient is never used, so it is not
 * computed. Every draw is per image and the gradient model's losses are per image, so a batch gives the
 * images each request would give alone.
 */
import { type LossHead, type Model, buildSynthesisGradientModel } from '@synood/graph';
import { type InferenceSession, runSession } from '@synood/onnx';
import { Rng, deriveSeed } from '@synood/tensor';
import { type RgbImage, encodeJpeg, encodePng } from '@synood/vision';

import { DiffusionError, DiffusionErrorCode, requireArg } from './errors';
import type { InpaintingPipeline, LatentBatch } from './pipeline';
import {
  type TensorMeta,
  floatTensor,
  inputsOf,
  outputsOf,
  pickMeta,
  readFloat,
  requireFloat,
} from './session-io';

/** One image to turn into a near-boundary OOD image. */
export interface SynthesisRequest {
  /** Stable image id (e.g. `n01440764/n01440764_1232.JPEG`): with the run seed it fixes every draw. */
  id: string;
  image: RgbImage;
  /** The inpainting prompt (see `inpaintPrompt`). */
  prompt: string;
}

/** Output encodings. */
export const SYNTHESIS_FORMATS = ['jpeg', 'png'] as const;

/** One of {@link SYNTHESIS_FORMATS}. */
export type SynthesisFormat = (typeof SYNTHESIS_FORMATS)[number];

/** Settings of {@link SynOodSynthesizer}; defaults are the reference's (design §4). */
export interface SynthesisConfig {
  /** The run seed. @defaultValue 0 */
  seed: number | string;
  /** Outer iterations (denoising passes). @defaultValue 3 */
  iterations: number;
  /** Per-image step size r in ε ← ε − r·∂Lᵢ/∂z (the code's lr 10 on a batch mean of 2). @defaultValue 5 */
  stepSize: number;
  /** @defaultValue `'jpeg'` */
  format: SynthesisFormat;
  /** JPEG quality. @defaultValue 75 */
  quality: number;
  /**
   * Also run the gradient model on the output (last) iteration to record its loss; costs one more
   * decoder + classifier forward and backward per image. @defaultValue false
   */
  finalLoss: boolean;
}

/** The reference settings: 3 iterations, r = 5, JPEG quality 75, run seed 0. */
export const DEFAULT_SYNTHESIS_CONFIG: Readonly<SynthesisConfig> = Object.freeze({
  seed: 0,
  iterations: 3,
  stepSize: 5,
  format: 'jpeg',
  quality: 75,
  finalLoss: false,
});

/** Seed strings of one image's draws. */
export interface SynthesisSeeds {
  /** The run seed, as a string. */
  run: string;
  /** Posterior sample of the image's VAE encoding. */
  posterior: string;
  /** The initial noise ε. */
  noise: string;
  /** Posterior sample of the masked (grey) image's encoding, shared by the run. */
  maskedImage: string;
}

/** The seeds of image `id` in run `seed`: `deriveSeed(seed, 'synthesize', id, 'noise' | 'posterior')`. */
export function synthesisSeeds(seed: number | string, id: string): SynthesisSeeds {
  return {
    run: String(seed),
    posterior: deriveSeed(seed, 'synthesize', id, 'posterior'),
    noise: deriveSeed(seed, 'synthesize', id, 'noise'),
    maskedImage: deriveSeed(seed, 'synthesize', 'masked-image'),
  };
}

/**
 * Wall time spent on one image, in milliseconds. Phases run batched, so each is the batch's time divided
 * by the batch size.
 */
export interface SynthesisTimings {
  /** Resize, VAE encoding, prompt encoding. */
  encodeMs: number;
  /** All denoising chains (UNet calls and scheduler steps). */
  denoiseMs: number;
  /** Gradient-model runs. */
  gradientMs: number;
  /** The final decode and image encoding. */
  decodeMs: number;
  totalMs: number;
}

/** The result for one request, for the manifest. */
export interface SynthesisResult {
  id: string;
  /** The encoded output image. */
  bytes: Buffer;
  format: SynthesisFormat;
  /** The decoded output pixels. */
  image: RgbImage;
  /**
   * Loss of each iteration's decode, in order: `iterations − 1` entries (the iterations whose gradient is
   * used), plus the output's loss with `finalLoss`.
   */
  losses: number[];
  seeds: SynthesisSeeds;
  timings: SynthesisTimings;
}

/** Progress of a batch, for progress bars. */
export interface SynthesisProgress {
  phase: 'encode' | 'denoise' | 'gradient' | 'decode';
  /** 0-based iteration (0 for `encode`). */
  iteration: number;
  /** UNet steps done in this iteration's chain (`denoise` only). */
  step?: number;
  /** UNet steps per chain (`denoise` only). */
  steps?: number;
}

/** Names of the gradient model's interface; defaults are `buildSynthesisGradientModel`'s. */
export interface GradientModelNames {
  /** @defaultValue its only input */
  input?: string;
  /** @defaultValue `'loss'` */
  loss?: string;
  /** @defaultValue `'grad'` */
  grad?: string;
}

/** Options of {@link buildGuidanceModel}. */
export interface GuidanceModelOptions {
  /** The classifier (`[N, 3, H, W]` → logits), e.g. torchvision ResNet50 exported by torch.onnx. */
  classifier: Model;
  /** The VAE decoder (`latent_sample` → `sample`). */
  decoder: Model;
  /** Per-image latent dims `[4, h, w]` (`[4, 64, 64]` at 512² for SD). */
  latentShape: readonly [number, number, number];
  /** @defaultValue `{ kind: 'code' }` */
  loss?: LossHead;
  /** @defaultValue `'dynamic'` (a per-image Loop: batch-invariant) */
  batch?: number | 'dynamic';
}

/**
 * The gradient model of the synthesis stage: z → (per-image loss, ∂lossᵢ/∂zᵢ) through the decoder,
 * clamp, ResNet preprocessing and the classifier (design §5), ready for `modelToBytes` + `createSession`.
 *
 * @throws GraphError from `buildSynthesisGradientModel` for unsupported models.
 */
export function buildGuidanceModel(options: GuidanceModelOptions): Model {
  return buildSynthesisGradientModel({
    classifier: options.classifier,
    decoder: options.decoder,
    preprocess: 'resnet',
    loss: options.loss ?? { kind: 'code' },
    batch: options.batch ?? 'dynamic',
    inputShape: [...options.latentShape],
  });
}

function resolveConfig(partial: Partial<SynthesisConfig>): SynthesisConfig {
  const c: SynthesisConfig = { ...DEFAULT_SYNTHESIS_CONFIG, ...partial };
  requireArg(
    (typeof c.seed === 'number' && Number.isSafeInteger(c.seed) && c.seed >= 0) || typeof c.seed === 'string',
    `seed must be a non-negative integer or a string, got ${String(c.seed)}`,
  );
  requireArg(
    Number.isSafeInteger(c.iterations) && c.iterations >= 1,
    `iterations must be a positive integer, got ${String(c.iterations)}`,
  );
  requireArg(Number.isFinite(c.stepSize), `stepSize must be a finite number, got ${String(c.stepSize)}`);
  requireArg(
    (SYNTHESIS_FORMATS as readonly string[]).includes(c.format),
    `format is ${c.format}. Should be one of: ${SYNTHESIS_FORMATS.join(', ')}`,
  );
  requireArg(
    Number.isInteger(c.quality) && c.quality >= 1 && c.quality <= 100,
    `quality must be an integer in [1, 100], got ${String(c.quality)}`,
  );
  return c;
}

/** Wall clock in milliseconds. */
function now(): number {
  return performance.now();
}

/**
 * SynOOD synthesis over an {@link InpaintingPipeline} and a gradient-model session (see the file notes).
 * The session is owned by the caller.
 */
export class SynOodSynthesizer {
  readonly config: Readonly<SynthesisConfig>;
  private readonly gradIn: TensorMeta;
  private readonly lossName: string;
  private readonly gradName: string;
  /** A fixed batch size of the gradient model, or undefined for a symbolic batch axis. */
  private readonly gradBatch: number | undefined;

  /**
   * @throws DiffusionError `DIFFUSION_ERR_MODEL` when the gradient model lacks its input or outputs,
   * `DIFFUSION_ERR_ARGUMENT` for a bad config value.
   */
  constructor(
    readonly pipeline: InpaintingPipeline,
    readonly gradient: InferenceSession,
    config: Partial<SynthesisConfig> = {},
    names: GradientModelNames = {},
  ) {
    this.config = Object.freeze(resolveConfig(config));
    const inputs = inputsOf(gradient);
    this.gradIn = pickMeta(inputs, names.input === undefined ? [] : [names.input], 'gradient', 'input');
    if (names.input === undefined && inputs.length !== 1) {
      throw new DiffusionError(
        DiffusionErrorCode.Model,
        `the gradient model has ${inputs.length} inputs (${inputs.map((m) => m.name).join(', ')}); name the latent one`,
      );
    }
    requireFloat(this.gradIn, 'gradient input');
    const outputs = outputsOf(gradient);
    this.lossName = pickMeta(outputs, [names.loss ?? 'loss'], 'gradient', 'output').name;
    this.gradName = pickMeta(outputs, [names.grad ?? 'grad'], 'gradient', 'output').name;
    const b = this.gradIn.shape[0];
    this.gradBatch = typeof b === 'number' ? b : undefined;
  }

  /**
   * Loss and gradient of each image at z = z₀ / scaling factor. A fixed-batch model is run in chunks of
   * its batch size, the last chunk padded with copies of its last image (their results are dropped).
   */
  private async lossAndGradient(z0: LatentBatch): Promise<{ loss: Float32Array; grad: Float32Array }> {
    const n = z0.count;
    const per = z0.shape[0] * z0.shape[1] * z0.shape[2];
    const inv = 1 / this.pipeline.config.scalingFactor;
    const z = new Float32Array(z0.data.length);
    for (let i = 0; i < z.length; i++) {
      z[i] = z0.data[i]! * inv;
    }
    const declared = this.gradIn.shape.slice(1);
    if (declared.some((d, i) => typeof d === 'number' && d !== z0.shape[i])) {
      throw new DiffusionError(
        DiffusionErrorCode.Model,
        `the gradient model takes latents [${declared.join(', ')}] per image, the pipeline makes ` +
          `[${z0.shape.join(', ')}]; rebuild it with latentShape [${z0.shape.join(', ')}] for this image size`,
      );
    }
    const chunk = this.gradBatch ?? n;
    const loss = new Float32Array(n);
    const grad = new Float32Array(n * per);
    for (let start = 0; start < n; start += chunk) {
      const count = Math.min(chunk, n - start);
      const input = new Float32Array(chunk * per);
      input.set(z.subarray(start * per, (start + count) * per));
      for (let pad = count; pad < chunk; pad++) {
        input.copyWithin(pad * per, (count - 1) * per, count * per);
      }
      const results = await runSession(this.gradient, {
        [this.gradIn.name]: floatTensor(this.gradIn, input, [chunk, ...z0.shape]),
      });
      const l = readFloat(results, this.lossName, 'gradient model', [chunk]);
      const g = readFloat(results, this.gradName, 'gradient model', [chunk, ...z0.shape]);
      loss.set(l.subarray(0, count), start);
      grad.set(g.subarray(0, count * per), start * per);
    }
    return { loss, grad };
  }

  /**
   * Synthesises a batch. The batch is processed together (one UNet call per step for all images), and
   * the result for each image equals what a batch of one gives.
   *
   * @throws DiffusionError `DIFFUSION_ERR_ARGUMENT` for an empty batch or repeated ids; model errors as
   * {@link InpaintingPipeline}.
   */
  async synthesize(
    requests: readonly SynthesisRequest[],
    onProgress?: (progress: SynthesisProgress) => void,
  ): Promise<SynthesisResult[]> {
    requireArg(requests.length > 0, 'synthesize needs at least one request');
    const ids = new Set(requests.map((r) => r.id));
    requireArg(ids.size === requests.length, 'synthesize needs distinct image ids within a batch');
    const { iterations, stepSize, seed } = this.config;
    const pipeline = this.pipeline;
    const n = requests.length;
    const seeds = requests.map((r) => synthesisSeeds(seed, r.id));
    const totals = { encodeMs: 0, denoiseMs: 0, gradientMs: 0, decodeMs: 0 };

    let t0 = now();
    onProgress?.({ phase: 'encode', iteration: 0 });
    const pixels = pipeline.preprocess(requests.map((r) => r.image));
    const image = await pipeline.encodeImages(
      pixels,
      n,
      seeds.map((s) => new Rng(s.posterior)),
    );
    const per = image.data.length / n;
    const eps = new Float32Array(image.data.length);
    seeds.forEach((s, i) => {
      new Rng(s.noise).fillNormal(eps.subarray(i * per, (i + 1) * per));
    });
    const cond = await pipeline.encodePrompts(requests.map((r) => r.prompt));
    const masked = await pipeline.maskedImageLatents(seeds[0]!.maskedImage);
    if (pipeline.guided) {
      await pipeline.unconditionalEmbedding();
    }
    totals.encodeMs += now() - t0;

    const losses: number[][] = requests.map(() => []);
    let z0: Float32Array | undefined;
    for (let it = 0; it < iterations; it++) {
      t0 = now();
      const start: LatentBatch = { ...image, data: pipeline.startLatents(image.data, eps) };
      z0 = await pipeline.denoise(start, cond, masked, (step, steps) => {
        onProgress?.({ phase: 'denoise', iteration: it, step, steps });
      });
      totals.denoiseMs += now() - t0;
      const last = it === iterations - 1;
      if (!last || this.config.finalLoss) {
        t0 = now();
        const { loss, grad } = await this.lossAndGradient({ ...image, data: z0 });
        loss.forEach((l, i) => losses[i]!.push(l));
        if (!last) {
          for (let k = 0; k < eps.length; k++) {
            eps[k] = eps[k]! - stepSize * grad[k]!;
          }
        }
        totals.gradientMs += now() - t0;
        onProgress?.({ phase: 'gradient', iteration: it });
      }
    }

    t0 = now();
    const images = await pipeline.decode({ ...image, data: z0! });
    const bytes = await Promise.all(
      images.map((img) =>
        this.config.format === 'jpeg' ? encodeJpeg(img, this.config.quality) : encodePng(img),
      ),
    );
    totals.decodeMs += now() - t0;
    onProgress?.({ phase: 'decode', iteration: iterations - 1 });

    const timings: SynthesisTimings = {
      encodeMs: totals.encodeMs / n,
      denoiseMs: totals.denoiseMs / n,
      gradientMs: totals.gradientMs / n,
      decodeMs: totals.decodeMs / n,
      totalMs: (totals.encodeMs + totals.denoiseMs + totals.gradientMs + totals.decodeMs) / n,
    };
    return requests.map((r, i) => ({
      id: r.id,
      bytes: bytes[i]!,
      format: this.config.format,
      image: images[i]!,
      losses: losses[i]!,
      seeds: seeds[i]!,
      timings: { ...timings },
    }));
  }
}
