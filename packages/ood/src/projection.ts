import {
  Adam,
  type LinalgBackend,
  type Matrix,
  Rng,
  deriveSeed,
  l2NormalizeRows,
  rowSlice,
} from '@synood/tensor';
import { OOD_ERROR_CODES, OodError, require_ } from './errors';
import {
  type EpochStats,
  type ScheduleConfig,
  type TrainingHooks,
  batchOf,
  checkTrainingSet,
  runEpochs,
  softmaxCrossEntropy,
} from './training';

/**
 * SynOOD's residual projection on the CLIP image side (reference §6):
 * f̂ = normalise(f + ReLU(LayerNorm(W f + b))), LayerNorm with affine γ, β.
 */
export interface ProjectionHead {
  readonly dim: number;
  /** W, row-major [dim out × dim in] (torch.nn.Linear's layout). */
  readonly weight: Float32Array;
  readonly bias: Float32Array;
  readonly gamma: Float32Array;
  readonly beta: Float32Array;
  /** LayerNorm ε. @defaultValue 1e-5 */
  readonly lnEps: number;
}

/** Gradients of the head's parameters, same layout as the head. */
export interface ProjectionGrads {
  readonly weight: Float32Array;
  readonly bias: Float32Array;
  readonly gamma: Float32Array;
  readonly beta: Float32Array;
}

/**
 * A freshly initialised head, as PyTorch initialises nn.Linear (W and b uniform in ±1/√dim) and
 * nn.LayerNorm (γ = 1, β = 0).
 */
export function initProjectionHead(dim: number, seed: number | string = 0, lnEps = 1e-5): ProjectionHead {
  require_(Number.isInteger(dim) && dim >= 1, `projection dim must be a positive integer, got ${dim}`);
  const rng = new Rng(deriveSeed(seed, 'projection-init'));
  const bound = 1 / Math.sqrt(dim);
  const weight = new Float32Array(dim * dim);
  const bias = new Float32Array(dim);
  rng.fillUniform(weight, -bound, bound);
  rng.fillUniform(bias, -bound, bound);
  return { dim, weight, bias, gamma: new Float32Array(dim).fill(1), beta: new Float32Array(dim), lnEps };
}

/** Intermediate values of a forward pass kept for the backward pass. */
export interface ProjectionForward {
  /** f̂: the normalised projected features. */
  readonly out: Matrix;
  /** LayerNorm's normalised input x̂, [n × dim]. */
  readonly xhat: Float32Array;
  /** 1/√(var + ε) per row. */
  readonly invStd: Float64Array;
  /** LayerNorm output before the ReLU, [n × dim]. */
  readonly preRelu: Float32Array;
  /** ‖f + δ(f)‖ per row. */
  readonly norm: Float64Array;
}

function checkDim(head: ProjectionHead, x: Matrix): void {
  if (x.cols !== head.dim) {
    throw new OodError(
      OOD_ERROR_CODES.shape,
      `projection head is ${head.dim}-d but the features are ${x.cols}-d`,
    );
  }
}

/** Forward pass on raw (unnormalised) image features. */
export async function projectionForward(
  backend: LinalgBackend,
  head: ProjectionHead,
  x: Matrix,
): Promise<ProjectionForward> {
  checkDim(head, x);
  const d = head.dim;
  const n = x.rows;
  const z = await backend.gemm(x, { rows: d, cols: d, data: head.weight }, { transB: true });
  const xhat = new Float32Array(n * d);
  const preRelu = new Float32Array(n * d);
  const invStd = new Float64Array(n);
  const norm = new Float64Array(n);
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let mu = 0;
    for (let k = 0; k < d; k++) {
      const v = z.data[o + k]! + head.bias[k]!;
      z.data[o + k] = v;
      mu += v;
    }
    mu /= d;
    let varSum = 0;
    for (let k = 0; k < d; k++) {
      const c = z.data[o + k]! - mu;
      varSum += c * c;
    }
    const is = 1 / Math.sqrt(varSum / d + head.lnEps);
    invStd[i] = is;
    let sq = 0;
    for (let k = 0; k < d; k++) {
      const xh = (z.data[o + k]! - mu) * is;
      xhat[o + k] = xh;
      const y = head.gamma[k]! * xh + head.beta[k]!;
      preRelu[o + k] = y;
      const h = x.data[o + k]! + (y > 0 ? y : 0);
      out[o + k] = h;
      sq += h * h;
    }
    const nr = Math.sqrt(sq);
    norm[i] = nr;
    const inv = 1 / Math.max(nr, 1e-12);
    for (let k = 0; k < d; k++) {
      out[o + k] = out[o + k]! * inv;
    }
  }
  return { out: { rows: n, cols: d, data: out }, xhat, invStd, preRelu, norm };
}

/**
 * Backward pass: parameter gradients from dL/df̂. Written by hand because the head is tiny and runs
 * on every backend; each step is the chain rule through normalise, the residual, ReLU (zero gradient
 * at 0, as torch), LayerNorm and the linear layer.
 */
export async function projectionBackward(
  backend: LinalgBackend,
  head: ProjectionHead,
  x: Matrix,
  fwd: ProjectionForward,
  dOut: Matrix,
): Promise<ProjectionGrads> {
  const d = head.dim;
  const n = x.rows;
  const dZ = new Float32Array(n * d);
  const gamma = new Float32Array(d);
  const beta = new Float32Array(d);
  const bias = new Float32Array(d);
  const dxh = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    // d/dh of h/‖h‖ is (I − f̂f̂ᵀ)/‖h‖.
    let dot = 0;
    for (let k = 0; k < d; k++) {
      dot += fwd.out.data[o + k]! * dOut.data[o + k]!;
    }
    const invNorm = 1 / Math.max(fwd.norm[i]!, 1e-12);
    let meanDxh = 0;
    let meanDxhXh = 0;
    for (let k = 0; k < d; k++) {
      const dh = (dOut.data[o + k]! - fwd.out.data[o + k]! * dot) * invNorm;
      const dy = fwd.preRelu[o + k]! > 0 ? dh : 0;
      gamma[k] = gamma[k]! + dy * fwd.xhat[o + k]!;
      beta[k] = beta[k]! + dy;
      const g = dy * head.gamma[k]!;
      dxh[k] = g;
      meanDxh += g;
      meanDxhXh += g * fwd.xhat[o + k]!;
    }
    meanDxh /= d;
    meanDxhXh /= d;
    const is = fwd.invStd[i]!;
    for (let k = 0; k < d; k++) {
      const dz = is * (dxh[k]! - meanDxh - fwd.xhat[o + k]! * meanDxhXh);
      dZ[o + k] = dz;
      bias[k] = bias[k]! + dz;
    }
  }
  const weight = await backend.gemm({ rows: n, cols: d, data: dZ }, x, { transA: true });
  return { weight: weight.data, bias, gamma, beta };
}

/**
 * Mean cross-entropy of softmax(scale · f̂ · Cᵀ) against `targets` over the class features C (InD
 * prompts then Y*⁻, L2-normalised), and the head's gradients.
 */
export async function projectionLossAndGrads(
  backend: LinalgBackend,
  head: ProjectionHead,
  x: Matrix,
  targets: Int32Array,
  classFeatures: Matrix,
  scale: number,
): Promise<{ loss: number; grads: ProjectionGrads }> {
  const fwd = await projectionForward(backend, head, x);
  const { loss, dLogits } = await softmaxCrossEntropy(backend, fwd.out, classFeatures, targets, scale);
  const dOut = await backend.gemm(dLogits, classFeatures, { alpha: scale });
  return { loss, grads: await projectionBackward(backend, head, x, fwd, dOut) };
}

/** Projection training settings; defaults in {@link DEFAULT_PROJECTION_TRAINING}. */
export interface ProjectionTrainingConfig extends ScheduleConfig {
  /** Coupled L2 weight decay of Adam. */
  weightDecay: number;
  /** Logit scale 1/τ. */
  scale: number;
}

/** Design §4: Adam lr 1e-3, L2 1e-5, cosine per epoch to 1e-5, batch 128, 3 epochs, ×100 logits. */
export const DEFAULT_PROJECTION_TRAINING: Readonly<ProjectionTrainingConfig> = Object.freeze({
  epochs: 3,
  batchSize: 128,
  lr: 1e-3,
  minLr: 1e-5,
  weightDecay: 1e-5,
  scale: 100,
  seed: 0,
});

/** Training data of the projection: InD features with their class, synthetic ones with their label. */
export interface ProjectionTrainingSet {
  /** Raw CLIP image features, InD and synthetic, [n × d]. */
  readonly features: Matrix;
  /** Per row: index into `classFeatures` (InD class k, or K + position in Y*⁻). */
  readonly targets: Int32Array;
  /** Text features of the InD prompts followed by those of Y*⁻, [K + |Y*⁻| × d]. */
  readonly classFeatures: Matrix;
}

/** Result of {@link trainProjection}. */
export interface ProjectionTrainingResult {
  readonly head: ProjectionHead;
  readonly history: EpochStats[];
}

/**
 * Trains the projection head with Adam (reference §6). Deterministic for a seed and backend: the
 * initialisation and every epoch's shuffle are drawn from seeded streams.
 */
export async function trainProjection(
  backend: LinalgBackend,
  data: ProjectionTrainingSet,
  config: Partial<ProjectionTrainingConfig> = {},
  hooks: TrainingHooks = {},
): Promise<ProjectionTrainingResult> {
  const cfg = { ...DEFAULT_PROJECTION_TRAINING, ...config };
  checkTrainingSet(data.features, data.targets, data.classFeatures, 'trainProjection');
  const classes = l2NormalizeRows(data.classFeatures);
  const head = initProjectionHead(data.features.cols, cfg.seed);
  const adam = new Adam([head.weight, head.bias, head.gamma, head.beta], {
    lr: cfg.lr,
    weightDecay: cfg.weightDecay,
  });
  const history = await runEpochs(data.features.rows, cfg, 'projection-shuffle', hooks, async (idx, lr) => {
    const { x, y } = batchOf(data.features, data.targets, idx);
    const { loss, grads } = await projectionLossAndGrads(backend, head, x, y, classes, cfg.scale);
    adam.step([grads.weight, grads.bias, grads.gamma, grads.beta], lr);
    return loss;
  });
  return { head, history };
}

const PROJECT_BATCH_ROWS = 4096;

/** Applies a trained head to raw features: the normalised f̂ used at inference. */
export async function projectFeatures(
  backend: LinalgBackend,
  head: ProjectionHead,
  features: Matrix,
): Promise<Matrix> {
  checkDim(head, features);
  const out = new Float32Array(features.rows * features.cols);
  for (let start = 0; start < features.rows; start += PROJECT_BATCH_ROWS) {
    const end = Math.min(features.rows, start + PROJECT_BATCH_ROWS);
    const fwd = await projectionForward(backend, head, rowSlice(features, start, end));
    out.set(fwd.out.data, start * features.cols);
  }
  return { rows: features.rows, cols: features.cols, data: out };
}
