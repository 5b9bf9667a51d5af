/**
 * @file Checks of a CLIP tower's declared inputs and outputs, shared by the image and text encoders, so that
 * a wrong model file fails at load time with a message listing what the model has.
 */
import type { InferenceSession, Tensor } from '@synood/onnx';
import type { Matrix } from '@synood/tensor';

import { ClipError, ClipErrorCode } from './errors';

/** A tensor input or output as the model declares it. */
export interface DeclaredTensor {
  readonly name: string;
  /** onnxruntime element type, e.g. `float32`, `int64`. */
  readonly type: string;
  /** Declared dims; a string is a free (symbolic) axis; empty when the model declares no shape. */
  readonly shape: readonly (number | string)[];
}

/** Raw and L2-normalised features of one encoder call, row i belonging to the i-th encoded item. */
export interface ClipFeatures {
  /** The tower's output (`image_embeds` / `text_embeds`) as it comes: what the reference's trainers take. */
  readonly raw: Matrix;
  /** `raw` with every row divided by its L2 norm: what scoring and mining use. */
  readonly normalized: Matrix;
}

function formatValue(meta: InferenceSession.ValueMetadata): string {
  return meta.isTensor
    ? `${meta.name} ${meta.type}[${meta.shape.join(', ')}]`
    : `${meta.name} (not a tensor)`;
}

/** `inputs: a float32[n, 3]; outputs: b float32[n, 8]`, for error messages. */
export function describeSessionIo(
  session: Pick<InferenceSession, 'inputMetadata' | 'outputMetadata'>,
): string {
  return (
    `inputs: ${session.inputMetadata.map(formatValue).join(', ') || 'none'}; ` +
    `outputs: ${session.outputMetadata.map(formatValue).join(', ') || 'none'}`
  );
}

/**
 * The declared tensor `name` among the session's inputs or outputs, with one of the `types`.
 *
 * @param model names the model in the message (its file, or "model bytes").
 * @param option the encoder option that renames this value, quoted in the message.
 * @throws ClipError `MODELS_ERR_CLIP_MODEL_IO` listing the model's inputs and outputs when the value is
 * absent, not a tensor or of another element type.
 */
export function requireDeclared(
  session: Pick<InferenceSession, 'inputMetadata' | 'outputMetadata'>,
  kind: 'input' | 'output',
  name: string,
  types: readonly string[],
  model: string,
  option: string,
): DeclaredTensor {
  const list = kind === 'input' ? session.inputMetadata : session.outputMetadata;
  const meta = list.find((m) => m.name === name);
  if (meta === undefined) {
    throw new ClipError(
      ClipErrorCode.ModelIo,
      `${model} has no ${kind} ${name} (${describeSessionIo(session)}); ` +
        `pass the right model or set ${option} to the model's name for it`,
    );
  }
  if (!meta.isTensor || !types.includes(meta.type)) {
    throw new ClipError(
      ClipErrorCode.ModelIo,
      `${model} ${kind} ${name} is ${meta.isTensor ? meta.type : 'not a tensor'}, expected ${types.join(' or ')} ` +
        `(${describeSessionIo(session)})`,
    );
  }
  return { name, type: meta.type, shape: meta.shape };
}

/**
 * Checks the declared rank of a tensor (when the model declares a shape) and returns its shape.
 *
 * @throws ClipError `MODELS_ERR_CLIP_MODEL_IO` for another rank.
 */
export function requireRank(value: DeclaredTensor, rank: number, model: string, what: string): void {
  if (value.shape.length !== 0 && value.shape.length !== rank) {
    throw new ClipError(
      ClipErrorCode.ModelIo,
      `${model} ${value.name} is declared [${value.shape.join(', ')}], expected rank ${rank} (${what})`,
    );
  }
}

/**
 * An output tensor as a `rows × d` float32 matrix (copied out of onnxruntime's buffer).
 *
 * @throws ClipError `MODELS_ERR_CLIP_OUTPUT` when the tensor is not float32 `[rows, d]`.
 */
export function embeddingsOf(tensor: Tensor | undefined, name: string, rows: number, model: string): Matrix {
  if (tensor === undefined) {
    throw new ClipError(ClipErrorCode.Output, `${model} returned no ${name}`);
  }
  const dims = tensor.dims;
  if (tensor.type !== 'float32' || dims.length !== 2 || dims[0] !== rows) {
    throw new ClipError(
      ClipErrorCode.Output,
      `${model} returned ${name} as ${tensor.type}[${dims.join(', ')}], expected float32[${rows}, d] ` +
        '(one embedding per input)',
    );
  }
  const data = new Float32Array(tensor.data as Float32Array);
  return { rows, cols: dims[1]!, data };
}
