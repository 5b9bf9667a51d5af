/**
 * @file Constant folding under concrete input shapes, and dead-code pruning.
 *
 * The exporter idiom `Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [C], [-1]))` becomes
 * `Reshape(x, <initializer>)`: Shape of a value with known dims is a constant, and everything computed from
 * constants by the kernels in `kernels.ts` is evaluated in TypeScript, bit-identically to onnxruntime.
 */
import { type Graph, type Node, type TensorData, sizeOf } from './ir';
import { type InferOptions, analyzeGraph } from './shapes';
import { nodeReads, producersOf } from './walk';

/** Options of {@link foldConstants}. */
export interface FoldOptions extends InferOptions {
  /**
   * A folded output may hold at most this many elements, unless it is no larger than the node's constant
   * inputs together (so folding never grows the model much: a ConstantOfShape filling an activation-sized
   * tensor stays a node). @defaultValue 65536
   */
  maxFoldedElements?: number;
  /**
   * Write the concrete input shapes into the graph's input declarations: the folded graph is only valid
   * for them, and onnxruntime then rejects other shapes with a clear message. @defaultValue true
   */
  pinInputShapes?: boolean;
}

/**
 * Removes nodes none of whose outputs are needed by a graph output (directly or through other nodes,
 * including reads from inside subgraphs), then initializers and value annotations nothing uses. Graph
 * inputs are kept. Returns a new graph.
 */
export function pruneUnused(graph: Graph): Graph {
  const needed = new Set(graph.outputs.map((o) => o.name));
  const kept: Node[] = [];
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i]!;
    if (node.outputs.some((o) => o !== '' && needed.has(o))) {
      kept.push(node);
      for (const r of nodeReads(node)) {
        needed.add(r);
      }
    }
  }
  kept.reverse();
  const inputNames = new Set(graph.inputs.map((v) => v.name));
  const initializers = new Map<string, TensorData>();
  for (const [name, t] of graph.initializers) {
    if (needed.has(name) || inputNames.has(name)) {
      initializers.set(name, t);
    }
  }
  const live = new Set([...needed, ...inputNames, ...kept.flatMap((n) => n.outputs)]);
  return {
    ...graph,
    nodes: kept,
    initializers,
    valueInfo: graph.valueInfo.filter((v) => live.has(v.name)),
  };
}

/**
 * Folds every node computable from constants under the given input shapes: initializers, Constant
 * outputs, and Shape/Size of values whose dims are then known. Folded nodes are replaced by initializers
 * holding their outputs, Constant nodes become initializers, and dead nodes and initializers are pruned.
 * For the given shapes the folded graph computes the same outputs, bit for bit. Nodes producing graph
 * outputs are kept.
 *
 * @throws GraphError as {@link analyzeGraph}: unsupported ops, shape errors, missing input shapes.
 */
export function foldConstants(
  graph: Graph,
  inputShapes: Record<string, number[]>,
  options: FoldOptions = {},
): Graph {
  const analysis = analyzeGraph(graph, inputShapes, options);
  const limit = options.maxFoldedElements ?? 65536;
  const graphOutputs = new Set(graph.outputs.map((o) => o.name));
  const initializers = new Map(graph.initializers);
  const nodes: Node[] = [];
  for (const node of analysis.order) {
    const outs = node.outputs.filter((o) => o !== '');
    const values = outs.map((o) => analysis.values.get(o));
    const inputSize = node.inputs.reduce(
      (n, name) => n + (name === '' ? 0 : sizeOf(analysis.shapes.get(name)?.dims ?? [])),
      0,
    );
    const foldable =
      outs.length > 0 &&
      values.every((v) => v !== undefined) &&
      !outs.some((o) => graphOutputs.has(o)) &&
      (node.opType === 'Constant' || values.every((v) => v.data.length <= Math.max(limit, inputSize)));
    if (foldable) {
      outs.forEach((o, i) => initializers.set(o, values[i]!));
    } else {
      nodes.push(node);
    }
  }
  let inputs = graph.inputs;
  if (options.pinInputShapes ?? true) {
    inputs = graph.inputs.map((v) => {
      const shape = analysis.shapes.get(v.name);
      return shape && !graph.initializers.has(v.name) ? { ...v, dims: [...shape.dims] } : v;
    });
  }
  return pruneUnused({ ...graph, nodes, inputs, initializers });
}

/** How many nodes of each op type a graph has (for checking what folding left). */
export function countOps(graph: Graph): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of graph.nodes) {
    out[n.opType] = (out[n.opType] ?? 0) + 1;
  }
  return out;
}

/** The node producing a value, if any. */
export function producerOf(graph: Graph, value: string): Node | undefined {
  return producersOf(graph).get(value)?.node;
}
