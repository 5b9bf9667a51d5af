import { type GemmOptions, gemm } from './matmul';
import { type Matrix, TensorError } from './matrix';
import { logSumExp, logSumExpRows, softmaxRows } from './reduce';

/**
 * Consecutive groups of columns: `count` groups of `size` columns each. A list of blocks partitions the
 * columns of a similarity matrix in order (for NegLabel: one group of K InD columns, then G groups of
 * the permuted negatives).
 */
export interface GroupBlock {
  readonly count: number;
  readonly size: number;
}

/** Softmax of a scaled similarity matrix with each row's log-sum-exp. */
export interface SoftmaxResult {
  /** Row-wise softmax of alpha·A·Bᵀ. */
  probs: Matrix;
  /** Row-wise log Σ exp(alpha·A·Bᵀ). */
  logSumExp: Float32Array;
}

/**
 * The few dense kernels the method's math needs, behind one interface so the same code runs on plain
 * TypeScript (the reference, used in tests), on onnxruntime's CPU provider (the fast path on a
 * workstation) and on its CUDA provider. Implementations must agree to float32 rounding.
 */
export interface LinalgBackend {
  /** Human-readable name, for logs and benchmark tables. */
  readonly name: string;
  /** C = alpha · op(A) · op(B). */
  gemm(a: Matrix, b: Matrix, options?: GemmOptions): Promise<Matrix>;
  /** Row softmax of alpha·A·Bᵀ and its log-sum-exp (cross-entropy forward and backward in one call). */
  softmax(a: Matrix, b: Matrix, alpha: number): Promise<SoftmaxResult>;
  /**
   * Per-group log-sum-exp of alpha·A·Bᵀ: out[i, g] = log Σ_{j∈g} exp(alpha·a_i·b_j), with groups laid
   * out over B's rows by `blocks` (which must cover them exactly). Stable for any magnitude.
   */
  groupLogSumExp(a: Matrix, b: Matrix, alpha: number, blocks: readonly GroupBlock[]): Promise<Matrix>;
  /** Releases native resources; the backend must not be used afterwards. */
  dispose(): Promise<void>;
}

/** Total number of groups and columns of a block layout, validated against `columns`. */
export function checkGroupBlocks(blocks: readonly GroupBlock[], columns: number): number {
  let groups = 0;
  let cols = 0;
  for (const b of blocks) {
    if (!Number.isInteger(b.count) || b.count < 0 || !Number.isInteger(b.size) || b.size < 1) {
      throw new TensorError(`group block {count: ${b.count}, size: ${b.size}} is not valid`);
    }
    groups += b.count;
    cols += b.count * b.size;
  }
  if (cols !== columns) {
    throw new TensorError(`group blocks cover ${cols} columns, the matrix has ${columns}`);
  }
  return groups;
}

/**
 * The plain-TypeScript backend: exact reference, a few GFLOP/s. Use it for tests and small inputs.
 */
export class TypeScriptBackend implements LinalgBackend {
  readonly name = 'typescript';

  // Each method runs synchronously inside a Promise executor, so argument errors reject the returned
  // promise (as the onnxruntime backend's do) rather than throwing before there is a promise.
  gemm(a: Matrix, b: Matrix, options?: GemmOptions): Promise<Matrix> {
    return new Promise((resolve) => {
      resolve(gemm(a, b, options));
    });
  }

  softmax(a: Matrix, b: Matrix, alpha: number): Promise<SoftmaxResult> {
    return new Promise((resolve) => {
      const logits = gemm(a, b, { transB: true });
      const lse = logSumExpRows(logits, alpha);
      resolve({ probs: softmaxRows(logits, alpha), logSumExp: Float32Array.from(lse) });
    });
  }

  groupLogSumExp(a: Matrix, b: Matrix, alpha: number, blocks: readonly GroupBlock[]): Promise<Matrix> {
    return new Promise((resolve) => {
      const groups = checkGroupBlocks(blocks, b.rows);
      const logits = gemm(a, b, { transB: true, alpha });
      const out = new Float32Array(a.rows * groups);
      for (let i = 0; i < a.rows; i++) {
        let col = i * logits.cols;
        let g = 0;
        for (const blk of blocks) {
          for (let c = 0; c < blk.count; c++) {
            out[i * groups + g] = logSumExp(logits.data, col, blk.size);
            col += blk.size;
            g++;
          }
        }
      }
      resolve({ rows: a.rows, cols: groups, data: out });
    });
  }

  dispose(): Promise<void> {
    return Promise.resolve();
  }
}
