/**
 * @file Model composition with name isolation, and the small graph-op chains that glue the synthesis
 * models together: clamp to [0, 1], scale-and-shift, ResNet preprocessing.
 */
import { GraphBuilder } from './builder';
import { GraphError, GraphErrorCode } from './errors';
import {
  type DType,
  type Graph,
  type Model,
  type OpsetImport,
  type ValueInfo,
  cloneGraph,
  makeTensor,
} from './ir';
import { namesInGraph, renameValues } from './walk';

/** Options of {@link composeModels}. */
export interface ComposeOptions {
  /** Output of A → input of B it feeds. Every B input named here is removed from the composed inputs. */
  connect: Record<string, string>;
  /** Prepended to every value and node name of A. @defaultValue `'a/'` */
  prefixA?: string;
  /** Prepended to every value and node name of B. @defaultValue `'b/'` */
  prefixB?: string;
}

function composeError(message: string): GraphError {
  return new GraphError(GraphErrorCode.Compose, message);
}

function defaultOpset(model: Model): number {
  const v = model.opsetImports.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version;
  if (v === undefined) {
    throw composeError(`model ${model.graph.name} imports no default-domain opset`);
  }
  return v;
}

/** Reductions whose `axes` moved from an attribute to an input at opset 18 (ReduceSum moved at 13). */
const REDUCE_18 = new Set([
  'ReduceMean',
  'ReduceMax',
  'ReduceMin',
  'ReduceProd',
  'ReduceL1',
  'ReduceL2',
  'ReduceLogSum',
  'ReduceLogSumExp',
  'ReduceSumSquare',
]);

/**
 * Rewrites the operators whose form changed between `from` and `to` so that a graph written for opset
 * `from` means the same under `to`: the `axes`/`split` attributes that became inputs at opsets 13 and 18.
 * Between these the standard operators only gained optional attributes and types, so nothing else
 * changes. Returns a new graph.
 *
 * @throws GraphError `GRAPH_ERR_COMPOSE` when `from` is below 13 (Slice, Pad, Clip, Resize and Upsample
 * changed shape earlier; convert such models with onnx's version converter first).
 */
export function upgradeOpset(graph: Graph, from: number, to: number): Graph {
  if (from === to) {
    return graph;
  }
  if (from < 13 || to < from) {
    throw composeError(
      `cannot convert graph ${graph.name} from opset ${from} to ${to}: only 13+ upgrades are supported`,
    );
  }
  const out = cloneGraph(graph);
  const b = new GraphBuilder(out, { opset: to });
  for (const node of out.nodes) {
    if (node.domain !== '' && node.domain !== 'ai.onnx') {
      continue;
    }
    const moveToInput = (attrName: string, index: number): void => {
      const a = node.attributes[attrName];
      if (a?.type !== 'ints') {
        return;
      }
      const name = b.int64s(a.value, `${node.name || node.opType}_${attrName}`);
      // The builder appends nothing for initializers, so node order is unchanged.
      while (node.inputs.length < index) {
        node.inputs.push('');
      }
      node.inputs[index] = name;
      node.attributes = Object.fromEntries(Object.entries(node.attributes).filter(([k]) => k !== attrName));
    };
    if (from < 18 && to >= 18 && REDUCE_18.has(node.opType)) {
      moveToInput('axes', 1);
    }
    // Nodes of opset ≥ 13 already take ReduceSum/Squeeze/Unsqueeze axes and Split sizes as inputs.
  }
  return out;
}

function checkConnection(a: ValueInfo, bIn: ValueInfo): void {
  if (a.dtype !== bIn.dtype) {
    throw composeError(`output ${a.name} of A is ${a.dtype} but input ${bIn.name} of B is ${bIn.dtype}`);
  }
  if (a.dims !== null && bIn.dims !== null) {
    const clash =
      a.dims.length !== bIn.dims.length ||
      a.dims.some((d, i) => typeof d === 'number' && typeof bIn.dims![i] === 'number' && d !== bIn.dims![i]);
    if (clash) {
      throw composeError(
        `output ${a.name} of A has dims [${a.dims.join(', ')}] but input ${bIn.name} of B has [${bIn.dims.join(', ')}]`,
      );
    }
  }
}

function mergeOpsets(a: OpsetImport[], b: OpsetImport[]): OpsetImport[] {
  const byDomain = new Map<string, number>();
  for (const o of [...a, ...b]) {
    const domain = o.domain === 'ai.onnx' ? '' : o.domain;
    byDomain.set(domain, Math.max(byDomain.get(domain) ?? 0, o.version));
  }
  return [...byDomain].map(([domain, version]) => ({ domain, version }));
}

/**
 * Chains two models: each output of A named in `connect` feeds the named input of B. Every value and
 * node name of A gets `prefixA`, of B `prefixB` (the connected inputs of B take A's names), so the models'
 * names cannot collide. The result's inputs are A's inputs and B's unconnected ones; its outputs are A's
 * unconnected outputs and B's outputs. When the default-domain opsets differ, the lower one is upgraded
 * ({@link upgradeOpset}).
 *
 * @throws GraphError `GRAPH_ERR_COMPOSE` for unknown connection names, an input connected twice, type or
 * fixed-dim mismatches, unsupported opset pairs, or names that still collide (with empty prefixes).
 */
export function composeModels(a: Model, b: Model, options: ComposeOptions): Model {
  const prefixA = options.prefixA ?? 'a/';
  const prefixB = options.prefixB ?? 'b/';
  const bTarget = new Map<string, string>();
  for (const [outA, inB] of Object.entries(options.connect)) {
    const o = a.graph.outputs.find((v) => v.name === outA);
    if (!o) {
      throw composeError(
        `connect names ${outA}, which is not an output of A (${a.graph.outputs.map((v) => v.name).join(', ')})`,
      );
    }
    const i = b.graph.inputs.find((v) => v.name === inB);
    if (!i) {
      throw composeError(
        `connect names ${inB}, which is not an input of B (${b.graph.inputs.map((v) => v.name).join(', ')})`,
      );
    }
    if (bTarget.has(inB)) {
      throw composeError(`input ${inB} of B is connected twice`);
    }
    checkConnection(o, i);
    bTarget.set(inB, `${prefixA}${outA}`);
  }
  const opsetA = defaultOpset(a);
  const opsetB = defaultOpset(b);
  const opset = Math.max(opsetA, opsetB);
  const graphA = renameValues(
    upgradeOpset(a.graph, opsetA, opset),
    (n) => `${prefixA}${n}`,
    (n) => `${prefixA}${n}`,
  );
  const graphB = renameValues(
    upgradeOpset(b.graph, opsetB, opset),
    (n) => bTarget.get(n) ?? `${prefixB}${n}`,
    (n) => `${prefixB}${n}`,
  );
  const namesA = namesInGraph(graphA);
  const connected = new Set(bTarget.values());
  const clash = [...namesInGraph(graphB)].find((n) => namesA.has(n) && !connected.has(n));
  if (clash !== undefined) {
    throw composeError(`name ${clash} occurs in both models after prefixing; choose distinct prefixes`);
  }
  const connectedOutputs = graphA.outputs.filter((o) => connected.has(o.name));
  const graph: Graph = {
    name: `${a.graph.name}+${b.graph.name}`,
    nodes: [...graphA.nodes, ...graphB.nodes],
    inputs: [...graphA.inputs, ...graphB.inputs.filter((v) => !connected.has(v.name))],
    outputs: [...graphA.outputs.filter((o) => !connected.has(o.name)), ...graphB.outputs],
    initializers: new Map([...graphA.initializers, ...graphB.initializers]),
    valueInfo: [...graphA.valueInfo, ...connectedOutputs, ...graphB.valueInfo],
  };
  const model: Model = {
    irVersion: Math.max(a.irVersion, b.irVersion),
    opsetImports: mergeOpsets(a.opsetImports, b.opsetImports),
    producerName: 'synood',
    graph,
  };
  const functions = [...(a.functions ?? []), ...(b.functions ?? [])];
  if (functions.length > 0) {
    model.functions = functions;
  }
  return model;
}

/** Options of the append helpers. */
export interface AppendOptions {
  /** Element type of the value the helper reads (its constants use it). @defaultValue `'float32'` */
  dtype?: DType;
}

/** Appends `Clip(x, 0, 1)` (e.g. on a decoded image) and returns its output. */
export function appendClamp01(builder: GraphBuilder, x: string, options: AppendOptions = {}): string {
  const dtype = options.dtype ?? 'float32';
  return builder.node(
    'Clip',
    [x, builder.scalar(0, dtype, 'clamp_min'), builder.scalar(1, dtype, 'clamp_max')],
    {},
    { name: 'Clamp01' },
  );
}

/** Appends `x · scale + shift` (e.g. a VAE output `/ 2 + 0.5`) and returns its output. */
export function appendScaleShift(
  builder: GraphBuilder,
  x: string,
  scale: number,
  shift: number,
  options: AppendOptions = {},
): string {
  const dtype = options.dtype ?? 'float32';
  const scaled = builder.node(
    'Mul',
    [x, builder.scalar(scale, dtype, 'scale')],
    {},
    { name: 'ScaleShift_Mul' },
  );
  return builder.node('Add', [scaled, builder.scalar(shift, dtype, 'shift')], {}, { name: 'ScaleShift_Add' });
}

/** Options of {@link appendResnetPreprocess}. */
export interface ResnetPreprocessOptions extends AppendOptions {
  /** Height of the incoming image (the graph is built for this size). */
  height: number;
  /** Width of the incoming image. */
  width: number;
  /** Target of the short side. @defaultValue 232 (torchvision ResNet50 IMAGENET1K_V2) */
  resizeShortSide?: number;
  /** Side of the centre crop. @defaultValue 224 */
  cropSize?: number;
  /** Per-channel mean. @defaultValue ImageNet `[0.485, 0.456, 0.406]` */
  mean?: readonly number[];
  /** Per-channel standard deviation. @defaultValue ImageNet `[0.229, 0.224, 0.225]` */
  std?: readonly number[];
}

/** Python's `round`: halves go to the even neighbour (torchvision's crop offsets use it). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The resize target and crop offsets torchvision computes for `Resize(short)` + `CenterCrop(crop)` on an
 * image of `height × width`: the long side is `int(short · long / short_side)`, crop offsets
 * `int(round((size − crop) / 2))`.
 */
export function resnetPreprocessGeometry(
  height: number,
  width: number,
  short = 232,
  crop = 224,
): { resized: [number, number]; top: number; left: number } {
  const [h, w] =
    height <= width
      ? [short, Math.trunc((short * width) / height)]
      : [Math.trunc((short * height) / width), short];
  return { resized: [h, w], top: roundHalfEven((h - crop) / 2), left: roundHalfEven((w - crop) / 2) };
}

/**
 * Appends torchvision's ResNet50 (IMAGENET1K_V2) preprocessing to an `[N, 3, H, W]` image in [0, 1]:
 * bilinear resize of the short side to 232 (`Resize` linear, `half_pixel`, no antialiasing), centre crop
 * to 224 by `Slice`, then `(x − mean) / std` with `[1, 3, 1, 1]` constants. Returns the output name.
 *
 * The resize is torch's `interpolate(mode='bilinear', align_corners=False, antialias=False)`.
 * torchvision ≥ 0.17 antialiases tensor resizes by default, which this graph does not: for downscaling it
 * differs from `transforms.Resize(232)` on tensors (it equals it with `antialias=False`).
 *
 * The batch dimension stays dynamic: the Resize `sizes` are built from `Shape(x)[0:2]` (or, at opset ≥ 18,
 * given only for the spatial axes), so only `height` and `width` are fixed.
 *
 * @throws GraphError `GRAPH_ERR_ARGUMENT` for sizes below the crop, or a builder opset below 13.
 */
export function appendResnetPreprocess(
  builder: GraphBuilder,
  x: string,
  options: ResnetPreprocessOptions,
): string {
  const { height, width } = options;
  const dtype = options.dtype ?? 'float32';
  const short = options.resizeShortSide ?? 232;
  const crop = options.cropSize ?? 224;
  const mean = options.mean ?? [0.485, 0.456, 0.406];
  const std = options.std ?? [0.229, 0.224, 0.225];
  if (![height, width, short, crop].every((v) => Number.isSafeInteger(v) && v > 0) || crop > short) {
    throw new GraphError(
      GraphErrorCode.Argument,
      `ResNet preprocessing needs positive integer sizes with cropSize ≤ resizeShortSide, got ${height}×${width}, short ${short}, crop ${crop}`,
    );
  }
  if (builder.opset < 13) {
    throw new GraphError(
      GraphErrorCode.Argument,
      `ResNet preprocessing needs opset ≥ 13, the builder targets ${builder.opset}`,
    );
  }
  const { resized, top, left } = resnetPreprocessGeometry(height, width, short, crop);
  const resizeAttrs = { mode: 'linear', coordinate_transformation_mode: 'half_pixel' };
  let sized: string;
  if (builder.opset >= 18) {
    sized = builder.node('Resize', [x, '', '', builder.int64s(resized, 'resize_sizes')], {
      ...resizeAttrs,
      axes: [2, 3],
      antialias: 0,
    });
  } else {
    const shape = builder.node('Shape', [x]);
    const nc = builder.node('Slice', [shape, builder.int64s([0], 'nc_start'), builder.int64s([2], 'nc_end')]);
    const sizes = builder.node('Concat', [nc, builder.int64s(resized, 'resize_hw')], { axis: 0 });
    sized = builder.node('Resize', [x, '', '', sizes], resizeAttrs);
  }
  const cropped = builder.node('Slice', [
    sized,
    builder.int64s([top, left], 'crop_starts'),
    builder.int64s([top + crop, left + crop], 'crop_ends'),
    builder.int64s([2, 3], 'crop_axes'),
  ]);
  const meanT = builder.initializer('imagenet_mean', makeTensor(dtype, [1, 3, 1, 1], mean));
  const stdT = builder.initializer('imagenet_std', makeTensor(dtype, [1, 3, 1, 1], std));
  const centred = builder.node('Sub', [cropped, meanT]);
  return builder.node('Div', [centred, stdT]);
}
