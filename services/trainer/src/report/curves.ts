/**
 * @file The curves the report plots, computed from the scores (higher = more InD, InD the positive
 * class as in every metric of the evaluation): the ROC curve and a two-sided score histogram.
 */

/** A point of a curve, `[x, y]`. */
export type Point = [number, number];

/** Rounds to 5 decimals: plenty for a plot, and keeps `report.json` small. */
function round(v: number): number {
  return Math.round(v * 1e5) / 1e5;
}

/**
 * The ROC curve `[FPR, TPR]` from `(0, 0)` to `(1, 1)`, one point per distinct score (tied InD and OOD
 * scores move both rates in one step, the diagonal segment that credits ties ½ in AUROC). Curves longer
 * than `maxPoints` keep that many points, evenly spaced along the curve, first and last included.
 */
export function rocCurve(ind: ArrayLike<number>, ood: ArrayLike<number>, maxPoints = 256): Point[] {
  const all: { v: number; pos: boolean }[] = [];
  for (let i = 0; i < ind.length; i++) {
    all.push({ v: ind[i]!, pos: true });
  }
  for (let i = 0; i < ood.length; i++) {
    all.push({ v: ood[i]!, pos: false });
  }
  all.sort((a, b) => b.v - a.v);
  const nPos = Math.max(1, ind.length);
  const nNeg = Math.max(1, ood.length);
  const points: Point[] = [[0, 0]];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < all.length; i++) {
    if (all[i]!.pos) {
      tp++;
    } else {
      fp++;
    }
    if (i === all.length - 1 || all[i + 1]!.v !== all[i]!.v) {
      points.push([round(fp / nNeg), round(tp / nPos)]);
    }
  }
  if (points.length <= maxPoints) {
    return points;
  }
  const kept: Point[] = [];
  for (let k = 0; k < maxPoints; k++) {
    kept.push(points[Math.round((k * (points.length - 1)) / (maxPoints - 1))]!);
  }
  return kept;
}

/** Counts of InD and OOD scores per bin; bin `b` is `[edges[b], edges[b + 1])`, the last one closed. */
export interface ScoreHistogram {
  edges: number[];
  ind: number[];
  ood: number[];
}

/**
 * Histogram of both score sets over `bins` equal bins spanning their joint range (a single value gets
 * one unit-wide range around it, so every score lands in a bin).
 */
export function scoreHistogram(ind: ArrayLike<number>, ood: ArrayLike<number>, bins = 30): ScoreHistogram {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of [ind, ood]) {
    for (let i = 0; i < s.length; i++) {
      lo = Math.min(lo, s[i]!);
      hi = Math.max(hi, s[i]!);
    }
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    lo = 0;
    hi = 1;
  }
  if (hi === lo) {
    lo -= 0.5;
    hi += 0.5;
  }
  const width = (hi - lo) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, b) => (b === bins ? hi : lo + b * width));
  const count = (s: ArrayLike<number>): number[] => {
    const c = new Array<number>(bins).fill(0);
    for (let i = 0; i < s.length; i++) {
      const b = Math.min(bins - 1, Math.floor((s[i]! - lo) / width));
      c[b] = c[b]! + 1;
    }
    return c;
  };
  return { edges, ind: count(ind), ood: count(ood) };
}
