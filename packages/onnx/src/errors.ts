/**
 * Stable error codes of the onnxruntime adapter. Callers branch on `code`, never on message text: the
 * messages carry the diagnosis (what was expected, what was given, how to fix it) and may change.
 */
export const OnnxErrorCode = {
  /** A session config value is out of range (thread counts, device id, optimisation level). */
  Config: 'ONNX_ERR_CONFIG',
  /** CUDA was requested but its execution provider cannot be loaded; the message says how to install it. */
  CudaUnavailable: 'ONNX_ERR_CUDA_UNAVAILABLE',
  /** onnxruntime rejected the model while creating a session. */
  Session: 'ONNX_ERR_SESSION',
  /** Feeds do not match the model's declared inputs; every problem is listed at once. */
  Input: 'ONNX_ERR_INPUT',
  /** onnxruntime failed while running a session; the message describes the feeds (never their data). */
  Run: 'ONNX_ERR_RUN',
  /** A model spec cannot be encoded (bad attribute or initializer values). */
  Model: 'ONNX_ERR_MODEL',
  /** The object was used after `dispose()`. */
  Disposed: 'ONNX_ERR_DISPOSED',
} as const;

/** One of the {@link OnnxErrorCode} values. */
export type OnnxErrorCode = (typeof OnnxErrorCode)[keyof typeof OnnxErrorCode];

/** Error thrown by `@synood/onnx`; `code` is stable, the original onnxruntime error (if any) is `cause`. */
export class OnnxError extends Error {
  override readonly name: string = 'OnnxError';

  constructor(
    readonly code: OnnxErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Element type and dims of a tensor, as declared by a model or as fed by a caller. */
export interface TensorSignature {
  /** onnxruntime element type name, e.g. `float32`, `int64`. */
  readonly type: string;
  /** Dims; a string is a symbolic (free) dimension. Empty when the model does not declare a shape. */
  readonly dims: readonly (number | string)[];
}

/** What is wrong with one model input. */
export interface InputProblem {
  /** The model's input name. */
  readonly name: string;
  /** `missing`: no feed; `not-tensor`: the model input is a sequence or map; `dtype`/`rank`/`dim`: mismatch. */
  readonly kind: 'missing' | 'not-tensor' | 'dtype' | 'rank' | 'dim';
  /** The declared signature (absent for non-tensor inputs). */
  readonly expected?: TensorSignature;
  /** What was fed (absent when the input is missing). */
  readonly got?: TensorSignature;
}

/** `ONNX_ERR_INPUT` with the full list of problems, so one failed call shows everything to fix. */
export class OnnxInputError extends OnnxError {
  override readonly name: string = 'OnnxInputError';

  constructor(
    readonly problems: readonly InputProblem[],
    message: string,
  ) {
    super(OnnxErrorCode.Input, message);
  }
}
