import { describe, expect, it } from '@jest/globals';
import { Rng } from '@synood/tensor';
import {
  OodMetricsError,
  auprIn,
  auprOut,
  auroc,
  fpr95,
  metricsTable,
  oodMetrics,
  type OodMetrics,
} from '@synood/ood';

/**
 * Expected values below are derived by hand (derivations in the comments). Notation: scores listed
 * from the highest down, I = InD, O = OOD; tps/fps are cumulative counts at each distinct score.
 */

const DIGITS = 12;

function expectMetrics(actual: OodMetrics, expected: OodMetrics): void {
  expect(actual.auroc).toBeCloseTo(expected.auroc, DIGITS);
  expect(actual.fpr95).toBeCloseTo(expected.fpr95, DIGITS);
  expect(actual.auprIn).toBeCloseTo(expected.auprIn, DIGITS);
  expect(actual.auprOut).toBeCloseTo(expected.auprOut, DIGITS);
}

function thrown(fn: () => unknown): OodMetricsError {
  try {
    fn();
  } catch (e) {
    if (e instanceof OodMetricsError) {
      return e;
    }
    throw e;
  }
  throw new Error('expected an OodMetricsError, nothing was thrown');
}

describe('no ties', () => {
  // 0.9 I, 0.8 I, 0.7 O, 0.6 I, 0.5 O, 0.4 O, 0.3 I, 0.2 O, 0.1 O   (4 InD, 5 OOD)
  const ind = [0.9, 0.8, 0.6, 0.3];
  const ood = [0.7, 0.5, 0.4, 0.2, 0.1];

  it('matches the hand-derived values', () => {
    // AUROC: OOD below each InD: 0.9→5, 0.8→5, 0.6→4, 0.3→2; 16/20 = 0.8.
    // FPR95: tps 1,2,2,3,3,3,4,4,4; fps 0,0,1,1,2,3,3,4,5; full recall first at 0.3 (index 6,
    //   recall 1, fps 3); the next candidates have recall 0.75, further from 0.95 → 3/5 = 0.6.
    // AUPR-In: recall steps of 1/4 at 0.9 (P 1/1), 0.8 (P 2/2), 0.6 (P 3/4), 0.3 (P 4/7):
    //   1/4·(1 + 1 + 3/4 + 4/7) = 93/112 = 0.830357142857…
    // AUPR-Out (lowest first, O positive): recall steps of 1/5 at 0.1 (P 1/1), 0.2 (2/2), 0.4 (3/4),
    //   0.5 (4/5), 0.7 (5/7): 1/5·(1 + 1 + 3/4 + 4/5 + 5/7) = 597/700 = 0.852857142857…
    const expected = { auroc: 0.8, fpr95: 0.6, auprIn: 93 / 112, auprOut: 597 / 700 };
    expectMetrics(oodMetrics(ind, ood), expected);
    expect(auroc(ind, ood)).toBeCloseTo(expected.auroc, DIGITS);
    expect(fpr95(ind, ood)).toBeCloseTo(expected.fpr95, DIGITS);
    expect(auprIn(ind, ood)).toBeCloseTo(expected.auprIn, DIGITS);
    expect(auprOut(ind, ood)).toBeCloseTo(expected.auprOut, DIGITS);
  });

  it('accepts Float32Array, Float64Array and number[] alike, in any order', () => {
    const expected = oodMetrics(ind, ood);
    expectMetrics(oodMetrics(Float32Array.from(ind), Float32Array.from(ood)), expected);
    expectMetrics(oodMetrics(Float64Array.from(ind), [...ood].reverse()), expected);
  });
});

describe('ties across classes', () => {
  it('credits ties 1/2 and treats a tie group as one threshold (symmetric case)', () => {
    // 3 I | 2 I I O | 1 I O O | 0 O   (4 InD, 4 OOD)
    // AUROC: 3 beats 4; each 2 beats 3 and ties 1 → 3.5·2 = 7; 1 beats 1 and ties 2 → 2; 13/16.
    // FPR95: groups tps 1,3,4,4; fps 0,1,3,4; full recall first at group "1" (fps 3); next
    //   candidate recall 0.75 → 3/4.
    // AUPR-In: 1/4·1 + 2/4·3/4 + 1/4·4/7 = 43/56.
    // AUPR-Out (lowest first): 0: O → tp 1 fp 0; 1: O O I → tp 3 fp 1; 2: O I I → tp 4 fp 3:
    //   1/4·1 + 2/4·3/4 + 1/4·4/7 = 43/56 (the data are mirror-symmetric).
    expectMetrics(oodMetrics([3, 2, 2, 1], [2, 1, 1, 0]), {
      auroc: 13 / 16,
      fpr95: 0.75,
      auprIn: 43 / 56,
      auprOut: 43 / 56,
    });
  });

  it('handles ties in an asymmetric case', () => {
    // 5 I | 4 I I I O | 3 O | 2 I O O   (5 InD, 4 OOD)
    // AUROC: 5 beats 4 → 4; each 4 beats 3 and ties 1 → 3.5·3 = 10.5; 2 ties 2 → 1; 15.5/20 = 0.775.
    // FPR95: tps 1,4,4,5; fps 0,1,2,4; recall 0.2,0.8,0.8,1; full recall first at group "2" (fps 4);
    //   0.8 is 0.15 away, 1 is 0.05 away → 4/4 = 1.
    // AUPR-In: 1/5·1 + 3/5·4/5 + 1/5·5/9 = 0.2 + 0.48 + 1/9 = 178/225.
    // AUPR-Out (lowest first, 4 O positives): 2: O O I → tp 2 fp 1, 3: O → tp 3 fp 1,
    //   4: O I I I → tp 4 fp 4: 2/4·2/3 + 1/4·3/4 + 1/4·4/8 = 1/3 + 3/16 + 1/8 = 31/48.
    expectMetrics(oodMetrics([5, 4, 4, 4, 2], [4, 3, 2, 2]), {
      auroc: 0.775,
      fpr95: 1,
      auprIn: 178 / 225,
      auprOut: 31 / 48,
    });
  });

  it('gives chance-level values when every score is equal', () => {
    // One group of 3 I and 2 O: every pair ties → AUROC 1/2; the only threshold has fps 2 → 2/2;
    // AUPR-In = precision at the one threshold = 3/5; AUPR-Out = 2/5.
    expectMetrics(oodMetrics([0.5, 0.5, 0.5], [0.5, 0.5]), {
      auroc: 0.5,
      fpr95: 1,
      auprIn: 0.6,
      auprOut: 0.4,
    });
  });

  it('groups -0 with +0', () => {
    // Same as the all-equal case: -0 === 0, numpy's np.diff sees no difference either.
    expectMetrics(oodMetrics([0, -0, 0], [-0, 0]), { auroc: 0.5, fpr95: 1, auprIn: 0.6, auprOut: 0.4 });
  });
});

describe('separation extremes', () => {
  it('perfect separation', () => {
    // 0.9 I, 0.8 I, 0.7 I, 0.3 O, 0.2 O: full recall at 0.7 with fps 0; every precision is 1.
    expectMetrics(oodMetrics([0.9, 0.8, 0.7], [0.3, 0.2]), { auroc: 1, fpr95: 0, auprIn: 1, auprOut: 1 });
  });

  it('reversed separation', () => {
    // 0.9 O, 0.8 O, 0.7 O, 0.2 I, 0.1 I
    // AUROC: no InD above any OOD → 0. FPR95: full recall only at 0.1 with fps 3 → 1.
    // AUPR-In: 1/2·1/4 + 1/2·2/5 = 0.325.
    // AUPR-Out (lowest first: 0.1 I, 0.2 I, 0.7 O, 0.8 O, 0.9 O): 1/3·(1/3 + 2/4 + 3/5) = 43/90.
    expectMetrics(oodMetrics([0.1, 0.2], [0.8, 0.9, 0.7]), {
      auroc: 0,
      fpr95: 1,
      auprIn: 0.325,
      auprOut: 43 / 90,
    });
  });
});

describe('fpr95 recall selection', () => {
  // 20 … 12 (9 I) | 11 O | 10 O | 2 I O | 1 O | 0 O   (10 InD, 5 OOD)
  // tps 1…9, 9, 9, 10, 10, 10; fps 0…0, 1, 2, 3, 4, 5. Full recall first at group "2" (fps 3).
  // Searched from there upward: recall 1 (fps 3), 0.9 (fps 2, threshold 10), 0.9 (fps 1), 0.9 (fps 0),
  // 0.8, … In exact arithmetic 0.9 and 1 are both 0.05 from 0.95, but in float64
  // |0.9 − 0.95| = 0.04999999999999993 < |1 − 0.95| = 0.050000000000000044, so the first recall-0.9
  // entry (the lowest such threshold, fps 2) wins: 2/5 = 0.4, not the 3/5 of full recall.
  const ind = [20, 19, 18, 17, 16, 15, 14, 13, 12, 2];
  const ood = [11, 10, 2, 1, 0];

  it('picks the nearest recall in float64, not the first one at or above 0.95', () => {
    expect(fpr95(ind, ood)).toBeCloseTo(0.4, DIGITS);
  });

  it('honours recallLevel', () => {
    // 0.9: exact hit, first recall-0.9 entry again → 2/5. 0.96: recall 1 (0.04 away) beats 0.9
    // (0.06 away) → 3/5. 1: recall 1 exactly → 3/5.
    expect(fpr95(ind, ood, 0.9)).toBeCloseTo(0.4, DIGITS);
    expect(fpr95(ind, ood, 0.96)).toBeCloseTo(0.6, DIGITS);
    expect(fpr95(ind, ood, 1)).toBeCloseTo(0.6, DIGITS);
  });

  it('computes the other metrics of the same data', () => {
    // AUROC: 9 InD beat all 5 OOD = 45; InD 2 beats 1, 0 and ties 2 → 2.5; 47.5/50 = 0.95.
    // AUPR-In: 9 steps of 0.1 at precision 1, then 0.1 at 10/13 → 0.9 + 1/13.
    // AUPR-Out (lowest first): 0 (P 1), 1 (P 1), 2 (tp 3 fp 1), 10 (tp 4 fp 1), 11 (tp 5 fp 1),
    //   steps of 1/5: 1/5·(1 + 1 + 3/4 + 4/5 + 5/6) = 263/300.
    expectMetrics(oodMetrics(ind, ood), {
      auroc: 0.95,
      fpr95: 0.4,
      auprIn: 0.9 + 1 / 13,
      auprOut: 263 / 300,
    });
  });

  it('rejects a recall level outside (0, 1]', () => {
    for (const level of [0, -0.1, 1.01, NaN]) {
      expect(thrown(() => fpr95(ind, ood, level)).code).toBe('OOD_ERR_BAD_RECALL_LEVEL');
    }
  });
});

describe('AUROC property', () => {
  it('equals the brute-force pairwise count on random data with many ties', () => {
    const rng = new Rng('metrics-auroc-property');
    for (let trial = 0; trial < 200; trial++) {
      const nInd = 1 + rng.int(30);
      const nOod = 1 + rng.int(30);
      const levels = 1 + rng.int(6); // few distinct values, so ties are frequent
      const ind = Float64Array.from({ length: nInd }, () => rng.int(levels) / 2);
      const ood = Float64Array.from({ length: nOod }, () => rng.int(levels) / 2);
      let credit = 0;
      for (const a of ind) {
        for (const b of ood) {
          credit += a > b ? 1 : a === b ? 0.5 : 0;
        }
      }
      expect(auroc(ind, ood)).toBeCloseTo(credit / (nInd * nOod), DIGITS);
    }
  });

  it('AUPR-Out is AUPR-In of the negated scores with the classes swapped', () => {
    const rng = new Rng('metrics-aupr-symmetry');
    for (let trial = 0; trial < 50; trial++) {
      const ind = Float64Array.from({ length: 1 + rng.int(20) }, () => rng.int(5));
      const ood = Float64Array.from({ length: 1 + rng.int(20) }, () => rng.int(5));
      const neg = (xs: Float64Array): Float64Array => xs.map((x) => -x);
      expect(auprOut(ind, ood)).toBeCloseTo(auprIn(neg(ood), neg(ind)), DIGITS);
    }
  });
});

describe('errors', () => {
  it('rejects an empty side with OOD_ERR_EMPTY_SCORES naming it', () => {
    const e1 = thrown(() => oodMetrics([], [1]));
    expect(e1.code).toBe('OOD_ERR_EMPTY_SCORES');
    expect(e1.message).toMatch(/^ind scores are empty/);
    const e2 = thrown(() => auroc([1], new Float32Array(0)));
    expect(e2.code).toBe('OOD_ERR_EMPTY_SCORES');
    expect(e2.message).toMatch(/^ood scores are empty/);
  });

  it('rejects NaN and ±Infinity with OOD_ERR_NONFINITE_SCORE naming side and index', () => {
    const e1 = thrown(() => fpr95([0.1, NaN], [0.2]));
    expect(e1.code).toBe('OOD_ERR_NONFINITE_SCORE');
    expect(e1.message).toContain('ind score at index 1 is NaN');
    const e2 = thrown(() => auprIn([0.1], Float32Array.from([0, 0, Infinity])));
    expect(e2.code).toBe('OOD_ERR_NONFINITE_SCORE');
    expect(e2.message).toContain('ood score at index 2 is Infinity');
    expect(thrown(() => auprOut([-Infinity], [0])).message).toContain('ind score at index 0 is -Infinity');
    expect(thrown(() => oodMetrics([0], [0, NaN])).name).toBe('OodMetricsError');
  });
});

describe('metricsTable', () => {
  const ind = [0.9, 0.8, 0.7];
  // Per data set, by hand (3 InD 0.9, 0.8, 0.7):
  // - A, ood [0.3, 0.2]: perfect → (1, 0, 1, 1).
  // - B, ood [0.8]: 0.9 I | 0.8 I O | 0.7 I. AUROC (1 + 0.5 + 0)/3 = 1/2; FPR95: tps 1,2,3;
  //   fps 0,1,1; full recall at 0.7 (fps 1) → 1/1; AUPR-In 1/3·(1 + 2/3 + 3/4) = 29/36;
  //   AUPR-Out (lowest first: 0.7 I, then 0.8 I O with tp 1 fp 2): 1·1/3 = 1/3.
  // - C, ood [0.95]: fully reversed → AUROC 0, FPR 1, AUPR-In 1/3·(1/2 + 2/3 + 3/4) = 23/36,
  //   AUPR-Out: the single O comes last → 1/4.
  const inputs = [
    { dataset: 'A', group: 'far', ind, ood: [0.3, 0.2] },
    { dataset: 'B', group: 'near', ind, ood: [0.8] },
    { dataset: 'C', group: 'near', ind, ood: [0.95] },
  ];

  it('reports rows, the plain mean and per-group means', () => {
    const table = metricsTable(inputs);
    expect(table.rows.map((r) => [r.dataset, r.group, r.nInd, r.nOod])).toEqual([
      ['A', 'far', 3, 2],
      ['B', 'near', 3, 1],
      ['C', 'near', 3, 1],
    ]);
    const [a, b, c] = table.rows;
    expectMetrics(a!, { auroc: 1, fpr95: 0, auprIn: 1, auprOut: 1 });
    expectMetrics(b!, { auroc: 0.5, fpr95: 1, auprIn: 29 / 36, auprOut: 1 / 3 });
    expectMetrics(c!, { auroc: 0, fpr95: 1, auprIn: 23 / 36, auprOut: 0.25 });
    // Plain means over the three rows.
    expectMetrics(table.mean, {
      auroc: 1.5 / 3,
      fpr95: 2 / 3,
      auprIn: (1 + 29 / 36 + 23 / 36) / 3,
      auprOut: (1 + 1 / 3 + 1 / 4) / 3,
    });
    expect(table.groups.map((g) => [g.group, g.datasets])).toEqual([
      ['far', ['A']],
      ['near', ['B', 'C']],
    ]);
    const near = table.groups[1]!;
    expectMetrics(near, { auroc: 0.25, fpr95: 1, auprIn: 52 / 72, auprOut: (1 / 3 + 1 / 4) / 2 });
  });

  it('omits groups when none are given', () => {
    const table = metricsTable(inputs.map(({ dataset, ind: i, ood }) => ({ dataset, ind: i, ood })));
    expect(table.groups).toEqual([]);
    expect(table.rows[0]).not.toHaveProperty('group');
  });

  it('rejects empty tables, duplicate names and bad rows (naming the data set)', () => {
    expect(thrown(() => metricsTable([])).code).toBe('OOD_ERR_EMPTY_TABLE');
    expect(thrown(() => metricsTable([inputs[0]!, inputs[0]!])).code).toBe('OOD_ERR_DUPLICATE_DATASET');
    const bad = thrown(() => metricsTable([{ dataset: 'SUN', ind, ood: [0.1, NaN] }]));
    expect(bad.code).toBe('OOD_ERR_NONFINITE_SCORE');
    expect(bad.message).toBe(
      'data set "SUN": ood score at index 1 is NaN: every score must be a finite number',
    );
  });
});
