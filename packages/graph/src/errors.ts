/**
 * Stable error codes of the graph toolkit. Callers branch on `code`, never on message text: messages name
 * the node, value, file or argument at fault and say what was expected.
 */
export const GraphErrorCode = {
  /** The protobuf bytes are not a valid ONNX model, or a field holds an impossible value. */
  Model: 'GRAPH_ERR_MODEL',
  /** A tensor or value has an element type this toolkit does not represent (string, complex, float8). */
  UnsupportedDtype: 'GRAPH_ERR_UNSUPPORTED_DTYPE',
  /** An external-data file is missing, unreadable, outside the model folder, or too short. */
  ExternalData: 'GRAPH_ERR_EXTERNAL_DATA',
  /** Shape inference met an operator it has no rule for. */
  UnsupportedOp: 'GRAPH_ERR_UNSUPPORTED_OP',
  /** Input shapes of a node are incompatible (broadcasting, channel counts, ranks, axes). */
  Shape: 'GRAPH_ERR_SHAPE',
  /** Input element types of a node are incompatible. */
  Type: 'GRAPH_ERR_TYPE',
  /** A shape-determining input (a Reshape target, Slice bounds, …) is not a constant under the given shapes. */
  Dynamic: 'GRAPH_ERR_DYNAMIC',
  /** A graph input has no shape, or the given shape contradicts the declared one. */
  Input: 'GRAPH_ERR_INPUT',
  /** A value name is used before it is defined, defined twice, or collides with an existing name. */
  Name: 'GRAPH_ERR_NAME',
  /** An attribute is missing, of the wrong type, or out of range. */
  Attribute: 'GRAPH_ERR_ATTRIBUTE',
  /** Two models cannot be composed (unknown connection names, mismatched types or shapes, opsets). */
  Compose: 'GRAPH_ERR_COMPOSE',
  /** A function argument is out of range. */
  Argument: 'GRAPH_ERR_ARGUMENT',
} as const;

/** One of the {@link GraphErrorCode} values. */
export type GraphErrorCode = (typeof GraphErrorCode)[keyof typeof GraphErrorCode];

/** Error thrown by `@synood/graph`; `code` is stable, an underlying error (if any) is `cause`. */
export class GraphError extends Error {
  override readonly name: string = 'GraphError';

  constructor(
    readonly code: GraphErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
