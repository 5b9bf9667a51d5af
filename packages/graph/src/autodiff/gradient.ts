/**
 * @file Reverse-mode differentiation of an ONNX graph into standard ONNX operators: the forward graph plus
 * backward nodes that compute dL/d(one graph input), exposed as an extra output `grad`.
 */
import { GraphBuilder } from '../builder';
import { GraphError, GraphErrorCode } from '../errors';
import { type Graph, type Model, cloneGraph, describeNode, isFloatDType, makeTensor, sizeOf } from '../ir';
import { analyzeGraph } from '../shapes';
import { consumersOf, namesInGraph, producersOf } from '../walk';
import { GradContext } from './rules/context';
import { GRAD_RULES } from './rules';

/** Options of {@link buildGradientGraph}. */
export interface GradientOptions {
  /** The graph input to differentiate with respect to. */
  wrt: string;
  /** The value to differentiate: one loss per graph (any shape; the seed is ones of its shape). */
  loss: string;
  /** Concrete dims of graph inputs whose declared dims are not static (see `inferShapes`). @defaultValue `{}` */
  inputShapes?: Record<string, number[]>;
  /** Name of the gradient output. @defaultValue `'grad'` */
  output?: string;
}

/** Op types {@link buildGradientGraph} can differentiate. */
export const GRADIENT_OPS: readonly string[] = Object.keys(GRAD_RULES).sort();

function defaultOpset(model: Model): number {
  return model.opsetImports.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 17;
}

/** Values reachable from `start` following edges produced by `next`. */
function reach(start: string, next: (v: string) => readonly string[]): Set<string> {
  const seen = new Set([start]);
  const stack = [start];
  for (let v = stack.pop(); v !== undefined; v = stack.pop()) {
    for (const w of next(v)) {
      if (w !== '' && !seen.has(w)) {
        seen.add(w);
        stack.push(w);
      }
    }
  }
  return seen;
}

/** Values on some path from `wrt` to `loss` (both included when connected). */
function valuesOnPath(graph: Graph, wrt: string, loss: string): Set<string> {
  const consumers = consumersOf(graph);
  const producers = producersOf(graph);
  const forward = reach(wrt, (v) => (consumers.get(v) ?? []).flatMap((n) => n.outputs));
  const backward = reach(loss, (v) => producers.get(v)?.node.inputs ?? []);
  return new Set([...forward].filter((v) => backward.has(v)));
}

/** Gives every MaxPool on the path its Indices output, which the backward scatter reads. */
function exposeMaxPoolIndices(graph: Graph, onPath: Set<string>): void {
  const names = namesInGraph(graph);
  for (const node of graph.nodes) {
    if (node.opType !== 'MaxPool' || !onPath.has(node.outputs[0] ?? '') || (node.outputs[1] ?? '') !== '') {
      continue;
    }
    let name = `${node.outputs[0]!}_indices`;
    for (let k = 1; names.has(name); k++) {
      name = `${node.outputs[0]!}_indices_${k}`;
    }
    names.add(name);
    node.outputs[1] = name;
  }
}

/**
 * A model computing the original outputs plus `grad` = dL/d`wrt` (same dims as `wrt`), where L is the
 * sum of `loss`'s elements. Backward nodes are standard ONNX operators of the model's opset (17 or newer
 * for MaxPool's and Gather's add-scatters); only float values on a path from `wrt` to `loss` get
 * gradients, so no weight gradients are computed and integer side paths (Shape → Gather → Concat
 * feeding a Reshape) need no rule. The argument is not modified.
 *
 * @throws GraphError `GRAPH_ERR_ARGUMENT` when `wrt` is not a graph input or `loss` is not a value of the
 * graph, `GRAPH_ERR_UNSUPPORTED_OP` naming the node and op type for an op on the path without a rule,
 * plus the errors of `inferShapes`.
 */
export function buildGradientGraph(model: Model, options: GradientOptions): Model {
  const { wrt, loss } = options;
  const graph = cloneGraph(model.graph);
  const wrtInfo = graph.inputs.find((v) => v.name === wrt);
  if (wrtInfo === undefined || graph.initializers.has(wrt)) {
    throw new GraphError(
      GraphErrorCode.Argument,
      `wrt ${wrt} is not a graph input (inputs: ${graph.inputs.map((v) => v.name).join(', ')})`,
    );
  }
  if (!graph.nodes.some((n) => n.outputs.includes(loss)) && !graph.inputs.some((v) => v.name === loss)) {
    throw new GraphError(GraphErrorCode.Argument, `loss ${loss} is not a value of graph ${graph.name}`);
  }
  const opset = defaultOpset(model);
  const onPath = valuesOnPath(graph, wrt, loss);
  exposeMaxPoolIndices(graph, onPath);
  const { shapes, values, order } = analyzeGraph(graph, options.inputShapes ?? {}, { opset });
  const producers = producersOf(graph);
  const lossShape = shapes.get(loss)!;
  const b = new GraphBuilder(graph, { opset, prefix: 'grad/' });

  const parts = new Map<string, string[]>();
  const add = (v: string, g: string): void => {
    const list = parts.get(v);
    if (list === undefined) {
      parts.set(v, [g]);
    } else {
      list.push(g);
    }
  };
  // Sums a value's gradient contributions once every consumer has been differentiated.
  const total = (v: string): string | undefined => {
    const list = parts.get(v);
    if (list === undefined) {
      return undefined;
    }
    const sum = list.reduce((acc, g) => b.node('Add', [acc, g], {}, { name: 'accumulate' }));
    parts.set(v, [sum]);
    return sum;
  };

  if (onPath.has(loss)) {
    const ones = new Array<number>(sizeOf(lossShape.dims)).fill(1);
    add(loss, b.initializer('seed', makeTensor(lossShape.dtype, lossShape.dims, ones)));
  }
  for (const node of [...order].reverse()) {
    if (!node.outputs.some((o) => onPath.has(o))) {
      continue;
    }
    const upstream = node.outputs.map((o) => (onPath.has(o) ? total(o) : undefined));
    if (upstream.every((g) => g === undefined)) {
      continue;
    }
    // Only float inputs on the path carry a gradient: integer and bool inputs (shapes, indices, masks)
    // are not differentiable, so a node whose path inputs are all of that kind (Shape, ConstantOfShape,
    // a Gather on a shape) contributes nothing and needs no rule.
    const wanted = node.inputs.map((n) => n !== '' && onPath.has(n) && isFloatDType(shapes.get(n)!.dtype));
    if (!wanted.some(Boolean)) {
      continue;
    }
    const rule = node.domain === '' || node.domain === 'ai.onnx' ? GRAD_RULES[node.opType] : undefined;
    if (rule === undefined) {
      throw new GraphError(
        GraphErrorCode.UnsupportedOp,
        `${describeNode(node)}: autodiff has no gradient rule for op type ${node.domain === '' ? '' : `${node.domain}.`}${node.opType} (supported: ${GRADIENT_OPS.join(', ')})`,
      );
    }
    const ctx = new GradContext(
      node,
      node.inputs.map((n) => (n === '' ? undefined : shapes.get(n))),
      node.inputs.map((n) => (n === '' ? undefined : values.get(n))),
      opset,
      b,
      upstream,
      wanted,
      node.outputs.map((n) => (n === '' ? undefined : shapes.get(n))),
      producers,
    );
    const grads = rule(ctx);
    node.inputs.forEach((n, i) => {
      const g = grads[i];
      if (ctx.needs(i) && g !== undefined) {
        add(n, g);
      }
    });
  }

  const wrtShape = shapes.get(wrt)!;
  const result =
    total(wrt) ??
    b.initializer(
      'zero_grad',
      makeTensor(wrtShape.dtype, wrtShape.dims, new Array<number>(sizeOf(wrtShape.dims)).fill(0)),
    );
  const name = options.output ?? 'grad';
  b.node('Identity', [result], {}, { output: name, name: 'grad_output' });
  b.output(name, wrtInfo.dtype, wrtInfo.dims);
  return { ...model, graph };
}
