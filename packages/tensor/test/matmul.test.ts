import { describe, expect, it } from '@jest/globals';

import { gemm, type Matrix, matmul, matmulTransB, matrix, TensorError } from '../src';
import { at, expectAllClose, randomMatrix, testRandom } from './helpers';

/** op(X)[i, j] for a stored matrix X. */
function opAt(x: Matrix, trans: boolean, i: number, j: number): number {
  return trans ? at(x, j, i) : at(x, i, j);
}

/**
 * Naive float64 triple loop: C = alpha·op(A)·op(B), with the per-element bound Σ|op(A)ᵢₚ·op(B)ₚⱼ| used to
 * scale the tolerance (gemm rounds its float64 sum to float32 once).
 */
function naiveGemm(
  a: Matrix,
  b: Matrix,
  transA: boolean,
  transB: boolean,
  alpha: number,
): { rows: number; cols: number; values: number[]; bounds: number[] } {
  const m = transA ? a.cols : a.rows;
  const k = transA ? a.rows : a.cols;
  const n = transB ? b.rows : b.cols;
  const values: number[] = [];
  const bounds: number[] = [];
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      let bound = 0;
      for (let p = 0; p < k; p++) {
        const t = opAt(a, transA, i, p) * opAt(b, transB, p, j);
        s += t;
        bound += Math.abs(t);
      }
      values.push(alpha * s);
      bounds.push(Math.abs(alpha) * bound);
    }
  }
  return { rows: m, cols: n, values, bounds };
}

function expectMatchesNaive(
  c: Matrix,
  a: Matrix,
  b: Matrix,
  transA: boolean,
  transB: boolean,
  alpha: number,
) {
  const ref = naiveGemm(a, b, transA, transB, alpha);
  expect(c.rows).toBe(ref.rows);
  expect(c.cols).toBe(ref.cols);
  expect(c.data).toBeInstanceOf(Float32Array);
  expect(c.data.length).toBe(ref.rows * ref.cols);
  const bad: string[] = [];
  for (let i = 0; i < ref.values.length; i++) {
    const got = c.data[i]!;
    const want = ref.values[i]!;
    // One float32 rounding of a float64 sum, plus slack for a different summation order.
    if (Math.abs(got - want) > 2e-7 * ref.bounds[i]! + 1e-30) {
      bad.push(`[${i}] got ${got}, expected ${want}`);
    }
  }
  expect(bad).toEqual([]);
}

// A = [[1,2,3],[4,5,6]] (2×3), B = [[7,8],[9,10],[11,12]] (3×2): A·B = [[58,64],[139,154]] by hand:
// 1·7+2·9+3·11 = 58, 1·8+2·10+3·12 = 64, 4·7+5·9+6·11 = 139, 4·8+5·10+6·12 = 154.
const A = matrix(2, 3, [1, 2, 3, 4, 5, 6]);
const At = matrix(3, 2, [1, 4, 2, 5, 3, 6]);
const B = matrix(3, 2, [7, 8, 9, 10, 11, 12]);
const Bt = matrix(2, 3, [7, 9, 11, 8, 10, 12]);
const AB = [58, 64, 139, 154];

describe('gemm on hand-computed matrices', () => {
  it('computes A·B with neither operand transposed', () => {
    const c = gemm(A, B);
    expect([c.rows, c.cols]).toEqual([2, 2]);
    expect(Array.from(c.data)).toEqual(AB);
  });

  it('computes Aᵀ·B from the transposed storage (transA)', () => {
    const c = gemm(At, B, { transA: true });
    expect([c.rows, c.cols]).toEqual([2, 2]);
    expect(Array.from(c.data)).toEqual(AB);
  });

  it('computes A·Bᵀ from the transposed storage (transB)', () => {
    const c = gemm(A, Bt, { transB: true });
    expect([c.rows, c.cols]).toEqual([2, 2]);
    expect(Array.from(c.data)).toEqual(AB);
  });

  it('computes Aᵀ·Bᵀ (transA and transB)', () => {
    const c = gemm(At, Bt, { transA: true, transB: true });
    expect([c.rows, c.cols]).toEqual([2, 2]);
    expect(Array.from(c.data)).toEqual(AB);
  });

  it('gives non-square results of the right shape for each transposition', () => {
    // A·Aᵀ = [[1+4+9, 4+10+18], [.., 16+25+36]] = [[14, 32], [32, 77]].
    const aat = gemm(A, A, { transB: true });
    expect([aat.rows, aat.cols]).toEqual([2, 2]);
    expect(Array.from(aat.data)).toEqual([14, 32, 32, 77]);
    // Aᵀ·A is 3×3: entry (i, j) = A[0,i]·A[0,j] + A[1,i]·A[1,j].
    const ata = gemm(A, A, { transA: true });
    expect([ata.rows, ata.cols]).toEqual([3, 3]);
    expect(Array.from(ata.data)).toEqual([17, 22, 27, 22, 29, 36, 27, 36, 45]);
    // Aᵀ·Aᵀ is not defined for a 2×3 A (3×2 times 3×2), B·A is 3×3: row 0 = 7·[1,2,3] + 8·[4,5,6].
    const ba = gemm(B, A);
    expect([ba.rows, ba.cols]).toEqual([3, 3]);
    expect(Array.from(ba.data.subarray(0, 3))).toEqual([39, 54, 69]);
  });

  it('applies alpha in every transposition', () => {
    const scaled = AB.map((v) => -0.5 * v); // [-29, -32, -69.5, -77]
    expect(Array.from(gemm(A, B, { alpha: -0.5 }).data)).toEqual(scaled);
    expect(Array.from(gemm(At, B, { transA: true, alpha: -0.5 }).data)).toEqual(scaled);
    expect(Array.from(gemm(A, Bt, { transB: true, alpha: -0.5 }).data)).toEqual(scaled);
    expect(Array.from(gemm(At, Bt, { transA: true, transB: true, alpha: -0.5 }).data)).toEqual(scaled);
    expect(Array.from(gemm(A, B, { alpha: 0 }).data)).toEqual([0, 0, 0, 0]);
  });

  it('matmul is A·B and matmulTransB is A·Bᵀ', () => {
    expect(Array.from(matmul(A, B).data)).toEqual(AB);
    expect(Array.from(matmulTransB(A, Bt).data)).toEqual(AB);
    // Similarity form: rows of X against rows of Y.
    const x = matrix(2, 2, [1, 0, 0, 1]);
    const y = matrix(3, 2, [1, 2, 3, 4, 5, 6]);
    const s = matmulTransB(x, y);
    expect([s.rows, s.cols]).toEqual([2, 3]);
    expect(Array.from(s.data)).toEqual([1, 3, 5, 2, 4, 6]);
  });

  it('does not modify its operands', () => {
    const a = matrix(2, 3, [1, 2, 3, 4, 5, 6]);
    const b = matrix(3, 2, [7, 8, 9, 10, 11, 12]);
    gemm(a, b, { alpha: 3 });
    gemm(a, a, { transA: true });
    gemm(a, a, { transB: true });
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(b.data)).toEqual([7, 8, 9, 10, 11, 12]);
  });
});

describe('gemm against a naive triple loop', () => {
  // [m, k, n] of op(A)·op(B); includes 1×k, k×1, 0-row / 0-inner / 0-col and sizes around the 64 block.
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [1, 7, 5],
    [5, 7, 1],
    [7, 1, 5],
    [1, 13, 1],
    [63, 4, 65],
    [65, 3, 70],
    [3, 5, 129],
    [130, 17, 66],
    [0, 4, 3],
    [4, 0, 3],
    [4, 3, 0],
  ];
  const combos: [boolean, boolean][] = [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ];
  for (const [transA, transB] of combos) {
    it(`matches for transA=${transA}, transB=${transB} on ${shapes.length} shapes`, () => {
      const rand = testRandom(1000 + (transA ? 2 : 0) + (transB ? 1 : 0));
      for (const [m, k, n] of shapes) {
        const a = transA ? randomMatrix(k, m, rand) : randomMatrix(m, k, rand);
        const b = transB ? randomMatrix(n, k, rand) : randomMatrix(k, n, rand);
        for (const alpha of [1, -1.75]) {
          expectMatchesNaive(gemm(a, b, { transA, transB, alpha }), a, b, transA, transB, alpha);
        }
      }
    });
  }

  it('returns a 0-row result for an empty left operand and zeros for an empty inner dimension', () => {
    const empty = gemm(matrix(0, 4), matrix(4, 3));
    expect([empty.rows, empty.cols, empty.data.length]).toEqual([0, 3, 0]);
    const emptyT = matmulTransB(matrix(0, 4), matrix(3, 4));
    expect([emptyT.rows, emptyT.cols, emptyT.data.length]).toEqual([0, 3, 0]);
    const noInner = gemm(matrix(2, 0), matrix(0, 3));
    expect([noInner.rows, noInner.cols]).toEqual([2, 3]);
    expect(Array.from(noInner.data)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('accumulates in float64 (a sum float32 accumulation would lose)', () => {
    // 1 + 2⁻²⁴·(many) : in float32 each 2⁻²⁴ added to 1 is lost; in float64 they add up to 2⁻¹⁴.
    const k = 1025;
    const a = new Float32Array(k).fill(1);
    const b = new Float32Array(k).fill(2 ** -24);
    b[0] = 1;
    const expected = 1 + 1024 * 2 ** -24; // exactly representable in float32 (1 + 2⁻¹⁴)
    for (const [transA, transB] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      const am = transA ? matrix(k, 1, a) : matrix(1, k, a);
      const bm = transB ? matrix(1, k, b) : matrix(k, 1, b);
      expectAllClose(gemm(am, bm, { transA, transB }).data, [expected], 0);
    }
  });
});

describe('gemm shape errors', () => {
  it('throws TensorError when the inner dimensions differ', () => {
    const a = matrix(2, 3);
    expect(() => gemm(a, matrix(2, 2))).toThrow(TensorError);
    expect(() => gemm(a, matrix(3, 2), { transA: true })).toThrow(TensorError);
    expect(() => gemm(a, matrix(2, 2), { transB: true })).toThrow(TensorError);
    expect(() => gemm(a, matrix(2, 3), { transA: true, transB: true })).toThrow(TensorError);
    expect(() => matmul(a, matrix(2, 3))).toThrow(TensorError);
    expect(() => matmulTransB(a, matrix(3, 2))).toThrow(TensorError);
  });

  it('names the error and gives it the shape code', () => {
    let caught: unknown;
    try {
      gemm(matrix(2, 3), matrix(4, 1));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(TensorError);
    expect(caught).toBeInstanceOf(Error);
    const err = caught as TensorError;
    expect(err.name).toBe('TensorError');
    expect(err.code).toBe('TENSOR_ERR_SHAPE');
    expect(err.message).toMatch(/inner dims/);
  });
});
