import { type Matrix, TensorError } from './matrix';

/**
 * log Σ exp(x[offset .. offset+length)), stable for any magnitude (shifts by the maximum).
 * Returns -Infinity for an empty range or all -Infinity inputs.
 */
export function logSumExp(x: ArrayLike<number>, offset = 0, length = x.length - offset): number {
  let max = -Infinity;
  for (let i = offset; i < offset + length; i++) {
    max = Math.max(max, x[i]!); // Math.max propagates NaN, so a NaN input gives NaN (as torch.logsumexp)
  }
  if (max === -Infinity) {
    return -Infinity;
  }
  if (max === Infinity) {
    return Infinity;
  }
  let s = 0;
  for (let i = offset; i < offset + length; i++) {
    s += Math.exp(x[i]! - max);
  }
  return max + Math.log(s);
}

/** Row-wise log-sum-exp of `scale · m`. */
export function logSumExpRows(m: Matrix, scale = 1): Float64Array {
  const out = new Float64Array(m.rows);
  const tmp = new Float64Array(m.cols);
  for (let i = 0; i < m.rows; i++) {
    const o = i * m.cols;
    for (let j = 0; j < m.cols; j++) {
      tmp[j] = scale * m.data[o + j]!;
    }
    out[i] = logSumExp(tmp);
  }
  return out;
}

/**
 * Row-wise softmax of `scale · m` into a new matrix. Stable: each row is shifted by its maximum.
 */
export function softmaxRows(m: Matrix, scale = 1): Matrix {
  const out = new Float32Array(m.data.length);
  for (let i = 0; i < m.rows; i++) {
    const o = i * m.cols;
    let max = -Infinity;
    for (let j = 0; j < m.cols; j++) {
      const v = scale * m.data[o + j]!;
      if (v > max) {
        max = v;
      }
    }
    let s = 0;
    for (let j = 0; j < m.cols; j++) {
      const e = Math.exp(scale * m.data[o + j]! - max);
      out[o + j] = e;
      s += e;
    }
    const inv = 1 / s;
    for (let j = 0; j < m.cols; j++) {
      out[o + j] = out[o + j]! * inv;
    }
  }
  return { rows: m.rows, cols: m.cols, data: out };
}

/** Euclidean norm of each row. */
export function rowNorms(m: Matrix): Float64Array {
  const out = new Float64Array(m.rows);
  for (let i = 0; i < m.rows; i++) {
    let s = 0;
    const o = i * m.cols;
    for (let j = 0; j < m.cols; j++) {
      s += m.data[o + j]! * m.data[o + j]!;
    }
    out[i] = Math.sqrt(s);
  }
  return out;
}

/**
 * Divides each row by its L2 norm (as torch's `F.normalize`: by max(‖x‖, eps)), into a new matrix.
 */
export function l2NormalizeRows(m: Matrix, eps = 1e-12): Matrix {
  const norms = rowNorms(m);
  const out = new Float32Array(m.data.length);
  for (let i = 0; i < m.rows; i++) {
    const inv = 1 / Math.max(norms[i]!, eps);
    const o = i * m.cols;
    for (let j = 0; j < m.cols; j++) {
      out[o + j] = m.data[o + j]! * inv;
    }
  }
  return { rows: m.rows, cols: m.cols, data: out };
}

/** Index of the largest value in x[offset .. offset+length); the first one on ties. */
export function argmax(x: ArrayLike<number>, offset = 0, length = x.length - offset): number {
  if (length <= 0) {
    throw new TensorError('argmax of an empty range');
  }
  let best = offset;
  for (let i = offset + 1; i < offset + length; i++) {
    if (x[i]! > x[best]!) {
      best = i;
    }
  }
  return best - offset;
}
