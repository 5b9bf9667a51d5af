import { type Matrix, TensorError } from './matrix';

/** Options of {@link gemm}. */
export interface GemmOptions {
  /** Use Aᵀ. @defaultValue false */
  transA?: boolean;
  /** Use Bᵀ. @defaultValue false */
  transB?: boolean;
  /** Scale applied to the product. @defaultValue 1 */
  alpha?: number;
}

/** Row block that keeps a slab of B hot in L1/L2 while A's rows stream past. */
const BLOCK_ROWS = 64;

/**
 * C = alpha · op(A) · op(B), blocked float32 matrix product in plain TypeScript.
 *
 * This is the reference implementation behind the `typescript` linear-algebra backend: exact enough
 * to check the onnxruntime backend against (it accumulates in float64), but it reaches only a few
 * GFLOP/s, so production paths go through a {@link LinalgBackend} on onnxruntime.
 */
export function gemm(a: Matrix, b: Matrix, options: GemmOptions = {}): Matrix {
  const { transA = false, transB = false, alpha = 1 } = options;
  const { m, k, n } = gemmShape(a, b, options);
  const c = new Float32Array(m * n);
  const A = a.data;
  const B = b.data;
  if (!transA && transB) {
    // C[i,j] = A[i,:]·B[j,:]: both operands contiguous, block over B's rows for reuse.
    for (let j0 = 0; j0 < n; j0 += BLOCK_ROWS) {
      const j1 = Math.min(n, j0 + BLOCK_ROWS);
      for (let i = 0; i < m; i++) {
        const ai = i * k;
        for (let j = j0; j < j1; j++) {
          const bj = j * k;
          let s = 0;
          for (let p = 0; p < k; p++) {
            s += A[ai + p]! * B[bj + p]!;
          }
          c[i * n + j] = alpha * s;
        }
      }
    }
    return { rows: m, cols: n, data: c };
  }
  // Remaining cases accumulate rank-1 updates row by row in a float64 scratch row.
  const acc = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    acc.fill(0);
    for (let p = 0; p < k; p++) {
      const aip = transA ? A[p * a.cols + i]! : A[i * a.cols + p]!;
      if (transB) {
        for (let j = 0; j < n; j++) {
          acc[j]! += aip * B[j * b.cols + p]!;
        }
      } else {
        const bp = p * n;
        for (let j = 0; j < n; j++) {
          acc[j]! += aip * B[bp + j]!;
        }
      }
    }
    const ci = i * n;
    for (let j = 0; j < n; j++) {
      c[ci + j] = alpha * acc[j]!;
    }
  }
  return { rows: m, cols: n, data: c };
}

/**
 * The dimensions of alpha · op(A) · op(B): op(A) is m×k, op(B) is k×n. Throws when the inner
 * dimensions differ, naming both operands' shapes.
 */
export function gemmShape(
  a: Matrix,
  b: Matrix,
  options: GemmOptions = {},
): { m: number; k: number; n: number } {
  const { transA = false, transB = false } = options;
  const m = transA ? a.cols : a.rows;
  const k = transA ? a.rows : a.cols;
  const kb = transB ? b.cols : b.rows;
  const n = transB ? b.rows : b.cols;
  if (k !== kb) {
    throw new TensorError(
      `gemm: inner dims differ: op(A) is ${m}×${k}, op(B) is ${kb}×${n} (transA=${transA}, transB=${transB})`,
    );
  }
  return { m, k, n };
}

/** C = A·B. */
export function matmul(a: Matrix, b: Matrix): Matrix {
  return gemm(a, b);
}

/** C = A·Bᵀ (rows of A against rows of B: the similarity-matrix form). */
export function matmulTransB(a: Matrix, b: Matrix): Matrix {
  return gemm(a, b, { transB: true });
}
