/**
 * @file Gradients of Conv (input only), MaxPool, AveragePool and GlobalAveragePool. Conv's input gradient
 * is a ConvTranspose with the same weights; MaxPool's is an add-scatter at its saved indices, because
 * MaxUnpool overwrites where overlapping windows pick the same element (design §5).
 */
import { GraphErrorCode } from '../../errors';
import { makeTensor, sizeOf } from '../../ir';
import type { GradContext, GradRule } from './context';

interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** Begin pads then end pads, ONNX order. */
  pads: number[];
}

/** The window geometry of a Conv or pool with explicit pads (auto_pad resolved). */
function windowOf(ctx: GradContext, kernel: number[]): Window {
  const spatial = ctx.dims(0).slice(2);
  const n = spatial.length;
  const strides = ctx.ints('strides') ?? Array<number>(n).fill(1);
  const dilations = ctx.ints('dilations') ?? Array<number>(n).fill(1);
  let pads = ctx.ints('pads') ?? Array<number>(2 * n).fill(0);
  const autoPad = ctx.string('auto_pad', 'NOTSET');
  if (autoPad === 'VALID') {
    pads = Array<number>(2 * n).fill(0);
  } else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    pads = Array<number>(2 * n).fill(0);
    spatial.forEach((d, i) => {
      const s = strides[i]!;
      const total = Math.max(0, (Math.ceil(d / s) - 1) * s + (kernel[i]! - 1) * dilations[i]! + 1 - d);
      const small = Math.floor(total / 2);
      const begin = autoPad === 'SAME_UPPER' ? small : total - small;
      pads[i] = begin;
      pads[i + n] = total - begin;
    });
  }
  return { kernel, strides, dilations, pads };
}

/**
 * ConvTranspose of `g` back to input 0's exact spatial shape: output_padding restores the remainder a
 * stride > 1 drops.
 */
function transposeBack(ctx: GradContext, g: string, w: string, win: Window, group: number): string {
  const spatial = ctx.dims(0).slice(2);
  const outSpatial = ctx.outDims().slice(2);
  const n = spatial.length;
  const outputPadding = spatial.map((d, i) => {
    const span = (win.kernel[i]! - 1) * win.dilations[i]! + 1;
    return d - (win.strides[i]! * (outSpatial[i]! - 1) + span - win.pads[i]! - win.pads[i + n]!);
  });
  if (outputPadding.some((p, i) => p < 0 || p >= Math.max(win.strides[i]!, win.dilations[i]!))) {
    throw ctx.error(
      `cannot express the input gradient as a ConvTranspose (output_padding [${outputPadding.join(', ')}])`,
      GraphErrorCode.UnsupportedOp,
    );
  }
  return ctx.b.node('ConvTranspose', [g, w], {
    kernel_shape: win.kernel,
    strides: win.strides,
    dilations: win.dilations,
    pads: win.pads,
    group,
    output_padding: outputPadding,
  });
}

/** Conv: the input gradient is ConvTranspose(g, W) with the forward geometry; weights get none. */
export const convGrad: GradRule = (ctx) => {
  if (ctx.needs(1) || ctx.needs(2)) {
    throw ctx.error(
      'gradients with respect to Conv weights or bias are not supported',
      GraphErrorCode.UnsupportedOp,
    );
  }
  const win = windowOf(ctx, ctx.dims(1).slice(2));
  return [transposeBack(ctx, ctx.grad(), ctx.in(1), win, ctx.int('group', 1))];
};

/**
 * MaxPool: the upstream gradient is add-scattered onto a flat zero tensor at the saved flat indices
 * (output 1, added to the forward node by the caller when missing), then reshaped to the input.
 */
export const maxPoolGrad: GradRule = (ctx) => {
  if (ctx.int('storage_order', 0) !== 0) {
    throw ctx.error(
      'gradient of MaxPool with storage_order 1 is not supported',
      GraphErrorCode.UnsupportedOp,
    );
  }
  const x = ctx.dims(0);
  const flat = ctx.b.node('ConstantOfShape', [ctx.b.int64s([sizeOf(x)], 'shape')], {
    value: makeTensor(ctx.dtype, [1], [0]),
  });
  const scattered = ctx.b.node(
    'ScatterElements',
    [flat, ctx.reshape(ctx.out(1), [-1]), ctx.reshape(ctx.grad(), [-1])],
    { axis: 0, reduction: 'add' },
  );
  return [ctx.reshape(scattered, x)];
};

/**
 * AveragePool: a depthwise ConvTranspose of g / divisor with a ones kernel. The divisor is the window
 * size, or with count_include_pad = 0 the number of non-pad elements of each window (a constant).
 */
export const averagePoolGrad: GradRule = (ctx) => {
  if (ctx.int('ceil_mode', 0) !== 0) {
    throw ctx.error(
      'gradient of AveragePool with ceil_mode 1 is not supported',
      GraphErrorCode.UnsupportedOp,
    );
  }
  const kernel = ctx.ints('kernel_shape') ?? [];
  const win = windowOf(ctx, kernel);
  const x = ctx.dims(0);
  const channels = x[1]!;
  const spatial = x.slice(2);
  const outSpatial = ctx.outDims().slice(2);
  const n = spatial.length;
  let scaled: string;
  if (ctx.int('count_include_pad', 0) !== 0) {
    scaled = ctx.op('Div', ctx.grad(), ctx.scalar(sizeOf(kernel)));
  } else {
    // Per output position: product over axes of the window elements inside [0, dim).
    const counts = new Array<number>(sizeOf(outSpatial)).fill(1);
    let stride = counts.length;
    outSpatial.forEach((o, axis) => {
      stride /= o;
      for (let idx = 0; idx < counts.length; idx++) {
        const pos = Math.floor(idx / stride) % o;
        const start = pos * win.strides[axis]! - win.pads[axis]!;
        let inside = 0;
        for (let k = 0; k < kernel[axis]!; k++) {
          const at = start + k;
          inside += at >= 0 && at < spatial[axis]! ? 1 : 0;
        }
        counts[idx] = counts[idx]! * inside;
      }
    });
    scaled = ctx.op('Div', ctx.grad(), ctx.constant([1, 1, ...outSpatial], counts));
  }
  const ones = ctx.constant([channels, 1, ...kernel], new Array<number>(channels * sizeOf(kernel)).fill(1));
  const geometry = { ...win, dilations: Array<number>(n).fill(1) };
  return [transposeBack(ctx, scaled, ones, geometry, channels)];
};

/** GlobalAveragePool: g / (spatial size), expanded over the spatial dims. */
export const globalAveragePoolGrad: GradRule = (ctx) => {
  const x = ctx.dims(0);
  const scaled = ctx.op('Div', ctx.grad(), ctx.scalar(sizeOf(x.slice(2))));
  return [ctx.b.node('Expand', [scaled, ctx.b.int64s(x, 'shape')])];
};
