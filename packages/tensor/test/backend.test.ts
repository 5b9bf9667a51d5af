import { describe, expect, it } from '@jest/globals';

import {
  checkGroupBlocks,
  type GroupBlock,
  type Matrix,
  matrix,
  TensorError,
  TypeScriptBackend,
} from '../src';
import { at, expectAllClose, randomMatrix, testRandom } from './helpers';

/** Logits alpha·A·Bᵀ in float64, straight from the definition. */
function logits(a: Matrix, b: Matrix, alpha: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < a.rows; i++) {
    const r: number[] = [];
    for (let j = 0; j < b.rows; j++) {
      let s = 0;
      for (let p = 0; p < a.cols; p++) {
        s += at(a, i, p) * at(b, j, p);
      }
      r.push(alpha * s);
    }
    out.push(r);
  }
  return out;
}

describe('TypeScriptBackend', () => {
  const backend = new TypeScriptBackend();

  it('is named typescript and its gemm is C = alpha·op(A)·op(B)', async () => {
    expect(backend.name).toBe('typescript');
    const a = matrix(2, 3, [1, 2, 3, 4, 5, 6]);
    const b = matrix(3, 2, [7, 8, 9, 10, 11, 12]);
    const c = await backend.gemm(a, b);
    expect(Array.from(c.data)).toEqual([58, 64, 139, 154]);
    const ct = await backend.gemm(a, a, { transB: true, alpha: 2 });
    expect(Array.from(ct.data)).toEqual([28, 64, 64, 154]);
  });

  it('softmax matches exp(l)/Σexp(l) and log Σ exp(l) for l = alpha·A·Bᵀ', async () => {
    const rand = testRandom(11);
    const a = randomMatrix(5, 4, rand);
    const b = randomMatrix(7, 4, rand);
    for (const alpha of [1, 0.5, 12]) {
      const { probs, logSumExp } = await backend.softmax(a, b, alpha);
      expect([probs.rows, probs.cols]).toEqual([5, 7]);
      expect(logSumExp).toBeInstanceOf(Float32Array);
      expect(logSumExp.length).toBe(5);
      const l = logits(a, b, alpha);
      for (let i = 0; i < 5; i++) {
        const li = l[i]!;
        // Direct formula (values here are small enough that no shift is needed).
        const z = li.reduce((s, v) => s + Math.exp(v), 0);
        expectAllClose(
          probs.data.subarray(7 * i, 7 * i + 7),
          li.map((v) => Math.exp(v) / z),
          1e-6,
          1e-5,
        );
        expectAllClose([logSumExp[i]!], [Math.log(z)], 1e-5, 1e-6);
      }
    }
  });

  it('softmax is stable for logits of magnitude 1000', async () => {
    // a·b = 10 and 9 with alpha 100 → logits 1000 and 900.
    const a = matrix(1, 1, [1]);
    const b = matrix(2, 1, [10, 9]);
    const { probs, logSumExp } = await backend.softmax(a, b, 100);
    expectAllClose(probs.data, [1, Math.exp(-100)], 1e-7);
    expectAllClose(logSumExp, [1000 + Math.log1p(Math.exp(-100))], 1e-4);
  });

  it('groupLogSumExp on a hand-checkable layout', async () => {
    // a₀ = [1, 0], a₁ = [0, 2]; B rows [0,1], [1,0], [2,2], [0,0], [3,−1].
    // Logits row 0 = [0, 1, 2, 0, 3], row 1 = [2, 0, 4, 0, −2].
    const a = matrix(2, 2, [1, 0, 0, 2]);
    const b = matrix(5, 2, [0, 1, 1, 0, 2, 2, 0, 0, 3, -1]);
    const ln = Math.log;
    const e = Math.exp;
    // One group of 2 columns, then one of 3.
    const g1 = await backend.groupLogSumExp(a, b, 1, [
      { count: 1, size: 2 },
      { count: 1, size: 3 },
    ]);
    expect([g1.rows, g1.cols]).toEqual([2, 2]);
    expectAllClose(
      g1.data,
      [ln(1 + e(1)), ln(e(2) + 1 + e(3)), ln(e(2) + 1), ln(e(4) + 1 + e(-2))],
      1e-6,
      1e-6,
    );
    // One singleton, then two groups of 2; alpha 0.5 halves every logit.
    const g2 = await backend.groupLogSumExp(a, b, 0.5, [
      { count: 1, size: 1 },
      { count: 2, size: 2 },
    ]);
    expect([g2.rows, g2.cols]).toEqual([2, 3]);
    expectAllClose(
      g2.data,
      [0, ln(e(0.5) + e(1)), ln(1 + e(1.5)), 1, ln(e(2) + 1), ln(1 + e(-1))],
      1e-6,
      1e-6,
    );
    // A single group over every column is the row log-sum-exp; empty blocks are skipped.
    const g3 = await backend.groupLogSumExp(a, b, 1, [
      { count: 0, size: 4 },
      { count: 1, size: 5 },
    ]);
    expect([g3.rows, g3.cols]).toEqual([2, 1]);
    expectAllClose(g3.data, [ln(1 + e(1) + e(2) + 1 + e(3)), ln(e(2) + 1 + e(4) + 1 + e(-2))], 1e-6, 1e-6);
  });

  it('groupLogSumExp matches the definition on a NegLabel-like layout, even for huge alpha', async () => {
    const rand = testRandom(5);
    const a = randomMatrix(3, 6, rand);
    const blocks: GroupBlock[] = [
      { count: 1, size: 4 },
      { count: 3, size: 5 },
    ];
    const b = randomMatrix(19, 6, rand);
    for (const alpha of [1, 100]) {
      const out = await backend.groupLogSumExp(a, b, alpha, blocks);
      expect([out.rows, out.cols]).toEqual([3, 4]);
      const l = logits(a, b, alpha);
      const expected: number[] = [];
      for (const li of l) {
        let col = 0;
        for (const blk of blocks) {
          for (let c = 0; c < blk.count; c++) {
            const seg = li.slice(col, col + blk.size);
            const mx = Math.max(...seg);
            expected.push(mx + Math.log(seg.reduce((s, v) => s + Math.exp(v - mx), 0)));
            col += blk.size;
          }
        }
      }
      for (const v of out.data) {
        expect(Number.isFinite(v)).toBe(true);
      }
      expectAllClose(out.data, expected, 1e-5, 1e-6);
    }
  });

  it('groupLogSumExp rejects layouts that do not cover B’s rows exactly', async () => {
    const a = matrix(1, 2);
    const b = matrix(5, 2);
    await expect(backend.groupLogSumExp(a, b, 1, [{ count: 2, size: 2 }])).rejects.toThrow(TensorError);
    await expect(backend.groupLogSumExp(a, b, 1, [{ count: 3, size: 2 }])).rejects.toThrow(TensorError);
  });

  it('reports argument errors as rejected promises, never as synchronous throws', async () => {
    // Callers compose backends with .then/.catch and Promise.all; the onnxruntime backend rejects.
    const calls: (() => Promise<unknown>)[] = [
      () => backend.gemm(matrix(2, 3), matrix(2, 2)),
      () => backend.softmax(matrix(2, 3), matrix(4, 2), 1),
      () => backend.groupLogSumExp(matrix(1, 2), matrix(3, 3), 1, [{ count: 1, size: 3 }]),
      () => backend.groupLogSumExp(matrix(1, 2), matrix(3, 2), 1, [{ count: 1, size: 2 }]),
    ];
    for (const call of calls) {
      let pending: Promise<unknown> | undefined;
      expect(() => {
        pending = call();
      }).not.toThrow();
      await expect(pending).rejects.toThrow(TensorError);
    }
  });

  it('dispose resolves', async () => {
    await expect(new TypeScriptBackend().dispose()).resolves.toBeUndefined();
  });
});

describe('checkGroupBlocks', () => {
  it('returns the number of groups of a layout covering the columns exactly', () => {
    expect(
      checkGroupBlocks(
        [
          { count: 1, size: 10 },
          { count: 4, size: 3 },
        ],
        22,
      ),
    ).toBe(5);
    expect(checkGroupBlocks([{ count: 0, size: 7 }], 0)).toBe(0);
    expect(checkGroupBlocks([], 0)).toBe(0);
  });

  it('throws TensorError when the layout covers too few or too many columns', () => {
    expect(() => checkGroupBlocks([{ count: 2, size: 3 }], 7)).toThrow(TensorError);
    expect(() => checkGroupBlocks([{ count: 2, size: 3 }], 5)).toThrow(TensorError);
    expect(() => checkGroupBlocks([], 1)).toThrow(TensorError);
    expect(() => checkGroupBlocks([{ count: 2, size: 3 }], 7)).toThrow(/cover 6 columns, the matrix has 7/);
  });

  it('throws TensorError for invalid blocks even when the totals happen to match', () => {
    // size 0 or a negative count would let a wrong layout pass the column count.
    expect(() =>
      checkGroupBlocks(
        [
          { count: 1, size: 4 },
          { count: 3, size: 0 },
        ],
        4,
      ),
    ).toThrow(TensorError);
    expect(() =>
      checkGroupBlocks(
        [
          { count: 2, size: 3 },
          { count: -1, size: 2 },
        ],
        4,
      ),
    ).toThrow(TensorError);
    expect(() => checkGroupBlocks([{ count: 1.5, size: 2 }], 3)).toThrow(TensorError);
    expect(() => checkGroupBlocks([{ count: 1, size: 2.5 }], 2.5)).toThrow(TensorError);
  });
});
