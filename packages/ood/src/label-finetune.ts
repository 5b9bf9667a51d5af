import { type LinalgBackend, type Matrix, cloneMatrix, l2NormalizeRows, rowNorms } from '@synood/tensor';
import {
  type EpochStats,
  type ScheduleConfig,
  type TrainingHooks,
  batchOf,
  checkTrainingSet,
  runEpochs,
  softmaxCrossEntropy,
} from './training';

/** Label fine-tuning settings; defaults in {@link DEFAULT_LABEL_FINETUNING}. */
export interface LabelFinetuningConfig extends ScheduleConfig {
  momentum: number;
  /** Coupled L2 weight decay, applied to the unnormalised label vectors (as the reference). */
  weightDecay: number;
  /** Logit scale 1/τ. */
  scale: number;
}

/**
 * Design §4 / reference §7: SGD lr 2e-2 (the code's value; the paper says 2e-3), momentum 0.9,
 * L2 1e-5, cosine per epoch to 0, batch 128, 5 epochs, ×100 logits.
 */
export const DEFAULT_LABEL_FINETUNING: Readonly<LabelFinetuningConfig> = Object.freeze({
  epochs: 5,
  batchSize: 128,
  lr: 2e-2,
  minLr: 0,
  momentum: 0.9,
  weightDecay: 1e-5,
  scale: 100,
  seed: 0,
});

/** Training data of the label fine-tuning: synthetic images and their assigned Y*⁻ label. */
export interface LabelFinetuningSet {
  /** Raw (un-projected) CLIP features of the synthetic images, [n × d]. */
  readonly features: Matrix;
  /** Per row: position of its assigned label in Y*⁻. */
  readonly targets: Int32Array;
  /** Raw text features of Y*⁻, the initial values of the learnable rows, [|Y*⁻| × d]. */
  readonly labelFeatures: Matrix;
}

/**
 * Mean cross-entropy of softmax(scale · v · ŵᵀ) over the Y*⁻ rows, with v the normalised image
 * features and ŵ = w/‖w‖ normalised in the forward, and its gradient with respect to the raw rows w.
 */
export async function labelLossAndGrad(
  backend: LinalgBackend,
  labels: Matrix,
  features: Matrix,
  targets: Int32Array,
  scale: number,
): Promise<{ loss: number; grad: Float32Array }> {
  const v = l2NormalizeRows(features);
  const w = l2NormalizeRows(labels);
  const { loss, dLogits } = await softmaxCrossEntropy(backend, v, w, targets, scale);
  // dL/dŵ = scale · (P − Y)ᵀ · V, then through ŵ = w/‖w‖: (I − ŵŵᵀ)/‖w‖.
  const dW = await backend.gemm(dLogits, v, { transA: true, alpha: scale });
  const norms = rowNorms(labels);
  const d = labels.cols;
  const grad = dW.data;
  for (let r = 0; r < labels.rows; r++) {
    const o = r * d;
    let dot = 0;
    for (let k = 0; k < d; k++) {
      dot += w.data[o + k]! * grad[o + k]!;
    }
    const inv = 1 / Math.max(norms[r]!, 1e-12);
    for (let k = 0; k < d; k++) {
      grad[o + k] = (grad[o + k]! - w.data[o + k]! * dot) * inv;
    }
  }
  return { loss, grad };
}

/** Result of {@link finetuneLabels}. */
export interface LabelFinetuningResult {
  /** The fine-tuned raw label vectors, rows aligned with the input `labelFeatures`. */
  readonly labels: Matrix;
  readonly history: EpochStats[];
}

/**
 * Fine-tunes the Y*⁻ label vectors with SGD + momentum (reference §7). Only these rows are learnable;
 * other negatives and the InD labels are untouched. Deterministic for a seed and backend.
 *
 * The step is {@link labelLossAndGrad} followed by `SgdMomentum.step` (@synood/tensor), fused: the label matrix
 * (|Y*⁻| × d, 2.9M values at the reference size) is walked once per step to project the gradient,
 * apply weight decay and momentum, update, and re-normalise for the next step, instead of five
 * separate passes, which dominated the step time. The test suite checks the fused path against the
 * unfused composition.
 */
export async function finetuneLabels(
  backend: LinalgBackend,
  data: LabelFinetuningSet,
  config: Partial<LabelFinetuningConfig> = {},
  hooks: TrainingHooks = {},
): Promise<LabelFinetuningResult> {
  const cfg = { ...DEFAULT_LABEL_FINETUNING, ...config };
  checkTrainingSet(data.features, data.targets, data.labelFeatures, 'finetuneLabels');
  const labels = cloneMatrix(data.labelFeatures);
  const rows = labels.rows;
  const d = labels.cols;
  const w = labels.data;
  const normalized = l2NormalizeRows(labels);
  const invNorm = Float64Array.from(rowNorms(labels), (n) => 1 / Math.max(n, 1e-12));
  const buf = new Float32Array(w.length);
  let first = true;
  const { momentum, weightDecay } = cfg;
  const history = await runEpochs(data.features.rows, cfg, 'labels-shuffle', hooks, async (idx, lr) => {
    const { x, y } = batchOf(data.features, data.targets, idx);
    const v = l2NormalizeRows(x);
    const { loss, dLogits } = await softmaxCrossEntropy(backend, v, normalized, y, cfg.scale);
    const dHat = (await backend.gemm(dLogits, v, { transA: true, alpha: cfg.scale })).data;
    const wh = normalized.data;
    for (let r = 0; r < rows; r++) {
      const o = r * d;
      let dot = 0;
      for (let k = o; k < o + d; k++) {
        dot += wh[k]! * dHat[k]!;
      }
      const inv = invNorm[r]!;
      let sq = 0;
      for (let k = o; k < o + d; k++) {
        const g = (dHat[k]! - wh[k]! * dot) * inv + weightDecay * w[k]!;
        const b = first ? g : momentum * buf[k]! + g;
        buf[k] = b;
        const nw = w[k]! - lr * b;
        w[k] = nw;
        sq += nw * nw;
      }
      const ni = 1 / Math.max(Math.sqrt(sq), 1e-12);
      invNorm[r] = ni;
      for (let k = o; k < o + d; k++) {
        wh[k] = w[k]! * ni;
      }
    }
    first = false;
    return loss;
  });
  return { labels, history };
}
