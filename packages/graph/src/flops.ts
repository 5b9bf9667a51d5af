/**
 * @file Dense FLOP counts of a graph under concrete input shapes, for benchmarks that report achieved
 * rates beside the hardware's peak (FLOPs = 2 × multiply-accumulates, perf-anchors convention).
 */
import { type Graph, sizeOf } from './ir';
import { type InferOptions, analyzeGraph } from './shapes';

/** FLOPs per op type and in total. */
export interface FlopCount {
  total: number;
  byOp: Record<string, number>;
}

function intAttr(node: Graph['nodes'][number], name: string): number | undefined {
  const a = node.attributes[name];
  return a?.type === 'int' ? a.value : undefined;
}

/**
 * Counts 2 × MACs of the matrix-product ops (Conv, ConvTranspose, MatMul, Gemm), which dominate every model
 * here; elementwise, normalisation and pooling ops are left out (they are memory-bound, and counting them
 * would flatter the achieved rate).
 *
 * @throws the errors of `analyzeGraph` (e.g. a graph with a `Loop`: count the fixed-batch model instead).
 */
export function countFlops(
  graph: Graph,
  inputShapes: Record<string, number[]>,
  options: InferOptions = {},
): FlopCount {
  const { shapes } = analyzeGraph(graph, inputShapes, options);
  const byOp: Record<string, number> = {};
  const dims = (name: string | undefined): number[] =>
    name === undefined ? [] : (shapes.get(name)?.dims ?? []);
  for (const node of graph.nodes) {
    let flops = 0;
    const out = dims(node.outputs[0]);
    if (node.opType === 'Conv') {
      // Each output element: C_in/group × kernel MACs.
      const w = dims(node.inputs[1]);
      flops = 2 * sizeOf(out) * sizeOf(w.slice(1));
    } else if (node.opType === 'ConvTranspose') {
      // Each input element scatters into C_out/group × kernel outputs.
      const x = dims(node.inputs[0]);
      const w = dims(node.inputs[1]);
      flops = 2 * sizeOf(x) * sizeOf(w.slice(1));
    } else if (node.opType === 'MatMul') {
      const a = dims(node.inputs[0]);
      flops = 2 * sizeOf(out) * (a[a.length - 1] ?? 1);
    } else if (node.opType === 'Gemm') {
      const a = dims(node.inputs[0]);
      const k = intAttr(node, 'transA') === 1 ? a[0] : a[1];
      flops = 2 * sizeOf(out) * (k ?? 1);
    }
    if (flops > 0) {
      byOp[node.opType] = (byOp[node.opType] ?? 0) + flops;
    }
  }
  return { total: Object.values(byOp).reduce((s, v) => s + v, 0), byOp };
}
