import { describe, expect, it } from '@jest/globals';

import { mean, quantile, quantileSorted, TensorError, topK } from '../src';
import { testRandom } from './helpers';

describe('quantile', () => {
  it('hand-derived: [1, 2, 3, 4] at q = 0.95 → position 0.95·3 = 2.85 → 3 + 0.85·(4 − 3) = 3.85', () => {
    expect(quantile([1, 2, 3, 4], 0.95)).toBeCloseTo(3.85, 12);
    // q = 0.5 → position 1.5 → 2.5; q = 1/3 → position 1 → exactly v[1].
    expect(quantile([4, 3, 2, 1], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4], 1 / 3)).toBeCloseTo(2, 14);
  });

  // Expected values computed once with python3 + numpy 2.4.6,
  // `np.quantile(np.asarray(arr, dtype=np.float64), q)` (default method='linear'),
  // by test/reference/quantile_reference.py; pasted as literals.
  const cases: { values: number[]; expected: [number, number][] }[] = [
    {
      values: [1, 2, 3, 4],
      expected: [
        [0, 1.0],
        [1, 4.0],
        [0.95, 3.8499999999999996],
        [0.5, 2.5],
        [0.33, 1.99],
      ],
    },
    {
      values: [3.5, -1.25, 7, 0, 2.75, 10, -4],
      expected: [
        [0, -4.0],
        [1, 10.0],
        [0.95, 9.099999999999998],
        [0.5, 2.75],
        [0.33, -0.025000000000000022],
      ],
    },
    {
      values: [0.1, 0.7, 0.2, 0.9, 0.3, 0.05, 0.6, 0.45, 0.8, 0.15, 0.55],
      expected: [
        [0, 0.05],
        [1, 0.9],
        [0.95, 0.8500000000000001],
        [0.5, 0.45],
        [0.33, 0.23000000000000004],
      ],
    },
    {
      values: [5],
      expected: [
        [0, 5.0],
        [1, 5.0],
        [0.95, 5.0],
        [0.5, 5.0],
        [0.33, 5.0],
      ],
    },
    {
      values: [2, 2, 2, 9, 9],
      expected: [
        [0, 2.0],
        [1, 9.0],
        [0.95, 9.0],
        [0.5, 2.0],
        [0.33, 2.0],
      ],
    },
  ];
  for (const { values, expected } of cases) {
    it(`matches numpy's linear quantile on [${values.join(', ')}]`, () => {
      for (const [q, want] of expected) {
        const got = quantile(values, q);
        // numpy's linear method is the same two-sided lerp, so agreement is to the last bit or two.
        expect(Math.abs(got - want)).toBeLessThanOrEqual(4 * Number.EPSILON * Math.max(1, Math.abs(want)));
      }
    });
  }

  it('returns the exact end points at q = 0 and q = 1', () => {
    const v = [0.1, 0.7, 0.2, 0.9, 0.3];
    expect(quantile(v, 0)).toBe(0.1);
    expect(quantile(v, 1)).toBe(0.9);
  });

  it('sorts numerically (not as strings) and accepts typed arrays without modifying them', () => {
    const v = new Float32Array([10, 9, 100, -5]);
    expect(quantile(v, 0)).toBe(-5);
    expect(quantile(v, 1)).toBe(100);
    expect(quantile(v, 0.5)).toBe(9.5);
    expect(Array.from(v)).toEqual([10, 9, 100, -5]);
  });

  it('propagates NaN', () => {
    expect(quantile([1, NaN, 3], 0.5)).toBeNaN();
    expect(quantile([NaN], 0)).toBeNaN();
    expect(quantile([1, 2, 3, NaN], 0)).toBeNaN();
  });

  it('throws TensorError for q outside [0, 1] and for empty input', () => {
    expect(() => quantile([1, 2], -0.01)).toThrow(TensorError);
    expect(() => quantile([1, 2], 1.01)).toThrow(TensorError);
    expect(() => quantile([1, 2], NaN)).toThrow(TensorError);
    expect(() => quantile([1, 2], Infinity)).toThrow(TensorError);
    expect(() => quantile([], 0.5)).toThrow(TensorError);
  });

  it('quantileSorted interpolates an already sorted array', () => {
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([1, 2, 3, 4], 0.95)).toBeCloseTo(3.85, 12);
    expect(quantileSorted([-1, 1], 0.25)).toBe(-0.5);
    expect(quantileSorted([7], 0.3)).toBe(7);
  });
});

/** Reference top-k: stable sort of the indices by value, descending, then the first k. */
function referenceTopK(values: readonly number[], k: number): number[] {
  const idx = values.map((_, i) => i);
  idx.sort((i, j) => values[j]! - values[i]!); // Array.prototype.sort is stable: ties keep index order
  return idx.slice(0, k);
}

describe('topK', () => {
  it('returns the k largest, largest first, with their values', () => {
    const r = topK([3, 1, 4, 1, 5, 9, 2, 6], 3);
    expect(r.indices).toBeInstanceOf(Int32Array);
    expect(r.values).toBeInstanceOf(Float64Array);
    expect(Array.from(r.indices)).toEqual([5, 7, 4]);
    expect(Array.from(r.values)).toEqual([9, 6, 5]);
  });

  it('breaks ties by the lower index', () => {
    expect(Array.from(topK([2, 5, 5, 1, 5], 2).indices)).toEqual([1, 2]);
    expect(Array.from(topK([2, 5, 5, 1, 5], 3).indices)).toEqual([1, 2, 4]);
    expect(Array.from(topK([2, 5, 5, 1, 5], 5).indices)).toEqual([1, 2, 4, 0, 3]);
    expect(Array.from(topK([7, 7, 7, 7], 2).indices)).toEqual([0, 1]);
    // A later equal value must not displace an earlier one already in the top k.
    expect(Array.from(topK([1, 3, 2, 3, 3], 1).indices)).toEqual([1]);
  });

  it('returns all n (sorted) when k > n', () => {
    const r = topK([1, 3, 2], 10);
    expect(Array.from(r.indices)).toEqual([1, 2, 0]);
    expect(Array.from(r.values)).toEqual([3, 2, 1]);
  });

  it('returns empty results for k = 0 or empty input', () => {
    const r = topK([1, 2, 3], 0);
    expect(r.indices.length).toBe(0);
    expect(r.values.length).toBe(0);
    expect(topK([], 3).indices.length).toBe(0);
  });

  it('handles negatives and ±Infinity', () => {
    const r = topK([-1, -Infinity, -0.5, Infinity, -2], 4);
    expect(Array.from(r.indices)).toEqual([3, 2, 0, 4]);
    expect(Array.from(r.values)).toEqual([Infinity, -0.5, -1, -2]);
  });

  it('matches a stable-sort reference on random inputs with many ties', () => {
    const rand = testRandom(7);
    for (const n of [1, 2, 17, 300]) {
      const values = Array.from({ length: n }, () => Math.floor(rand() * 10) - 5);
      for (const k of [1, 2, 5, Math.floor(n / 2), n - 1, n, n + 3]) {
        const r = topK(Float32Array.from(values), k);
        const want = referenceTopK(values, k);
        expect(Array.from(r.indices)).toEqual(want);
        expect(Array.from(r.values)).toEqual(want.map((i) => values[i]!));
      }
    }
  });

  it('throws TensorError for a negative or fractional k', () => {
    expect(() => topK([1, 2], -1)).toThrow(TensorError);
    expect(() => topK([1, 2], 1.5)).toThrow(TensorError);
    expect(() => topK([1, 2], NaN)).toThrow(TensorError);
  });
});

describe('mean', () => {
  it('is the arithmetic mean', () => {
    expect(mean([1, 2, 3, 4])).toBe(2.5);
    expect(mean(new Float32Array([-1, 1]))).toBe(0);
    expect(mean([0.1, 0.2, 0.3])).toBeCloseTo(0.2, 15);
  });

  it('throws TensorError for empty input', () => {
    expect(() => mean([])).toThrow(TensorError);
  });
});
