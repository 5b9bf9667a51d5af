import { expect } from '@jest/globals';

import { type Matrix, matrix } from '../src';

/**
 * A small seeded generator (mulberry32) for test data, independent of the `Rng` under test so that a
 * bug there cannot hide a bug elsewhere. Returns floats in [0, 1).
 */
export function testRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A rows×cols matrix of values in [-2, 2), with roughly one exact zero in eight. */
export function randomMatrix(rows: number, cols: number, rand: () => number): Matrix {
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) {
    data[i] = rand() < 0.125 ? 0 : 4 * rand() - 2;
  }
  return matrix(rows, cols, data);
}

/** Element (i, j) of a row-major matrix. */
export function at(m: Matrix, i: number, j: number): number {
  return m.data[i * m.cols + j]!;
}

/**
 * Asserts |actual[i] − expected[i]| ≤ atol + rtol·|expected[i]| elementwise (and equal lengths);
 * non-finite expected values must match exactly. Reports every mismatch at once.
 */
export function expectAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol = 0,
): void {
  expect(actual.length).toBe(expected.length);
  const bad: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const ok = Number.isFinite(e) ? Math.abs(a - e) <= atol + rtol * Math.abs(e) : Object.is(a, e);
    if (!ok) {
      bad.push(`[${i}] got ${a}, expected ${e}`);
    }
  }
  expect(bad).toEqual([]);
}
