/**
 * A dense row-major float32 matrix. The only tensor shape the method's math needs; higher-rank data
 * (images, latents) lives in the ONNX packages.
 */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  /** Row-major values, `rows * cols` long. */
  readonly data: Float32Array;
}

/** Thrown for shape or argument errors; the message names the argument and the expected value. */
export class TensorError extends Error {
  override readonly name = 'TensorError';
  readonly code = 'TENSOR_ERR_SHAPE';
}

/**
 * Creates a matrix, validating that `data` (when given) has exactly `rows * cols` values.
 * Without `data` the matrix is zero-filled.
 */
export function matrix(rows: number, cols: number, data?: Float32Array | readonly number[]): Matrix {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 0) {
    throw new TensorError(`matrix dims must be non-negative integers, got ${rows}×${cols}`);
  }
  const n = rows * cols;
  if (data === undefined) {
    return { rows, cols, data: new Float32Array(n) };
  }
  if (data.length !== n) {
    throw new TensorError(`matrix data has ${data.length} values, expected ${rows}×${cols} = ${n}`);
  }
  return { rows, cols, data: data instanceof Float32Array ? data : Float32Array.from(data) };
}

/** Row `i` as a view sharing the matrix's storage (no copy); writes go through to the matrix. */
export function row(m: Matrix, i: number): Float32Array {
  if (!Number.isInteger(i) || i < 0 || i >= m.rows) {
    throw new TensorError(`row(${i}) out of range for ${m.rows} rows`);
  }
  return m.data.subarray(i * m.cols, (i + 1) * m.cols);
}

/** Rows `start` (inclusive) to `end` (exclusive) as a view sharing the matrix's storage. */
export function rowSlice(m: Matrix, start: number, end: number): Matrix {
  if (start < 0 || end > m.rows || start > end) {
    throw new TensorError(`rowSlice(${start}, ${end}) out of range for ${m.rows} rows`);
  }
  return { rows: end - start, cols: m.cols, data: m.data.subarray(start * m.cols, end * m.cols) };
}

/** Gathers the listed rows into a new matrix, in the given order. */
export function gatherRows(m: Matrix, indices: ArrayLike<number>): Matrix {
  const out = new Float32Array(indices.length * m.cols);
  for (let r = 0; r < indices.length; r++) {
    const i = indices[r]!;
    if (i < 0 || i >= m.rows || !Number.isInteger(i)) {
      throw new TensorError(`gatherRows: index ${i} out of range for ${m.rows} rows`);
    }
    out.set(m.data.subarray(i * m.cols, (i + 1) * m.cols), r * m.cols);
  }
  return { rows: indices.length, cols: m.cols, data: out };
}

/** Stacks matrices with equal column counts on top of each other. */
export function concatRows(parts: readonly Matrix[]): Matrix {
  if (parts.length === 0) {
    throw new TensorError('concatRows needs at least one matrix');
  }
  const cols = parts[0]!.cols;
  let rows = 0;
  for (const p of parts) {
    if (p.cols !== cols) {
      throw new TensorError(`concatRows: column counts differ (${cols} vs ${p.cols})`);
    }
    rows += p.rows;
  }
  const out = new Float32Array(rows * cols);
  let off = 0;
  for (const p of parts) {
    out.set(p.data, off);
    off += p.data.length;
  }
  return { rows, cols, data: out };
}

/** Deep copy. */
export function cloneMatrix(m: Matrix): Matrix {
  return { rows: m.rows, cols: m.cols, data: m.data.slice() };
}
