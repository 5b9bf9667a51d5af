/**
 * @file The `clip-tags` backend: zero-shot tagging with the CLIP towers the pipeline already has (no
 * extra model; the offline default). Every vocabulary noun is embedded once as a prompt (`a photo of a
 * {}.`), each image is embedded, and the nouns with the highest cosine similarity become its elements,
 * skipping the class name and its synonyms. The backend depends only on the two embedding interfaces
 * below; {@link clipTextEmbedder} and {@link clipImageEmbedder} adapt `ClipTextEncoder` /
 * `ClipImageEncoder` of `@synood/models`.
 */
import { createHash } from 'node:crypto';

import type {
  ClipImageEncoder,
  ClipTextEncoder,
  EncodeImagesOptions,
  EncodeTextsOptions,
} from '@synood/models';
import { l2NormalizeRows, type Matrix } from '@synood/tensor';

import {
  type BackendRecord,
  type CaptionBackend,
  type CaptionItem,
  type ScoredTag,
  throwIfAborted,
} from '../backend';
import { CaptionError, CaptionErrorCode, failureOf, requireArg } from '../errors';
import { matchesClassName } from '../nouns';

/** Text features of prompts, one row per prompt, in order (raw or normalised: rows are normalised here). */
export interface TextEmbedder {
  embedTexts(texts: readonly string[]): Promise<Matrix>;
}

/** An image for an {@link ImageEmbedder}: a file path, or encoded bytes with a name for messages. */
export type TagImageInput = string | { readonly name: string; readonly bytes: Buffer | Uint8Array };

/** Image features of the inputs that could be embedded, and the coded failures of the others. */
export interface ImageEmbeddings {
  /** One row per embedded input. */
  readonly features: Matrix;
  /** Input index of each row. */
  readonly indices: readonly number[];
  readonly failures: readonly { readonly index: number; readonly code: string; readonly message: string }[];
}

/** Image features of a batch; an unreadable image is a failure, not an exception. */
export interface ImageEmbedder {
  embedImages(images: readonly TagImageInput[]): Promise<ImageEmbeddings>;
}

/** A {@link TextEmbedder} over `ClipTextEncoder.encodeTexts`. */
export function clipTextEmbedder(
  encoder: Pick<ClipTextEncoder, 'encodeTexts'>,
  options: EncodeTextsOptions = {},
): TextEmbedder {
  return { embedTexts: async (texts) => (await encoder.encodeTexts(texts, options)).normalized };
}

/** An {@link ImageEmbedder} over `ClipImageEncoder.encodeImages`. */
export function clipImageEmbedder(
  encoder: Pick<ClipImageEncoder, 'encodeImages'>,
  options: EncodeImagesOptions = {},
): ImageEmbedder {
  return {
    embedImages: async (images) => {
      const out = await encoder.encodeImages(images, options);
      return {
        features: out.normalized,
        indices: out.indices,
        failures: out.failures.map((f) => ({ index: f.index, code: f.error.code, message: f.error.message })),
      };
    },
  };
}

/** A store for the vocabulary's text features, so that they are computed once per model and vocabulary. */
export interface TextFeatureCache {
  get(key: string): Promise<Matrix | undefined>;
  set(key: string, features: Matrix): Promise<void>;
}

/** Default prompt template of the vocabulary (CLIP's zero-shot template). */
export const DEFAULT_TAG_TEMPLATE = 'a photo of a {}.';

/** Options of {@link ClipTagsBackend}. */
export interface ClipTagsOptions {
  texts: TextEmbedder;
  images: ImageEmbedder;
  /** Candidate tags (e.g. `wordnetTagVocabulary`). */
  vocabulary: readonly string[];
  /** Prompt per tag, `{}` replaced by the tag. @defaultValue {@link DEFAULT_TAG_TEMPLATE} */
  template?: string;
  /** Tags kept per image at most. @defaultValue 8 */
  topK?: number;
  /** Cosine similarity a tag needs. @defaultValue 0.2 */
  minScore?: number;
  /**
   * Tags kept per image even below `minScore` (the best ones), so that every image gets a prompt.
   * @defaultValue 1
   */
  minTags?: number;
  /** The CLIP model's name, recorded with every caption. @defaultValue `'clip'` */
  model?: string;
  /** Persistent store of the text features; they are always kept in memory once computed. */
  cache?: TextFeatureCache;
}

/** The `clip-tags` backend; see the file notes. */
export class ClipTagsBackend implements CaptionBackend {
  readonly name = 'clip-tags';
  readonly model: string;
  readonly state = 'closed' as const;
  private readonly vocabulary: readonly string[];
  private readonly template: string;
  private readonly topK: number;
  private readonly minScore: number;
  private readonly minTags: number;
  private textFeatures: Promise<Matrix> | undefined;

  /** @throws CaptionError `CAPTION_ERR_BAD_ARGUMENT` for an empty vocabulary or out-of-range option. */
  constructor(private readonly options: ClipTagsOptions) {
    this.vocabulary = options.vocabulary;
    requireArg(this.vocabulary.length > 0, 'the tag vocabulary is empty');
    this.template = options.template ?? DEFAULT_TAG_TEMPLATE;
    requireArg(
      this.template.includes('{}'),
      `template ${JSON.stringify(this.template)} has no {} placeholder`,
    );
    this.topK = options.topK ?? 8;
    this.minTags = options.minTags ?? 1;
    this.minScore = options.minScore ?? 0.2;
    requireArg(
      Number.isSafeInteger(this.topK) && this.topK >= 1,
      `topK must be a positive integer, got ${this.topK}`,
    );
    requireArg(
      Number.isSafeInteger(this.minTags) && this.minTags >= 0 && this.minTags <= this.topK,
      `minTags must be an integer in [0, topK], got ${this.minTags}`,
    );
    requireArg(Number.isFinite(this.minScore), `minScore must be a number, got ${this.minScore}`);
    this.model = options.model ?? 'clip';
  }

  /** The cache key of the text features: model, template and vocabulary. */
  get featureKey(): string {
    const h = createHash('sha256');
    h.update(`${this.model}\n${this.template}\n`);
    for (const word of this.vocabulary) {
      h.update(`${word}\n`);
    }
    return `clip-tags-${h.digest('hex').slice(0, 32)}`;
  }

  /** The vocabulary's L2-normalised text features, computed (or read from the cache) once. */
  features(): Promise<Matrix> {
    this.textFeatures ??= this.loadFeatures().catch((err: unknown) => {
      // A failed computation must not be cached: the next call tries again.
      this.textFeatures = undefined;
      throw err;
    });
    return this.textFeatures;
  }

  private async loadFeatures(): Promise<Matrix> {
    const key = this.featureKey;
    const cached = await this.options.cache?.get(key);
    if (cached?.rows === this.vocabulary.length) {
      return l2NormalizeRows(cached);
    }
    const prompts = this.vocabulary.map((w) => this.template.replaceAll('{}', w));
    const raw = await this.options.texts.embedTexts(prompts);
    if (raw.rows !== prompts.length) {
      throw new CaptionError(
        CaptionErrorCode.BadArgument,
        `the text embedder returned ${raw.rows} rows for ${prompts.length} prompts`,
      );
    }
    const normalized = l2NormalizeRows(raw);
    await this.options.cache?.set(key, normalized);
    return normalized;
  }

  /** Tags each image; an image that cannot be read or decoded gets a per-image error. */
  async caption(items: readonly CaptionItem[], signal?: AbortSignal): Promise<BackendRecord[]> {
    throwIfAborted(signal, 'tagging');
    if (items.length === 0) {
      return [];
    }
    const text = await this.features();
    throwIfAborted(signal, 'tagging');
    const started = performance.now();
    const inputs: TagImageInput[] = items.map((item) =>
      typeof item.image === 'string' ? item.image : { name: item.id, bytes: item.image },
    );
    const embedded = await this.options.images.embedImages(inputs);
    const image = l2NormalizeRows(embedded.features);
    if (image.rows > 0 && image.cols !== text.cols) {
      throw new CaptionError(
        CaptionErrorCode.BadArgument,
        `image features have ${image.cols} dims but text features ${text.cols}: the towers are not one CLIP model`,
      );
    }
    const perImageMs = (performance.now() - started) / items.length;
    const rowOf = new Map<number, number>(embedded.indices.map((index, r) => [index, r]));
    const failures = new Map(embedded.failures.map((f) => [f.index, f]));
    const excludedByClass = new Map<string, Map<number, boolean>>();
    return items.map((item, i): BackendRecord => {
      const r = rowOf.get(i);
      if (r === undefined) {
        const f = failures.get(i);
        return {
          id: item.id,
          raw: '',
          error: f ?? failureOf(`${item.id} was not embedded`, CaptionErrorCode.ImageFormat),
          ms: perImageMs,
          attempts: 0,
        };
      }
      const names = [item.className, ...(item.synonyms ?? [])];
      const key = names.join('\u0000');
      let excluded = excludedByClass.get(key);
      if (excluded === undefined) {
        excluded = new Map();
        excludedByClass.set(key, excluded);
      }
      const tags = this.rank(image, r, text, names, excluded);
      if (tags.length === 0) {
        return {
          id: item.id,
          raw: '',
          error: {
            code: CaptionErrorCode.NoElements,
            message: `${item.id}: no tag other than the class scored ≥ minScore ${this.minScore} (and minTags is 0)`,
          },
          ms: perImageMs,
          attempts: 1,
        };
      }
      return { id: item.id, raw: tags.map((t) => t.text).join(', '), tags, ms: perImageMs, attempts: 1 };
    });
  }

  /** Top-k tags of image row `r`, skipping the class's names; `excluded` memoises the name checks. */
  private rank(
    image: Matrix,
    r: number,
    text: Matrix,
    names: readonly string[],
    excluded: Map<number, boolean>,
  ): ScoredTag[] {
    const d = image.cols;
    const img = image.data.subarray(r * d, r * d + d);
    const best: { index: number; score: number }[] = [];
    const isExcluded = (t: number): boolean => {
      let hit = excluded.get(t);
      if (hit === undefined) {
        hit = matchesClassName(this.vocabulary[t]!, names);
        excluded.set(t, hit);
      }
      return hit;
    };
    for (let t = 0; t < text.rows; t++) {
      let s = 0;
      const base = t * d;
      for (let k = 0; k < d; k++) {
        s += img[k]! * text.data[base + k]!;
      }
      if (best.length === this.topK && s <= best.at(-1)!.score) {
        continue;
      }
      if (isExcluded(t)) {
        continue;
      }
      let at = best.length;
      while (at > 0 && best[at - 1]!.score < s) {
        at--;
      }
      best.splice(at, 0, { index: t, score: s });
      if (best.length > this.topK) {
        best.pop();
      }
    }
    return best
      .filter((b, rank) => b.score >= this.minScore || rank < this.minTags)
      .map((b) => ({ text: this.vocabulary[b.index]!, score: b.score }));
  }

  /** Drops the in-memory text features; the embedders belong to the caller, who releases them. */
  close(): Promise<void> {
    this.textFeatures = undefined;
    return Promise.resolve();
  }
}
