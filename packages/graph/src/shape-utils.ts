/**
 * @file Index arithmetic shared by shape inference and the constant-folding kernels.
 */

/** Row-major strides of a shape. */
export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i]!;
  }
  return s;
}

/** Numpy multidirectional broadcast of several shapes, or undefined when they are incompatible. */
export function broadcastShapes(shapes: readonly (readonly number[])[]): number[] | undefined {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i]!;
      const cur = out[o]!;
      if (cur === 1) {
        out[o] = d;
      } else if (d !== 1 && d !== cur) {
        return undefined;
      }
    }
  }
  return out;
}

/**
 * For each element of a tensor of shape `outDims`, the flat index of the element of a tensor of shape
 * `inDims` that broadcasts onto it.
 */
export function broadcastIndex(inDims: readonly number[], outDims: readonly number[]): Int32Array {
  const n = outDims.reduce((a, b) => a * b, 1);
  const map = new Int32Array(n);
  const rank = outDims.length;
  const inStrides = stridesOf(inDims);
  // Stride per output axis into the input: 0 where the input is broadcast (missing or size 1).
  const step = new Array<number>(rank).fill(0);
  for (let i = 0; i < inDims.length; i++) {
    const o = rank - inDims.length + i;
    step[o] = inDims[i] === 1 ? 0 : inStrides[i]!;
  }
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  for (let k = 0; k < n; k++) {
    map[k] = src;
    for (let a = rank - 1; a >= 0; a--) {
      idx[a]!++;
      src += step[a]!;
      if (idx[a]! < outDims[a]!) {
        break;
      }
      src -= step[a]! * idx[a]!;
      idx[a] = 0;
    }
  }
  return map;
}

/** One axis of a Slice: first index, step and element count, after ONNX's clamping rules. */
export interface SliceAxis {
  axis: number;
  start: number;
  step: number;
  count: number;
}

/**
 * Resolves a Slice on one axis of length `dim`: negative starts/ends count from the end, then starts and
 * ends are clamped to [0, dim] for positive steps and to [0, dim − 1] / [−1, dim − 1] for negative ones.
 */
export function sliceAxis(axis: number, dim: number, start: number, end: number, step: number): SliceAxis {
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  let count: number;
  if (step > 0) {
    s = Math.min(Math.max(s, 0), dim);
    e = Math.min(Math.max(e, 0), dim);
    count = Math.max(0, Math.ceil((e - s) / step));
  } else {
    s = Math.min(Math.max(s, 0), dim - 1);
    e = Math.min(Math.max(e, -1), dim - 1);
    count = Math.max(0, Math.ceil((s - e) / -step));
  }
  return { axis, start: s, step, count };
}

/**
 * For each element of a strided view (per-axis start, step and count over a tensor of shape `dims`), the
 * flat index of the source element.
 */
export function stridedIndex(
  dims: readonly number[],
  starts: readonly number[],
  steps: readonly number[],
  counts: readonly number[],
): Int32Array {
  const n = counts.reduce((a, b) => a * b, 1);
  const map = new Int32Array(n);
  const strides = stridesOf(dims);
  const rank = dims.length;
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  for (let a = 0; a < rank; a++) {
    src += starts[a]! * strides[a]!;
  }
  for (let k = 0; k < n; k++) {
    map[k] = src;
    for (let a = rank - 1; a >= 0; a--) {
      idx[a]!++;
      src += steps[a]! * strides[a]!;
      if (idx[a]! < counts[a]!) {
        break;
      }
      src -= steps[a]! * strides[a]! * idx[a]!;
      idx[a] = 0;
    }
  }
  return map;
}
