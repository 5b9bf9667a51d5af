import { type LinalgBackend, type Matrix, Rng, cosineLr, deriveSeed, gatherRows } from '@synood/tensor';
import { OOD_ERROR_CODES, OodError, require_ } from './errors';

/** Progress of one optimisation step, for progress bars and metrics. */
export interface StepInfo {
  readonly epoch: number;
  /** Total epochs of the run. */
  readonly epochs: number;
  readonly step: number;
  readonly stepsPerEpoch: number;
  readonly loss: number;
  readonly lr: number;
}

/** Mean training loss and learning rate of one epoch (the training curve in reports). */
export interface EpochStats {
  readonly epoch: number;
  readonly lr: number;
  readonly loss: number;
}

/** Hooks shared by the trainers. */
export interface TrainingHooks {
  /** Called after every step. */
  onStep?: (info: StepInfo) => void;
  /** Stops training between steps; the trainer throws the signal's reason. */
  signal?: AbortSignal;
}

/** Schedule fields shared by both trainers. */
export interface ScheduleConfig {
  epochs: number;
  batchSize: number;
  lr: number;
  minLr: number;
  seed: number | string;
}

/**
 * Mean cross-entropy of softmax(scale·A·Bᵀ) against `targets`, and its gradient with respect to the
 * logits' left factor A: dA = scale · (P − Y) · B / n. `grad` receives (P − Y)/n in place of the
 * probabilities so the caller can reuse it for the right factor's gradient.
 */
export async function softmaxCrossEntropy(
  backend: LinalgBackend,
  a: Matrix,
  b: Matrix,
  targets: ArrayLike<number>,
  scale: number,
): Promise<{ loss: number; dLogits: Matrix }> {
  const { probs, logSumExp } = await backend.softmax(a, b, scale);
  const n = a.rows;
  const c = b.rows;
  const d = a.cols;
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const t = targets[i]!;
    let dot = 0;
    for (let k = 0; k < d; k++) {
      dot += a.data[i * d + k]! * b.data[t * d + k]!;
    }
    // lse − logit_t stays finite where log(p_t) would underflow to −∞.
    loss += logSumExp[i]! - scale * dot;
    probs.data[i * c + t] = probs.data[i * c + t]! - 1;
  }
  const inv = 1 / n;
  const g = probs.data;
  for (let i = 0; i < g.length; i++) {
    g[i] = g[i]! * inv;
  }
  return { loss: loss / n, dLogits: probs };
}

/**
 * Runs mini-batch epochs over `count` samples in a seeded shuffled order (a fresh permutation per
 * epoch from one stream, so the whole run is a function of the seed), with the learning rate of
 * each epoch from a cosine schedule. `step` returns the batch loss.
 */
export async function runEpochs(
  count: number,
  config: ScheduleConfig,
  stream: string,
  hooks: TrainingHooks,
  step: (indices: Int32Array, lr: number) => Promise<number>,
): Promise<EpochStats[]> {
  require_(count > 0, 'training needs at least one sample');
  require_(Number.isInteger(config.epochs) && config.epochs >= 1, `epochs must be ≥ 1, got ${config.epochs}`);
  require_(
    Number.isInteger(config.batchSize) && config.batchSize >= 1,
    `batchSize must be ≥ 1, got ${config.batchSize}`,
  );
  const rng = new Rng(deriveSeed(config.seed, stream));
  const stepsPerEpoch = Math.ceil(count / config.batchSize);
  const history: EpochStats[] = [];
  for (let epoch = 0; epoch < config.epochs; epoch++) {
    const lr = cosineLr(epoch, { baseLr: config.lr, minLr: config.minLr, epochs: config.epochs });
    const order = rng.permutation(count);
    let sum = 0;
    for (let s = 0; s < stepsPerEpoch; s++) {
      hooks.signal?.throwIfAborted();
      const batch = order.subarray(s * config.batchSize, Math.min(count, (s + 1) * config.batchSize));
      const loss = await step(batch, lr);
      sum += loss * batch.length;
      hooks.onStep?.({ epoch, epochs: config.epochs, step: s, stepsPerEpoch, loss, lr });
    }
    history.push({ epoch, lr, loss: sum / count });
  }
  return history;
}

/** Validates a (features, targets, classes) training set. */
export function checkTrainingSet(features: Matrix, targets: Int32Array, classes: Matrix, what: string): void {
  if (features.cols !== classes.cols) {
    throw new OodError(
      OOD_ERROR_CODES.shape,
      `${what}: image features are ${features.cols}-d but label features are ${classes.cols}-d`,
    );
  }
  if (targets.length !== features.rows) {
    throw new OodError(
      OOD_ERROR_CODES.shape,
      `${what}: ${targets.length} targets for ${features.rows} feature rows`,
    );
  }
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i]!;
    require_(t >= 0 && t < classes.rows, `${what}: target[${i}] = ${t} is outside 0..${classes.rows - 1}`);
  }
}

/** Rows of `m` at `indices` (a batch), and the matching targets. */
export function batchOf(m: Matrix, targets: Int32Array, indices: Int32Array): { x: Matrix; y: Int32Array } {
  const y = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    y[i] = targets[indices[i]!]!;
  }
  return { x: gatherRows(m, indices), y };
}
