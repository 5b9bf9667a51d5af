/**
 * @file What a gradient rule sees of one forward node, and the emission helpers the rules share
 * (broadcast reduction, reshapes, scalar constants).
 */
import type { GraphBuilder } from '../../builder';
import { NodeContext, type ShapeInfo } from '../../context';
import { GraphErrorCode } from '../../errors';
import { type DType, type Node, type TensorData, makeTensor } from '../../ir';

/**
 * One forward node being differentiated: its static shapes (from `inferShapes`), the upstream gradients
 * of its outputs, and which inputs need a gradient.
 */
export class GradContext extends NodeContext {
  constructor(
    node: Node,
    inputs: readonly (ShapeInfo | undefined)[],
    values: readonly (TensorData | undefined)[],
    opset: number,
    /** Builder appending the backward nodes to the gradient graph. */
    readonly b: GraphBuilder,
    /** Upstream gradient of each output (undefined where none flows). */
    private readonly upstream: readonly (string | undefined)[],
    /** Whether each input is a float value on a path from `wrt` to the loss. */
    private readonly wanted: readonly boolean[],
    /** Shapes of the node's outputs. */
    readonly outputShapes: readonly (ShapeInfo | undefined)[],
    /** The forward graph's node producing each value (graph inputs and initializers have none). */
    private readonly producers: ReadonlyMap<string, { node: Node }> = new Map(),
  ) {
    super(node, inputs, values, opset);
  }

  /** The forward node that produces input `i`, or undefined for a graph input or initializer. */
  producer(i: number): Node | undefined {
    return this.producers.get(this.in(i))?.node;
  }

  /** Whether input `i` needs a gradient. */
  needs(i: number): boolean {
    return this.wanted[i] === true;
  }

  /** The upstream gradient of output `i`; a rule asks only for outputs it differentiates. */
  grad(i = 0): string {
    const g = this.upstream[i];
    if (g === undefined) {
      throw this.error(`has no gradient for output ${i}`, GraphErrorCode.UnsupportedOp);
    }
    return g;
  }

  /** The upstream gradient of output `i`, or undefined where none flows (multi-output ops). */
  maybeGrad(i: number): string | undefined {
    return this.upstream[i];
  }

  /** Name of input `i`. */
  in(i: number): string {
    return this.node.inputs[i]!;
  }

  /** Name of output `i`. */
  out(i = 0): string {
    return this.node.outputs[i]!;
  }

  /** Dims of input `i`. */
  dims(i: number): number[] {
    return this.input(i).dims;
  }

  /** Dims of output `i`. */
  outDims(i = 0): number[] {
    const s = this.outputShapes[i];
    if (s === undefined) {
      throw this.error(`output ${i} has no inferred shape`);
    }
    return s.dims;
  }

  /** Element type of input 0, the type every gradient of a float op carries. */
  get dtype(): DType {
    return this.input(0).dtype;
  }

  /** A rank-0 constant of the node's element type. */
  scalar(v: number, dtype: DType = this.dtype): string {
    return this.b.initializer(`${this.node.name || this.node.opType}_c`, makeTensor(dtype, [], [v]));
  }

  /** A constant tensor of the node's element type. */
  constant(dims: number[], values: ArrayLike<number>, dtype: DType = this.dtype): string {
    return this.b.initializer(
      `${this.node.name || this.node.opType}_t`,
      makeTensor(dtype, dims, Array.from(values)),
    );
  }

  /** A zero tensor of `dims` built at run time by ConstantOfShape, so large zeros cost no initializer. */
  zeros(dims: readonly number[], dtype: DType = this.dtype): string {
    return this.b.node('ConstantOfShape', [this.b.int64s(dims, 'shape')], {
      value: makeTensor(dtype, [1], [0]),
    });
  }

  /** `ReduceSum(v, axes, keepdims = 1)`, axes as an input (opset 13 on). */
  sumKeep(v: string, axes: readonly number[]): string {
    return this.b.node('ReduceSum', [v, this.b.int64s(axes, 'axes')], { keepdims: 1 });
  }

  /** `Reshape(v, dims)` with a constant target. */
  reshape(v: string, dims: readonly number[]): string {
    return this.b.node('Reshape', [v, this.b.int64s(dims, 'shape')]);
  }

  /** A unary or binary node of the default domain. */
  op(opType: string, ...inputs: string[]): string {
    return this.b.node(opType, inputs);
  }

  /**
   * The gradient of a broadcast operand: `g` (of dims `gDims`) summed over the axes `dims` was broadcast
   * along, then reshaped to `dims`.
   */
  unbroadcast(g: string, gDims: readonly number[], dims: readonly number[]): string {
    if (gDims.length === dims.length && gDims.every((d, i) => d === dims[i])) {
      return g;
    }
    const lead = gDims.length - dims.length;
    const axes: number[] = [];
    gDims.forEach((d, i) => {
      const own = i < lead ? undefined : dims[i - lead];
      if (own === undefined || (own === 1 && d !== 1)) {
        axes.push(i);
      }
    });
    const summed =
      axes.length === 0 ? g : this.b.node('ReduceSum', [g, this.b.int64s(axes, 'axes')], { keepdims: 1 });
    return this.reshape(summed, dims);
  }
}

/**
 * A gradient rule: emits the backward nodes of one forward node and returns the gradient of each input
 * (undefined for inputs that need none).
 */
export type GradRule = (ctx: GradContext) => (string | undefined)[];
