import {
  type GroupBlock,
  type LinalgBackend,
  type Matrix,
  Rng,
  gatherRows,
  concatRows,
  l2NormalizeRows,
  rowSlice,
} from '@synood/tensor';
import { OOD_ERROR_CODES, OodError, require_ } from './errors';

/** Options of the NegLabel score; defaults follow NegLabel's released code (design §4). */
export interface NegLabelOptions {
  /** Logit scale 1/τ; CLIP's logit scale is exactly 100. @defaultValue 100 */
  scale?: number;
  /** Number of groups G; 1 gives the ungrouped score of the paper's Eq. 2. @defaultValue 100 */
  groups?: number;
  /** Seed of the one fixed column permutation (see `Rng` for the algorithm). @defaultValue 0 */
  seed?: number | string;
}

/**
 * The label side of the NegLabel score, prepared once: InD rows, then the negatives that survive the
 * drop of the last M mod G columns, in permuted order so that group g is rows
 * K + g·S … K + (g+1)·S − 1. Scoring a batch is then one similarity product and a per-group
 * log-sum-exp.
 */
export interface NegLabelLayout {
  /** Normalised label features: K InD rows, then G·S permuted negatives. */
  readonly labels: Matrix;
  /** K: number of InD labels. */
  readonly indCount: number;
  /** M: number of negatives before the drop. */
  readonly negativeCount: number;
  /** G. */
  readonly groups: number;
  /** S = ⌊M / G⌋ negatives per group. */
  readonly groupSize: number;
  /** Negative indices (into the original M) in the order of `labels` rows K…; length G·S. */
  readonly permutation: Int32Array;
  /** Logit scale. */
  readonly scale: number;
  /** Column blocks for {@link LinalgBackend.groupLogSumExp}. */
  readonly blocks: readonly GroupBlock[];
}

/**
 * Prepares the NegLabel label layout (reference §4.5): drop the last M mod G negatives, permute the
 * rest with one seeded permutation, cut into G groups of consecutive permuted columns.
 * `permutation` may be given explicitly (a loaded detector stores it) instead of being drawn.
 */
export function negLabelLayout(
  indFeatures: Matrix,
  negativeFeatures: Matrix,
  options: NegLabelOptions & { permutation?: Int32Array } = {},
): NegLabelLayout {
  const scale = options.scale ?? 100;
  const groups = options.groups ?? 100;
  const m = negativeFeatures.rows;
  if (indFeatures.cols !== negativeFeatures.cols) {
    throw new OodError(
      OOD_ERROR_CODES.shape,
      `InD features are ${indFeatures.cols}-d but negative features are ${negativeFeatures.cols}-d`,
    );
  }
  require_(indFeatures.rows > 0, 'NegLabel needs at least one InD label');
  require_(Number.isInteger(groups) && groups >= 1, `groups must be a positive integer, got ${groups}`);
  require_(groups <= m, `groups (${groups}) cannot exceed the number of negative labels (${m})`);
  require_(scale > 0 && Number.isFinite(scale), `scale must be a positive number, got ${scale}`);
  const groupSize = Math.floor(m / groups);
  const kept = groups * groupSize;
  let permutation = options.permutation;
  if (permutation === undefined) {
    permutation = new Rng(options.seed ?? 0).permutation(kept);
  } else {
    require_(
      isPermutation(permutation, kept),
      `permutation must be a permutation of 0..${kept - 1} (M=${m}, G=${groups})`,
    );
  }
  const labels = concatRows([
    l2NormalizeRows(indFeatures),
    l2NormalizeRows(gatherRows(negativeFeatures, permutation)),
  ]);
  return {
    labels,
    indCount: indFeatures.rows,
    negativeCount: m,
    groups,
    groupSize,
    permutation,
    scale,
    blocks: [
      { count: 1, size: indFeatures.rows },
      { count: groups, size: groupSize },
    ],
  };
}

function isPermutation(p: Int32Array, n: number): boolean {
  if (p.length !== n) {
    return false;
  }
  const seen = new Uint8Array(n);
  for (const v of p) {
    if (v < 0 || v >= n || seen[v] === 1) {
      return false;
    }
    seen[v] = 1;
  }
  return true;
}

/** Rows scored per backend call; bounds the logits buffer to ~50 MB for 11.5k labels. */
const SCORE_BATCH_ROWS = 1024;

/**
 * NegLabel score per image (higher = more InD): the mean over groups g of
 * Σ_k e^{p_k} / (Σ_k e^{p_k} + Σ_{j∈g} e^{n_j}), with p, n the scaled cosines to InD and negative
 * labels. Computed in log space as σ(lse_InD − lse_g), so no exponential overflows or underflows to
 * 0/0. Image features are L2-normalised here.
 */
export async function negLabelScores(
  backend: LinalgBackend,
  features: Matrix,
  layout: NegLabelLayout,
): Promise<Float64Array> {
  if (features.cols !== layout.labels.cols) {
    throw new OodError(
      OOD_ERROR_CODES.shape,
      `image features are ${features.cols}-d but label features are ${layout.labels.cols}-d`,
    );
  }
  const out = new Float64Array(features.rows);
  const g = layout.groups;
  for (let start = 0; start < features.rows; start += SCORE_BATCH_ROWS) {
    const end = Math.min(features.rows, start + SCORE_BATCH_ROWS);
    const batch = l2NormalizeRows(rowSlice(features, start, end));
    const lse = await backend.groupLogSumExp(batch, layout.labels, layout.scale, layout.blocks);
    for (let i = 0; i < batch.rows; i++) {
      const o = i * (g + 1);
      const ind = lse.data[o]!;
      let s = 0;
      for (let k = 1; k <= g; k++) {
        s += sigmoid(ind - lse.data[o + k]!);
      }
      out[start + i] = s / g;
    }
  }
  return out;
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/**
 * MCM (Ming et al. 2022): max_k softmax(scale · cos(f, t_k)) over the InD labels only.
 * @param scale 1/τ; MCM's default τ = 1.
 */
export async function mcmScores(
  backend: LinalgBackend,
  features: Matrix,
  indFeatures: Matrix,
  scale = 1,
): Promise<Float64Array> {
  if (features.cols !== indFeatures.cols) {
    throw new OodError(
      OOD_ERROR_CODES.shape,
      `image features are ${features.cols}-d but InD features are ${indFeatures.cols}-d`,
    );
  }
  const labels = l2NormalizeRows(indFeatures);
  const out = new Float64Array(features.rows);
  for (let start = 0; start < features.rows; start += SCORE_BATCH_ROWS) {
    const end = Math.min(features.rows, start + SCORE_BATCH_ROWS);
    const logits = await backend.gemm(l2NormalizeRows(rowSlice(features, start, end)), labels, {
      transB: true,
      alpha: scale,
    });
    for (let i = 0; i < logits.rows; i++) {
      out[start + i] = maxSoftmax(logits.data, i * logits.cols, logits.cols);
    }
  }
  return out;
}

function maxSoftmax(x: Float32Array, offset: number, n: number): number {
  let max = -Infinity;
  for (let j = offset; j < offset + n; j++) {
    max = Math.max(max, x[j]!);
  }
  let s = 0;
  for (let j = offset; j < offset + n; j++) {
    s += Math.exp(x[j]! - max);
  }
  return 1 / s;
}

function perRow(logits: Matrix, f: (offset: number) => number): Float64Array {
  require_(logits.cols > 0, 'classifier logits must have at least one class');
  const out = new Float64Array(logits.rows);
  for (let i = 0; i < logits.rows; i++) {
    out[i] = f(i * logits.cols);
  }
  return out;
}

/** Maximum softmax probability of classifier logits (Hendrycks & Gimpel 2017). */
export function mspScores(logits: Matrix): Float64Array {
  return perRow(logits, (o) => maxSoftmax(logits.data, o, logits.cols));
}

/**
 * Negative free energy T·log Σ exp(g/T) of classifier logits (Liu et al. 2020); higher = more InD.
 */
export function energyScores(logits: Matrix, temperature = 1): Float64Array {
  require_(temperature > 0, `temperature must be positive, got ${temperature}`);
  return perRow(logits, (o) => {
    let max = -Infinity;
    for (let j = o; j < o + logits.cols; j++) {
      max = Math.max(max, logits.data[j]! / temperature);
    }
    let s = 0;
    for (let j = o; j < o + logits.cols; j++) {
      s += Math.exp(logits.data[j]! / temperature - max);
    }
    return temperature * (max + Math.log(s));
  });
}

/** Maximum logit (Hendrycks et al. 2022). */
export function maxLogitScores(logits: Matrix): Float64Array {
  return perRow(logits, (o) => {
    let max = -Infinity;
    for (let j = o; j < o + logits.cols; j++) {
      max = Math.max(max, logits.data[j]!);
    }
    return max;
  });
}
