/**
 * @file The synthesis stage's gradient model (design §4–5, reference §3.3): one ONNX model that maps the
 * VAE decoder's latent (or a classifier's image) to a per-image loss and its gradient, through
 * decode → `/2 + 0.5` → clamp [0, 1] → ResNet preprocessing → classifier logits → loss head.
 */
import { GraphBuilder } from './builder';
import { appendClamp01, appendResnetPreprocess, appendScaleShift, composeModels } from './compose';
import { GraphError, GraphErrorCode } from './errors';
import { foldConstants, pruneUnused } from './fold';
import {
  type DType,
  type Graph,
  type Model,
  type Node,
  type TensorData,
  type ValueInfo,
  isFloatDType,
  makeTensor,
} from './ir';
import { inferShapes } from './shapes';
import { namesInGraph, renameValues } from './walk';
import { buildGradientGraph } from './autodiff/gradient';

/** The code's target margin m of the `code` loss (reference §3.3 step 7). */
export const CODE_LOSS_MARGIN = -5;

/**
 * A loss head on `[N, K]` logits g, giving one loss per image:
 * - `code`: (m − (mean(g) − logsumexp(g)))², m = −5 by default: the released code's loss;
 * - `energy`: m_out − τ·logsumexp(g / τ): the paper's Eq. 7 as the reference transcribes it.
 */
export type LossHead =
  { kind: 'code'; margin?: number } | { kind: 'energy'; margin?: number; temperature?: number };

/** Names of the loss heads, for CLI and config validation. */
export const LOSS_HEADS = ['code', 'energy'] as const;

function reduce(b: GraphBuilder, op: string, x: string, axis: number): string {
  // ReduceMean/ReduceLogSumExp take their axes as an input from opset 18 on, as an attribute before.
  return b.opset >= 18
    ? b.node(op, [x, b.int64s([axis], 'axes')], { keepdims: 0 })
    : b.node(op, [x], { axes: [axis], keepdims: 0 });
}

/**
 * Appends a loss head to `[N, K]` logits and returns the name of the `[N]` per-image loss. The losses
 * are per image and the gradient model sums them, so each image's gradient is its own loss's gradient
 * whatever the batch size (the released code takes a batch mean, which scales the step by 1/B).
 *
 * @param dtype - element type of the logits. @defaultValue `'float32'`
 */
export function appendLossHead(
  b: GraphBuilder,
  logits: string,
  head: LossHead,
  dtype: DType = 'float32',
): string {
  const lse = (x: string): string => reduce(b, 'ReduceLogSumExp', x, 1);
  if (head.kind === 'code') {
    const m = head.margin ?? CODE_LOSS_MARGIN;
    const s = b.node('Sub', [reduce(b, 'ReduceMean', logits, 1), lse(logits)], {}, { name: 'code_loss_s' });
    const d = b.node('Sub', [b.scalar(m, dtype, 'code_margin'), s]);
    return b.node('Mul', [d, d], {}, { name: 'code_loss' });
  }
  const tau = head.temperature ?? 1;
  const m = head.margin ?? CODE_LOSS_MARGIN;
  if (!(tau > 0) || !Number.isFinite(m)) {
    throw new GraphError(
      GraphErrorCode.Argument,
      `energy loss needs temperature > 0 and a finite margin, got τ = ${tau}, m_out = ${m}`,
    );
  }
  const scaled = tau === 1 ? logits : b.node('Div', [logits, b.scalar(tau, dtype, 'energy_tau')]);
  const tauLse = tau === 1 ? lse(scaled) : b.node('Mul', [lse(scaled), b.scalar(tau, dtype, 'energy_tau')]);
  return b.node('Sub', [b.scalar(m, dtype, 'energy_margin'), tauLse], {}, { name: 'energy_loss' });
}

/** Options of {@link buildSynthesisGradientModel}. */
export interface SynthesisGradientOptions {
  /** The classifier: an `[N, 3, H, W]` image in → `[N, K]` logits out. */
  classifier: Model;
  /** The classifier's image input. @defaultValue its only input */
  classifierInput?: string;
  /** The classifier's logits output. @defaultValue its first output */
  classifierOutput?: string;
  /** The VAE decoder (`latent_sample` → `sample` in [-1, 1]); without it the model starts at the image. */
  decoder?: Model;
  /** The decoder's latent input. @defaultValue its only input */
  decoderInput?: string;
  /** The decoder's image output. @defaultValue its first output */
  decoderOutput?: string;
  /** Preprocessing between the [0, 1] image and the classifier. @defaultValue `'resnet'` */
  preprocess?: 'resnet' | 'none';
  /** The loss head. @defaultValue `{ kind: 'code' }` */
  loss?: LossHead;
  /**
   * A fixed batch size, or `'dynamic'` for a model whose input has a symbolic batch axis. The dynamic
   * model runs a batch-1 gradient graph in an ONNX `Loop` over the images (exact and batch-invariant,
   * standard ops only); a fixed batch runs the whole batch through one graph. @defaultValue `'dynamic'`
   */
  batch?: number | 'dynamic';
  /**
   * Per-image dims of the model input (without the batch axis), needed when the input's declared dims
   * are symbolic, e.g. `[4, 64, 64]` for SD's decoder at 512².
   */
  inputShape?: number[];
  /** Name of the gradient output. @defaultValue `'grad'` */
  gradOutput?: string;
  /** Name of the loss output. @defaultValue `'loss'` */
  lossOutput?: string;
}

const MIN_OPSET = 17;

function argumentError(message: string): GraphError {
  return new GraphError(GraphErrorCode.Argument, message);
}

function modelOpset(model: Model): number {
  return model.opsetImports.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? MIN_OPSET;
}

function pick(list: readonly ValueInfo[], name: string | undefined, what: string, model: Model): ValueInfo {
  if (name === undefined) {
    if (what.endsWith('input') && list.length !== 1) {
      throw argumentError(
        `${model.graph.name} has ${list.length} ${what}s (${list.map((v) => v.name).join(', ')}); name the one to use`,
      );
    }
    const first = list[0];
    if (first === undefined) {
      throw argumentError(`${model.graph.name} has no ${what}`);
    }
    return first;
  }
  const found = list.find((v) => v.name === name);
  if (found === undefined) {
    throw argumentError(
      `${model.graph.name} has no ${what} ${name} (it has: ${list.map((v) => v.name).join(', ')})`,
    );
  }
  return found;
}

/** The per-image dims of an input: its declared dims after the batch axis, or `override`. */
function perImageDims(info: ValueInfo, override: number[] | undefined): number[] {
  const declared = info.dims?.slice(1);
  if (override !== undefined) {
    if (declared !== undefined && override.length !== declared.length) {
      throw argumentError(
        `inputShape [${override.join(', ')}] has rank ${override.length}, ${info.name} needs ${declared.length} dims after the batch axis`,
      );
    }
    if (!override.every((d) => Number.isSafeInteger(d) && d > 0)) {
      throw argumentError(`inputShape must hold positive integers, got [${override.join(', ')}]`);
    }
    return override;
  }
  if (!declared?.every((d): d is number => typeof d === 'number' && d > 0)) {
    throw argumentError(
      `${info.name} has dims [${(info.dims ?? []).join(', ')}]; give inputShape (the dims after the batch axis)`,
    );
  }
  return declared;
}

/** The decode → [0, 1] → preprocessing bridge from `image` to `pixels`, as a model. */
function bridgeModel(
  dims: [number, number],
  decoded: boolean,
  preprocess: 'resnet' | 'none',
  dtype: DType,
  opset: number,
): Model {
  const b = new GraphBuilder('bridge', { opset });
  let x = b.input('image', dtype, ['batch_size', 3, dims[0], dims[1]]);
  if (decoded) {
    x = appendClamp01(b, appendScaleShift(b, x, 0.5, 0.5, { dtype }), { dtype });
  }
  if (preprocess === 'resnet') {
    x = appendResnetPreprocess(b, x, { height: dims[0], width: dims[1], dtype });
  }
  b.node('Identity', [x], {}, { output: 'pixels' });
  b.output('pixels', dtype, null);
  return b.toModel(opset);
}

/** The forward model input → per-image loss, with the input under its original name. */
function lossModel(options: SynthesisGradientOptions): { model: Model; input: ValueInfo; dims: number[] } {
  const { classifier, decoder } = options;
  const cIn = pick(classifier.graph.inputs, options.classifierInput, 'input', classifier);
  const cOut = pick(classifier.graph.outputs, options.classifierOutput, 'output', classifier);
  if (!isFloatDType(cIn.dtype)) {
    throw argumentError(`classifier input ${cIn.name} is ${cIn.dtype}; a float image input is required`);
  }
  const opset = Math.max(MIN_OPSET, modelOpset(classifier), decoder === undefined ? 0 : modelOpset(decoder));
  const preprocess = options.preprocess ?? 'resnet';
  let input: ValueInfo;
  let dims: number[];
  let imageHw: [number, number];
  if (decoder === undefined) {
    input = cIn;
    dims = perImageDims(cIn, options.inputShape);
    if (dims.length !== 3) {
      throw argumentError(
        `classifier input ${cIn.name} must be [N, C, H, W], got per-image dims [${dims.join(', ')}]`,
      );
    }
    imageHw = [dims[1]!, dims[2]!];
  } else {
    input = pick(decoder.graph.inputs, options.decoderInput, 'input', decoder);
    dims = perImageDims(input, options.inputShape);
    const dOut = pick(decoder.graph.outputs, options.decoderOutput, 'output', decoder);
    const out = inferShapes(
      decoder.graph,
      { [input.name]: [1, ...dims] },
      { opset: modelOpset(decoder) },
    ).get(dOut.name);
    if (out?.dims.length !== 4 || out.dims[1] !== 3) {
      throw argumentError(
        `decoder output ${dOut.name} must be [N, 3, H, W], got [${(out?.dims ?? []).join(', ')}] for input [1, ${dims.join(', ')}]`,
      );
    }
    imageHw = [out.dims[2]!, out.dims[3]!];
  }
  let model = composeModels(
    bridgeModel(imageHw, decoder !== undefined, preprocess, cIn.dtype, opset),
    classifier,
    {
      connect: { pixels: cIn.name },
      prefixA: 'bridge/',
      prefixB: 'classifier/',
    },
  );
  let entry = 'bridge/image';
  if (decoder !== undefined) {
    const dOut = pick(decoder.graph.outputs, options.decoderOutput, 'output', decoder);
    model = composeModels(decoder, model, {
      connect: { [dOut.name]: entry },
      prefixA: 'decoder/',
      prefixB: '',
    });
    entry = `decoder/${input.name}`;
  }
  const b = GraphBuilder.forModel(model, { prefix: 'loss/' });
  const loss = appendLossHead(b, `classifier/${cOut.name}`, options.loss ?? { kind: 'code' }, cOut.dtype);
  b.node('Identity', [loss], {}, { output: 'loss/value' });
  model.graph.outputs = [{ name: 'loss/value', dtype: cOut.dtype, dims: ['batch_size'] }];
  const taken = namesInGraph(model.graph);
  if (taken.has(input.name)) {
    throw argumentError(`input name ${input.name} collides with an internal value; rename the model input`);
  }
  const graph = renameValues(pruneUnused(model.graph), (n) => (n === entry ? input.name : n));
  return { model: { ...model, graph }, input, dims };
}

/** The gradient model at a fixed batch size: folded, differentiated, pruned to `loss` and `grad`. */
function fixedBatchGradient(
  model: Model,
  input: ValueInfo,
  shape: number[],
  lossName: string,
  gradName: string,
): Model {
  const opset = modelOpset(model);
  const folded: Model = { ...model, graph: foldConstants(model.graph, { [input.name]: shape }, { opset }) };
  const grad = buildGradientGraph(folded, {
    wrt: input.name,
    loss: 'loss/value',
    inputShapes: { [input.name]: shape },
    output: gradName,
  });
  const b = GraphBuilder.forModel(grad);
  b.node('Identity', ['loss/value'], {}, { output: lossName });
  grad.graph.outputs = [
    { name: lossName, dtype: input.dtype, dims: [shape[0]!] },
    { name: gradName, dtype: input.dtype, dims: shape },
  ];
  return { ...grad, graph: pruneUnused(grad.graph) };
}

/** A name not in `taken`, reserved on return. */
function freshName(taken: Set<string>, base: string): string {
  let name = base;
  for (let k = 1; taken.has(name); k++) {
    name = `${base}_${k}`;
  }
  taken.add(name);
  return name;
}

/**
 * Wraps a batch-1 gradient model in a `Loop` over the batch: the input gets a symbolic batch axis, each
 * iteration gathers one image, runs the batch-1 graph (its initializers stay in the outer graph and are
 * read as outer-scope values, so weights are stored once) and scans out its loss and gradient.
 *
 * onnxruntime's layout and fusion passes (the blocked NCHWc Conv kernels, Conv + activation) take only a
 * graph's own initializers as constant weights, so a body reading weights from the outer scope runs its
 * Convs on the slower plain kernels. Each weight therefore enters the body through a Reshape to its own
 * dims, which onnxruntime folds at session creation into a body-local constant; the file keeps one copy
 * in the outer graph, where `encodeModel` can move it to external data.
 */
function batchLoop(
  single: Model,
  input: ValueInfo,
  dims: number[],
  lossName: string,
  gradName: string,
): Model {
  const opset = modelOpset(single);
  const taken = namesInGraph(single.graph);
  // Inside the body the per-image value gets a fresh name; the batched input takes the user-facing one.
  const perImage = freshName(taken, `${input.name}/one`);
  const name = (base: string): string => freshName(taken, `loop/${base}`);
  const node = (opType: string, inputs: string[], output: string, axis?: number): Node => ({
    name: name(opType),
    opType,
    domain: '',
    inputs,
    outputs: [output],
    attributes: axis === undefined ? {} : { axis: { type: 'int', value: axis } },
  });
  const local = new Map(
    [...single.graph.initializers.keys()].map((k) => [k, freshName(taken, `${k}/local`)]),
  );
  const sg = renameValues(single.graph, (n) => (n === input.name ? perImage : (local.get(n) ?? n)));
  const bodyInitializers = new Map<string, TensorData>();
  const localWeights = [...single.graph.initializers].map(([k, t]): Node => {
    const dims = name('dims');
    bodyInitializers.set(dims, makeTensor('int64', [t.dims.length], t.dims));
    return node('Reshape', [k, dims], local.get(k)!);
  });
  const iter = name('iteration');
  const condIn = name('cond_in');
  const condOut = name('cond_out');
  const index = name('index');
  const axes = name('unsqueeze_axes');
  const lossOut = name('loss');
  const gradOut = name('grad');
  const body: Graph = {
    name: 'per_image',
    nodes: [
      node('Unsqueeze', [iter, axes], index),
      node('Gather', [input.name, index], perImage, 0),
      ...localWeights,
      ...sg.nodes,
      node('Identity', [condIn], condOut),
      node('Identity', [lossName], lossOut),
      node('Identity', [gradName], gradOut),
    ],
    inputs: [
      { name: iter, dtype: 'int64', dims: [] },
      { name: condIn, dtype: 'bool', dims: [] },
    ],
    outputs: [
      { name: condOut, dtype: 'bool', dims: [] },
      { name: lossOut, dtype: input.dtype, dims: [1] },
      { name: gradOut, dtype: input.dtype, dims: [1, ...dims] },
    ],
    initializers: bodyInitializers,
    valueInfo: [],
  };
  const initializers = new Map(single.graph.initializers);
  initializers.set(axes, makeTensor('int64', [1], [0]));
  const outer: Graph = {
    name: `${sg.name}_batched`,
    nodes: [],
    inputs: [{ name: input.name, dtype: input.dtype, dims: ['batch_size', ...dims] }],
    outputs: [],
    initializers,
    valueInfo: [],
  };
  const b = new GraphBuilder(outer, { opset, prefix: 'batch/' });
  const shape = b.node('Shape', [input.name]);
  const count = b.node('Gather', [shape, b.initializer('batch_axis', makeTensor('int64', [], [0]))], {
    axis: 0,
  });
  const cond = b.initializer('always', makeTensor('bool', [], [1]));
  const [lossScan, gradScan] = b.node('Loop', [count, cond], { body }, { outputs: 2 });
  b.node('Reshape', [lossScan!, b.int64s([-1], 'loss_dims')], {}, { output: lossName });
  b.node('Reshape', [gradScan!, shape], {}, { output: gradName });
  outer.outputs.push(
    { name: lossName, dtype: input.dtype, dims: ['batch_size'] },
    { name: gradName, dtype: input.dtype, dims: ['batch_size', ...dims] },
  );
  return { ...single, graph: outer };
}

/**
 * The forward half of {@link buildSynthesisGradientModel}: the same chain with only the per-image `loss`
 * output (input dims as declared, or `[batch_size, ...inputShape]`). Benchmarks compare the gradient
 * model's cost with it, and tests take finite differences of it.
 *
 * @throws GraphError as {@link buildSynthesisGradientModel}.
 */
export function buildSynthesisLossModel(
  options: Omit<SynthesisGradientOptions, 'batch' | 'gradOutput'>,
): Model {
  const lossName = options.lossOutput ?? 'loss';
  const { model, input, dims } = lossModel(options);
  if (input.name === lossName) {
    throw argumentError(`input ${input.name} has the name of the loss output; choose another loss name`);
  }
  const b = GraphBuilder.forModel(model);
  b.node('Identity', ['loss/value'], {}, { output: lossName });
  model.graph.outputs = [{ name: lossName, dtype: input.dtype, dims: ['batch_size'] }];
  model.graph.inputs = [{ name: input.name, dtype: input.dtype, dims: ['batch_size', ...dims] }];
  return model;
}

/**
 * The gradient model of the synthesis stage: one input (the decoder's latent input, or the classifier's
 * image input without a decoder) and two outputs, `loss` `[N]` (per image) and `grad` (the input's shape,
 * ∂loss_i/∂input_i). Only standard ONNX operators (opset ≥ 17), so every execution provider runs it.
 *
 * @throws GraphError `GRAPH_ERR_ARGUMENT` for ambiguous or missing input/output names, symbolic dims
 * without `inputShape`, a decoder output that is not an `[N, 3, H, W]` image or a bad batch size;
 * `GRAPH_ERR_UNSUPPORTED_OP` naming the node for an op without a gradient rule.
 */
export function buildSynthesisGradientModel(options: SynthesisGradientOptions): Model {
  const batch = options.batch ?? 'dynamic';
  if (batch !== 'dynamic' && !(Number.isSafeInteger(batch) && batch > 0)) {
    throw argumentError(`batch must be a positive integer or 'dynamic', got ${String(batch)}`);
  }
  const lossName = options.lossOutput ?? 'loss';
  const gradName = options.gradOutput ?? 'grad';
  if (lossName === gradName) {
    throw argumentError(`loss and grad outputs need different names, both are ${lossName}`);
  }
  const { model, input, dims } = lossModel(options);
  if (input.name === lossName || input.name === gradName) {
    throw argumentError(`input ${input.name} has the name of an output; choose other output names`);
  }
  if (batch !== 'dynamic') {
    const fixed = fixedBatchGradient(model, input, [batch, ...dims], lossName, gradName);
    fixed.graph.inputs = [{ name: input.name, dtype: input.dtype, dims: [batch, ...dims] }];
    return fixed;
  }
  const single = fixedBatchGradient(model, input, [1, ...dims], lossName, gradName);
  return batchLoop(single, input, dims, lossName, gradName);
}
