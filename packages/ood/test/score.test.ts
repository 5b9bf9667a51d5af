import { describe, expect, it } from '@jest/globals';
import { TypeScriptBackend, matrix } from '@synood/tensor';
import { energyScores, maxLogitScores, mcmScores, mspScores, negLabelLayout, negLabelScores } from '../src';

const backend = new TypeScriptBackend();

// 2-d toy: one InD label t = (1,0); negatives at known cosines to the image f = (1,0):
// n0 = (0,1) → 0, n1 = (1,0) → 1, n2 = (−1,0) → −1, n3 = (0.6,0.8) → 0.6, n4 = (0,−1) → 0 (dropped).
const ind = matrix(1, 2, [1, 0]);
const negatives = matrix(5, 2, [0, 1, 1, 0, -1, 0, 0.6, 0.8, 0, -1]);
const image = matrix(1, 2, [2, 0]); // not unit length: the score normalises it

describe('negLabelLayout', () => {
  it('drops the last M mod G negatives and uses one seeded permutation of the rest', () => {
    const a = negLabelLayout(ind, negatives, { groups: 2, seed: 7 });
    const b = negLabelLayout(ind, negatives, { groups: 2, seed: 7 });
    expect(a.groupSize).toBe(2);
    expect([...a.permutation].sort()).toEqual([0, 1, 2, 3]); // n4 dropped
    expect(a.permutation).toEqual(b.permutation);
    expect(a.blocks).toEqual([
      { count: 1, size: 1 },
      { count: 2, size: 2 },
    ]);
    expect(a.labels.rows).toBe(5);
  });

  it('rejects more groups than negatives, mismatched dims and bad permutations', () => {
    expect(() => negLabelLayout(ind, negatives, { groups: 6 })).toThrow(/groups \(6\) cannot exceed/);
    expect(() => negLabelLayout(matrix(1, 3), negatives)).toThrow(/3-d but negative features are 2-d/);
    expect(() =>
      negLabelLayout(ind, negatives, { groups: 2, permutation: Int32Array.from([0, 0, 1, 2]) }),
    ).toThrow(/permutation must be a permutation/);
  });
});

describe('negLabelScores', () => {
  it('equals the closed form of the grouped score on a hand-worked case', async () => {
    // Explicit permutation [2,0,3,1] → groups {n2,n0} and {n3,n1}; scale 2 → p = 2.
    const layout = negLabelLayout(ind, negatives, {
      groups: 2,
      scale: 2,
      permutation: Int32Array.from([2, 0, 3, 1]),
    });
    const [score] = await negLabelScores(backend, image, layout);
    const e = Math.exp;
    const g1 = e(2) / (e(2) + e(-2) + e(0));
    const g2 = e(2) / (e(2) + e(1.2) + e(2));
    expect(score).toBeCloseTo((g1 + g2) / 2, 6);
  });

  it('with one group is the ungrouped score of Eq. 2 over all negatives', async () => {
    const four = matrix(4, 2, negatives.data.slice(0, 8));
    const layout = negLabelLayout(ind, four, { groups: 1, scale: 3 });
    const [score] = await negLabelScores(backend, image, layout);
    const e = Math.exp;
    expect(score).toBeCloseTo(e(3) / (e(3) + e(0) + e(3) + e(-3) + e(1.8)), 6);
  });

  it('stays finite and ordered at the real logit scale where plain exponentials overflow float32', async () => {
    const layout = negLabelLayout(ind, negatives, { groups: 2, scale: 100, seed: 0 });
    const near = matrix(2, 2, [1, 0.05, -1, 0.05]); // InD-like, then opposite to the InD label
    const scores = await negLabelScores(backend, near, layout);
    expect(Number.isFinite(scores[0]!)).toBe(true);
    expect(scores[1]!).toBeGreaterThanOrEqual(0);
    expect(scores[0]!).toBeGreaterThan(scores[1]!);
  });
});

describe('baselines', () => {
  it('MCM is the max softmax over InD cosines', async () => {
    const labels = matrix(2, 2, [1, 0, 0, 1]);
    const f = matrix(1, 2, [3, 4]); // cosines 0.6 and 0.8
    const [s] = await mcmScores(backend, f, labels, 1);
    expect(s).toBeCloseTo(Math.exp(0.8) / (Math.exp(0.6) + Math.exp(0.8)), 6);
    const [s10] = await mcmScores(backend, f, labels, 10);
    expect(s10).toBeCloseTo(1 / (1 + Math.exp(-2)), 6);
  });

  it('MSP, energy and max-logit on classifier logits', () => {
    const logits = matrix(2, 3, [1, 2, 3, 0, 0, 0]);
    const e = Math.exp;
    const msp = mspScores(logits);
    expect(msp[0]).toBeCloseTo(e(3) / (e(1) + e(2) + e(3)), 6);
    expect(msp[1]).toBeCloseTo(1 / 3, 6);
    const energy = energyScores(logits);
    expect(energy[0]).toBeCloseTo(Math.log(e(1) + e(2) + e(3)), 6);
    expect(energy[1]).toBeCloseTo(Math.log(3), 6);
    expect(energyScores(logits, 2)[0]).toBeCloseTo(2 * Math.log(e(0.5) + e(1) + e(1.5)), 6);
    expect([...maxLogitScores(logits)]).toEqual([3, 0]);
    expect(() => energyScores(logits, 0)).toThrow(/temperature must be positive/);
  });
});
