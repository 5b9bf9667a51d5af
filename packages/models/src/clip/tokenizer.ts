/**
 * @file CLIP's text tokenizer over a Hugging Face `tokenizer.json` (byte-level BPE with a `</w>` end-of-word
 * suffix), run by `@huggingface/tokenizers`.
 *
 * What the original `clip.tokenize` does and how it maps here:
 * - Text cleanup `whitespace_clean(basic_clean(text)).lower()`: {@link cleanClipText} applies Unicode NFC
 *   (ftfy's normalisation step), collapses whitespace runs to one space, trims and lower-cases before the
 *   text reaches the tokenizer, so the result does not depend on the `tokenizer.json` normalizer (HF's CLIP
 *   normalizer does the same three steps, so with it the cleanup is idempotent). ftfy's mojibake repair and
 *   the double `html.unescape` are not reproduced, as in HF's fast CLIP tokenizer: `&amp;` stays literal.
 * - `[<|startoftext|>] + tokens + [<|endoftext|>]`, cut to 77 keeping the end token last (`truncate=True`).
 * - Padding: OpenAI's `clip.tokenize` pads with 0, HF's `CLIPTokenizer` with its pad token, which is
 *   `<|endoftext|>` (49407) for the OpenAI checkpoints. The pad id only matters to exports that locate the
 *   end token by `argmax(input_ids)`; the causal mask keeps padding from reaching the end token's feature.
 */
import { readFile } from 'node:fs/promises';

import * as hfTokenizers from '@huggingface/tokenizers';

import { ClipError, ClipErrorCode, requireClipArg } from './errors';

/** The part of `@huggingface/tokenizers`' `Tokenizer` used here. */
interface HfTokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): { ids: number[]; tokens: string[] };
  token_to_id(token: string): number | undefined;
}

// The package's .d.ts files import their siblings without file extensions, which `nodenext` resolution
// cannot follow for an ES-module package, so its types arrive unresolved; this restates the API used.
const { Tokenizer } = hfTokenizers as unknown as {
  Tokenizer: new (tokenizer: object, config: object) => HfTokenizer;
};

/** Tokens per prompt in every released CLIP text tower. */
export const CLIP_CONTEXT_LENGTH = 77;
/** CLIP's start-of-text token (id 49406 in the released vocabularies). */
export const CLIP_START_TOKEN = '<|startoftext|>';
/** CLIP's end-of-text token (id 49407); the text feature is read at its position. */
export const CLIP_END_TOKEN = '<|endoftext|>';

/**
 * CLIP's text cleanup: Unicode NFC, whitespace runs to one space, trimmed, lower-cased (see the file notes
 * for what of `basic_clean` is left out).
 */
export function cleanClipText(text: string): string {
  return text.normalize('NFC').replace(/\s+/gu, ' ').trim().toLowerCase();
}

/** Options of {@link ClipTokenizer}. */
export interface ClipTokenizerOptions {
  /** Tokens per row, start and end tokens included. @defaultValue 77 */
  contextLength?: number;
  /**
   * Id written after the end token. @defaultValue the `tokenizer.json` `padding.pad_id` when it sets one,
   * else the end token's id (HF `CLIPTokenizer`); use 0 for OpenAI's `clip.tokenize`.
   */
  padId?: number;
  /** @defaultValue {@link CLIP_START_TOKEN} */
  startToken?: string;
  /** @defaultValue {@link CLIP_END_TOKEN} */
  endToken?: string;
}

/** Options of {@link ClipTokenizer.encode}. */
export interface ClipEncodeOptions {
  /**
   * `'context'` pads every row to the context length (what the reference does); `'longest'` pads to the
   * longest row of the batch, which a model with a free sequence axis runs several times faster on short
   * prompts with identical features (the causal mask hides later positions from the end token).
   * @defaultValue `'context'`
   */
  padTo?: 'context' | 'longest';
}

/** A tokenized batch, row-major `[count, length]`. */
export interface ClipTokens {
  /** Number of texts (rows). */
  readonly count: number;
  /** Tokens per row (columns). */
  readonly length: number;
  /** Token ids, int64 as the HF/Optimum exports take them. */
  readonly ids: BigInt64Array;
  /** 1 up to and including the end token, 0 on padding. */
  readonly attentionMask: BigInt64Array;
  /** Per row: tokens up to and including the end token (its index + 1). */
  readonly lengths: Int32Array;
  /** Rows whose text was cut to fit the context length. */
  readonly truncated: readonly number[];
}

interface TokenizerJson {
  model?: { type?: unknown };
  padding?: { pad_id?: unknown } | null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** CLIP's BPE tokenizer: batches of texts to fixed-length int64 id rows with start and end tokens. */
export class ClipTokenizer {
  /** Tokens per row at `padTo: 'context'`. */
  readonly contextLength: number;
  /** Id of the start token. */
  readonly startId: number;
  /** Id of the end token. */
  readonly endId: number;
  /** Id written after the end token. */
  readonly padId: number;

  private constructor(
    private readonly tokenizer: HfTokenizer,
    private readonly source: string,
    ids: { contextLength: number; startId: number; endId: number; padId: number },
  ) {
    this.contextLength = ids.contextLength;
    this.startId = ids.startId;
    this.endId = ids.endId;
    this.padId = ids.padId;
  }

  /**
   * Reads a `tokenizer.json` file.
   *
   * @throws ClipError `MODELS_ERR_CLIP_TOKENIZER` naming the file when it is missing, not JSON or not a
   * CLIP-style tokenizer; `MODELS_ERR_CLIP_ARGUMENT` for bad options.
   */
  static async fromFile(file: string, options: ClipTokenizerOptions = {}): Promise<ClipTokenizer> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new ClipError(
        ClipErrorCode.Tokenizer,
        `cannot read tokenizer ${file}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new ClipError(ClipErrorCode.Tokenizer, `tokenizer ${file} is not valid JSON`, { cause: err });
    }
    return ClipTokenizer.fromJson(json, options, file);
  }

  /**
   * Builds a tokenizer from the parsed contents of a `tokenizer.json`.
   *
   * @param source names the tokenizer in error messages (its file).
   * @throws ClipError `MODELS_ERR_CLIP_TOKENIZER` when the JSON is not a BPE tokenizer with the start and
   * end tokens; `MODELS_ERR_CLIP_ARGUMENT` for bad options.
   */
  static fromJson(
    json: unknown,
    options: ClipTokenizerOptions = {},
    source = 'tokenizer.json',
  ): ClipTokenizer {
    const contextLength = options.contextLength ?? CLIP_CONTEXT_LENGTH;
    requireClipArg(
      Number.isSafeInteger(contextLength) && contextLength >= 2,
      `contextLength must be an integer ≥ 2 (room for the start and end tokens), got ${contextLength}`,
    );
    if (!isRecord(json)) {
      throw new ClipError(ClipErrorCode.Tokenizer, `tokenizer ${source} is not a JSON object`);
    }
    const spec = json as TokenizerJson;
    if (!isRecord(spec.model) || spec.model.type !== 'BPE') {
      throw new ClipError(
        ClipErrorCode.Tokenizer,
        `tokenizer ${source} has model type ${JSON.stringify(isRecord(spec.model) ? spec.model.type : undefined)}; ` +
          'CLIP needs a "BPE" model (the tokenizer.json of a Hugging Face CLIP checkpoint)',
      );
    }
    let tokenizer: HfTokenizer;
    try {
      tokenizer = new Tokenizer(json, {});
    } catch (err) {
      throw new ClipError(
        ClipErrorCode.Tokenizer,
        `tokenizer ${source} cannot be loaded: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    const idOf = (token: string, option: string): number => {
      const id = tokenizer.token_to_id(token);
      if (id === undefined) {
        throw new ClipError(
          ClipErrorCode.Tokenizer,
          `tokenizer ${source} has no token ${token}; set ${option} to the name of its ` +
            `${option === 'startToken' ? 'start' : 'end'}-of-text token`,
        );
      }
      return id;
    };
    const startId = idOf(options.startToken ?? CLIP_START_TOKEN, 'startToken');
    const endId = idOf(options.endToken ?? CLIP_END_TOKEN, 'endToken');
    const filePad = isRecord(spec.padding) ? spec.padding.pad_id : undefined;
    const padId = options.padId ?? (typeof filePad === 'number' ? filePad : endId);
    requireClipArg(
      Number.isSafeInteger(padId) && padId >= 0,
      `padId must be a non-negative integer, got ${padId}`,
    );
    return new ClipTokenizer(tokenizer, source, { contextLength, startId, endId, padId });
  }

  /**
   * The ids of a text's tokens after CLIP's cleanup, without start and end tokens and never truncated
   * (to check whether a prompt fits: it does when the count is ≤ `contextLength − 2`).
   *
   * @throws ClipError `MODELS_ERR_CLIP_TOKENIZER` when a piece is not in the vocabulary and the tokenizer
   * has no unknown token (a vocabulary without all 256 byte symbols).
   */
  contentIds(text: string): number[] {
    const encoded = this.tokenizer.encode(cleanClipText(text), { add_special_tokens: false });
    const ids = encoded.ids as (number | undefined)[];
    const bad = ids.findIndex((id) => id === undefined || !Number.isSafeInteger(id));
    if (bad >= 0) {
      throw new ClipError(
        ClipErrorCode.Tokenizer,
        `tokenizer ${this.source} has no id for piece ${JSON.stringify(encoded.tokens[bad])} of ` +
          `${JSON.stringify(text)} and no unknown token`,
      );
    }
    return ids as number[];
  }

  /**
   * Tokenizes a batch: per row the start token, the text's tokens (cut to `contextLength − 2`), the end
   * token, then the pad id.
   *
   * @throws ClipError `MODELS_ERR_CLIP_ARGUMENT` for an empty batch; see {@link contentIds}.
   */
  encode(texts: readonly string[], options: ClipEncodeOptions = {}): ClipTokens {
    requireClipArg(texts.length > 0, 'encode needs at least one text');
    const padTo = options.padTo ?? 'context';
    // Options often come from JSON configs, so the union type is checked at run time too.
    requireClipArg(
      (['context', 'longest'] as const).includes(padTo),
      `padTo must be 'context' or 'longest', got ${padTo as string}`,
    );
    const room = this.contextLength - 2;
    const truncated: number[] = [];
    const rows = texts.map((text, i) => {
      const ids = this.contentIds(text);
      if (ids.length > room) {
        truncated.push(i);
        return ids.slice(0, room);
      }
      return ids;
    });
    const length = padTo === 'context' ? this.contextLength : Math.max(...rows.map((r) => r.length)) + 2;
    const ids = new BigInt64Array(texts.length * length).fill(BigInt(this.padId));
    const attentionMask = new BigInt64Array(texts.length * length);
    const lengths = new Int32Array(texts.length);
    rows.forEach((row, r) => {
      const base = r * length;
      ids[base] = BigInt(this.startId);
      row.forEach((id, j) => {
        ids[base + 1 + j] = BigInt(id);
      });
      ids[base + 1 + row.length] = BigInt(this.endId);
      attentionMask.fill(1n, base, base + row.length + 2);
      lengths[r] = row.length + 2;
    });
    return { count: texts.length, length, ids, attentionMask, lengths, truncated };
  }
}
