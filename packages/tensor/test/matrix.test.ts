import { describe, expect, it } from '@jest/globals';

import { cloneMatrix, concatRows, gatherRows, matrix, row, rowSlice, TensorError } from '../src';

describe('matrix()', () => {
  it('zero-fills when no data is given', () => {
    const m = matrix(2, 3);
    expect([m.rows, m.cols]).toEqual([2, 3]);
    expect(m.data).toBeInstanceOf(Float32Array);
    expect(Array.from(m.data)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('accepts a number array of exactly rows·cols values, converting to float32', () => {
    const m = matrix(2, 2, [1, 2.5, -3, 0.1]);
    expect(m.data).toBeInstanceOf(Float32Array);
    expect(Array.from(m.data)).toEqual([1, 2.5, -3, Math.fround(0.1)]);
  });

  it('accepts a Float32Array of the right length', () => {
    const data = new Float32Array([1, 2, 3]);
    const m = matrix(3, 1, data);
    expect([m.rows, m.cols]).toEqual([3, 1]);
    expect(Array.from(m.data)).toEqual([1, 2, 3]);
  });

  it('allows empty dimensions', () => {
    expect(matrix(0, 5).data.length).toBe(0);
    expect(matrix(5, 0).data.length).toBe(0);
    expect(matrix(0, 0, []).data.length).toBe(0);
  });

  it('throws TensorError for a data length that is not rows·cols', () => {
    expect(() => matrix(2, 3, [1, 2, 3, 4, 5])).toThrow(TensorError);
    expect(() => matrix(2, 3, new Float32Array(7))).toThrow(TensorError);
    expect(() => matrix(0, 3, [1])).toThrow(TensorError);
    expect(() => matrix(2, 3, [1, 2, 3, 4, 5])).toThrow(/5 values, expected 2×3 = 6/);
  });

  it('throws TensorError for negative, fractional or non-finite dims', () => {
    expect(() => matrix(-1, 2)).toThrow(TensorError);
    expect(() => matrix(2, -1)).toThrow(TensorError);
    expect(() => matrix(1.5, 2)).toThrow(TensorError);
    expect(() => matrix(2, 0.5)).toThrow(TensorError);
    expect(() => matrix(NaN, 2)).toThrow(TensorError);
    expect(() => matrix(2, Infinity)).toThrow(TensorError);
  });
});

describe('row and rowSlice views', () => {
  it('row(i) is the i-th row and shares storage with the matrix', () => {
    const m = matrix(3, 2, [1, 2, 3, 4, 5, 6]);
    const r = row(m, 1);
    expect(Array.from(r)).toEqual([3, 4]);
    expect(r.buffer).toBe(m.data.buffer);
    r[0] = 30;
    expect(Array.from(m.data)).toEqual([1, 2, 30, 4, 5, 6]);
    m.data[5] = 60;
    expect(Array.from(row(m, 2))).toEqual([5, 60]);
  });

  it('rowSlice(start, end) is a matrix view of rows [start, end) sharing storage', () => {
    const m = matrix(4, 2, [1, 2, 3, 4, 5, 6, 7, 8]);
    const s = rowSlice(m, 1, 3);
    expect([s.rows, s.cols]).toEqual([2, 2]);
    expect(Array.from(s.data)).toEqual([3, 4, 5, 6]);
    s.data[3] = -6;
    expect(m.data[5]).toBe(-6);
    m.data[2] = -3;
    expect(s.data[0]).toBe(-3);
    // A slice of a slice still refers to the same rows.
    const inner = rowSlice(s, 1, 2);
    expect(Array.from(inner.data)).toEqual([5, -6]);
    inner.data[0] = 50;
    expect(m.data[4]).toBe(50);
  });

  it('rowSlice allows empty and full ranges', () => {
    const m = matrix(3, 2, [1, 2, 3, 4, 5, 6]);
    const empty = rowSlice(m, 2, 2);
    expect([empty.rows, empty.cols, empty.data.length]).toEqual([0, 2, 0]);
    expect(Array.from(rowSlice(m, 0, 3).data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(rowSlice(m, 3, 3).rows).toBe(0);
  });

  it('rowSlice throws TensorError for out-of-range or reversed bounds', () => {
    const m = matrix(3, 2);
    expect(() => rowSlice(m, -1, 2)).toThrow(TensorError);
    expect(() => rowSlice(m, 0, 4)).toThrow(TensorError);
    expect(() => rowSlice(m, 2, 1)).toThrow(TensorError);
  });
});

describe('gatherRows', () => {
  const m = matrix(3, 2, [1, 2, 3, 4, 5, 6]);

  it('gathers rows in the given order, repeats included', () => {
    const g = gatherRows(m, [2, 0, 2]);
    expect([g.rows, g.cols]).toEqual([3, 2]);
    expect(Array.from(g.data)).toEqual([5, 6, 1, 2, 5, 6]);
    expect(Array.from(gatherRows(m, new Int32Array([1])).data)).toEqual([3, 4]);
  });

  it('copies: writes to the result do not reach the source', () => {
    const src = matrix(2, 2, [1, 2, 3, 4]);
    const g = gatherRows(src, [0]);
    g.data[0] = 100;
    expect(src.data[0]).toBe(1);
  });

  it('returns a 0-row matrix for no indices', () => {
    const g = gatherRows(m, []);
    expect([g.rows, g.cols, g.data.length]).toEqual([0, 2, 0]);
  });

  it('throws TensorError for indices outside [0, rows) or not integers', () => {
    expect(() => gatherRows(m, [3])).toThrow(TensorError);
    expect(() => gatherRows(m, [-1])).toThrow(TensorError);
    expect(() => gatherRows(m, [0, 1.5])).toThrow(TensorError);
    expect(() => gatherRows(m, [NaN])).toThrow(TensorError);
    expect(() => gatherRows(matrix(0, 2), [0])).toThrow(TensorError);
  });
});

describe('concatRows', () => {
  it('stacks matrices top to bottom', () => {
    const a = matrix(1, 3, [1, 2, 3]);
    const b = matrix(2, 3, [4, 5, 6, 7, 8, 9]);
    const c = concatRows([a, b, a]);
    expect([c.rows, c.cols]).toEqual([4, 3]);
    expect(Array.from(c.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3]);
  });

  it('accepts row-slice views and 0-row parts, and copies', () => {
    const m = matrix(3, 2, [1, 2, 3, 4, 5, 6]);
    const c = concatRows([rowSlice(m, 2, 3), matrix(0, 2), rowSlice(m, 0, 1)]);
    expect([c.rows, c.cols]).toEqual([2, 2]);
    expect(Array.from(c.data)).toEqual([5, 6, 1, 2]);
    c.data[0] = -1;
    expect(m.data[4]).toBe(5);
  });

  it('returns an equal copy for a single part', () => {
    const a = matrix(2, 2, [1, 2, 3, 4]);
    const c = concatRows([a]);
    expect(Array.from(c.data)).toEqual([1, 2, 3, 4]);
    expect(c.data).not.toBe(a.data);
  });

  it('throws TensorError for no parts or differing column counts', () => {
    expect(() => concatRows([])).toThrow(TensorError);
    expect(() => concatRows([matrix(1, 2), matrix(1, 3)])).toThrow(TensorError);
    expect(() => concatRows([matrix(0, 2), matrix(0, 3)])).toThrow(TensorError);
  });
});

describe('cloneMatrix', () => {
  it('deep-copies', () => {
    const a = matrix(2, 2, [1, 2, 3, 4]);
    const c = cloneMatrix(a);
    expect([c.rows, c.cols]).toEqual([2, 2]);
    expect(Array.from(c.data)).toEqual([1, 2, 3, 4]);
    c.data[0] = 9;
    expect(a.data[0]).toBe(1);
  });

  it('copies only the view of a row slice', () => {
    const m = matrix(3, 1, [1, 2, 3]);
    const c = cloneMatrix(rowSlice(m, 1, 3));
    expect(Array.from(c.data)).toEqual([2, 3]);
    expect(c.data.buffer.byteLength).toBe(2 * Float32Array.BYTES_PER_ELEMENT);
  });
});
