/**
 * @file `synood bench clip`: CLIP feature extraction on CPU. Image embeddings per second of a ViT-B/16-shaped
 * vision tower at 224 from pre-decoded tensors, JPEG decode + CLIP preprocessing per core, the same tower end
 * to end from JPEG bytes (decoding overlapped with inference), and text prompts per second of the ViT-B/16
 * text tower padded to 77 tokens and to the batch's longest prompt. Every model row is set beside the
 * measured fp32 GEMM peak: the limit is the row's FLOPs ÷ that peak.
 *
 * The towers are `@synood/graph` fixtures with the real shapes and random weights; speed does not depend on
 * the weights.
 */
import { type ClipFixtureOptions, clipTextFixture, clipVisionFixture, encodeModel } from '@synood/graph';
import { ClipImageEncoder, ClipTextEncoder, ClipTokenizer, type ClipTokens } from '@synood/models';
import { OrtLinalgBackend } from '@synood/onnx';
import { type LinalgBackend, Rng, randomNormalMatrix } from '@synood/tensor';
import { type EncodedImage, encodeJpeg, preprocessBatch } from '@synood/vision';
import { cpus } from 'node:os';

import type { BenchSuite } from './suite';

/** CLIP ViT-B/16's image tower (open_clip / HF `openai/clip-vit-base-patch16`). */
export const VIT_B16_VISION: Readonly<ClipFixtureOptions> = Object.freeze({
  imageSize: 224,
  patch: 16,
  width: 768,
  layers: 12,
  heads: 12,
  mlp: 3072,
  embedDim: 512,
});

/** CLIP ViT-B/16's text tower: 12 layers of width 512, 8 heads, 77 tokens, 49,408-token vocabulary. */
export const VIT_B16_TEXT: Readonly<ClipFixtureOptions> = Object.freeze({
  width: 512,
  layers: 12,
  heads: 8,
  mlp: 2048,
  embedDim: 512,
  vocabSize: 49408,
  contextLength: 77,
});

/** Sizes of the CLIP benchmark; {@link FULL_CLIP_SIZES} are the real towers. */
export interface ClipBenchSizes {
  vision: ClipFixtureOptions;
  text: ClipFixtureOptions;
  /** Images per vision run and timed runs. */
  visionBatch: number;
  visionRuns: number;
  /** Prompts per text run and timed runs per row. */
  textBatch: number;
  textRuns: number;
  /** Tokens of the short prompts (start and end included): "a photo of a {label}." is ≤ 16. */
  shortPromptTokens: number;
  /** JPEGs decoded for the per-core row, and their size (ImageNet's typical 500×375). */
  decodeImages: number;
  jpegWidth: number;
  jpegHeight: number;
  /** JPEGs embedded end to end. */
  endToEndImages: number;
  /** Side of the square GEMM that measures the peak. */
  peakN: number;
}

/** ViT-B/16 at 224 and its text tower: the figures of docs/benchmarks.md. */
export const FULL_CLIP_SIZES: Readonly<ClipBenchSizes> = Object.freeze({
  vision: VIT_B16_VISION,
  text: VIT_B16_TEXT,
  visionBatch: 8,
  visionRuns: 3,
  textBatch: 64,
  textRuns: 2,
  shortPromptTokens: 16,
  decodeImages: 64,
  jpegWidth: 500,
  jpegHeight: 375,
  endToEndImages: 24,
  peakN: 2048,
});

/** Small towers that run in seconds (tests and `--quick`): a smoke test, not the targets. */
export const QUICK_CLIP_SIZES: Readonly<ClipBenchSizes> = Object.freeze({
  vision: { imageSize: 64, patch: 16, width: 64, layers: 2, heads: 2, mlp: 256, embedDim: 32 },
  text: { width: 64, layers: 2, heads: 2, mlp: 256, embedDim: 32, vocabSize: 49408, contextLength: 77 },
  visionBatch: 4,
  visionRuns: 2,
  textBatch: 16,
  textRuns: 2,
  shortPromptTokens: 16,
  decodeImages: 8,
  jpegWidth: 200,
  jpegHeight: 150,
  endToEndImages: 8,
  peakN: 512,
});

/**
 * FLOPs (2 per multiply-add) of one pre-norm transformer layer over `n` tokens of width `d` with an MLP of
 * `mlp`: QKV 6nd², attention scores and weighted sum 4n²d, output projection 2nd², MLP 4nd·mlp. Norms,
 * softmax and activations are elementwise and left out (< 1 %).
 */
export function transformerLayerFlops(n: number, d: number, mlp: number): number {
  return 8 * n * d * d + 4 * n * n * d + 4 * n * d * mlp;
}

function resolved(
  o: ClipFixtureOptions,
  defaults: Required<ClipFixtureOptions>,
): Required<ClipFixtureOptions> {
  const r = { ...defaults, ...o };
  return { ...r, mlp: o.mlp ?? 4 * r.width };
}

const FIXTURE_DEFAULTS: Required<ClipFixtureOptions> = {
  seed: 0,
  imageSize: 32,
  patch: 8,
  width: 32,
  layers: 1,
  heads: 2,
  mlp: 128,
  embedDim: 16,
  vocabSize: 49408,
  contextLength: 77,
};

/**
 * FLOPs of one image through a ViT image tower: patch embedding 2·p²·3·d per patch, the layers over
 * (S/p)² + 1 tokens, the projection 2·d·E. ViT-B/16 at 224 gives 35.1 GFLOP (17.6 GMAC), the open_clip
 * profile's figure.
 */
export function visionFlops(options: ClipFixtureOptions): number {
  const o = resolved(options, FIXTURE_DEFAULTS);
  const patches = (o.imageSize / o.patch) ** 2;
  return (
    patches * 2 * o.patch * o.patch * 3 * o.width +
    o.layers * transformerLayerFlops(patches + 1, o.width, o.mlp) +
    2 * o.width * o.embedDim
  );
}

/**
 * FLOPs of one prompt of `tokens` tokens through a CLIP text tower (the embedding lookup is free; the
 * projection applies to the end token only). ViT-B/16's at 77 tokens gives 5.96 GFLOP.
 */
export function textFlops(options: ClipFixtureOptions, tokens: number): number {
  const o = resolved(options, FIXTURE_DEFAULTS);
  return o.layers * transformerLayerFlops(tokens, o.width, o.mlp) + 2 * o.width * o.embedDim;
}

/** One benchmark row. Rows without FLOPs (decoding) have `flops` 0 and no share of peak. */
export interface ClipBenchRow {
  name: string;
  threads: number;
  seconds: number;
  /** Items (images or prompts) processed in `seconds`. */
  items: number;
  /** Human-readable result, e.g. "7.21 img/s". */
  result: string;
  /** FLOPs of the timed work. */
  flops: number;
  /** Achieved GFLOP/s (0 without FLOPs). */
  gflops: number;
  /** Achieved / measured fp32 peak at the row's thread count (null without FLOPs). */
  shareOfPeak: number | null;
  /** The rate at 100 % of the measured peak, in the result's unit ("—" without FLOPs). */
  limit: string;
  /** Target or anchor from docs/perf-anchors.md. */
  target: string;
}

type MeasuredRow = Omit<ClipBenchRow, 'gflops' | 'shareOfPeak' | 'limit' | 'result'>;

/** Everything a run reports. */
export interface ClipBenchReport {
  hardware: { cpu: string; cores: number; node: string; date: string };
  quick: boolean;
  /** Measured onnxruntime fp32 GEMM peak per thread count, GFLOP/s. */
  peak: Record<number, number>;
  /** FLOPs per image and per prompt (77 tokens) of the measured towers. */
  flopsPerImage: number;
  flopsPerPrompt: number;
  rows: ClipBenchRow[];
}

async function time<T>(f: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const t0 = process.hrtime.bigint();
  const value = await f();
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, value };
}

/** Best-of-`repeats` GFLOP/s of a square fp32 GEMM: the machine's practical peak for this workload. */
async function measurePeak(backend: LinalgBackend, n: number, repeats: number): Promise<number> {
  const rng = new Rng('bench-clip-peak');
  const a = randomNormalMatrix(rng, n, n);
  const b = randomNormalMatrix(rng, n, n);
  await backend.gemm(a, b); // warm-up: session creation, page faults
  let best = Infinity;
  for (let r = 0; r < repeats; r++) {
    best = Math.min(best, (await time(() => backend.gemm(a, b))).seconds);
  }
  return (2 * n ** 3) / best / 1e9;
}

/**
 * A tokenizer with only CLIP's special tokens: the text rows feed hand-made id rows, so only the ids'
 * range matters, not a vocabulary.
 */
function specialsOnlyTokenizer(contextLength: number): ClipTokenizer {
  const vocab = { '<|startoftext|>': 49406, '<|endoftext|>': 49407 };
  return ClipTokenizer.fromJson(
    {
      added_tokens: [],
      normalizer: null,
      pre_tokenizer: null,
      post_processor: null,
      decoder: null,
      model: { type: 'BPE', vocab, merges: [], unk_token: '<|endoftext|>', end_of_word_suffix: '</w>' },
    },
    { contextLength },
    'bench tokenizer',
  );
}

/** `count` rows of `length` tokens: start, random ids below the special tokens, end, padding. */
function randomTokens(rng: Rng, count: number, length: number, used: number): ClipTokens {
  const ids = new BigInt64Array(count * length).fill(49407n);
  const attentionMask = new BigInt64Array(count * length);
  for (let r = 0; r < count; r++) {
    ids[r * length] = 49406n;
    for (let t = 1; t < used - 1; t++) {
      ids[r * length + t] = BigInt(rng.int(49406));
    }
    attentionMask.fill(1n, r * length, r * length + used);
  }
  return { count, length, ids, attentionMask, lengths: new Int32Array(count).fill(used), truncated: [] };
}

/** A smooth, photo-like RGB image (gradients plus noise), so JPEG sizes and decode times are realistic. */
function photoLike(
  rng: Rng,
  width: number,
  height: number,
): { width: number; height: number; data: Uint8Array } {
  const data = new Uint8Array(width * height * 3);
  const phase = [rng.uniform() * 6, rng.uniform() * 6, rng.uniform() * 6];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        const v =
          128 + 90 * Math.sin(x / 37 + phase[c]!) * Math.cos(y / 23 - phase[c]!) + 20 * (rng.uniform() - 0.5);
        data[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return { width, height, data };
}

/**
 * The CLIP benchmark (see the file notes). Vision and text run on 2 onnxruntime threads, decoding one
 * image at a time (one core).
 */
export async function runClipBench(
  sizes: ClipBenchSizes = FULL_CLIP_SIZES,
  log: (line: string) => void = () => undefined,
): Promise<ClipBenchReport> {
  const rng = new Rng('bench-clip');
  const full = sizes === FULL_CLIP_SIZES;
  const rows: ClipBenchRow[] = [];
  const peak: Record<number, number> = {};
  // Measured before and after the rows, keeping the higher: a peak is a maximum, and on shared cores one
  // measurement can land in another process's busy spell.
  const samplePeak = async (): Promise<void> => {
    for (const threads of [1, 2]) {
      const backend = await OrtLinalgBackend.create({ executionProvider: 'cpu', intraOpThreads: threads });
      try {
        peak[threads] = Math.max(peak[threads] ?? 0, await measurePeak(backend, sizes.peakN, 3));
      } finally {
        await backend.dispose();
      }
    }
    log(
      `fp32 GEMM peak (onnxruntime, ${sizes.peakN}³): 1 thread ${peak[1]!.toFixed(1)} GFLOP/s, 2 threads ${peak[2]!.toFixed(1)}`,
    );
  };
  await samplePeak();
  // Rows are completed after the second peak measurement, which their share and limit depend on.
  const measured: { row: MeasuredRow; unit: string }[] = [];
  const row = (r: MeasuredRow, unit: string): void => {
    measured.push({ row: r, unit });
    const rate = r.items / r.seconds;
    log(
      `${r.name.trim()}: ${rate.toFixed(2)} ${unit}${r.flops > 0 ? ` (${(r.flops / r.seconds / 1e9).toFixed(1)} GFLOP/s)` : ''}`,
    );
  };
  const finish = (r: MeasuredRow, unit: string): void => {
    const rate = r.items / r.seconds;
    const gflops = r.flops / r.seconds / 1e9;
    const p = peak[r.threads]!;
    rows.push({
      ...r,
      result: `${rate.toFixed(2)} ${unit}`,
      gflops,
      shareOfPeak: r.flops > 0 ? gflops / p : null,
      limit: r.flops > 0 ? `${((p * 1e9 * r.items) / r.flops).toFixed(2)} ${unit}` : '—',
    });
  };
  const v = resolved(sizes.vision, FIXTURE_DEFAULTS);
  const t = resolved(sizes.text, FIXTURE_DEFAULTS);
  const flopsPerImage = visionFlops(v);
  const flopsPerPrompt = textFlops(t, t.contextLength);
  const visionName = `ViT ${v.imageSize}/${v.patch} width ${v.width} × ${v.layers} layers`;
  const textName = `width ${t.width} × ${t.layers} layers`;

  // JPEGs for the decode and end-to-end rows.
  const jpegCount = Math.max(sizes.decodeImages, sizes.endToEndImages);
  const jpegs: EncodedImage[] = [];
  for (let i = 0; i < jpegCount; i++) {
    jpegs.push({
      bytes: await encodeJpeg(photoLike(rng, sizes.jpegWidth, sizes.jpegHeight), 90),
      name: `img${i}.jpg`,
    });
  }

  // Vision tower: pre-decoded tensors, then end to end from JPEG bytes.
  const built = await time(() =>
    Promise.resolve(encodeModel(clipVisionFixture({ ...sizes.vision, seed: 1 })).model),
  );
  const loaded = await time(() => ClipImageEncoder.create(built.value, { session: { intraOpThreads: 2 } }));
  const vision = loaded.value;
  log(
    `vision model: ${(built.value.byteLength / 2 ** 20).toFixed(0)} MiB built in ${built.seconds.toFixed(1)} s, ` +
      `session loaded in ${loaded.seconds.toFixed(1)} s`,
  );
  try {
    const s = v.imageSize;
    const pixels = {
      data: Float32Array.from({ length: sizes.visionBatch * 3 * s * s }, () => rng.normal()),
      dims: [sizes.visionBatch, 3, s, s] as const,
    };
    await vision.encodePixels(pixels); // warm-up
    const infer = await time(async () => {
      for (let r = 0; r < sizes.visionRuns; r++) {
        await vision.encodePixels(pixels);
      }
    });
    const inferred = sizes.visionBatch * sizes.visionRuns;
    row(
      {
        name: `CLIP image tower (${visionName}), batch ${sizes.visionBatch}, pre-decoded tensors`,
        threads: 2,
        seconds: infer.seconds,
        items: inferred,
        flops: inferred * flopsPerImage,
        target: full ? '≥ 7 img/s (≥ 85 % of the limit); anchor 7.49 img/s' : '—',
      },
      'img/s',
    );

    const decode = await time(() =>
      preprocessBatch(jpegs.slice(0, sizes.decodeImages), vision.preset, { concurrency: 1 }),
    );
    row(
      {
        name: `JPEG decode + CLIP preprocess (${sizes.jpegWidth}×${sizes.jpegHeight} → ${v.imageSize}, bicubic), one at a time`,
        threads: 1,
        seconds: decode.seconds,
        items: sizes.decodeImages,
        flops: 0,
        target: full ? 'anchor: sharp decode + resize 235–260 img/s per core' : '—',
      },
      'img/s per core',
    );

    const e2e = await time(() =>
      vision.encodeImages(jpegs.slice(0, sizes.endToEndImages), { batchSize: sizes.visionBatch }),
    );
    row(
      {
        name: `  end to end from JPEG bytes, decoding overlapped with inference, batch ${sizes.visionBatch}`,
        threads: 2,
        seconds: e2e.seconds,
        items: sizes.endToEndImages,
        flops: sizes.endToEndImages * flopsPerImage,
        target: full ? 'close to the pre-decoded rate (decoding is ~3 % of the work)' : '—',
      },
      'img/s',
    );
  } finally {
    await vision.release();
  }

  // Text tower: padded to the context length, then to the batch's longest (short) prompt.
  const textBytes = encodeModel(clipTextFixture({ ...sizes.text, seed: 2 })).model;
  for (const [padTo, length] of [
    ['context', t.contextLength],
    ['longest', sizes.shortPromptTokens],
  ] as const) {
    const text = await ClipTextEncoder.create(textBytes, specialsOnlyTokenizer(t.contextLength), {
      session: { intraOpThreads: 2 },
      padTo,
    });
    try {
      const tokens = randomTokens(rng, sizes.textBatch, length, sizes.shortPromptTokens);
      await text.encodeTokens(tokens); // warm-up
      const run = await time(async () => {
        for (let r = 0; r < sizes.textRuns; r++) {
          await text.encodeTokens(tokens);
        }
      });
      const prompts = sizes.textBatch * sizes.textRuns;
      row(
        {
          name:
            padTo === 'context'
              ? `CLIP text tower (${textName}), batch ${sizes.textBatch}, padded to ${length} tokens`
              : `  same, ${length}-token prompts padded to the longest (--pad-to longest; same features)`,
          threads: 2,
          seconds: run.seconds,
          items: prompts,
          flops: prompts * textFlops(t, length),
          target: full
            ? padTo === 'context'
              ? 'anchor 40.7 prompts/s (243 GFLOP/s)'
              : '~4–5× the padded rate'
            : '—',
        },
        'prompts/s',
      );
    } finally {
      await text.release();
    }
  }

  await samplePeak();
  for (const m of measured) {
    finish(m.row, m.unit);
  }
  return {
    hardware: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      node: process.version,
      date: new Date().toISOString(),
    },
    quick: !full,
    peak,
    flopsPerImage,
    flopsPerPrompt,
    rows,
  };
}

/** Markdown table of a report, as recorded in docs/benchmarks.md. */
export function formatClipBench(report: ClipBenchReport): string {
  const h = report.hardware;
  const lines = [
    `Hardware: ${h.cpu}, ${h.cores} cores; Node ${h.node}; ${h.date.slice(0, 10)}.${report.quick ? ' Quick sizes (smoke test, not the targets).' : ''}`,
    `Measured fp32 GEMM peak (onnxruntime): ${report.peak[1]!.toFixed(1)} GFLOP/s on 1 thread, ${report.peak[2]!.toFixed(1)} GFLOP/s on 2.`,
    `FLOPs (2 per multiply-add): ${(report.flopsPerImage / 1e9).toFixed(2)} GFLOP per image, ` +
      `${(report.flopsPerPrompt / 1e9).toFixed(2)} GFLOP per 77-token prompt.`,
    '',
    '| benchmark | threads | result | target | GFLOP/s | share of peak | limit (FLOPs ÷ peak) |',
    '|---|---|---|---|---|---|---|',
    ...report.rows.map(
      (r) =>
        `| ${r.name.trim()} | ${r.threads} | ${r.result} | ${r.target} | ${r.flops > 0 ? r.gflops.toFixed(1) : '—'} | ` +
        `${r.shareOfPeak === null ? '—' : `${(100 * r.shareOfPeak).toFixed(0)}%`} | ${r.limit} |`,
    ),
  ];
  if (report.rows.some((r) => r.shareOfPeak !== null && r.shareOfPeak > 1)) {
    lines.push(
      '',
      'A share above 100 % means the peak was measured low: other processes were using the cores during both ' +
        'peak measurements. Rerun on idle cores before quoting these shares.',
    );
  }
  return lines.join('\n');
}

/** `synood bench clip`. */
export const clipSuite: BenchSuite = {
  name: 'clip',
  description: 'CLIP image and text features: embeddings/s against the fp32 limit, JPEG decode per core',
  run: async ({ quick, log }) => {
    const report = await runClipBench(quick ? QUICK_CLIP_SIZES : FULL_CLIP_SIZES, log);
    return { markdown: formatClipBench(report), report };
  },
};
