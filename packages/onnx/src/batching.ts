/**
 * @file Running a model over more rows than it should see at once, and feeding float32 data to float16
 * models: the helpers every model adapter (CLIP, VAE, UNet, classifier) shares.
 */
import { type InferenceSession, Tensor } from 'onnxruntime-node';
import { OnnxError, OnnxErrorCode } from './errors';
import { runSession } from './session';

type TensorData = Tensor['data'];

/** Options of {@link runBatched}. */
export interface RunBatchedOptions {
  /** Rows (along axis 0) per run; the last run takes the remainder. */
  batchSize: number;
  /**
   * Feeds split along axis 0; the others are passed whole to every run (e.g. a shared prompt encoding).
   * @defaultValue every feed
   */
  split?: readonly string[];
  /** Checked between runs; an aborted signal stops before the next run with its reason. */
  signal?: AbortSignal;
  /** Called after each run with the rows done so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

type TypedArrayCtor = new (
  length: number,
) => TensorData & { set(a: ArrayLike<unknown>, offset?: number): void };

function sliceRows(t: Tensor, start: number, end: number): Tensor {
  const row = t.dims.slice(1).reduce((a, d) => a * d, 1);
  const data = (t.data as Float32Array).subarray(start * row, end * row);
  return new Tensor(t.type, data as TensorData, [end - start, ...t.dims.slice(1)]);
}

function concatRows(parts: readonly Tensor[], name: string): Tensor {
  const first = parts[0]!;
  if (parts.length === 1) {
    return first;
  }
  const tail = first.dims.slice(1);
  const rows = parts.reduce((s, p) => {
    if (
      p.type !== first.type ||
      p.dims.length !== first.dims.length ||
      p.dims.slice(1).some((d, i) => d !== tail[i])
    ) {
      throw new OnnxError(
        OnnxErrorCode.Run,
        `output ${name} changes type or trailing dims between batches (${first.type}[${first.dims.join(', ')}] vs ` +
          `${p.type}[${p.dims.join(', ')}]): it cannot be concatenated along axis 0`,
      );
    }
    return s + p.dims[0]!;
  }, 0);
  const Ctor = (first.data as unknown as { constructor: TypedArrayCtor }).constructor;
  const out = new Ctor(rows * tail.reduce((a, d) => a * d, 1));
  let offset = 0;
  for (const p of parts) {
    out.set(p.data as ArrayLike<unknown>, offset);
    offset += p.data.length;
  }
  return new Tensor(first.type, out, [rows, ...tail]);
}

/**
 * Runs `session` over feeds with more rows than one run should take: splits the `split` feeds along
 * axis 0 into runs of `batchSize` rows (sliced views, no copies), runs them in order and concatenates
 * every output along axis 0. Outputs must have the batch on axis 0.
 *
 * @throws OnnxError `ONNX_ERR_CONFIG` for a bad batch size or split feeds that disagree on their row
 * count, `ONNX_ERR_RUN` for failed runs or outputs that cannot be concatenated; the signal's reason
 * when aborted.
 */
export async function runBatched(
  session: InferenceSession,
  feeds: InferenceSession.FeedsType,
  options: RunBatchedOptions,
): Promise<Record<string, Tensor>> {
  const { batchSize } = options;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new OnnxError(OnnxErrorCode.Config, `batchSize must be a positive integer, got ${batchSize}`);
  }
  const split = options.split ?? Object.keys(feeds);
  let rows: number | undefined;
  for (const name of split) {
    const t = feeds[name];
    if (t === undefined) {
      throw new OnnxError(
        OnnxErrorCode.Config,
        `split names ${name}, which is not a feed (${Object.keys(feeds).join(', ')})`,
      );
    }
    const n = t.dims[0];
    if (n === undefined) {
      throw new OnnxError(OnnxErrorCode.Config, `feed ${name} is a scalar and cannot be split along axis 0`);
    }
    if (rows !== undefined && n !== rows) {
      throw new OnnxError(
        OnnxErrorCode.Config,
        `split feeds disagree on their rows: ${name} has ${n}, others ${rows}`,
      );
    }
    rows = n;
  }
  if (rows === undefined || rows === 0) {
    throw new OnnxError(
      OnnxErrorCode.Config,
      `nothing to run: the split feeds have no rows (${split.join(', ')})`,
    );
  }
  const total = rows;
  const parts = new Map<string, Tensor[]>();
  for (let start = 0; start < total; start += batchSize) {
    options.signal?.throwIfAborted();
    const end = Math.min(total, start + batchSize);
    const batch: Record<string, Tensor> = { ...feeds };
    for (const name of split) {
      batch[name] = sliceRows(feeds[name]!, start, end);
    }
    const out = await runSession(session, batch);
    for (const [name, t] of Object.entries(out)) {
      const list = parts.get(name) ?? [];
      list.push(t);
      parts.set(name, list);
    }
    options.onProgress?.(end, total);
  }
  const result: Record<string, Tensor> = {};
  for (const [name, list] of parts) {
    result[name] = concatRows(list, name);
  }
  return result;
}

// IEEE 754 binary16 conversion with round-to-nearest-even; ORT takes float16 data as Uint16Array bits.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function halfBits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) {
    return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  }
  const e = exp - 127 + 15;
  if (e >= 0x1f) {
    return sign | 0x7c00;
  }
  if (e <= 0) {
    if (e < -10) {
      return sign;
    }
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && (half & 1) === 1) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa rolls into the exponent, which is the correct rounding (up to infinity).
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1) ? 1 : 0));
}

function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) {
    return sign * mant * 2 ** -24;
  }
  if (exp === 0x1f) {
    return mant === 0 ? sign * Infinity : NaN;
  }
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** float32 values → float16 bits (round to nearest even, overflow to ±Infinity). */
export function toFloat16Bits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    out[i] = halfBits(values[i]!);
  }
  return out;
}

/** float16 bits → float32 values (exact). */
export function fromFloat16Bits(bits: ArrayLike<number>): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    out[i] = halfToNumber(bits[i]!);
  }
  return out;
}

/**
 * Feeds adapted to the model's declared float types: float32 feeds of float16 inputs are converted to
 * float16 (and float16 feeds of float32 inputs back), so callers keep float32 data whether the model
 * file is fp32 or fp16. Other feeds pass through unchanged.
 */
export function adaptFloatFeeds(
  session: Pick<InferenceSession, 'inputMetadata'>,
  feeds: InferenceSession.FeedsType,
): InferenceSession.FeedsType {
  const out: Record<string, Tensor> = { ...feeds };
  for (const meta of session.inputMetadata) {
    const t = feeds[meta.name];
    if (!meta.isTensor || t === undefined || t.type === meta.type) {
      continue;
    }
    if (meta.type === 'float16' && t.type === 'float32') {
      out[meta.name] = new Tensor('float16', toFloat16Bits(t.data as Float32Array), t.dims);
    } else if (meta.type === 'float32' && t.type === 'float16') {
      out[meta.name] = new Tensor('float32', fromFloat16Bits(t.data as Uint16Array), t.dims);
    }
  }
  return out;
}

/** A float16 output as float32 (other tensors are returned as they are). */
export function asFloat32(t: Tensor): Tensor {
  return t.type === 'float16' ? new Tensor('float32', fromFloat16Bits(t.data as Uint16Array), t.dims) : t;
}
