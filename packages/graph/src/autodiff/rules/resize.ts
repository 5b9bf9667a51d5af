/**
 * @file Gradient of Resize (nearest and linear) over the last two axes. Both modes are linear in X and
 * separable: y = R_h · x · R_wᵀ with constant matrices R (one-hot rows for nearest, two interpolation
 * weights per row for linear), so the gradient is R_hᵀ · g · R_w, two MatMuls (design §5). The matrices
 * reproduce onnxruntime's CPU kernel: coordinates in float32 arithmetic, its rounding per nearest_mode,
 * scale 1 as the identity, and scales derived from sizes as float32(out) / float32(in), so every
 * coordinate_transformation_mode and nearest_mode is exact.
 */
import { GraphErrorCode } from '../../errors';
import { normaliseAxes } from '../../op-params';
import type { GradContext, GradRule } from './context';

const f = Math.fround;

/** Output coordinate → input coordinate along one axis (onnxruntime's GetOriginalCoordinate). */
type Coordinate = (x: number, scale: number, outLen: number, inLen: number) => number;

const COORDINATES: Readonly<Record<string, Coordinate>> = {
  half_pixel: (x, s) => f(f(f(x + 0.5) / s) - 0.5),
  pytorch_half_pixel: (x, s, outLen) => (outLen > 1 ? f(f(f(x + 0.5) / s) - 0.5) : 0),
  align_corners: (x, _s, outLen, inLen) => (outLen === 1 ? 0 : f(f(x * (inLen - 1)) / (outLen - 1))),
  asymmetric: (x, s) => f(x / s),
  tf_half_pixel_for_nn: (x, s) => f(f(x + 0.5) / s),
  // onnxruntime computes the final sum in double before rounding to float.
  half_pixel_symmetric: (x, s, outLen, inLen) => {
    const adjustment = f(outLen / f(s * inLen));
    const offset = f(f(inLen / 2) * f(1 - adjustment));
    return f(offset + (x + 0.5) / s - 0.5);
  },
};

/** C's round(): halves away from zero. */
const cRound = (v: number): number => (v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5));

const NEAREST: Readonly<Record<string, (v: number) => number>> = {
  round_prefer_floor: (v) => (v === Math.trunc(v) + 0.5 ? Math.floor(v) : cRound(v)),
  round_prefer_ceil: cRound,
  floor: Math.floor,
  ceil: Math.ceil,
};

/** How one axis is resampled. */
interface AxisResample {
  linear: boolean;
  coordinate: Coordinate;
  nearest: (v: number) => number;
}

/** The [outLen, inLen] row-major matrix R of one axis: y = R · x along that axis. */
function resampleMatrix(m: AxisResample, scale: number, inLen: number, outLen: number): Float64Array {
  const r = new Float64Array(outLen * inLen);
  for (let o = 0; o < outLen; o++) {
    const orig = m.coordinate(o, scale, outLen, inLen);
    if (!m.linear) {
      const i = Math.min(Math.max(m.nearest(orig), 0), inLen - 1);
      r[o * inLen + i] = 1;
      continue;
    }
    const v = Math.max(0, Math.min(orig, inLen - 1));
    const i1 = Math.min(Math.trunc(v), inLen - 1);
    const i2 = Math.min(i1 + 1, inLen - 1);
    // Weight of i1 is the distance to i2 and vice versa; a clamped edge puts 0.5 + 0.5 on one element.
    const w1 = i1 === i2 ? 0.5 : f(Math.abs(v - i2));
    const w2 = i1 === i2 ? 0.5 : f(Math.abs(v - i1));
    r[o * inLen + i1]! += w1;
    r[o * inLen + i2]! += w2;
  }
  return r;
}

function unsupported(ctx: GradContext, what: string): never {
  throw ctx.error(`gradient of Resize with ${what} is not supported`, GraphErrorCode.UnsupportedOp);
}

/** Per-axis scales as onnxruntime uses them: from sizes (out/in in float32) or the scales input. */
function resizeScales(ctx: GradContext, x: readonly number[], out: readonly number[]): number[] {
  const rank = x.length;
  const sizesGiven = ctx.has(3) && ctx.input(3).dims[0] !== 0;
  if (sizesGiven) {
    const policy = ctx.string('keep_aspect_ratio_policy', 'stretch');
    if (policy !== 'stretch') {
      unsupported(ctx, `keep_aspect_ratio_policy ${policy}`);
    }
    return x.map((d, a) => (d === 0 ? 1 : f(out[a]! / d)));
  }
  const axesAttr = ctx.ints('axes');
  const axes = axesAttr === undefined ? x.map((_, i) => i) : normaliseAxes(ctx, axesAttr, rank);
  const given = ctx.numbers(2, 'scales');
  const scales = new Array<number>(rank).fill(1);
  axes.forEach((a, k) => {
    scales[a] = given[k]!;
  });
  return scales;
}

/**
 * k when R copies input i to outputs [k·i, k·i + k) and nowhere else (nearest upsampling by an integer
 * factor whose coordinates land on whole blocks), else undefined.
 */
function blockFactor(r: Float64Array, inLen: number, outLen: number): number | undefined {
  const k = outLen / inLen;
  if (!Number.isInteger(k)) {
    return undefined;
  }
  for (let o = 0; o < outLen; o++) {
    for (let i = 0; i < inLen; i++) {
      if (r[o * inLen + i] !== (i === Math.floor(o / k) ? 1 : 0)) {
        return undefined;
      }
    }
  }
  return k;
}

/**
 * The sum of `g` [N, C, H·kh, W·kw] over each kh × kw block: a depthwise Conv with a ones kernel and
 * stride k, exact (products by 1) and run on onnxruntime's blocked Conv kernels, several times faster
 * than the two MatMuls by one-hot matrices.
 */
function blockSum(ctx: GradContext, g: string, channels: number, k: [number, number]): string {
  const ones = ctx.constant([channels, 1, ...k], new Array<number>(channels * k[0] * k[1]).fill(1));
  return ctx.b.node('Conv', [g, ones], { kernel_shape: k, strides: k, group: channels });
}

/**
 * Resize (opset ≥ 11), mode nearest or linear, resizing only the last two axes:
 * dx = R_hᵀ · g · R_w, each MatMul left out where its axis keeps scale 1. Where every resized axis of a
 * float32 [N, C, H, W] input copies whole blocks (nearest upsampling by integers), the same sums are a
 * depthwise Conv with a ones kernel ({@link blockSum}).
 *
 * @throws GraphError `GRAPH_ERR_UNSUPPORTED_OP` naming the node for cubic mode, tf_crop_and_resize,
 * antialias, keep_aspect_ratio_policy other than stretch, Resize-10 and resizing of other axes.
 */
export const resizeGrad: GradRule = (ctx) => {
  if (ctx.opset < 11) {
    unsupported(ctx, `opset ${ctx.opset} (Resize-10 semantics)`);
  }
  const mode = ctx.string('mode', 'nearest');
  if (mode !== 'nearest' && mode !== 'linear') {
    unsupported(ctx, `mode ${mode}`);
  }
  const coordMode = ctx.string('coordinate_transformation_mode', 'half_pixel');
  const coordinate = COORDINATES[coordMode];
  if (coordinate === undefined) {
    unsupported(ctx, `coordinate_transformation_mode ${coordMode}`);
  }
  const nearestMode = ctx.string('nearest_mode', 'round_prefer_floor');
  const nearest = NEAREST[nearestMode];
  if (nearest === undefined) {
    unsupported(ctx, `nearest_mode ${nearestMode}`);
  }
  if (ctx.int('antialias', 0) !== 0) {
    unsupported(ctx, 'antialias 1');
  }
  const x = ctx.dims(0);
  const out = ctx.outDims();
  const rank = x.length;
  if (rank < 2) {
    unsupported(ctx, `a rank-${rank} input`);
  }
  const scales = resizeScales(ctx, x, out);
  const other = scales.findIndex((s, a) => a < rank - 2 && (s !== 1 || out[a] !== x[a]));
  if (other >= 0) {
    unsupported(ctx, `scale ${scales[other]} on axis ${other} (only the last two axes may be resized)`);
  }
  const m: AxisResample = { linear: mode === 'linear', coordinate, nearest };
  const [h, w] = [rank - 2, rank - 1];
  const rw = scales[w] === 1 ? undefined : resampleMatrix(m, scales[w]!, x[w]!, out[w]!);
  const rh = scales[h] === 1 ? undefined : resampleMatrix(m, scales[h]!, x[h]!, out[h]!);
  const blocks = [rh, rw].map((r, i) => (r === undefined ? 1 : blockFactor(r, x[h + i]!, out[h + i]!)));
  if (
    rank === 4 &&
    ctx.dtype === 'float32' &&
    (rh !== undefined || rw !== undefined) &&
    blocks.every((k) => k !== undefined)
  ) {
    return [blockSum(ctx, ctx.grad(), x[1]!, blocks as [number, number])];
  }
  let g = ctx.grad();
  if (rw !== undefined) {
    g = ctx.op('MatMul', g, ctx.constant([out[w]!, x[w]!], rw));
  }
  if (rh !== undefined) {
    const rhT = new Float64Array(rh.length);
    for (let o = 0; o < out[h]!; o++) {
      for (let i = 0; i < x[h]!; i++) {
        rhT[i * out[h]! + o] = rh[o * x[h]! + i]!;
      }
    }
    g = ctx.op('MatMul', ctx.constant([x[h]!, out[h]!], rhT), g);
  }
  return [g];
};
