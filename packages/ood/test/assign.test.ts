import { describe, expect, it } from '@jest/globals';
import { TypeScriptBackend, matrix } from '@synood/tensor';
import { assignNegatives, negativeSubset } from '../src';

describe('assignNegatives', () => {
  it('picks the nearest negative by cosine, first on ties, whatever the feature norms', async () => {
    const negatives = matrix(3, 2, [1, 0, 0, 2, 0, 5]); // n1 and n2 point the same way
    const images = matrix(3, 2, [10, 1, 0.1, 3, 1, 1]);
    const { assignment, similarity } = await assignNegatives(new TypeScriptBackend(), images, negatives);
    expect([...assignment]).toEqual([0, 1, 0]);
    expect(similarity[0]).toBeCloseTo(10 / Math.sqrt(101), 6);
    expect(similarity[1]).toBeCloseTo(3 / Math.sqrt(9.01), 6);
    expect(similarity[2]).toBeCloseTo(Math.SQRT1_2, 6);
  });
});

describe('negativeSubset', () => {
  it('lists the distinct assigned labels with counts and per-image targets', () => {
    const s = negativeSubset(Int32Array.from([4, 1, 4, 4, 2]), 6);
    expect([...s.labels]).toEqual([1, 2, 4]);
    expect([...s.counts]).toEqual([1, 1, 3]);
    expect([...s.targets]).toEqual([2, 0, 2, 2, 1]);
    expect([...s.positionOf]).toEqual([-1, 0, 1, -1, 2, -1]);
  });

  it('rejects assignments outside the label range', () => {
    expect(() => negativeSubset(Int32Array.from([0, 3]), 3)).toThrow(/assignment\[1\] = 3/);
  });
});
