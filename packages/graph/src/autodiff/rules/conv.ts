/**
 * @file Gradients of Conv and ConvTranspose (input only), MaxPool, AveragePool and GlobalAveragePool.
 * Conv's input gradient is, at stride 1, a Conv with the flipped, channel-swapped weights (onnxruntime's
 * CPU provider runs ConvTranspose about half as fast as Conv at equal FLOPs) and otherwise a ConvTranspose
 * with the same weights; ConvTranspose's is a Conv. MaxPool's is an add-scatter at its saved indices,
 * because MaxUnpool overwrites where overlapping windows pick the same element (design §5).
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
 * stride > 1 drops, and a larger end pad crops what a ceil-mode pool window reads past the input's end.
 */
function transposeBack(ctx: GradContext, g: string, w: string, win: Window, group: number): string {
  const spatial = ctx.dims(0).slice(2);
  const outSpatial = ctx.outDims().slice(2);
  const n = spatial.length;
  const pads = [...win.pads];
  const outputPadding = spatial.map((d, i) => {
    const span = (win.kernel[i]! - 1) * win.dilations[i]! + 1;
    const extra = d - (win.strides[i]! * (outSpatial[i]! - 1) + span - pads[i]! - pads[i + n]!);
    if (extra < 0) {
      pads[i + n] = pads[i + n]! - extra;
      return 0;
    }
    return extra;
  });
  if (outputPadding.some((p, i) => p >= Math.max(win.strides[i]!, win.dilations[i]!))) {
    throw ctx.error(
      `cannot express the input gradient as a ConvTranspose (output_padding [${outputPadding.join(', ')}])`,
      GraphErrorCode.UnsupportedOp,
    );
  }
  return ctx.b.node('ConvTranspose', [g, w], {
    kernel_shape: win.kernel,
    strides: win.strides,
    dilations: win.dilations,
    pads,
    group,
    output_padding: outputPadding,
  });
}

/**
 * ConvTranspose (auto_pad NOTSET or VALID, no output_shape): the input gradient is Conv(g, W) with the
 * same kernel, strides, pads, dilations and group. ConvTranspose's weight layout [C_in, C_out/group, k…]
 * is exactly Conv's [M, C/group, k…] for a Conv from C_out to C_in channels, so W is used as is.
 * output_padding (below the stride) only adds trailing outputs that no Conv window starts in.
 */
export const convTransposeGrad: GradRule = (ctx) => {
  if (ctx.needs(1) || ctx.needs(2)) {
    throw ctx.error(
      'gradients with respect to ConvTranspose weights or bias are not supported',
      GraphErrorCode.UnsupportedOp,
    );
  }
  const autoPad = ctx.string('auto_pad', 'NOTSET');
  if ((autoPad !== 'NOTSET' && autoPad !== 'VALID') || ctx.ints('output_shape') !== undefined) {
    throw ctx.error(
      `gradient of ConvTranspose with auto_pad ${autoPad}${ctx.ints('output_shape') === undefined ? '' : ' and output_shape'} is not supported; give explicit pads and output_padding`,
      GraphErrorCode.UnsupportedOp,
    );
  }
  const x = ctx.dims(0);
  const n = x.length - 2;
  const kernel = ctx.ints('kernel_shape') ?? ctx.dims(1).slice(2);
  const strides = ctx.ints('strides') ?? new Array<number>(n).fill(1);
  const dilations = ctx.ints('dilations') ?? new Array<number>(n).fill(1);
  const pads =
    autoPad === 'VALID'
      ? new Array<number>(2 * n).fill(0)
      : (ctx.ints('pads') ?? new Array<number>(2 * n).fill(0));
  // The Conv yields in + ⌊output_padding / stride⌋ positions. onnxruntime refuses output_padding ≥ stride
  // in the forward op already, so that case is rejected rather than cropped.
  const out = ctx.outDims();
  x.slice(2).forEach((d, i) => {
    const span = (kernel[i]! - 1) * dilations[i]! + 1;
    if (Math.floor((out[i + 2]! + pads[i]! + pads[i + n]! - span) / strides[i]!) + 1 !== d) {
      throw ctx.error(
        `gradient of ConvTranspose with output_padding not below the stride on spatial axis ${i} is not supported`,
        GraphErrorCode.UnsupportedOp,
      );
    }
  });
  return [
    ctx.b.node('Conv', [ctx.grad(), ctx.in(1)], {
      kernel_shape: kernel,
      strides,
      dilations,
      pads,
      group: ctx.int('group', 1),
    }),
  ];
};

/**
 * The weights of the stride-1 Conv that is the input gradient of a Conv with weights `w`
 * ([C_out, C_in/group, k…]): per group the in/out channels swapped, [C_in, C_out/group, k…], and every
 * spatial axis reversed. Built with Reshape/Transpose/Slice on `w` rather than as a new initializer, so
 * the file does not grow; onnxruntime folds them at session creation when `w` is an initializer.
 */
function flippedWeights(ctx: GradContext, w: string, group: number): string {
  const [cOut, cInGroup, ...kernel] = ctx.dims(1) as [number, number, ...number[]];
  const cOutGroup = cOut / group;
  const spatialAxes = kernel.map((_, i) => i + 2);
  let swapped = w;
  if (group === 1 && cOutGroup > 1 && cInGroup > 1) {
    swapped = ctx.b.node('Transpose', [w], { perm: [1, 0, ...spatialAxes] });
  } else if (cOutGroup > 1 && cInGroup > 1) {
    const split = ctx.reshape(w, [group, cOutGroup, cInGroup, ...kernel]);
    const perm = [0, 2, 1, ...spatialAxes.map((a) => a + 1)];
    swapped = ctx.reshape(ctx.b.node('Transpose', [split], { perm }), [
      group * cInGroup,
      cOutGroup,
      ...kernel,
    ]);
  } else if (cInGroup !== cOutGroup) {
    // With one channel per group on either side the swap moves no data: only the dims change.
    swapped = ctx.reshape(w, [group * cInGroup, cOutGroup, ...kernel]);
  }
  const flipAxes = spatialAxes.filter((a) => kernel[a - 2]! > 1);
  if (flipAxes.length === 0) {
    return swapped;
  }
  // A negative step from the last element; an end of −(k + 1) resolves to "before index 0".
  return ctx.b.node('Slice', [
    swapped,
    ctx.b.int64s(
      flipAxes.map(() => -1),
      'starts',
    ),
    ctx.b.int64s(
      flipAxes.map((a) => -kernel[a - 2]! - 1),
      'ends',
    ),
    ctx.b.int64s(flipAxes, 'axes'),
    ctx.b.int64s(
      flipAxes.map(() => -1),
      'steps',
    ),
  ]);
}

/**
 * The input gradient of a stride-1 Conv as a Conv of `g` with the flipped, channel-swapped weights and
 * pads d·(k − 1) − pad, or undefined where a stride is above 1 or a pad exceeds d·(k − 1) (the window
 * then starts outside the gradient's reach). onnxruntime's CPU provider runs Conv on its blocked (NCHWc)
 * kernels but ConvTranspose through col2im, so this form is the faster one at equal FLOPs.
 */
function convBack(ctx: GradContext, g: string, win: Window, group: number): string | undefined {
  const n = win.kernel.length;
  if (win.strides.some((s) => s !== 1)) {
    return undefined;
  }
  const pads = win.pads.map((p, i) => win.dilations[i % n]! * (win.kernel[i % n]! - 1) - p);
  if (pads.some((p) => p < 0)) {
    return undefined;
  }
  return ctx.b.node('Conv', [g, flippedWeights(ctx, ctx.in(1), group)], {
    kernel_shape: win.kernel,
    strides: win.strides,
    dilations: win.dilations,
    pads,
    group,
  });
}

/**
 * Conv: the input gradient is, at stride 1, a Conv with flipped weights ({@link convBack}), else a
 * ConvTranspose with the forward geometry; weights get none.
 */
export const convGrad: GradRule = (ctx) => {
  if (ctx.needs(1) || ctx.needs(2)) {
    throw ctx.error(
      'gradients with respect to Conv weights or bias are not supported',
      GraphErrorCode.UnsupportedOp,
    );
  }
  const win = windowOf(ctx, ctx.dims(1).slice(2));
  const group = ctx.int('group', 1);
  return [convBack(ctx, ctx.grad(), win, group) ?? transposeBack(ctx, ctx.grad(), ctx.in(1), win, group)];
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
 * AveragePool: y[o] = w[o]·Σ x over window(o) ∩ input, so the gradient is a depthwise ConvTranspose of
 * g·w with a ones kernel. The weight w = 1/divisor depends on count_include_pad, ceil_mode (windows
 * reading past the end pad) and the kernel version (onnxruntime's opset-19 kernel clips the divisor at
 * the end pad, the older one does not), so it is measured instead of re-derived: AveragePool of a ones
 * image with the node's own attributes gives count[o]·w[o], and count (window taps inside the input) is
 * known statically.
 */
export const averagePoolGrad: GradRule = (ctx) => {
  const kernel = ctx.ints('kernel_shape') ?? [];
  const win = windowOf(ctx, kernel);
  const x = ctx.dims(0);
  const channels = x[1]!;
  const spatial = x.slice(2);
  const outSpatial = ctx.outDims().slice(2);
  // Per output position: product over axes of the window taps inside [0, dim).
  const counts = new Array<number>(sizeOf(outSpatial)).fill(1);
  let stride = counts.length;
  outSpatial.forEach((o, axis) => {
    stride /= o;
    for (let idx = 0; idx < counts.length; idx++) {
      const pos = Math.floor(idx / stride) % o;
      const start = pos * win.strides[axis]! - win.pads[axis]!;
      let inside = 0;
      for (let k = 0; k < kernel[axis]!; k++) {
        const at = start + k * win.dilations[axis]!;
        inside += at >= 0 && at < spatial[axis]! ? 1 : 0;
      }
      counts[idx] = counts[idx]! * inside;
    }
  });
  const onesImage = ctx.b.node('ConstantOfShape', [ctx.b.int64s([1, 1, ...spatial], 'shape')], {
    value: makeTensor(ctx.dtype, [1], [1]),
  });
  const pooledOnes = ctx.b.node('AveragePool', [onesImage], ctx.node.attributes);
  // A window with no tap inside the input has weight 0 whatever the divisor.
  const weight = ctx.op(
    'Div',
    pooledOnes,
    ctx.constant(
      [1, 1, ...outSpatial],
      counts.map((c) => Math.max(c, 1)),
    ),
  );
  const scaled = ctx.op('Mul', ctx.grad(), weight);
  const ones = ctx.constant([channels, 1, ...kernel], new Array<number>(channels * sizeOf(kernel)).fill(1));
  return [transposeBack(ctx, scaled, ones, win, channels)];
};

/** GlobalAveragePool: g / (spatial size), expanded over the spatial dims. */
export const globalAveragePoolGrad: GradRule = (ctx) => {
  const x = ctx.dims(0);
  const scaled = ctx.op('Div', ctx.grad(), ctx.scalar(sizeOf(x.slice(2))));
  return [ctx.b.node('Expand', [scaled, ctx.b.int64s(x, 'shape')])];
};
