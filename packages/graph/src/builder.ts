/**
 * @file `GraphBuilder`: creates graphs, or appends nodes to an existing one, with names that cannot collide
 * with any name already in it. Autodiff and the fixture factories emit their nodes through it.
 */
import { GraphError, GraphErrorCode } from './errors';
import {
  type Attribute,
  type DType,
  type Graph,
  type Model,
  type Node,
  type TensorData,
  type ValueInfo,
  emptyGraph,
  makeTensor,
} from './ir';
import { namesInGraph } from './walk';

/** The opset generated models import unless told otherwise. */
export const DEFAULT_OPSET = 17;

/**
 * The ONNX IR version that goes with each default-domain opset (onnx's `VERSION_TABLE`): the lowest IR
 * version that can carry it, which every onnxruntime reading that opset also reads.
 */
export function irVersionForOpset(opset: number): number {
  if (opset <= 8) {
    return 3;
  }
  if (opset <= 10) {
    return 5;
  }
  if (opset <= 11) {
    return 6;
  }
  if (opset <= 14) {
    return 7;
  }
  if (opset <= 18) {
    return 8;
  }
  if (opset <= 20) {
    return 9;
  }
  return opset <= 22 ? 10 : 11;
}

/** Attribute helpers for when a plain value would be inferred as the wrong ONNX type. */
export const attr = {
  int: (value: number): Attribute => ({ type: 'int', value }),
  float: (value: number): Attribute => ({ type: 'float', value }),
  string: (value: string): Attribute => ({ type: 'string', value }),
  ints: (value: readonly number[]): Attribute => ({ type: 'ints', value: [...value] }),
  floats: (value: readonly number[]): Attribute => ({ type: 'floats', value: [...value] }),
  strings: (value: readonly string[]): Attribute => ({ type: 'strings', value: [...value] }),
  tensor: (value: TensorData): Attribute => ({ type: 'tensor', value }),
  graph: (value: Graph): Attribute => ({ type: 'graph', value }),
} as const;

/**
 * An attribute as the builder accepts it: an {@link Attribute}, or a plain value whose ONNX type is
 * inferred (see {@link toAttribute}).
 */
export type AttributeValue =
  Attribute | number | boolean | string | readonly number[] | readonly string[] | TensorData | Graph;

/**
 * Attribute names that are FLOAT (or FLOATS) in the standard operators, so that `{ alpha: 1 }` on Gemm or
 * `{ epsilon: 0 }` is not written as an INT, which onnxruntime rejects.
 */
const FLOAT_ATTRIBUTES = new Set([
  'alpha',
  'beta',
  'gamma',
  'epsilon',
  'momentum',
  'lambd',
  'bias',
  'cubic_coeff_a',
  'extrapolation_value',
  'spatial_scale',
  'ratio',
  'value_float',
  'value_floats',
  'min',
  'max',
  'scale',
  'scales',
  'threshold',
  'seed',
  'mean',
  'high',
  'low',
]);

const ATTRIBUTE_TYPES = new Set([
  'int',
  'float',
  'string',
  'ints',
  'floats',
  'strings',
  'tensor',
  'graph',
  'opaque',
]);

function isAttribute(v: object): v is Attribute {
  return 'type' in v && 'value' in v && typeof v.type === 'string' && ATTRIBUTE_TYPES.has(v.type);
}

function isTensor(v: object): v is TensorData {
  return 'dtype' in v && 'dims' in v && 'data' in v;
}

function isGraph(v: object): v is Graph {
  return 'nodes' in v && 'initializers' in v;
}

/**
 * Converts a plain value to an attribute: integers become INT unless the name is a known float attribute
 * (then FLOAT), non-integers FLOAT, booleans INT 0/1, strings STRING, number lists INTS or FLOATS by the
 * same rule (an empty list is INTS), string lists STRINGS, tensors TENSOR, graphs GRAPH.
 *
 * @throws GraphError `GRAPH_ERR_ATTRIBUTE` for mixed lists and unrecognised objects.
 */
export function toAttribute(name: string, v: AttributeValue): Attribute {
  const floatName = FLOAT_ATTRIBUTES.has(name);
  if (typeof v === 'number') {
    return floatName || !Number.isInteger(v) ? attr.float(v) : attr.int(v);
  }
  if (typeof v === 'boolean') {
    return attr.int(v ? 1 : 0);
  }
  if (typeof v === 'string') {
    return attr.string(v);
  }
  if (Array.isArray(v)) {
    const list = v as readonly unknown[];
    if (list.every((x) => typeof x === 'number')) {
      const nums = list as number[];
      return floatName || nums.some((x) => !Number.isInteger(x)) ? attr.floats(nums) : attr.ints(nums);
    }
    if (list.every((x) => typeof x === 'string')) {
      return attr.strings(list);
    }
    throw new GraphError(GraphErrorCode.Attribute, `attribute ${name} mixes numbers and strings`);
  }
  const obj = v as object;
  if (isAttribute(obj)) {
    return obj;
  }
  if (isTensor(obj)) {
    return attr.tensor(obj);
  }
  if (isGraph(obj)) {
    return attr.graph(obj);
  }
  throw new GraphError(
    GraphErrorCode.Attribute,
    `attribute ${name} is not a number, string, list, tensor or graph`,
  );
}

/** A node's attributes as the builder takes them; `undefined` entries are left out. */
export type NodeAttributes = Readonly<Record<string, AttributeValue | undefined>>;

/** Options of {@link GraphBuilder.node}. */
export interface NodeOptions {
  /** Base of the node's name (made unique). @defaultValue the op type */
  name?: string;
  /** Operator domain. @defaultValue `''` (ONNX) */
  domain?: string;
}

/** {@link NodeOptions} for operators with several outputs. */
export interface MultiOutputOptions extends NodeOptions {
  /** How many outputs to name, or their exact names (which must be unused). */
  outputs: number | readonly string[];
}

/** {@link NodeOptions} for one output, optionally with an exact name. */
export interface SingleOutputOptions extends NodeOptions {
  /** The output's exact name, which must be unused. @defaultValue a generated unique name */
  output?: string;
  outputs?: undefined;
}

/** Options of the {@link GraphBuilder} constructor. */
export interface GraphBuilderOptions {
  /** Default-domain opset of the graph being built; helpers emit the operator forms of this opset. @defaultValue 17 */
  opset?: number;
  /** Prefix of every generated name, e.g. `'grad/'`. @defaultValue `''` */
  prefix?: string;
  /** Names visible from an enclosing graph (for building subgraphs). @defaultValue none */
  outerScope?: Iterable<string>;
}

/**
 * Builds a graph node by node. Wrapping an existing graph appends to it in place; every generated node and
 * value name is unique across everything already in the graph (including its subgraphs).
 */
export class GraphBuilder {
  /** The graph being built (the one passed in, when appending). */
  readonly graph: Graph;
  /** Default-domain opset the emitted nodes target. */
  readonly opset: number;
  private readonly prefix: string;
  private readonly used: Set<string>;
  private readonly defined: Set<string>;
  private readonly counters = new Map<string, number>();

  constructor(graph: Graph | string = 'graph', options: GraphBuilderOptions = {}) {
    this.graph = typeof graph === 'string' ? emptyGraph(graph) : graph;
    this.opset = options.opset ?? DEFAULT_OPSET;
    if (!Number.isSafeInteger(this.opset) || this.opset < 1) {
      throw new GraphError(GraphErrorCode.Argument, `opset must be a positive integer, got ${this.opset}`);
    }
    this.prefix = options.prefix ?? '';
    this.used = namesInGraph(this.graph);
    this.defined = new Set([
      ...(options.outerScope ?? []),
      ...this.graph.inputs.map((v) => v.name),
      ...this.graph.initializers.keys(),
      ...this.graph.nodes.flatMap((n) => n.outputs),
    ]);
  }

  /** A builder appending to a model's graph, targeting the model's default-domain opset. */
  static forModel(model: Model, options: Omit<GraphBuilderOptions, 'opset'> = {}): GraphBuilder {
    const opset = model.opsetImports.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version;
    return new GraphBuilder(model.graph, { ...options, opset: opset ?? DEFAULT_OPSET });
  }

  /** Whether a value name is defined (input, initializer, node output or outer-scope name). */
  has(name: string): boolean {
    return this.defined.has(name);
  }

  /** A fresh name `<prefix><base>`, with `_<k>` appended when taken; it is reserved at once. */
  uniqueName(base: string): string {
    let name = `${this.prefix}${base}`;
    if (this.used.has(name)) {
      let k = this.counters.get(name) ?? 1;
      while (this.used.has(`${name}_${k}`)) {
        k++;
      }
      this.counters.set(name, k + 1);
      name = `${name}_${k}`;
    }
    this.used.add(name);
    return name;
  }

  private claim(name: string, what: string): string {
    if (this.used.has(name)) {
      throw new GraphError(
        GraphErrorCode.Name,
        `${what} ${name} is already used in graph ${this.graph.name}`,
      );
    }
    this.used.add(name);
    return name;
  }

  /**
   * Declares a graph input with an exact name.
   *
   * @throws GraphError `GRAPH_ERR_NAME` when the name is taken.
   */
  input(name: string, dtype: DType, dims: (number | string)[] | null): string {
    this.claim(name, 'input');
    this.graph.inputs.push({ name, dtype, dims: dims === null ? null : [...dims] });
    this.defined.add(name);
    return name;
  }

  /**
   * Marks an existing value as a graph output. To expose it under another name, emit an Identity with
   * `{ output: 'name' }` first.
   *
   * @throws GraphError `GRAPH_ERR_NAME` when the value is not defined or already an output.
   */
  output(name: string, dtype: DType, dims: (number | string)[] | null = null): string {
    this.requireDefined(name, `output ${name}`);
    if (this.graph.outputs.some((o) => o.name === name)) {
      throw new GraphError(GraphErrorCode.Name, `${name} is already an output of graph ${this.graph.name}`);
    }
    const info: ValueInfo = { name, dtype, dims: dims === null ? null : [...dims] };
    this.graph.outputs.push(info);
    return name;
  }

  /** Adds an initializer named `name` (made unique: `name_1`, … when taken) and returns its name. */
  initializer(name: string, tensor: TensorData): string {
    const unique = this.uniqueName(name);
    this.graph.initializers.set(unique, tensor);
    this.defined.add(unique);
    return unique;
  }

  /** Adds a `Constant` node holding `tensor` and returns its output. */
  constant(tensor: TensorData, options: SingleOutputOptions = {}): string {
    return this.node('Constant', [], { value: attr.tensor(tensor) }, options);
  }

  /** A 1-D int64 initializer (shapes, axes, pads, slice bounds). */
  int64s(values: readonly number[], name = 'const_i64'): string {
    return this.initializer(name, makeTensor('int64', [values.length], values));
  }

  /** A 1-D initializer of any dtype. */
  vector(values: readonly number[], dtype: DType = 'float32', name = 'const'): string {
    return this.initializer(name, makeTensor(dtype, [values.length], values));
  }

  /** A rank-0 initializer. @defaultValue dtype `'float32'` */
  scalar(value: number, dtype: DType = 'float32', name = 'scalar'): string {
    return this.initializer(name, makeTensor(dtype, [], [value]));
  }

  private requireDefined(name: string, what: string): void {
    if (!this.defined.has(name)) {
      throw new GraphError(
        GraphErrorCode.Name,
        `${what} refers to ${name}, which is not an input, initializer or node output of graph ${this.graph.name}`,
      );
    }
  }

  /**
   * Appends a node and returns its output name (or names, with `{ outputs: n | names }`). Inputs must be
   * defined already (`''` marks an absent optional input); attributes may be plain values
   * ({@link toAttribute}).
   *
   * @throws GraphError `GRAPH_ERR_NAME` for undefined inputs or taken output names,
   * `GRAPH_ERR_ATTRIBUTE` for attribute values of no ONNX type.
   */
  node(
    opType: string,
    inputs: readonly string[],
    attributes?: NodeAttributes,
    options?: SingleOutputOptions,
  ): string;
  node(
    opType: string,
    inputs: readonly string[],
    attributes: NodeAttributes | undefined,
    options: MultiOutputOptions,
  ): string[];
  node(
    opType: string,
    inputs: readonly string[],
    attributes: NodeAttributes = {},
    options: SingleOutputOptions | MultiOutputOptions = {},
  ): string | string[] {
    const nodeName = this.uniqueName(options.name ?? opType);
    for (const i of inputs) {
      if (i !== '') {
        this.requireDefined(i, `input of ${nodeName} (${opType})`);
      }
    }
    let outputs: string[];
    const spec = options.outputs;
    if (spec === undefined) {
      const exact = options.output;
      outputs = [exact === undefined ? this.uniqueName(`${nodeName}_output_0`) : this.claim(exact, 'output')];
    } else if (typeof spec === 'number') {
      if (!Number.isSafeInteger(spec) || spec < 1) {
        throw new GraphError(
          GraphErrorCode.Argument,
          `outputs of ${nodeName} must be a positive count, got ${spec}`,
        );
      }
      outputs = Array.from({ length: spec }, (_, i) => this.uniqueName(`${nodeName}_output_${i}`));
    } else {
      outputs = spec.map((o) => (o === '' ? '' : this.claim(o, 'output')));
    }
    const converted: Record<string, Attribute> = {};
    for (const [k, v] of Object.entries(attributes)) {
      // Undefined values leave the attribute out, so optional attributes can be passed through.
      if (v !== undefined) {
        converted[k] = toAttribute(k, v);
      }
    }
    const node: Node = {
      name: nodeName,
      opType,
      domain: options.domain ?? '',
      inputs: [...inputs],
      outputs,
      attributes: converted,
    };
    this.graph.nodes.push(node);
    for (const o of outputs) {
      if (o !== '') {
        this.defined.add(o);
      }
    }
    return spec === undefined ? outputs[0]! : outputs;
  }

  /**
   * A model around the graph: IR version {@link irVersionForOpset}, the default domain at `opset`, plus
   * `extraOpsets` for other domains.
   */
  toModel(opset: number = this.opset, extraOpsets: { domain: string; version: number }[] = []): Model {
    return {
      irVersion: irVersionForOpset(opset),
      opsetImports: [{ domain: '', version: opset }, ...extraOpsets],
      producerName: 'synood',
      graph: this.graph,
    };
  }
}
