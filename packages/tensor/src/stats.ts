import { TensorError } from './matrix';

/**
 * The q-quantile of `values` with linear interpolation between order statistics, the definition of
 * `torch.quantile(..., interpolation='linear')` and numpy's default: with the values sorted ascending
 * as v[0..n-1], position p = q·(n−1), result = v[⌊p⌋] + (p − ⌊p⌋)·(v[⌈p⌉] − v[⌊p⌋]).
 * Computed in float64. NaN if any value is NaN (as torch does).
 */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 1)) {
    throw new TensorError(`quantile: q must be in [0, 1], got ${q}`);
  }
  const n = values.length;
  if (n === 0) {
    throw new TensorError('quantile of an empty array');
  }
  const sorted = Float64Array.from(values);
  for (const v of sorted) {
    if (Number.isNaN(v)) {
      return NaN;
    }
  }
  sorted.sort();
  return quantileSorted(sorted, q);
}

/** {@link quantile} for values already sorted ascending (no copy, no NaN check). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const w = pos - lo;
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  // torch.lerp's two-sided form keeps the end points exact.
  return w < 0.5 ? a + w * (b - a) : b - (b - a) * (1 - w);
}

/** Result of {@link topK}: indices into the input and their values, largest first. */
export interface TopK {
  indices: Int32Array;
  values: Float64Array;
}

/**
 * The k largest values of `values`, largest first; ties go to the lower index. O(n log k).
 */
export function topK(values: ArrayLike<number>, k: number): TopK {
  if (!Number.isInteger(k) || k < 0) {
    throw new TensorError(`topK: k must be a non-negative integer, got ${k}`);
  }
  const n = values.length;
  const kk = Math.min(k, n);
  // Min-heap on (value, -index): the root is the current weakest member of the top k.
  const heap = new Int32Array(kk);
  let size = 0;
  const weaker = (i: number, j: number): boolean => {
    const vi = values[i]!;
    const vj = values[j]!;
    return vi < vj || (vi === vj && i > j);
  };
  const siftDown = (start: number): void => {
    let p = start;
    for (;;) {
      const l = 2 * p + 1;
      const r = l + 1;
      let m = p;
      if (l < size && weaker(heap[l]!, heap[m]!)) {
        m = l;
      }
      if (r < size && weaker(heap[r]!, heap[m]!)) {
        m = r;
      }
      if (m === p) {
        return;
      }
      const t = heap[p]!;
      heap[p] = heap[m]!;
      heap[m] = t;
      p = m;
    }
  };
  for (let i = 0; i < n; i++) {
    if (size < kk) {
      heap[size] = i;
      let c = size++;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (!weaker(heap[c]!, heap[p]!)) {
          break;
        }
        const t = heap[p]!;
        heap[p] = heap[c]!;
        heap[c] = t;
        c = p;
      }
    } else if (kk > 0 && weaker(heap[0]!, i)) {
      heap[0] = i;
      siftDown(0);
    }
  }
  const indices = Int32Array.from(heap).sort((i, j) => (weaker(i, j) ? 1 : weaker(j, i) ? -1 : 0));
  const out = new Float64Array(kk);
  for (let i = 0; i < kk; i++) {
    out[i] = values[indices[i]!]!;
  }
  return { indices, values: out };
}

/** Arithmetic mean in float64. */
export function mean(values: ArrayLike<number>): number {
  if (values.length === 0) {
    throw new TensorError('mean of an empty array');
  }
  let s = 0;
  for (let i = 0; i < values.length; i++) {
    s += values[i]!;
  }
  return s / values.length;
}
