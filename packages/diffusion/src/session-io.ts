/**
 * @file Reading a session's declared inputs and outputs, and moving float data in and out of tensors in
 * whatever float type the model declares (float32, or float16 for half-precision exports), so the
 * pipeline's math stays in float32 whatever the models run in.
 */
import { float16ToFloat32, float32ToFloat16 } from '@synood/graph';
import { type InferenceSession, Tensor } from '@synood/onnx';

import { DiffusionError, DiffusionErrorCode } from './errors';

/** A declared tensor input or output: name, element type and dims (strings are symbolic). */
export interface TensorMeta {
  readonly name: string;
  readonly type: string;
  readonly shape: readonly (number | string)[];
}

function tensorMeta(list: readonly InferenceSession.ValueMetadata[]): TensorMeta[] {
  return list.map((m) =>
    m.isTensor
      ? { name: m.name, type: m.type, shape: m.shape }
      : { name: m.name, type: 'non-tensor', shape: [] },
  );
}

/** The inputs a session declares. */
export function inputsOf(session: InferenceSession): TensorMeta[] {
  return tensorMeta(session.inputMetadata);
}

/** The outputs a session declares. */
export function outputsOf(session: InferenceSession): TensorMeta[] {
  return tensorMeta(session.outputMetadata);
}

function modelError(message: string): DiffusionError {
  return new DiffusionError(DiffusionErrorCode.Model, message);
}

/**
 * The declared input (or output) of a role's model with one of `names` (the first found), or the only one
 * when `names` is empty.
 *
 * @throws DiffusionError `DIFFUSION_ERR_MODEL` naming the role and listing what the model declares.
 */
export function pickMeta(
  list: readonly TensorMeta[],
  names: readonly string[],
  role: string,
  what: 'input' | 'output',
): TensorMeta {
  for (const name of names) {
    const found = list.find((m) => m.name === name);
    if (found !== undefined) {
      return found;
    }
  }
  if (names.length === 0 && list.length >= 1) {
    return list[0]!;
  }
  throw modelError(
    `${role} model has no ${what} named ${names.join(' or ')} (it declares: ` +
      `${list.map((m) => `${m.name} ${m.type}[${m.shape.join(', ')}]`).join('; ') || 'none'}); ` +
      `export the ${role} with the Hugging Face Optimum / diffusers ${what} names`,
  );
}

/** Float element types the pipeline can feed and read. */
const FLOAT_TYPES = ['float32', 'float16'] as const;

/**
 * Throws `DIFFUSION_ERR_MODEL` unless `meta` is a float32 or float16 tensor.
 */
export function requireFloat(meta: TensorMeta, role: string): void {
  if (!(FLOAT_TYPES as readonly string[]).includes(meta.type)) {
    throw modelError(
      `${role} ${meta.name} is ${meta.type}; the pipeline feeds and reads float32 or float16 tensors only`,
    );
  }
}

/** A tensor of `meta`'s float type (float32 or float16) holding `data`. */
export function floatTensor(meta: TensorMeta, data: Float32Array, dims: readonly number[]): Tensor {
  return meta.type === 'float16'
    ? new Tensor('float16', float32ToFloat16(data), dims)
    : new Tensor('float32', data, dims);
}

/**
 * A float output as float32 values, checked against the expected element count and for non-finite values.
 *
 * @throws DiffusionError `DIFFUSION_ERR_OUTPUT` for a missing, non-float, mis-sized or non-finite output.
 */
export function readFloat(
  results: InferenceSession.ReturnType,
  name: string,
  role: string,
  expected: readonly number[],
): Float32Array {
  const t = results[name];
  if (t === undefined) {
    throw new DiffusionError(DiffusionErrorCode.Output, `${role} returned no ${name}`);
  }
  const same = t.dims.length === expected.length && t.dims.every((d, i) => d === expected[i]);
  if (!same) {
    throw new DiffusionError(
      DiffusionErrorCode.Output,
      `${role} output ${name} has dims [${t.dims.join(', ')}], expected [${expected.join(', ')}]`,
    );
  }
  let data: Float32Array;
  if (t.type === 'float32') {
    data = t.data as Float32Array;
  } else if (t.type === 'float16') {
    // Raw half bits (Uint16Array) unless the runtime has Float16Array; tagged, not instanceof, for realms.
    const raw = t.data as unknown;
    data =
      Object.prototype.toString.call(raw) === '[object Uint16Array]'
        ? float16ToFloat32(raw as Uint16Array)
        : Float32Array.from(raw as ArrayLike<number>);
  } else {
    throw new DiffusionError(
      DiffusionErrorCode.Output,
      `${role} output ${name} is ${t.type}; float32 or float16 expected`,
    );
  }
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) {
      throw new DiffusionError(
        DiffusionErrorCode.Output,
        `${role} output ${name} holds a non-finite value at index ${i} (${data[i]}); with float16 models ` +
          'this usually means an overflow: run that model in float32',
      );
    }
  }
  return data;
}
