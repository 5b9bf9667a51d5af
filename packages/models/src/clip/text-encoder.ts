/**
 * @file CLIP text features: prompts → {@link ClipTokenizer} → the text tower (`input_ids → text_embeds`, the
 * Hugging Face / Optimum export names) → raw and normalised features, in batches.
 *
 * The ids are fed as the model declares them: int64 (the exports' type) or int32 (some converted models).
 * When the model also declares `attention_mask`, the tokenizer's mask is fed with it.
 */
import {
  createSession,
  type InferenceSession,
  releaseSession,
  runSession,
  type SessionConfig,
  Tensor,
} from '@synood/onnx';
import { concatRows, l2NormalizeRows, type Matrix } from '@synood/tensor';

import { ClipError, ClipErrorCode, requireClipArg } from './errors';
import {
  type ClipFeatures,
  type DeclaredTensor,
  embeddingsOf,
  requireDeclared,
  requireRank,
} from './session-io';
import type { ClipTokenizer, ClipTokens } from './tokenizer';

/** Options of {@link ClipTextEncoder.create}. */
export interface ClipTextEncoderOptions {
  /** onnxruntime device and threads. */
  session?: SessionConfig;
  /** @defaultValue `'input_ids'` */
  inputName?: string;
  /** Fed when the model declares it. @defaultValue `'attention_mask'` */
  maskName?: string;
  /** @defaultValue `'text_embeds'` */
  outputName?: string;
  /**
   * Pad each batch to the context length (`'context'`, what the reference does) or to its longest prompt
   * (`'longest'`: the same features from a causal text tower, several times fewer FLOPs on short prompts).
   * A model that fixes its sequence length always gets `'context'`. @defaultValue `'context'`
   */
  padTo?: 'context' | 'longest';
}

/** Options of {@link ClipTextEncoder.encodeTexts}. */
export interface EncodeTextsOptions {
  /** Prompts per model run. @defaultValue 64 */
  batchSize?: number;
  /** Called after each batch with the prompts done so far and the total. */
  onBatch?: (done: number, total: number) => void;
}

/** Features of every prompt, in input order. */
export interface ClipTextFeatures extends ClipFeatures {
  /** Prompts cut to fit the context length (their tail is not in the feature). */
  readonly truncated: readonly number[];
}

const ID_TYPES = ['int64', 'int32'] as const;

function describeModel(model: Uint8Array | string): string {
  return typeof model === 'string' ? `model ${model}` : `model (${model.byteLength} bytes)`;
}

function idTensor(type: string, values: BigInt64Array, dims: readonly number[]): Tensor {
  return type === 'int32'
    ? new Tensor('int32', Int32Array.from(values, Number), [...dims])
    : new Tensor('int64', values, [...dims]);
}

/** CLIP's text tower over an onnxruntime session; create with {@link ClipTextEncoder.create}. */
export class ClipTextEncoder {
  private session: InferenceSession | undefined;

  private constructor(
    session: InferenceSession,
    private readonly model: string,
    /** The tokenizer the prompts go through. */
    readonly tokenizer: ClipTokenizer,
    private readonly ids: DeclaredTensor,
    private readonly mask: DeclaredTensor | undefined,
    private readonly outputName: string,
    private readonly padTo: 'context' | 'longest',
  ) {
    this.session = session;
  }

  /**
   * Loads a text tower and checks its inputs and outputs against the tokenizer.
   *
   * @param model an `.onnx` path or the model's bytes.
   * @throws OnnxError from session creation; ClipError `MODELS_ERR_CLIP_MODEL_IO` when the model lacks an
   * int64/int32 rank-2 `input_ids` (or the named input) or `text_embeds`, or fixes a sequence length other
   * than the tokenizer's context length.
   */
  static async create(
    model: Uint8Array | string,
    tokenizer: ClipTokenizer,
    options: ClipTextEncoderOptions = {},
  ): Promise<ClipTextEncoder> {
    const session = await createSession(model, options.session);
    try {
      return ClipTextEncoder.fromSession(session, describeModel(model), tokenizer, options);
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
    tokenizer: ClipTokenizer,
    options: Omit<ClipTextEncoderOptions, 'session'> = {},
  ): ClipTextEncoder {
    const padTo = options.padTo ?? 'context';
    // Options often come from JSON configs, so the union type is checked at run time too.
    requireClipArg(
      (['context', 'longest'] as const).includes(padTo),
      `padTo must be 'context' or 'longest', got ${padTo as string}`,
    );
    const ids = requireDeclared(
      session,
      'input',
      options.inputName ?? 'input_ids',
      ID_TYPES,
      model,
      'inputName',
    );
    requireRank(ids, 2, model, '[N, sequence]');
    const maskName = options.maskName ?? 'attention_mask';
    const mask = session.inputMetadata.some((m) => m.name === maskName)
      ? requireDeclared(session, 'input', maskName, ID_TYPES, model, 'maskName')
      : undefined;
    const others = session.inputMetadata.map((m) => m.name).filter((n) => n !== ids.name && n !== mask?.name);
    if (others.length > 0) {
      throw new ClipError(
        ClipErrorCode.ModelIo,
        `${model} also needs ${others.join(', ')}, which a CLIP text tower does not take; ` +
          'export the text tower alone (input_ids → text_embeds)',
      );
    }
    const outputName = options.outputName ?? 'text_embeds';
    requireRank(
      requireDeclared(session, 'output', outputName, ['float32'], model, 'outputName'),
      2,
      model,
      '[N, d]',
    );
    const seq = ids.shape[1];
    if (typeof seq === 'number' && seq !== tokenizer.contextLength) {
      throw new ClipError(
        ClipErrorCode.ModelIo,
        `${model} takes ${seq} tokens per prompt but the tokenizer's context length is ${tokenizer.contextLength}; ` +
          `create the tokenizer with contextLength ${seq}`,
      );
    }
    return new ClipTextEncoder(
      session,
      model,
      tokenizer,
      ids,
      mask,
      outputName,
      typeof seq === 'number' ? 'context' : padTo,
    );
  }

  private live(): InferenceSession {
    if (this.session === undefined) {
      throw new ClipError(ClipErrorCode.Released, `the text encoder of ${this.model} was released`);
    }
    return this.session;
  }

  /**
   * Runs the tower on one tokenized batch.
   *
   * @returns the raw `text_embeds`, one row per prompt.
   * @throws ClipError `MODELS_ERR_CLIP_OUTPUT` for an output that is not `[N, d]` float32; OnnxError
   * `ONNX_ERR_RUN` when onnxruntime fails.
   */
  async encodeTokens(tokens: ClipTokens): Promise<Matrix> {
    const session = this.live();
    const dims = [tokens.count, tokens.length];
    const feeds: Record<string, Tensor> = { [this.ids.name]: idTensor(this.ids.type, tokens.ids, dims) };
    if (this.mask !== undefined) {
      feeds[this.mask.name] = idTensor(this.mask.type, tokens.attentionMask, dims);
    }
    const out = await runSession(session, feeds);
    return embeddingsOf(out[this.outputName], this.outputName, tokens.count, this.model);
  }

  /**
   * Tokenizes and embeds prompts in batches.
   *
   * @throws ClipError `MODELS_ERR_CLIP_ARGUMENT` for an empty list or bad options, those of
   * {@link ClipTokenizer.encode} and {@link encodeTokens}.
   */
  async encodeTexts(texts: readonly string[], options: EncodeTextsOptions = {}): Promise<ClipTextFeatures> {
    this.live();
    requireClipArg(texts.length > 0, 'encodeTexts needs at least one text');
    const batchSize = options.batchSize ?? 64;
    requireClipArg(
      Number.isSafeInteger(batchSize) && batchSize >= 1,
      `batchSize must be a positive integer, got ${batchSize}`,
    );
    const parts: Matrix[] = [];
    const truncated: number[] = [];
    for (let s = 0; s < texts.length; s += batchSize) {
      const tokens = this.tokenizer.encode(texts.slice(s, s + batchSize), { padTo: this.padTo });
      truncated.push(...tokens.truncated.map((i) => s + i));
      parts.push(await this.encodeTokens(tokens));
      options.onBatch?.(Math.min(s + batchSize, texts.length), texts.length);
    }
    const raw = concatRows(parts);
    return { raw, normalized: l2NormalizeRows(raw), truncated };
  }

  /** Releases the session's native memory; the encoder cannot be used afterwards. Safe to call twice. */
  async release(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    await releaseSession(session);
  }
}
