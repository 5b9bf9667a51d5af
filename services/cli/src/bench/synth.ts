/**
 * @file `synood bench synth`: seconds per image of SynOOD's guided synthesis (the whole recipe: encode,
 * 3 denoising passes of the strength-truncated PNDM chain with CFG, 2 gradient-model runs, the final
 * decode) on the CPU at a reduced size with SD-shaped fixture models, the achieved rate over the matrix
 * FLOPs the run did, and beside it the FLOPs per image of the real SD 2 inpainting recipe at 512²
 * (perf-anchors §3) with what the achieved rate and the measured peak imply for it.
 */
import {
  InpaintingPipeline,
  type PromptTokenizer,
  SynOodSynthesizer,
  buildGuidanceModel,
} from '@synood/diffusion';
import {
  type Model,
  type SdFixtureOptions,
  countFlops,
  encodeModel,
  resnetClassifierFixture,
  sdTextEncoderFixture,
  unetFixture,
  vaeDecoderFixture,
  vaeEncoderFixture,
} from '@synood/graph';
import { type InferenceSession, createSession, releaseSession } from '@synood/onnx';
import type { RgbImage } from '@synood/vision';
import { type Hardware, hardwareInfo, measureGemmPeak, timed } from './common';
import type { BenchSuite } from './suite';

/** Sizes of the synthesis benchmark. */
export interface SynthBenchSizes {
  /** Square working size of the images (a multiple of 8 and of the VAE factor × 2). */
  imageSize: number;
  /** SD fixture sizes (VAE factor, widths, text width). */
  sd: SdFixtureOptions;
  /** Classifier: the real ResNet50 topology or the tiny test network. */
  classifier: 'resnet50' | 'tiny';
  /** Images per batch. */
  batch: number;
  /** Timed batches (best of, after one warm-up batch). */
  repeats: number;
  /** Intra-op threads. */
  threads: number;
}

/** CPU sizes: 128² images with an SD-shaped VAE (factor 8) and UNet, ResNet50 on 224² crops. */
export const SYNTH_FULL_SIZES: Readonly<SynthBenchSizes> = Object.freeze({
  imageSize: 128,
  sd: { width: 32, groups: 8, factor: 8, hidden: 64, heads: 4, layers: 2 },
  classifier: 'resnet50',
  batch: 2,
  repeats: 2,
  threads: 2,
});

/** Seconds-long smoke sizes. */
export const SYNTH_QUICK_SIZES: Readonly<SynthBenchSizes> = Object.freeze({
  imageSize: 32,
  sd: { width: 8, groups: 2, factor: 2, hidden: 16, heads: 2, layers: 1 },
  classifier: 'tiny',
  batch: 2,
  repeats: 1,
  threads: 2,
});

/** One component of the real recipe's per-image cost. */
export interface RecipeComponent {
  name: string;
  /** As perf-anchors §3 counts the reference code (input gradients only). */
  referenceTflops: number;
  /** As this implementation runs it. */
  oursTflops: number;
  note: string;
}

/** Per-evaluation costs at 512² from perf-anchors §3, TFLOP (2 × MACs). */
const UNET_CFG_STEP = 1.78;
const VAE_ENCODE = 1.13;
const VAE_DECODE = 2.54;
/** Decoder forward plus the backward pass to its input only (≈ 1× forward). */
const VAE_DECODE_INPUT_GRAD = 2 * VAE_DECODE;
const TEXT_ENCODE = 0.0471;
const RESNET50_INPUT_GRAD = 0.0164;

/**
 * The real SD 2 inpainting recipe per image at 512², as perf-anchors §3 counts the reference (3 passes of
 * 12 CFG UNet steps, 3 decoder forward + input-gradient passes, 4 VAE encodes, 6 prompt encodings,
 * 3 ResNet50 forward + input-gradient passes: ≈ 85 TFLOP) beside this implementation (13 CFG UNet calls
 * per pass, as PNDM's truncated schedule 601 … 1 makes; 2 gradient passes and one plain decode; the
 * masked-image encoding and the empty prompt cached).
 */
export const SD2_RECIPE: readonly RecipeComponent[] = Object.freeze([
  {
    name: 'UNet (CFG, 64² latents)',
    referenceTflops: 3 * 12 * UNET_CFG_STEP,
    oursTflops: 3 * 13 * UNET_CFG_STEP,
    note: 'perf-anchors counts 12 steps; the PNDM chain at strength 0.6 makes 13 UNet calls (reference §3.2)',
  },
  {
    name: 'VAE decoder',
    referenceTflops: 3 * VAE_DECODE_INPUT_GRAD,
    oursTflops: 2 * VAE_DECODE_INPUT_GRAD + VAE_DECODE,
    note: 'forward + input gradient; the last pass needs no gradient here',
  },
  {
    name: 'VAE encoder',
    referenceTflops: 4 * VAE_ENCODE,
    oursTflops: VAE_ENCODE,
    note: 'the grey masked image is encoded once per run here',
  },
  {
    name: 'text encoder',
    referenceTflops: 3 * 2 * TEXT_ENCODE,
    oursTflops: TEXT_ENCODE,
    note: 'the prompt once, the empty prompt cached',
  },
  {
    name: 'ResNet50 (fwd + input grad)',
    referenceTflops: 3 * RESNET50_INPUT_GRAD,
    oursTflops: 2 * RESNET50_INPUT_GRAD,
    note: '',
  },
]);

/** Total TFLOP per image of {@link SD2_RECIPE}. */
export function recipeTotals(): { reference: number; ours: number } {
  return {
    reference: SD2_RECIPE.reduce((s, c) => s + c.referenceTflops, 0),
    ours: SD2_RECIPE.reduce((s, c) => s + c.oursTflops, 0),
  };
}

/** Everything a run reports. */
export interface SynthBenchReport {
  hardware: Hardware;
  sizes: SynthBenchSizes;
  /** Measured fp32 GEMM peak at the benchmark's thread count, GFLOP/s. */
  peak: number;
  /** Best seconds per image of the whole guided synthesis at the reduced size. */
  secondsPerImage: number;
  /** Matrix-product FLOPs per image of that run (counted from the graphs' shapes). */
  flopsPerImage: number;
  /** Achieved GFLOP/s over those FLOPs. */
  gflops: number;
  shareOfPeak: number;
  /** Phase split of the timed batch, ms per image. */
  phases: { encodeMs: number; denoiseMs: number; gradientMs: number; decodeMs: number };
  /** UNet calls per pass. */
  unetCallsPerPass: number;
  /** The real recipe's TFLOP per image (reference count and ours). */
  recipe: { reference: number; ours: number };
  /** Seconds per image the real recipe (our count) would take at the achieved rate and at the peak. */
  projectedSecondsPerImage: { atAchievedRate: number; atPeak: number };
}

function testImage(size: number, variant: number): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let p = 0; p < size * size; p++) {
    const x = p % size;
    const y = Math.floor(p / size);
    data.set([(x * 255) / size, (y * 255) / size, (128 + 60 * Math.sin((x + y + variant) / 5)) | 0], 3 * p);
  }
  return { width: size, height: size, data };
}

/** Ids in CLIP's layout without a vocabulary: the benchmark's cost does not depend on the ids. */
const benchTokenizer: PromptTokenizer = {
  encodeIds(texts) {
    const ids = new BigInt64Array(texts.length * 77);
    texts.forEach((text, r) => {
      const body = Array.from(text.slice(0, 75), (ch) => BigInt(ch.charCodeAt(0) % 1000));
      ids.set([49406n, ...body, 49407n], r * 77);
    });
    return { ids, length: 77 };
  },
};

const flopsOf = (model: Model, shapes: Record<string, number[]>): number =>
  countFlops(model.graph, shapes).total;

/**
 * Runs the synthesis benchmark: builds the fixtures, times whole guided-synthesis batches (best of
 * `repeats` after a warm-up) and counts the matrix FLOPs of what ran.
 */
export async function runSynthBench(
  sizes: SynthBenchSizes = SYNTH_FULL_SIZES,
  log: (line: string) => void = () => undefined,
): Promise<SynthBenchReport> {
  const peak = await measureGemmPeak(sizes.threads, sizes.classifier === 'resnet50' ? [1024, 2048] : 512);
  log(`fp32 GEMM peak (onnxruntime, ${sizes.threads} threads): ${peak.toFixed(1)} GFLOP/s`);
  const sd = sizes.sd;
  const unet = unetFixture({ ...sd, seed: 1 });
  const encoder = vaeEncoderFixture({ ...sd, seed: 2 });
  const decoder = vaeDecoderFixture({ ...sd, seed: 3 });
  const text = sdTextEncoderFixture({ ...sd, seed: 4 });
  const classifier = resnetClassifierFixture({ layout: sizes.classifier, seed: 5 });
  const factor = sd.factor ?? 2;
  const hw = sizes.imageSize / factor;
  const latentShape: [number, number, number] = [4, hw, hw];
  const config = { intraOpThreads: sizes.threads };
  const open = (m: Model): Promise<InferenceSession> => createSession(encodeModel(m).model, config);
  const sessions = {
    textEncoder: await open(text),
    vaeEncoder: await open(encoder),
    vaeDecoder: await open(decoder),
    unet: await open(unet),
  };
  const gradient = await open(buildGuidanceModel({ classifier, decoder, latentShape }));
  try {
    const pipeline = new InpaintingPipeline(sessions, benchTokenizer, {
      width: sizes.imageSize,
      height: sizes.imageSize,
    });
    const synthesizer = new SynOodSynthesizer(pipeline, gradient);
    const n = sizes.batch;
    const batchOf = (round: number) =>
      Array.from({ length: n }, (_, i) => ({
        id: `bench-${round}-${i}`,
        image: testImage(sizes.imageSize, i),
        prompt: 'A photo only remain grass, fence, sky.',
      }));
    log(`warm-up: ${n} images at ${sizes.imageSize}²`);
    await synthesizer.synthesize(batchOf(-1));
    let best = Infinity;
    let phases = { encodeMs: 0, denoiseMs: 0, gradientMs: 0, decodeMs: 0 };
    for (let r = 0; r < sizes.repeats; r++) {
      const { seconds, value } = await timed(() => synthesizer.synthesize(batchOf(r)));
      if (seconds < best) {
        best = seconds;
        const t = value[0]!.timings;
        phases = {
          encodeMs: t.encodeMs,
          denoiseMs: t.denoiseMs,
          gradientMs: t.gradientMs,
          decodeMs: t.decodeMs,
        };
      }
    }
    const calls = pipeline.timesteps.length;
    const iterations = synthesizer.config.iterations;
    const rows = pipeline.guided ? 2 * n : n;
    const image = [n, 3, sizes.imageSize, sizes.imageSize];
    const latents = [n, ...latentShape];
    const countGradient = buildGuidanceModel({ classifier, decoder, latentShape, batch: n });
    const flops =
      iterations *
        calls *
        flopsOf(unet, {
          sample: [rows, 9, hw, hw],
          timestep: [1],
          encoder_hidden_states: [rows, 77, sd.hidden ?? 32],
        }) +
      flopsOf(encoder, { sample: image }) +
      flopsOf(text, { input_ids: [n, 77] }) +
      (iterations - 1) * flopsOf(countGradient, { [countGradient.graph.inputs[0]!.name]: latents }) +
      flopsOf(decoder, { latent_sample: latents });
    const secondsPerImage = best / n;
    const flopsPerImage = flops / n;
    const gflops = flopsPerImage / secondsPerImage / 1e9;
    const recipe = recipeTotals();
    const report: SynthBenchReport = {
      hardware: hardwareInfo(),
      sizes: { ...sizes },
      peak,
      secondsPerImage,
      flopsPerImage,
      gflops,
      shareOfPeak: gflops / peak,
      phases,
      unetCallsPerPass: calls,
      recipe,
      projectedSecondsPerImage: {
        atAchievedRate: (recipe.ours * 1e12) / (gflops * 1e9),
        atPeak: (recipe.ours * 1e12) / (peak * 1e9),
      },
    };
    log(
      `guided synthesis at ${sizes.imageSize}²: ${secondsPerImage.toFixed(2)} s/image, ` +
        `${(flopsPerImage / 1e9).toFixed(1)} GFLOP/image, ${gflops.toFixed(1)} GFLOP/s ` +
        `(${(100 * report.shareOfPeak).toFixed(0)}% of peak)`,
    );
    return report;
  } finally {
    for (const s of [...Object.values(sessions), gradient]) {
      await releaseSession(s);
    }
  }
}

/** Markdown of a report, as recorded in docs/benchmarks.md. */
export function formatSynthBench(report: SynthBenchReport): string {
  const h = report.hardware;
  const s = report.sizes;
  const p = report.phases;
  const tf = (v: number): string => v.toFixed(2);
  return [
    `Hardware: ${h.cpu}, ${h.cores} cores; Node ${h.node}; ${h.date.slice(0, 10)}. ${s.threads} intra-op threads, ` +
      `batch ${s.batch}, ${s.imageSize}² images, SD-shaped fixtures (VAE factor ${s.sd.factor ?? 2}, UNet width ` +
      `${s.sd.width ?? 16}), classifier ${s.classifier}; 3 iterations × ${report.unetCallsPerPass} CFG UNet calls.`,
    `Measured fp32 GEMM peak (onnxruntime): ${report.peak.toFixed(1)} GFLOP/s.`,
    '',
    '| run | s/image | GFLOP/image | GFLOP/s | share of peak | encode / denoise / gradient / decode (ms/image) |',
    '|---|---|---|---|---|---|',
    `| guided synthesis, ${s.imageSize}², CPU | ${report.secondsPerImage.toFixed(3)} | ` +
      `${(report.flopsPerImage / 1e9).toFixed(2)} | ${report.gflops.toFixed(1)} | ${(100 * report.shareOfPeak).toFixed(0)}% | ` +
      `${p.encodeMs.toFixed(0)} / ${p.denoiseMs.toFixed(0)} / ${p.gradientMs.toFixed(0)} / ${p.decodeMs.toFixed(0)} |`,
    '',
    'Real SD 2 inpainting recipe at 512², TFLOP per image (perf-anchors §3 figures; input gradients only):',
    '',
    '| component | reference code | this implementation | note |',
    '|---|---|---|---|',
    ...SD2_RECIPE.map((c) => `| ${c.name} | ${tf(c.referenceTflops)} | ${tf(c.oursTflops)} | ${c.note} |`),
    `| **total** | **${tf(report.recipe.reference)}** | **${tf(report.recipe.ours)}** | |`,
    '',
    `At the achieved ${report.gflops.toFixed(1)} GFLOP/s the real recipe would take ` +
      `${(report.projectedSecondsPerImage.atAchievedRate / 60).toFixed(1)} min/image on this CPU; at the measured ` +
      `peak ${(report.projectedSecondsPerImage.atPeak / 60).toFixed(1)} min/image.`,
  ].join('\n');
}

/** The `synth` suite of `synood bench`. */
export const synthSuite: BenchSuite = {
  name: 'synth',
  description: 'SynOOD guided synthesis: s/image at reduced size on the CPU, beside the real recipe’s FLOPs',
  run: async ({ quick, log }) => {
    const report = await runSynthBench(quick ? SYNTH_QUICK_SIZES : SYNTH_FULL_SIZES, log);
    return { markdown: formatSynthBench(report), report };
  },
};
