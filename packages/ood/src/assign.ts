import { type LinalgBackend, type Matrix, argmax, l2NormalizeRows, rowSlice } from '@synood/tensor';
import { OOD_ERROR_CODES, OodError, require_ } from './errors';

/** Nearest negative label per image. */
export interface NegativeAssignment {
  /** Index into the negative labels, per image. */
  readonly assignment: Int32Array;
  /** Cosine similarity to the assigned label, per image. */
  readonly similarity: Float32Array;
}

const ASSIGN_BATCH_ROWS = 1024;

/**
 * Assigns each (synthetic) image the negative label with the highest cosine similarity over all M
 * negatives (SynOOD `ood_label_mining.py`: argmax of softmax(100·cos) is the argmax of cos). Ties go to
 * the lower label index.
 */
export async function assignNegatives(
  backend: LinalgBackend,
  features: Matrix,
  negativeFeatures: Matrix,
): Promise<NegativeAssignment> {
  if (features.cols !== negativeFeatures.cols) {
    throw new OodError(
      OOD_ERROR_CODES.shape,
      `image features are ${features.cols}-d but negative features are ${negativeFeatures.cols}-d`,
    );
  }
  require_(negativeFeatures.rows > 0, 'assignNegatives needs at least one negative label');
  const labels = l2NormalizeRows(negativeFeatures);
  const assignment = new Int32Array(features.rows);
  const similarity = new Float32Array(features.rows);
  for (let start = 0; start < features.rows; start += ASSIGN_BATCH_ROWS) {
    const end = Math.min(features.rows, start + ASSIGN_BATCH_ROWS);
    const cos = await backend.gemm(l2NormalizeRows(rowSlice(features, start, end)), labels, {
      transB: true,
    });
    for (let i = 0; i < cos.rows; i++) {
      const j = argmax(cos.data, i * cos.cols, cos.cols);
      assignment[start + i] = j;
      similarity[start + i] = cos.data[i * cos.cols + j]!;
    }
  }
  return { assignment, similarity };
}

/** The subset Y*⁻ of negatives that at least one image was assigned to. */
export interface NegativeSubset {
  /** Negative indices in Y*⁻, ascending (a deterministic order, unlike the reference's Python set). */
  readonly labels: Int32Array;
  /** Number of images assigned to each member of `labels`. */
  readonly counts: Int32Array;
  /** Per image: its label's position in `labels` (the training target). */
  readonly targets: Int32Array;
  /** Per negative index: its position in `labels`, or −1 when unused. */
  readonly positionOf: Int32Array;
}

/** Builds Y*⁻ (the distinct assigned labels) with per-label counts and per-image targets. */
export function negativeSubset(assignment: Int32Array, negativeCount: number): NegativeSubset {
  const counts = new Int32Array(negativeCount);
  for (let i = 0; i < assignment.length; i++) {
    const a = assignment[i]!;
    require_(a >= 0 && a < negativeCount, `assignment[${i}] = ${a} is outside 0..${negativeCount - 1}`);
    counts[a]!++;
  }
  const positionOf = new Int32Array(negativeCount).fill(-1);
  const labels: number[] = [];
  for (let j = 0; j < negativeCount; j++) {
    if (counts[j]! > 0) {
      positionOf[j] = labels.length;
      labels.push(j);
    }
  }
  const targets = new Int32Array(assignment.length);
  for (let i = 0; i < assignment.length; i++) {
    targets[i] = positionOf[assignment[i]!]!;
  }
  return {
    labels: Int32Array.from(labels),
    counts: Int32Array.from(labels, (j) => counts[j]!),
    targets,
    positionOf,
  };
}
