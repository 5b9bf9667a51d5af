/**
 * @file `synood bench graph`: the cost of the synthesis stage's gradient model against its forward model
 * on the CPU, for a ResNet50-sized classifier at 224² and for the whole chain (VAE decoder → clamp →
 * ResNet preprocessing → classifier → `code` loss), each beside the measured fp32 peak.
 */
import {
  type Model,
  buildSynthesisGradientModel,
  buildSynthesisLossModel,
  countFlops,
  encodeModel,
  resnetClassifierFixture,
  vaeDecoderFixture,
} from '@synood/graph';
import { Tensor, createSession, releaseSession, runSession } from '@synood/onnx';
import { Rng } from '@synood/tensor';
import { type Hardware, hardwareInfo, measureGemmPeak, timed } from './common';
import type { BenchSuite } from './suite';

/** Sizes of the graph benchmark. */
export interface GraphBenchSizes {
  /** Classifier topology: the real ResNet50 or the tiny test network. */
  layout: 'resnet50' | 'tiny';
  /** Classifier input side. */
  imageSize: number;
  /** Images per timed run. */
  batch: number;
  /** Timed runs (best of). */
  repeats: number;
  /** Latent side of the chain's decoder input. */
  latentSize: number;
  /** The decoder's up-sampling factor (SD: 8) and base width. */
  decoder: { factor: number; width: number };
  /** Intra-op threads. */
  threads: number;
}

/** The issue's target: ResNet50 at 224² on two cores. */
export const GRAPH_FULL_SIZES: Readonly<GraphBenchSizes> = Object.freeze({
  layout: 'resnet50',
  imageSize: 224,
  batch: 4,
  repeats: 3,
  latentSize: 28,
  decoder: { factor: 8, width: 32 },
  threads: 2,
});

/** Seconds-long smoke sizes. */
export const GRAPH_QUICK_SIZES: Readonly<GraphBenchSizes> = Object.freeze({
  layout: 'tiny',
  imageSize: 64,
  batch: 2,
  repeats: 2,
  latentSize: 8,
  decoder: { factor: 2, width: 16 },
  threads: 2,
});

/** One measured model. */
export interface GraphBenchRow {
  name: string;
  images: number;
  seconds: number;
  imagesPerSecond: number;
  /** Matrix-product FLOPs per image (2 × MACs, from the graph's shapes). */
  flopsPerImage: number;
  gflops: number;
  shareOfPeak: number;
  /** Seconds of the same work at the measured peak. */
  limitSeconds: number;
  /** Time relative to the matching forward model (gradient rows only). */
  ratioToForward?: number;
}

/** Everything a run reports. */
export interface GraphBenchReport {
  hardware: Hardware;
  sizes: GraphBenchSizes;
  /** Measured fp32 GEMM peak at the benchmark's thread count, GFLOP/s. */
  peak: number;
  rows: GraphBenchRow[];
}

function randomInput(rng: Rng, n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = rng.uniform();
  }
  return x;
}

/** Best-of-`repeats` seconds of one run of `model` on `input` (after a warm-up run). */
async function timeModel(model: Model, dims: number[], threads: number, repeats: number): Promise<number> {
  const session = await createSession(encodeModel(model).model, { intraOpThreads: threads });
  try {
    const name = model.graph.inputs[0]!.name;
    const x = new Tensor(
      'float32',
      randomInput(
        new Rng('bench-graph'),
        dims.reduce((a, d) => a * d, 1),
      ),
      dims,
    );
    await runSession(session, { [name]: x });
    let best = Infinity;
    for (let r = 0; r < repeats; r++) {
      best = Math.min(best, (await timed(() => runSession(session, { [name]: x }))).seconds);
    }
    return best;
  } finally {
    await releaseSession(session);
  }
}

/**
 * Runs the graph benchmark: forward and gradient models of the classifier alone (image input) and of
 * the decoder chain (latent input), gradient models at a fixed batch and with the dynamic-batch Loop.
 */
export async function runGraphBench(
  sizes: GraphBenchSizes = GRAPH_FULL_SIZES,
  log: (line: string) => void = () => undefined,
): Promise<GraphBenchReport> {
  const peak = await measureGemmPeak(sizes.threads, sizes.layout === 'resnet50' ? [1024, 2048, 3072] : 512);
  log(`fp32 GEMM peak (onnxruntime, ${sizes.threads} threads): ${peak.toFixed(1)} GFLOP/s`);
  const rows: GraphBenchRow[] = [];
  const n = sizes.batch;
  const measure = async (
    name: string,
    model: Model,
    perImage: number[],
    countModel: Model,
    forward?: GraphBenchRow,
  ): Promise<GraphBenchRow> => {
    const dims = [n, ...perImage];
    const seconds = await timeModel(model, dims, sizes.threads, sizes.repeats);
    const flops = countFlops(countModel.graph, { [countModel.graph.inputs[0]!.name]: dims }).total;
    const gflops = flops / seconds / 1e9;
    const row: GraphBenchRow = {
      name,
      images: n,
      seconds,
      imagesPerSecond: n / seconds,
      flopsPerImage: flops / n,
      gflops,
      shareOfPeak: gflops / peak,
      limitSeconds: flops / (peak * 1e9),
      ...(forward === undefined ? {} : { ratioToForward: seconds / forward.seconds }),
    };
    log(
      `${name}: ${row.imagesPerSecond.toFixed(2)} images/s, ${(row.flopsPerImage / 1e9).toFixed(2)} GFLOP/image, ` +
        `${gflops.toFixed(1)} GFLOP/s (${(100 * row.shareOfPeak).toFixed(0)}% of peak)` +
        (row.ratioToForward === undefined ? '' : `, ${row.ratioToForward.toFixed(2)}× forward`),
    );
    rows.push(row);
    return row;
  };

  const classifier = resnetClassifierFixture({ layout: sizes.layout, seed: 1 });
  const image = [3, sizes.imageSize, sizes.imageSize];
  const base = { classifier, preprocess: 'none' as const, inputShape: image };
  const clsForward = buildSynthesisLossModel(base);
  const fwd = await measure(`${sizes.layout} forward + loss`, clsForward, image, clsForward);
  const clsFixed = buildSynthesisGradientModel({ ...base, batch: n });
  await measure(`${sizes.layout} loss + input gradient, batch ${n}`, clsFixed, image, clsFixed, fwd);
  await measure(
    `${sizes.layout} loss + input gradient, dynamic batch (Loop)`,
    buildSynthesisGradientModel(base),
    image,
    clsFixed,
    fwd,
  );

  const decoder = vaeDecoderFixture({ seed: 2, ...sizes.decoder });
  const latent = [4, sizes.latentSize, sizes.latentSize];
  const chain = { classifier, decoder, preprocess: 'resnet' as const, inputShape: latent };
  const chainForward = buildSynthesisLossModel(chain);
  const chainFwd = await measure(
    'decoder → preprocess → classifier, forward + loss',
    chainForward,
    latent,
    chainForward,
  );
  const chainFixed = buildSynthesisGradientModel({ ...chain, batch: n });
  await measure(
    `decoder chain, loss + latent gradient, batch ${n}`,
    chainFixed,
    latent,
    chainFixed,
    chainFwd,
  );
  return { hardware: hardwareInfo(), sizes: { ...sizes }, peak, rows };
}

/** Markdown table of a report, as recorded in docs/benchmarks.md. */
export function formatGraphBench(report: GraphBenchReport): string {
  const h = report.hardware;
  return [
    `Hardware: ${h.cpu}, ${h.cores} cores; Node ${h.node}; ${h.date.slice(0, 10)}. ` +
      `${report.sizes.threads} intra-op threads, batch ${report.sizes.batch}, classifier input ${report.sizes.imageSize}², ` +
      `decoder latent ${report.sizes.latentSize}² → image ${report.sizes.latentSize * report.sizes.decoder.factor}².`,
    `Measured fp32 GEMM peak (onnxruntime): ${report.peak.toFixed(1)} GFLOP/s.`,
    '',
    '| model | images/s | GFLOP/image | GFLOP/s | share of peak | limit (FLOPs ÷ peak) | × forward (target ≤ 3×) |',
    '|---|---|---|---|---|---|---|',
    ...report.rows.map(
      (r) =>
        `| ${r.name} | ${r.imagesPerSecond.toFixed(2)} | ${(r.flopsPerImage / 1e9).toFixed(2)} | ${r.gflops.toFixed(1)} | ` +
        `${(100 * r.shareOfPeak).toFixed(0)}% | ${((1000 * r.limitSeconds) / r.images).toFixed(1)} ms/image | ` +
        `${r.ratioToForward === undefined ? '—' : `${r.ratioToForward.toFixed(2)}×`} |`,
    ),
  ].join('\n');
}

/** The `graph` suite of `synood bench`. */
export const graphSuite: BenchSuite = {
  name: 'graph',
  description: 'forward vs input-gradient models (ResNet50 at 224², decoder chain)',
  run: async ({ quick, log }) => {
    const report = await runGraphBench(quick ? GRAPH_QUICK_SIZES : GRAPH_FULL_SIZES, log);
    return { markdown: formatGraphBench(report), report };
  },
};
