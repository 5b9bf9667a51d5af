/**
 * @file Graph traversal helpers shared by inference, folding, composition and the builder: which values a
 * node reads (including through subgraphs), topological order, consumers, renaming.
 */
import { GraphError, GraphErrorCode } from './errors';
import { type Attribute, type Graph, type Node, type ValueInfo, describeNode } from './ir';

/** Subgraphs held by a node's graph attributes. */
export function subgraphsOf(node: Node): Graph[] {
  const out: Graph[] = [];
  for (const a of Object.values(node.attributes)) {
    if (a.type === 'graph') {
      out.push(a.value);
    }
  }
  return out;
}

/**
 * Names a graph reads from its enclosing scope: used by its nodes (or their subgraphs) but defined by none
 * of its inputs, initializers or node outputs.
 */
export function outerReferences(graph: Graph): Set<string> {
  const defined = new Set<string>([...graph.inputs.map((v) => v.name), ...graph.initializers.keys()]);
  for (const node of graph.nodes) {
    for (const o of node.outputs) {
      defined.add(o);
    }
  }
  const refs = new Set<string>();
  for (const node of graph.nodes) {
    for (const name of nodeReads(node)) {
      if (!defined.has(name)) {
        refs.add(name);
      }
    }
  }
  return refs;
}

/** Every value a node reads: its non-empty inputs plus what its subgraphs take from the outer scope. */
export function nodeReads(node: Node): string[] {
  const reads = node.inputs.filter((n) => n !== '');
  for (const g of subgraphsOf(node)) {
    reads.push(...outerReferences(g));
  }
  return reads;
}

/** Nodes reading each value (a node appears once per value even if it reads it twice). */
export function consumersOf(graph: Graph): Map<string, Node[]> {
  const out = new Map<string, Node[]>();
  for (const node of graph.nodes) {
    for (const name of new Set(nodeReads(node))) {
      const list = out.get(name);
      if (list) {
        list.push(node);
      } else {
        out.set(name, [node]);
      }
    }
  }
  return out;
}

/** The node producing each value and the output slot it writes. */
export function producersOf(graph: Graph): Map<string, { node: Node; index: number }> {
  const out = new Map<string, { node: Node; index: number }>();
  for (const node of graph.nodes) {
    node.outputs.forEach((name, index) => {
      if (name !== '') {
        out.set(name, { node, index });
      }
    });
  }
  return out;
}

/**
 * The graph's nodes in an order where every value is defined before it is read; nodes already in order
 * keep their relative order. `outerScope` lists names available from an enclosing graph.
 *
 * @throws GraphError `GRAPH_ERR_NAME` naming the node and value when a value is never defined, or when
 * nodes form a cycle.
 */
export function topologicalSort(graph: Graph, outerScope: Iterable<string> = []): Node[] {
  const available = new Set<string>([
    ...outerScope,
    ...graph.inputs.map((v) => v.name),
    ...graph.initializers.keys(),
  ]);
  const produced = producersOf(graph);
  const waiting = new Map<Node, number>();
  const readers = new Map<string, Node[]>();
  const ready: Node[] = [];
  for (const node of graph.nodes) {
    const missing = new Set(nodeReads(node).filter((n) => !available.has(n)));
    for (const name of missing) {
      if (!produced.has(name)) {
        throw new GraphError(
          GraphErrorCode.Name,
          `${describeNode(node)} reads ${name}, which no input, initializer or node defines`,
        );
      }
      const list = readers.get(name);
      if (list) {
        list.push(node);
      } else {
        readers.set(name, [node]);
      }
    }
    waiting.set(node, missing.size);
    if (missing.size === 0) {
      ready.push(node);
    }
  }
  const order: Node[] = [];
  const position = new Map(graph.nodes.map((n, i) => [n, i]));
  // A min-heap on original position keeps already-sorted graphs unchanged and stays O(n log n) when
  // thousands of nodes are ready at once (exporters emit a Constant node per literal).
  const heap = new MinHeap<Node>((n) => position.get(n)!);
  for (const node of ready) {
    heap.push(node);
  }
  for (let node = heap.pop(); node !== undefined; node = heap.pop()) {
    order.push(node);
    for (const out of node.outputs) {
      for (const reader of readers.get(out) ?? []) {
        const left = waiting.get(reader)! - 1;
        waiting.set(reader, left);
        if (left === 0) {
          heap.push(reader);
        }
      }
      readers.delete(out);
    }
  }
  if (order.length !== graph.nodes.length) {
    const stuck = graph.nodes.find((n) => waiting.get(n)! > 0)!;
    throw new GraphError(GraphErrorCode.Name, `${describeNode(stuck)} is part of a cycle`);
  }
  return order;
}

function renameAttribute(a: Attribute, rename: (name: string) => string): Attribute {
  return a.type === 'graph' ? { type: 'graph', value: renameValues(a.value, rename) } : a;
}

/**
 * A copy of the graph with every value name passed through `rename` (inputs, outputs, initializers,
 * annotations, node inputs and outputs, and names inside subgraphs). `''` (an absent optional value) is
 * kept. Node names are renamed with `renameNode` when given.
 */
export function renameValues(
  graph: Graph,
  rename: (name: string) => string,
  renameNode?: (name: string) => string,
): Graph {
  const r = (n: string): string => (n === '' ? '' : rename(n));
  const info = (v: ValueInfo): ValueInfo => ({ ...v, name: r(v.name) });
  return {
    ...graph,
    nodes: graph.nodes.map((n) => ({
      ...n,
      name: renameNode && n.name !== '' ? renameNode(n.name) : n.name,
      inputs: n.inputs.map(r),
      outputs: n.outputs.map(r),
      attributes: Object.fromEntries(
        Object.entries(n.attributes).map(([k, a]) => [k, renameAttribute(a, rename)]),
      ),
    })),
    inputs: graph.inputs.map(info),
    outputs: graph.outputs.map(info),
    initializers: new Map([...graph.initializers].map(([k, t]) => [r(k), t])),
    valueInfo: graph.valueInfo.map(info),
  };
}

/** Every name used in a graph: values, node names, and (recursively) names inside subgraphs. */
export function namesInGraph(graph: Graph, into = new Set<string>()): Set<string> {
  for (const v of [...graph.inputs, ...graph.outputs, ...graph.valueInfo]) {
    into.add(v.name);
  }
  for (const k of graph.initializers.keys()) {
    into.add(k);
  }
  for (const node of graph.nodes) {
    if (node.name !== '') {
      into.add(node.name);
    }
    for (const n of [...node.inputs, ...node.outputs]) {
      if (n !== '') {
        into.add(n);
      }
    }
    for (const g of subgraphsOf(node)) {
      namesInGraph(g, into);
    }
  }
  return into;
}

/** A binary min-heap ordered by a numeric key. */
class MinHeap<T> {
  private readonly items: T[] = [];

  constructor(private readonly key: (item: T) => number) {}

  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.key(a[parent]!) <= this.key(a[i]!)) {
        break;
      }
      [a[parent], a[i]] = [a[i]!, a[parent]!];
      i = parent;
    }
  }

  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.key(a[l]!) < this.key(a[m]!)) {
          m = l;
        }
        if (r < a.length && this.key(a[r]!) < this.key(a[m]!)) {
          m = r;
        }
        if (m === i) {
          break;
        }
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}
