/**
 * @file CLIP image features: files or encoded bytes → preprocessing (`@synood/vision`) → the vision tower
 * (`pixel_values → image_embeds`, the Hugging Face / Optimum export names) → raw and normalised features.
 *
 * Overlap: onnxruntime-node runs a session synchronously on the main thread, so nothing in JavaScript runs
 * while a batch is in the model. What can run meanwhile is libuv's thread pool, where file reads and
 * sharp's decoding happen. The next batch's reads and decodes are therefore started before the current
 * batch's run, with up to `decodeConcurrency` images in flight, so they progress during the run; the
 * resize, crop and normalisation (plain TypeScript, see `@synood/vision`) run on the main thread between
 * runs.
 */
import { readFile } from 'node:fs/promises';

import {
  createSession,
  type InferenceSession,
  releaseSession,
  runSession,
  type SessionConfig,
  Tensor,
} from '@synood/onnx';
import { concatRows, l2NormalizeRows, type Matrix } from '@synood/tensor';
import {
  CLIP_PRESET,
  type DecodeOptions,
  type EncodedImage,
  type NchwTensor,
  preprocessBatch,
  type PreprocessPreset,
  type ResizeKernel,
  type VisionError,
} from '@synood/vision';

import { ClipError, ClipErrorCode, requireClipArg } from './errors';
import {
  type ClipFeatures,
  type DeclaredTensor,
  embeddingsOf,
  requireDeclared,
  requireRank,
} from './session-io';

/** Where an image comes from: a file path, or bytes with a name for messages. */
export type ClipImageInput = string | EncodedImage;

/** Options of {@link ClipImageEncoder.create}. */
export interface ClipImageEncoderOptions {
  /** onnxruntime device and threads. */
  session?: SessionConfig;
  /**
   * Preprocessing. @defaultValue {@link CLIP_PRESET} (bicubic resize of the short side, centre crop, CLIP
   * mean/std), with its resize and crop set to the model's declared image size when the model fixes one
   */
  preset?: PreprocessPreset;
  /**
   * Resize kernel, replacing the preset's (NegLabel's evaluation transform is CLIP's with `'bilinear'`,
   * reference §9.3). @defaultValue the preset's
   */
  kernel?: ResizeKernel;
  /** Decoding options (alpha handling, EXIF orientation, failOn). */
  decode?: DecodeOptions;
  /** @defaultValue `'pixel_values'` */
  inputName?: string;
  /** @defaultValue `'image_embeds'` */
  outputName?: string;
}

/** Options of {@link ClipImageEncoder.encodeImages}. */
export interface EncodeImagesOptions {
  /** Images per model run. @defaultValue 32 */
  batchSize?: number;
  /**
   * Images of the next batch read and decoded at once. Each holds its full-size pixels until it is
   * resized. @defaultValue the batch size, at most 32
   */
  decodeConcurrency?: number;
  /** Called after each batch with the inputs done so far (failed ones included) and the total. */
  onBatch?: (done: number, total: number) => void;
}

/** An input that could not be embedded; the others are unaffected. */
export interface ClipImageFailure {
  /** Position in the input list. */
  readonly index: number;
  /** The file path or the given name. */
  readonly name: string;
  /** `MODELS_ERR_CLIP_IMAGE_READ` (file missing or unreadable) or `VISION_ERR_DECODE` (bytes undecodable). */
  readonly error: ClipError | VisionError;
}

/** Features of the inputs that could be embedded, in input order, and the failures. */
export interface ClipImageFeatures extends ClipFeatures {
  /** Input index of each feature row. */
  readonly indices: readonly number[];
  /** Name (path) of each feature row's input. */
  readonly names: readonly string[];
  /** Inputs that could not be read or decoded, in input order. */
  readonly failures: readonly ClipImageFailure[];
}

interface PreparedBatch {
  readonly pixels: NchwTensor;
  /** Input index of each tensor row. */
  readonly indices: readonly number[];
  readonly failures: readonly ClipImageFailure[];
}

function nameOf(input: ClipImageInput): string {
  return typeof input === 'string' ? input : input.name;
}

function describeModel(model: Uint8Array | string): string {
  return typeof model === 'string' ? `model ${model}` : `model (${model.byteLength} bytes)`;
}

/** CLIP's vision tower over an onnxruntime session; create with {@link ClipImageEncoder.create}. */
export class ClipImageEncoder {
  private session: InferenceSession | undefined;

  private constructor(
    session: InferenceSession,
    private readonly model: string,
    private readonly input: DeclaredTensor,
    private readonly outputName: string,
    /** The preprocessing applied to every image. */
    readonly preset: PreprocessPreset,
    private readonly decode: DecodeOptions,
  ) {
    this.session = session;
  }

  /**
   * Loads a vision tower and checks its inputs and outputs.
   *
   * @param model an `.onnx` path or the model's bytes.
   * @throws OnnxError from session creation; ClipError `MODELS_ERR_CLIP_MODEL_IO` when the model lacks a
   * float32 rank-4 `pixel_values` with 3 channels (or the named input), lacks `image_embeds`, or fixes an
   * image size other than the given preset's crop.
   */
  static async create(
    model: Uint8Array | string,
    options: ClipImageEncoderOptions = {},
  ): Promise<ClipImageEncoder> {
    const session = await createSession(model, options.session);
    try {
      return ClipImageEncoder.fromSession(session, describeModel(model), options);
    } catch (err) {
      await releaseSession(session);
      throw err;
    }
  }

  /**
   * Wraps an open session (which the encoder then owns and releases).
   *
   * @param model names the model in messages.
   * @throws ClipError as {@link create}.
   */
  static fromSession(
    session: InferenceSession,
    model: string,
    options: Omit<ClipImageEncoderOptions, 'session'> = {},
  ): ClipImageEncoder {
    const input = requireDeclared(
      session,
      'input',
      options.inputName ?? 'pixel_values',
      ['float32'],
      model,
      'inputName',
    );
    requireRank(input, 4, model, 'NCHW pixels');
    const outputName = options.outputName ?? 'image_embeds';
    requireRank(
      requireDeclared(session, 'output', outputName, ['float32'], model, 'outputName'),
      2,
      model,
      '[N, d]',
    );
    const [, channels, height, width] = input.shape;
    if (typeof channels === 'number' && channels !== 3) {
      throw new ClipError(
        ClipErrorCode.ModelIo,
        `${model} ${input.name} has ${channels} channels, expected 3 (RGB)`,
      );
    }
    const fixed = typeof height === 'number' && typeof width === 'number' ? height : undefined;
    if (typeof height === 'number' && typeof width === 'number' && height !== width) {
      throw new ClipError(
        ClipErrorCode.ModelIo,
        `${model} ${input.name} is ${height}×${width}; CLIP preprocessing gives square crops`,
      );
    }
    let preset = options.preset;
    if (preset === undefined) {
      preset =
        fixed === undefined || fixed === CLIP_PRESET.cropSize
          ? CLIP_PRESET
          : { ...CLIP_PRESET, name: `clip-${fixed}`, resizeShortSide: fixed, cropSize: fixed };
    } else if (fixed !== undefined && preset.cropSize !== fixed) {
      throw new ClipError(
        ClipErrorCode.ModelIo,
        `${model} takes ${fixed}×${fixed} images but preset ${preset.name} crops ${preset.cropSize}×${preset.cropSize}; ` +
          `set the preset's cropSize (and resizeShortSide) to ${fixed}`,
      );
    }
    if (options.kernel !== undefined) {
      preset = { ...preset, kernel: options.kernel };
    }
    return new ClipImageEncoder(session, model, input, outputName, preset, options.decode ?? {});
  }

  private live(): InferenceSession {
    if (this.session === undefined) {
      throw new ClipError(ClipErrorCode.Released, `the image encoder of ${this.model} was released`);
    }
    return this.session;
  }

  /**
   * Runs the tower on preprocessed pixels (`[N, 3, S, S]`, e.g. from `preprocessBatch`) in one call.
   *
   * @returns the raw `image_embeds`, one row per image.
   * @throws ClipError `MODELS_ERR_CLIP_OUTPUT` for an output that is not `[N, d]` float32; OnnxError
   * `ONNX_ERR_RUN` when onnxruntime fails.
   */
  async encodePixels(pixels: NchwTensor): Promise<Matrix> {
    const session = this.live();
    const n = pixels.dims[0];
    const feeds = { [this.input.name]: new Tensor('float32', pixels.data, [...pixels.dims]) };
    const out = await runSession(session, feeds);
    return embeddingsOf(out[this.outputName], this.outputName, n, this.model);
  }

  private async prepare(
    inputs: readonly ClipImageInput[],
    offset: number,
    concurrency: number,
  ): Promise<PreparedBatch> {
    const failures: ClipImageFailure[] = [];
    const encoded: EncodedImage[] = [];
    const positions: number[] = [];
    await Promise.all(
      inputs.map(async (input, i) => {
        if (typeof input !== 'string') {
          encoded[i] = input;
          return;
        }
        try {
          encoded[i] = { bytes: await readFile(input), name: input };
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          failures.push({
            index: offset + i,
            name: input,
            error: new ClipError(ClipErrorCode.ImageRead, `cannot read image ${input}: ${reason}`, {
              cause: err,
            }),
          });
        }
      }),
    );
    const readable: EncodedImage[] = [];
    encoded.forEach((e, i) => {
      readable.push(e);
      positions.push(offset + i);
    });
    const batch = await preprocessBatch(readable, this.preset, { ...this.decode, concurrency });
    for (const f of batch.failures) {
      failures.push({ index: positions[f.index]!, name: f.name, error: f.error });
    }
    failures.sort((a, b) => a.index - b.index);
    return { pixels: batch, indices: batch.indices.map((i) => positions[i]!), failures };
  }

  /**
   * Embeds images in batches, decoding the next batch while the current one runs (see the file notes).
   * An image that cannot be read or decoded is listed in `failures` and skipped; it never fails the call.
   *
   * @throws ClipError `MODELS_ERR_CLIP_ARGUMENT` for bad options, `MODELS_ERR_CLIP_OUTPUT` for a malformed
   * model output; OnnxError `ONNX_ERR_RUN` when onnxruntime fails.
   */
  async encodeImages(
    inputs: readonly ClipImageInput[],
    options: EncodeImagesOptions = {},
  ): Promise<ClipImageFeatures> {
    this.live();
    const batchSize = options.batchSize ?? 32;
    requireClipArg(
      Number.isSafeInteger(batchSize) && batchSize >= 1,
      `batchSize must be a positive integer, got ${batchSize}`,
    );
    const concurrency = options.decodeConcurrency ?? Math.min(batchSize, 32);
    requireClipArg(
      Number.isSafeInteger(concurrency) && concurrency >= 1,
      `decodeConcurrency must be a positive integer, got ${concurrency}`,
    );
    const starts: number[] = [];
    for (let s = 0; s < inputs.length; s += batchSize) {
      starts.push(s);
    }
    const prepareAt = (k: number): Promise<PreparedBatch> => {
      const start = starts[k]!;
      return this.prepare(inputs.slice(start, start + batchSize), start, concurrency);
    };
    const parts: Matrix[] = [];
    const indices: number[] = [];
    const failures: ClipImageFailure[] = [];
    let next = starts.length > 0 ? prepareAt(0) : undefined;
    for (let k = 0; k < starts.length; k++) {
      const current = await next!;
      // Started before this batch's run so that its reads and decodes use the thread pool meanwhile.
      next = k + 1 < starts.length ? prepareAt(k + 1) : undefined;
      try {
        failures.push(...current.failures);
        if (current.indices.length > 0) {
          parts.push(await this.encodePixels(current.pixels));
          indices.push(...current.indices);
        }
      } catch (err) {
        // Do not leave the prefetched batch's promise unobserved when this run fails.
        next?.catch(() => undefined);
        throw err;
      }
      options.onBatch?.(Math.min(starts[k]! + batchSize, inputs.length), inputs.length);
    }
    const raw = parts.length > 0 ? concatRows(parts) : { rows: 0, cols: 0, data: new Float32Array(0) };
    return {
      raw,
      normalized: l2NormalizeRows(raw),
      indices,
      names: indices.map((i) => nameOf(inputs[i]!)),
      failures,
    };
  }

  /** Releases the session's native memory; the encoder cannot be used afterwards. Safe to call twice. */
  async release(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    await releaseSession(session);
  }
}
