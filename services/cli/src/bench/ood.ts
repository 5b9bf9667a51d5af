import {
  DEFAULT_LABEL_FINETUNING,
  DEFAULT_PROJECTION_TRAINING,
  finetuneLabels,
  negLabelLayout,
  negLabelScores,
  trainProjection,
} from '@synood/ood';
import { OrtLinalgBackend } from '@synood/onnx';
import { Rng, TypeScriptBackend, randomNormalMatrix } from '@synood/tensor';
import { type Hardware, hardwareInfo, measureGemmPeak, timed } from './common';

/** Sizes of the OOD-core benchmark; {@link FULL_SIZES} are the targets. */
export interface OodBenchSizes {
  dim: number;
  indLabels: number;
  negatives: number;
  groups: number;
  scoreImages: number;
  /** Images scored by the plain-TypeScript baseline (it is ~50× slower). */
  baselineImages: number;
  projectionSamples: number;
  projectionClasses: number;
  labelSamples: number;
  labelCount: number;
}

/** The targets: 1,000 InD + 10,499 negatives; 100k × 512 projection; 50k × 5,620 labels. */
export const FULL_SIZES: Readonly<OodBenchSizes> = Object.freeze({
  dim: 512,
  indLabels: 1000,
  negatives: 10499,
  groups: 100,
  scoreImages: 4096,
  baselineImages: 64,
  projectionSamples: 100_000,
  projectionClasses: 1000 + 5620,
  labelSamples: 50_000,
  labelCount: 5620,
});

/** A small variant that runs in seconds (used by tests and `--quick`). */
export const QUICK_SIZES: Readonly<OodBenchSizes> = Object.freeze({
  dim: 64,
  indLabels: 50,
  negatives: 520,
  groups: 10,
  scoreImages: 256,
  baselineImages: 32,
  projectionSamples: 2000,
  projectionClasses: 80,
  labelSamples: 1000,
  labelCount: 60,
});

/** One benchmark row. */
export interface BenchRow {
  name: string;
  threads: number;
  seconds: number;
  /** Human-readable result, e.g. "0.061 ms/image". */
  result: string;
  /** Floating-point operations of the timed work (2 per multiply-add, matrix products only). */
  flops: number;
  /** Achieved GFLOP/s. */
  gflops: number;
  /** Achieved / measured fp32 peak at the same thread count. */
  shareOfPeak: number;
  /** The physical limit of the same work: its FLOPs ÷ the measured peak, in the result's unit. */
  limit: string;
  /** The target, for the table. */
  target: string;
}

/** Everything a run reports. */
export interface OodBenchReport {
  hardware: Hardware;
  /** Measured onnxruntime fp32 GEMM peak per thread count, GFLOP/s. */
  peak: Record<number, number>;
  rows: BenchRow[];
}

/**
 * The OOD-core benchmark: grouped NegLabel scoring, projection training and label fine-tuning on
 * onnxruntime (CPU), each beside the measured fp32 GEMM peak, with a plain-TypeScript scoring
 * baseline measured in the same run.
 */
export async function runOodBench(
  sizes: OodBenchSizes = FULL_SIZES,
  log: (line: string) => void = () => undefined,
): Promise<OodBenchReport> {
  const rng = new Rng('bench-ood');
  const d = sizes.dim;
  const one = await OrtLinalgBackend.create({ executionProvider: 'cpu', intraOpThreads: 1 });
  const two = await OrtLinalgBackend.create({ executionProvider: 'cpu', intraOpThreads: 2 });
  const ts = new TypeScriptBackend();
  const rows: BenchRow[] = [];
  try {
    const peakN = d >= 512 ? 2048 : 512;
    const peak: Record<number, number> = {
      1: await measureGemmPeak(1, peakN, 3),
      2: await measureGemmPeak(2, peakN, 3),
    };
    log(
      `fp32 GEMM peak (onnxruntime, ${peakN}³): 1 thread ${peak[1]!.toFixed(1)} GFLOP/s, 2 threads ${peak[2]!.toFixed(1)}`,
    );
    const row = (
      r: Omit<BenchRow, 'gflops' | 'shareOfPeak' | 'limit'>,
      unit: (seconds: number) => string,
    ): BenchRow => {
      const gflops = r.flops / r.seconds / 1e9;
      const limitSeconds = r.flops / (peak[r.threads]! * 1e9);
      const full = { ...r, gflops, shareOfPeak: gflops / peak[r.threads]!, limit: unit(limitSeconds) };
      log(
        `${r.name}: ${r.result} (${gflops.toFixed(1)} GFLOP/s, ${(100 * full.shareOfPeak).toFixed(0)}% of peak)`,
      );
      rows.push(full);
      return full;
    };

    // Grouped NegLabel scoring.
    const layout = negLabelLayout(
      randomNormalMatrix(rng, sizes.indLabels, d),
      randomNormalMatrix(rng, sizes.negatives, d),
      { groups: sizes.groups },
    );
    const labelCols = layout.labels.rows;
    const images = randomNormalMatrix(rng, sizes.scoreImages, d);
    const scoreFlops = (n: number): number => 2 * n * d * labelCols;
    const perImage = (n: number, digits: number) => (seconds: number) =>
      `${((1000 * seconds) / n).toFixed(digits)} ms/image`;
    for (const [threads, backend] of [
      [1, one],
      [2, two],
    ] as const) {
      await negLabelScores(backend, randomNormalMatrix(rng, 8, d), layout); // warm-up: session creation
      const score = await timed(() => negLabelScores(backend, images, layout));
      row(
        {
          name: `NegLabel grouped score, ${sizes.indLabels} InD + ${sizes.negatives} negatives, ${d}-d, batched`,
          threads,
          seconds: score.seconds,
          result: perImage(sizes.scoreImages, 4)(score.seconds),
          flops: scoreFlops(sizes.scoreImages),
          target: threads === 1 ? '≤ 0.1 ms/image on one core' : '—',
        },
        perImage(sizes.scoreImages, 4),
      );
    }
    const baselineImages = randomNormalMatrix(rng, sizes.baselineImages, d);
    const base = await timed(() => negLabelScores(ts, baselineImages, layout));
    row(
      {
        name: `  same, plain TypeScript backend (baseline, ${sizes.baselineImages} images)`,
        threads: 1,
        seconds: base.seconds,
        result: perImage(sizes.baselineImages, 3)(base.seconds),
        flops: scoreFlops(sizes.baselineImages),
        target: '—',
      },
      perImage(sizes.baselineImages, 4),
    );

    // Projection training, design §4 defaults.
    const pcfg = DEFAULT_PROJECTION_TRAINING;
    const features = randomNormalMatrix(rng, sizes.projectionSamples, d);
    const classFeatures = randomNormalMatrix(rng, sizes.projectionClasses, d);
    const targets = Int32Array.from({ length: sizes.projectionSamples }, () =>
      rng.int(sizes.projectionClasses),
    );
    const proj = await timed(() => trainProjection(two, { features, targets, classFeatures }));
    // Per sample and epoch: X·Wᵀ and dZᵀ·X (2·d² each), f̂·Cᵀ and dLogits·C (2·d·C each).
    const projFlops = pcfg.epochs * sizes.projectionSamples * (4 * d * d + 4 * d * sizes.projectionClasses);
    row(
      {
        name: `Projection training, ${sizes.projectionSamples} × ${d}, ${sizes.projectionClasses} classes, ${pcfg.epochs} epochs`,
        threads: 2,
        seconds: proj.seconds,
        result: `${proj.seconds.toFixed(1)} s (final loss ${proj.value.history.at(-1)!.loss.toFixed(3)})`,
        flops: projFlops,
        target: '≤ 60 s',
      },
      (seconds: number) => `${seconds.toFixed(1)} s`,
    );

    // Label fine-tuning, design §4 defaults.
    const lcfg = DEFAULT_LABEL_FINETUNING;
    const lf = randomNormalMatrix(rng, sizes.labelSamples, d);
    const lt = Int32Array.from({ length: sizes.labelSamples }, () => rng.int(sizes.labelCount));
    const labelFeatures = randomNormalMatrix(rng, sizes.labelCount, d);
    const lab = await timed(() => finetuneLabels(two, { features: lf, targets: lt, labelFeatures }));
    // Per sample and epoch: v·Ŵᵀ and (P−Y)ᵀ·V, 2·d·L each.
    const labFlops = lcfg.epochs * sizes.labelSamples * 4 * d * sizes.labelCount;
    row(
      {
        name: `Label fine-tuning, ${sizes.labelSamples} features × ${sizes.labelCount} labels, ${lcfg.epochs} epochs`,
        threads: 2,
        seconds: lab.seconds,
        result: `${lab.seconds.toFixed(1)} s (final loss ${lab.value.history.at(-1)!.loss.toFixed(3)})`,
        flops: labFlops,
        target: '≤ 120 s',
      },
      (seconds: number) => `${seconds.toFixed(1)} s`,
    );

    return {
      hardware: hardwareInfo(),
      peak,
      rows,
    };
  } finally {
    await one.dispose();
    await two.dispose();
  }
}

/** Markdown table of a report, as recorded in docs/benchmarks.md. */
export function formatOodBench(report: OodBenchReport): string {
  const h = report.hardware;
  const lines = [
    `Hardware: ${h.cpu}, ${h.cores} cores; Node ${h.node}; ${h.date.slice(0, 10)}.`,
    `Measured fp32 GEMM peak (onnxruntime): ${report.peak[1]!.toFixed(1)} GFLOP/s on 1 thread, ${report.peak[2]!.toFixed(1)} GFLOP/s on 2.`,
    '',
    '| benchmark | threads | result | target | GFLOP/s | share of peak | limit (FLOPs ÷ peak) |',
    '|---|---|---|---|---|---|---|',
    ...report.rows.map(
      (r) =>
        `| ${r.name.trim()} | ${r.threads} | ${r.result} | ${r.target} | ${r.gflops.toFixed(1)} | ${(100 * r.shareOfPeak).toFixed(0)}% | ${r.limit} |`,
    ),
  ];
  return lines.join('\n');
}
