/**
 * @file The caption stage's unit of work: a shard of images in, one record per image out, with the parsed
 * elements and the inpainting prompt. One bad image never sinks the shard (its record carries the error);
 * a model server that is down does not fail images either: the backend's retryable
 * `CAPTION_ERR_UNAVAILABLE` is rethrown as is, once, so the queue harness pauses and retries the shard.
 */
import type { BackendRecord, CaptionBackend, CaptionItem, ScoredTag } from './backend';
import { CaptionError, CaptionErrorCode, type CaptionFailure, requireArg } from './errors';
import { type DroppedItem, parseElements, type ParseOptions } from './parse';
import { cleanPrompt, compatPrompt, type TokenCounter } from './prompt';

/**
 * How the inpainting prompt is built: `compat` as the released code (the answer's first 73 characters),
 * `clean` from the parsed elements (class-name words dropped, fitted to 77 CLIP tokens).
 */
export const PROMPT_MODES = ['compat', 'clean'] as const;

/** One of {@link PROMPT_MODES}. */
export type PromptMode = (typeof PROMPT_MODES)[number];

/**
 * One image's caption, as the caption stage writes it to the shard manifest; a superset of the
 * `captionRecordSchema` of `@synood/contracts` (`id`, `elements`, `prompt`, `raw`, `backend`, `model`,
 * `seconds`, `error`).
 */
export interface CaptionRecord {
  readonly id: string;
  readonly className: string;
  /** Parsed context elements (clean mode: those in the prompt); empty on failure. */
  readonly elements: readonly string[];
  /** The inpainting prompt `A photo only remain <…>.`; empty on failure. */
  readonly prompt: string;
  /** The model's answer as received; empty on failure. */
  readonly raw: string;
  /** Items of the answer that were not kept, and why. */
  readonly dropped: readonly DroppedItem[];
  /** `clip-tags` only: the tags with their similarities. */
  readonly tags?: readonly ScoredTag[];
  readonly backend: string;
  /** The model that answered (the endpoint's own name for it when it reports one). */
  readonly model: string;
  readonly mode: PromptMode;
  /** Time for this image, backend and parsing, in seconds (the manifest's `seconds`). */
  readonly seconds: number;
  readonly timings: {
    /** Backend time for this image, retries and backoff included, ms. */
    readonly captionMs: number;
    /** Parsing and prompt building, ms. */
    readonly parseMs: number;
    /** Requests or model runs for this image. */
    readonly attempts: number;
  };
  /** Set when this image failed. */
  readonly error?: CaptionFailure;
}

/** Options of {@link captionShard}. */
export interface CaptionShardOptions {
  backend: CaptionBackend;
  /** @defaultValue `'compat'` (design §4: the released code's behaviour) */
  mode?: PromptMode;
  /** Parser limits (the class name and synonyms come from each item). */
  parse?: Omit<ParseOptions, 'className' | 'synonyms'>;
  /** Synonyms of a class name, added to each item's own (e.g. `WordNetSynonyms.synonymsOf`). */
  synonymsOf?: (className: string) => readonly string[];
  /** CLIP token counter for the clean prompt (`ClipTokenizer.contentIds(t).length`). @defaultValue an estimate */
  countTokens?: TokenCounter;
  /** Token budget of the clean prompt, start and end included. @defaultValue 77 */
  maxTokens?: number;
  signal?: AbortSignal;
}

function checkItems(items: readonly CaptionItem[]): void {
  const ids = new Set<string>();
  for (const item of items) {
    requireArg(typeof item.id === 'string' && item.id !== '', 'every item needs a non-empty id');
    requireArg(!ids.has(item.id), `item id ${item.id} appears twice in the shard`);
    ids.add(item.id);
    requireArg(
      typeof item.className === 'string' && item.className.trim() !== '',
      `item ${item.id} has no class name; the caption question and the parser need it`,
    );
  }
}

/**
 * Captions a shard: the backend answers every image, then each answer is parsed and turned into the
 * inpainting prompt. Records are in item order. A failed image gets `error` and empty
 * `elements`/`prompt`; in `clean` mode an answer with no usable element fails with
 * `CAPTION_ERR_NO_ELEMENTS`.
 *
 * @throws CaptionError `CAPTION_ERR_UNAVAILABLE` (retryable) when the backend's model server is down,
 * `CAPTION_ERR_ABORTED` when `signal` fires, `CAPTION_ERR_BAD_ARGUMENT` for duplicate ids or a missing
 * class name, and whatever the backend throws for the whole call (configuration errors).
 */
export async function captionShard(
  items: readonly CaptionItem[],
  options: CaptionShardOptions,
): Promise<CaptionRecord[]> {
  checkItems(items);
  const mode = options.mode ?? 'compat';
  // Options often come from JSON configs, so the union is checked at run time too.
  requireArg(
    (PROMPT_MODES as readonly string[]).includes(mode),
    `mode must be one of ${PROMPT_MODES.join(', ')}, got ${JSON.stringify(mode)}`,
  );
  const backend = options.backend;
  const records = await backend.caption(items, options.signal);
  if (records.length !== items.length) {
    throw new CaptionError(
      CaptionErrorCode.BadArgument,
      `backend ${backend.name} returned ${records.length} records for ${items.length} images`,
    );
  }
  const byId = new Map<string, BackendRecord>(records.map((r) => [r.id, r]));
  return items.map((item) => {
    const record = byId.get(item.id);
    if (record === undefined) {
      throw new CaptionError(
        CaptionErrorCode.BadArgument,
        `backend ${backend.name} returned no record for ${item.id}`,
      );
    }
    return toCaptionRecord(item, record, options, mode);
  });
}

type RecordBody = Omit<CaptionRecord, 'timings' | 'seconds'>;

function toCaptionRecord(
  item: CaptionItem,
  record: BackendRecord,
  options: CaptionShardOptions,
  mode: PromptMode,
): CaptionRecord {
  const started = performance.now();
  const finish = (body: RecordBody): CaptionRecord => {
    const parseMs = performance.now() - started;
    return {
      ...body,
      seconds: (record.ms + parseMs) / 1000,
      timings: { captionMs: record.ms, parseMs, attempts: record.attempts },
    };
  };
  const base = {
    id: item.id,
    className: item.className,
    raw: record.raw,
    ...(record.tags === undefined ? {} : { tags: record.tags }),
    backend: options.backend.name,
    model: record.model ?? options.backend.model,
    mode,
  };
  if (record.error !== undefined) {
    return finish({ ...base, elements: [], prompt: '', dropped: [], error: record.error });
  }
  const synonyms = [...(item.synonyms ?? []), ...(options.synonymsOf?.(item.className) ?? [])];
  const parsed = parseElements(record.raw, { ...options.parse, className: item.className, synonyms });
  if (mode === 'compat') {
    return finish({
      ...base,
      elements: parsed.elements,
      prompt: compatPrompt(record.raw),
      dropped: parsed.dropped,
    });
  }
  const clean = cleanPrompt(parsed.elements, {
    classNames: [item.className, ...synonyms],
    ...(options.countTokens === undefined ? {} : { countTokens: options.countTokens }),
    ...(options.maxTokens === undefined ? {} : { maxTokens: options.maxTokens }),
  });
  if (clean.elements.length === 0) {
    const what = parsed.dropped.map((d) => `"${d.item}" (${d.reason})`).join(', ') || 'nothing';
    return finish({
      ...base,
      elements: [],
      prompt: '',
      dropped: parsed.dropped,
      error: {
        code: CaptionErrorCode.NoElements,
        message: `${item.id}: no context element left in the answer ${JSON.stringify(record.raw.slice(0, 120))} after dropping ${what}`,
      },
    });
  }
  return finish({ ...base, elements: clean.elements, prompt: clean.prompt, dropped: parsed.dropped });
}
