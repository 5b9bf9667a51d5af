/**
 * @file The per-node view that shape rules and folding kernels read: input shapes, known constant values,
 * attributes with defaults, and errors that name the node.
 */
import { GraphError, GraphErrorCode } from './errors';
import { type Attribute, type DType, type Node, type TensorData, describeNode, tensorToNumbers } from './ir';

/** Element type and concrete dims of a value. */
export interface ShapeInfo {
  dtype: DType;
  dims: number[];
}

/** What a shape rule or kernel knows about one node. */
export class NodeContext {
  constructor(
    readonly node: Node,
    /** Shape of each input; undefined for absent optional inputs (`''`). */
    readonly inputs: readonly (ShapeInfo | undefined)[],
    /** Constant value of each input, where known. */
    readonly values: readonly (TensorData | undefined)[],
    /** Default-domain opset of the model. */
    readonly opset: number,
  ) {}

  /** An error of `code` whose message starts with the node's name and op type. */
  error(message: string, code: GraphErrorCode = GraphErrorCode.Shape): GraphError {
    return new GraphError(code, `${describeNode(this.node)}: ${message}`);
  }

  /** Whether input `i` is present (not `''` and not beyond the input list). */
  has(i: number): boolean {
    return this.inputs[i] !== undefined;
  }

  /** Shape of a required input. */
  input(i: number): ShapeInfo {
    const info = this.inputs[i];
    if (info === undefined) {
      throw this.error(`input ${i} is required`);
    }
    return info;
  }

  /** Constant value of a required input. */
  value(i: number, what: string): TensorData {
    this.input(i);
    const v = this.values[i];
    if (v === undefined) {
      throw this.error(
        `${what} (input ${i}, ${this.node.inputs[i] ?? ''}) is not a constant under the given input shapes`,
        GraphErrorCode.Dynamic,
      );
    }
    return v;
  }

  /** A constant input as numbers (int64 converted exactly up to 2^53, beyond that approximately). */
  numbers(i: number, what: string): number[] {
    return tensorToNumbers(this.value(i, what));
  }

  /** Number of declared outputs, counting trailing `''`. */
  get outputCount(): number {
    return this.node.outputs.length;
  }

  /** The attribute `name`, of any type, or undefined. */
  attribute(name: string): Attribute | undefined {
    return this.node.attributes[name];
  }

  private typed<T extends Attribute['type']>(
    name: string,
    type: T,
  ): Extract<Attribute, { type: T }> | undefined {
    const a = this.node.attributes[name];
    if (a === undefined) {
      return undefined;
    }
    if (a.type !== type) {
      throw this.error(`attribute ${name} should be ${type}, is ${a.type}`, GraphErrorCode.Attribute);
    }
    return a as Extract<Attribute, { type: T }>;
  }

  /** An INT attribute, or `fallback` when absent. Each typed getter throws `GRAPH_ERR_ATTRIBUTE` on a type mismatch. */
  int(name: string, fallback: number): number {
    return this.typed(name, 'int')?.value ?? fallback;
  }

  /** A FLOAT attribute, or `fallback` when absent. */
  float(name: string, fallback: number): number {
    return this.typed(name, 'float')?.value ?? fallback;
  }

  /** A STRING attribute, or `fallback` when absent. */
  string(name: string, fallback: string): string {
    return this.typed(name, 'string')?.value ?? fallback;
  }

  /** An INTS attribute, or undefined when absent. */
  ints(name: string): number[] | undefined {
    return this.typed(name, 'ints')?.value;
  }

  /** A FLOATS attribute, or undefined when absent. */
  floats(name: string): number[] | undefined {
    return this.typed(name, 'floats')?.value;
  }

  /** A TENSOR attribute, or undefined when absent. */
  tensor(name: string): TensorData | undefined {
    return this.typed(name, 'tensor')?.value;
  }

  /** Normalises an axis in [−rank, rank − 1] (or up to `rank` when `inclusive`). */
  axis(axis: number, rank: number, what = 'axis', inclusive = false): number {
    const hi = inclusive ? rank : rank - 1;
    if (!Number.isInteger(axis) || axis < -rank || axis > hi) {
      throw this.error(`${what} ${axis} is outside [${-rank}, ${hi}] for rank ${rank}`);
    }
    return axis < 0 ? axis + rank : axis;
  }
}
