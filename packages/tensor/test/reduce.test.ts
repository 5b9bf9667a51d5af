import { describe, expect, it } from '@jest/globals';

import {
  argmax,
  l2NormalizeRows,
  logSumExp,
  logSumExpRows,
  matrix,
  rowNorms,
  softmaxRows,
  TensorError,
} from '../src';
import { expectAllClose } from './helpers';

describe('logSumExp', () => {
  it('matches log Σ exp directly for moderate values', () => {
    expect(logSumExp([0, 0])).toBeCloseTo(Math.LN2, 15);
    expect(logSumExp([0, Math.log(3)])).toBeCloseTo(Math.log(4), 14);
    expect(logSumExp([1, 2, 3])).toBeCloseTo(Math.log(Math.E + Math.exp(2) + Math.exp(3)), 14);
    expect(logSumExp([-0.5])).toBe(-0.5);
  });

  it('is stable for huge positive and negative values', () => {
    // log(2·e¹⁰⁰⁰) = 1000 + ln 2, where exp(1000) alone overflows.
    expect(logSumExp([1000, 1000])).toBeCloseTo(1000 + Math.LN2, 12);
    expect(logSumExp([-1000, -1000])).toBeCloseTo(-1000 + Math.LN2, 12);
    // log(e¹⁰⁰⁰ + e⁹⁹⁹) = 1000 + log(1 + e⁻¹).
    expect(logSumExp([999, 1000])).toBeCloseTo(1000 + Math.log1p(Math.exp(-1)), 12);
    // e⁻¹⁰⁰⁰ is negligible next to e¹⁰⁰⁰.
    expect(logSumExp([1000, -1000])).toBe(1000);
    expect(Number.isFinite(logSumExp([-1000, -1001, -1002]))).toBe(true);
  });

  it('handles -Infinity entries and ±Infinity', () => {
    expect(logSumExp([-Infinity, 0])).toBe(0);
    expect(logSumExp([Math.log(2), -Infinity, Math.log(3)])).toBeCloseTo(Math.log(5), 14);
    expect(logSumExp([-Infinity, -Infinity])).toBe(-Infinity);
    expect(logSumExp([Infinity, 1])).toBe(Infinity);
  });

  it('propagates NaN, even next to -Infinity or +Infinity', () => {
    expect(logSumExp([NaN])).toBeNaN();
    expect(logSumExp([1, NaN, 2])).toBeNaN();
    expect(logSumExp([NaN, -Infinity])).toBeNaN();
    expect(logSumExp([Infinity, NaN])).toBeNaN();
    // Outside the range a NaN does not matter.
    expect(logSumExp([NaN, 0, 0], 1)).toBeCloseTo(Math.LN2, 15);
  });

  it('returns -Infinity for an empty range', () => {
    expect(logSumExp([])).toBe(-Infinity);
    expect(logSumExp([1, 2, 3], 1, 0)).toBe(-Infinity);
    expect(logSumExp([1, 2, 3], 3)).toBe(-Infinity);
  });

  it('reduces only x[offset .. offset+length)', () => {
    const x = new Float32Array([100, 1, 2, 100]);
    expect(logSumExp(x, 1, 2)).toBeCloseTo(Math.log(Math.E + Math.exp(2)), 6);
    // Default length runs to the end.
    expect(logSumExp([100, 0, 0], 1)).toBeCloseTo(Math.LN2, 15);
  });
});

describe('logSumExpRows', () => {
  it('reduces each row of scale·m', () => {
    const m = matrix(2, 2, [1, 2, 3, -1]);
    const out = logSumExpRows(m, 2);
    expect(out).toBeInstanceOf(Float64Array);
    expectAllClose(out, [Math.log(Math.exp(2) + Math.exp(4)), Math.log(Math.exp(6) + Math.exp(-2))], 1e-13);
    expectAllClose(
      logSumExpRows(m),
      [Math.log(Math.E + Math.exp(2)), Math.log(Math.exp(3) + Math.exp(-1))],
      1e-13,
    );
  });

  it('is stable when the scale makes the logits huge', () => {
    // scale 100 on [10, 10, 9.9]: logits 1000, 1000, 990 (up to float32 rounding of 9.9).
    const m = matrix(1, 3, [10, 10, 9.9]);
    const z = 100 * Math.fround(9.9);
    const expected = 1000 + Math.log(2 + Math.exp(z - 1000));
    expectAllClose(logSumExpRows(m, 100), [expected], 1e-12);
  });

  it('gives NaN only for the rows that contain a NaN', () => {
    const out = logSumExpRows(matrix(2, 2, [NaN, NaN, 0, 0]));
    expect(out[0]).toBeNaN();
    expect(out[1]).toBeCloseTo(Math.LN2, 15);
  });

  it('gives -Infinity for rows with no columns and nothing for no rows', () => {
    expect(Array.from(logSumExpRows(matrix(2, 0)))).toEqual([-Infinity, -Infinity]);
    expect(logSumExpRows(matrix(0, 3)).length).toBe(0);
  });
});

describe('softmaxRows', () => {
  it('matches the 2-element closed form softmax([a, b]) = [1/(1+e^(b−a)), 1/(1+e^(a−b))]', () => {
    const a = 0.75;
    const b = -1.25;
    const s = softmaxRows(matrix(1, 2, [a, b]));
    expectAllClose(s.data, [1 / (1 + Math.exp(b - a)), 1 / (1 + Math.exp(a - b))], 1e-7);
    // With a scale the closed form applies to the scaled values.
    const scaled = softmaxRows(matrix(1, 2, [a, b]), 3);
    expectAllClose(scaled.data, [1 / (1 + Math.exp(3 * (b - a))), 1 / (1 + Math.exp(3 * (a - b)))], 1e-7);
  });

  it('rows sum to 1 and every entry is in [0, 1]', () => {
    const data = [0.3, -2, 5, 1.5, 0, 0, 0, 0, -7, 4, 4, 2.5];
    const s = softmaxRows(matrix(3, 4, data), 1.7);
    expect(s.data).toBeInstanceOf(Float32Array);
    expect([s.rows, s.cols]).toEqual([3, 4]);
    for (let i = 0; i < 3; i++) {
      let sum = 0;
      for (let j = 0; j < 4; j++) {
        const p = s.data[i * 4 + j]!;
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThanOrEqual(1);
        sum += p;
      }
      expect(sum).toBeCloseTo(1, 6);
    }
    // The all-zeros row is uniform.
    expectAllClose(s.data.subarray(4, 8), [0.25, 0.25, 0.25, 0.25], 1e-7);
  });

  it('matches exp(x − logSumExp(x)) row by row', () => {
    const data = [0.3, -2, 5, 1.5, -7, 4, 4, 2.5];
    const s = softmaxRows(matrix(2, 4, data), 0.5);
    for (let i = 0; i < 2; i++) {
      const x = data.slice(4 * i, 4 * i + 4).map((v) => 0.5 * Math.fround(v));
      const lse = Math.log(x.reduce((acc, v) => acc + Math.exp(v), 0));
      expectAllClose(
        s.data.subarray(4 * i, 4 * i + 4),
        x.map((v) => Math.exp(v - lse)),
        1e-7,
        1e-6,
      );
    }
  });

  it('stays finite for large magnitudes', () => {
    const s = softmaxRows(matrix(3, 3, [1000, 1001, 999, -1000, -1000, -1000, 1e30, 0, -1e30]));
    for (const v of s.data) {
      expect(Number.isFinite(v)).toBe(true);
    }
    // Row 0 is softmax([1, 2, 0]); row 1 uniform; row 2 puts all mass on the 1e30 entry.
    const z = Math.E + Math.exp(2) + 1;
    expectAllClose(s.data.subarray(0, 3), [Math.E / z, Math.exp(2) / z, 1 / z], 1e-7);
    expectAllClose(s.data.subarray(3, 6), [1 / 3, 1 / 3, 1 / 3], 1e-7);
    expect(Array.from(s.data.subarray(6, 9))).toEqual([1, 0, 0]);
    // A large scale on moderate values too.
    const big = softmaxRows(matrix(1, 2, [40, 30]), 50);
    expect(Array.from(big.data)).toEqual([1, 0]);
  });

  it('gives -Infinity logits probability 0', () => {
    const s = softmaxRows(matrix(1, 3, [-Infinity, 0, 0]));
    expectAllClose(s.data, [0, 0.5, 0.5], 0);
  });

  it('does not modify its input and handles empty shapes', () => {
    const m = matrix(1, 2, [1, 2]);
    softmaxRows(m, 2);
    expect(Array.from(m.data)).toEqual([1, 2]);
    expect(softmaxRows(matrix(0, 3)).data.length).toBe(0);
  });
});

describe('rowNorms', () => {
  it('is the Euclidean norm of each row', () => {
    const n = rowNorms(matrix(3, 2, [3, 4, 0, 0, -5, 12]));
    expect(n).toBeInstanceOf(Float64Array);
    expect(Array.from(n)).toEqual([5, 0, 13]);
    expectAllClose(rowNorms(matrix(1, 3, [1, 1, 1])), [Math.sqrt(3)], 1e-15);
    expect(Array.from(rowNorms(matrix(2, 0)))).toEqual([0, 0]);
  });
});

describe('l2NormalizeRows', () => {
  it('divides each row by its L2 norm', () => {
    const m = matrix(2, 2, [3, 4, -5, 12]);
    const u = l2NormalizeRows(m);
    expect(u.data).toBeInstanceOf(Float32Array);
    expectAllClose(u.data, [0.6, 0.8, -5 / 13, 12 / 13], 1e-7);
    expectAllClose(rowNorms(u), [1, 1], 1e-7);
    expect(Array.from(m.data)).toEqual([3, 4, -5, 12]);
  });

  it('keeps a zero row zero (no NaN), as torch F.normalize', () => {
    const u = l2NormalizeRows(matrix(2, 3, [0, 0, 0, 1, 2, 2]));
    expect(Array.from(u.data.subarray(0, 3))).toEqual([0, 0, 0]);
    expectAllClose(u.data.subarray(3), [1 / 3, 2 / 3, 2 / 3], 1e-7);
  });

  it('divides by max(‖x‖, eps): rows shorter than eps are only scaled by 1/eps', () => {
    // ‖[0.3, 0.4]‖ = 0.5 < eps = 1, so the row is divided by 1, not normalized.
    const u = l2NormalizeRows(matrix(2, 2, [0.3, 0.4, 3, 4]), 1);
    expectAllClose(u.data, [0.3, 0.4, 0.6, 0.8], 1e-7);
    // Default eps = 1e-12: a row of norm 5e-13 is divided by 1e-12.
    const tiny = l2NormalizeRows(matrix(1, 2, [3e-13, 4e-13]));
    expectAllClose(tiny.data, [0.3, 0.4], 1e-6);
  });
});

describe('argmax', () => {
  it('returns the index of the largest value', () => {
    expect(argmax([3, 1, 4, 1, 5, 9, 2, 6])).toBe(5);
    expect(argmax([-3, -1, -2])).toBe(1);
    expect(argmax([7])).toBe(0);
    expect(argmax([-Infinity, -Infinity, -1e308])).toBe(2);
  });

  it('returns the first index on ties', () => {
    expect(argmax([1, 5, 5, 2, 5])).toBe(1);
    expect(argmax([0, 0, 0])).toBe(0);
    expect(argmax(new Float32Array([2, 2]))).toBe(0);
  });

  it('searches x[offset .. offset+length) and returns an index relative to offset', () => {
    const x = [100, 1, 3, 3, 2, 100];
    expect(argmax(x, 1, 4)).toBe(1);
    expect(argmax(x, 4, 1)).toBe(0);
    expect(argmax(x, 4)).toBe(1);
  });

  it('throws TensorError for an empty range', () => {
    expect(() => argmax([])).toThrow(TensorError);
    expect(() => argmax([1, 2], 1, 0)).toThrow(TensorError);
    expect(() => argmax([1, 2], 2)).toThrow(TensorError);
  });
});
