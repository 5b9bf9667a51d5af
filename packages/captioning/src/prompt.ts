/**
 * @file The two prompts of the caption stage (design §4): the question put to the vision-language model,
 * and the inpainting prompt built from its answer, `A photo only remain <elements>.` (the released code's
 * wording, grammar included), in `compat` or `clean` mode.
 */
import { requireArg } from './errors';
import { normalizeNoun, sameNoun } from './nouns';

/** Placeholders: `{class}` the class name, `{min}` and `{max}` the element counts. */
export const DEFAULT_QUESTION_TEMPLATE =
  'The main object of this photo is "{class}". List {min} to {max} other concrete things visible in the ' +
  'photo: background objects, surfaces, plants, structures, animals or people around it. Never name ' +
  '"{class}" or any part of it. Answer with short nouns separated by commas, and nothing else.';

/** Options of {@link captionQuestion}. */
export interface QuestionOptions {
  /** The question with `{class}`, `{min}`, `{max}` placeholders. @defaultValue {@link DEFAULT_QUESTION_TEMPLATE} */
  template?: string;
  /** @defaultValue 3 */
  minElements?: number;
  /** @defaultValue 8 */
  maxElements?: number;
}

/**
 * The question for one image: 3–8 concrete background or context elements, comma-separated, never the
 * main object, whose class name is given (the paper's description; the released prompt is unknown).
 *
 * @throws CaptionError `CAPTION_ERR_BAD_ARGUMENT` for an empty class name or counts out of order.
 */
export function captionQuestion(className: string, options: QuestionOptions = {}): string {
  const name = className.trim();
  requireArg(name !== '', 'the class name is empty; every image needs its class name for the question');
  const min = options.minElements ?? 3;
  const max = options.maxElements ?? 8;
  requireArg(
    Number.isSafeInteger(min) && Number.isSafeInteger(max) && min >= 1 && max >= min,
    `element counts must be integers with 1 ≤ minElements ≤ maxElements, got ${min} and ${max}`,
  );
  return (options.template ?? DEFAULT_QUESTION_TEMPLATE)
    .replaceAll('{class}', name.replaceAll('_', ' '))
    .replaceAll('{min}', String(min))
    .replaceAll('{max}', String(max));
}

/** The released code's inpainting prompt prefix (`datasets.py::CleanedImageNet`). */
export const INPAINT_PROMPT_PREFIX = 'A photo only remain ';
/** Characters of the answer the released code keeps (`answer[:73]`). */
export const COMPAT_ANSWER_CHARS = 73;
/** Tokens per prompt of the Stable Diffusion 2 text encoder, start and end tokens included. */
export const CLIP_PROMPT_TOKENS = 77;

/** `A photo only remain <text>.` */
export function inpaintPrompt(text: string): string {
  return `${INPAINT_PROMPT_PREFIX}${text}.`;
}

/**
 * The `compat` prompt, as the released code builds it: the answer's first 73 characters (a Python slice:
 * code points, may split a word) in `A photo only remain <…>.`. The answer is trimmed first because the
 * released answers were: their file is the output of LLaVA's batch VQA script (reference §2), which
 * writes `batch_decode(...)[0].strip()`; chat endpoints often return a leading space or newline.
 */
export function compatPrompt(raw: string): string {
  return inpaintPrompt(Array.from(raw.trim()).slice(0, COMPAT_ANSWER_CHARS).join(''));
}

/** Counts a prompt's CLIP tokens, start and end tokens excluded (e.g. `ClipTokenizer.contentIds(t).length`). */
export type TokenCounter = (text: string) => number;

/**
 * An approximate CLIP token count for when no tokenizer is at hand: CLIP's pre-tokenizer split (letter
 * runs, single digits, punctuation runs, `'s`-style suffixes), a letter run of up to 7 letters counted as
 * one BPE piece and longer runs as one per 5 letters, punctuation one per character. Biased high for
 * English words (most common words of any length are one piece in CLIP's vocabulary), so prompts fitted
 * with it fit the real tokenizer; rare words broken into many short pieces can exceed it.
 */
export function estimateClipTokens(text: string): number {
  let n = 0;
  for (const m of text
    .toLowerCase()
    .matchAll(/'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/gu)) {
    const piece = m[0];
    if (/^\p{L}/u.test(piece)) {
      n += piece.length <= 7 ? 1 : Math.ceil(piece.length / 5);
    } else if (/^\p{N}/u.test(piece) || piece.startsWith("'")) {
      n += 1;
    } else {
      n += piece.length;
    }
  }
  return n;
}

/** Options of {@link cleanPrompt}. */
export interface CleanPromptOptions {
  /** The class name and its synonyms: their words are removed from the elements. */
  classNames: readonly string[];
  /** Token counter of the inpainting model's tokenizer. @defaultValue {@link estimateClipTokens} */
  countTokens?: TokenCounter;
  /** Token budget, start and end tokens included. @defaultValue {@link CLIP_PROMPT_TOKENS} (77) */
  maxTokens?: number;
}

/** The `clean` prompt and the elements it holds. */
export interface CleanPrompt {
  /** `A photo only remain a, b, c.` */
  readonly prompt: string;
  /** The elements in the prompt, after class-name words were removed and the tail cut to fit. */
  readonly elements: string[];
  /** The prompt's token count, start and end included. */
  readonly tokens: number;
}

/** Words too common to be the class's words ("man of war" must not remove "of"). */
const STOPWORDS = new Set(['a', 'an', 'the', 'of', 'and', 'or', 'in', 'on', 'at', 'to', 'for', 'with', 'de']);

function classWordsOf(names: readonly string[]): string[] {
  const words = new Set<string>();
  for (const name of names) {
    for (const w of normalizeNoun(name).split(' ')) {
      if (w.length >= 2 && !STOPWORDS.has(w)) {
        words.add(w);
      }
    }
  }
  return [...words];
}

/** An element with every class-name word removed; hyphenated words lose their class-name parts. */
function withoutClassWords(element: string, classWords: readonly string[]): string {
  const isClassWord = (w: string): boolean => {
    const key = normalizeNoun(w);
    return key !== '' && classWords.some((c) => sameNoun(key, c));
  };
  return element
    .split(/\s+/)
    .map((word) =>
      word
        .split('-')
        .filter((part) => !isClassWord(part))
        .join('-'),
    )
    .filter((word) => word !== '')
    .join(' ');
}

/**
 * The `clean` inpainting prompt: the parsed elements with every word of the class name and its synonyms
 * removed (so the prompt never asks for the main object again: "dog bowl" → "bowl" for class "dog"),
 * duplicates and emptied elements dropped, joined with `, ` into `A photo only remain <…>.`, and cut from
 * the end, whole elements first, until it fits `maxTokens` CLIP tokens.
 *
 * @throws CaptionError `CAPTION_ERR_BAD_ARGUMENT` for a budget that cannot hold the prefix.
 */
export function cleanPrompt(elements: readonly string[], options: CleanPromptOptions): CleanPrompt {
  const count = options.countTokens ?? estimateClipTokens;
  const maxTokens = options.maxTokens ?? CLIP_PROMPT_TOKENS;
  const budget = maxTokens - 2;
  requireArg(
    Number.isSafeInteger(maxTokens) && count(inpaintPrompt('x')) <= budget,
    `maxTokens ${maxTokens} cannot hold the prompt prefix "${INPAINT_PROMPT_PREFIX}"`,
  );
  const classWords = classWordsOf(options.classNames);
  const kept: string[] = [];
  for (const element of elements) {
    const cleaned = withoutClassWords(element, classWords);
    const key = normalizeNoun(cleaned);
    if (key !== '' && !kept.some((k) => sameNoun(normalizeNoun(k), key))) {
      kept.push(cleaned);
    }
  }
  const build = (list: readonly string[]): string => inpaintPrompt(list.join(', '));
  let n = kept.length;
  while (n > 1 && count(build(kept.slice(0, n))) > budget) {
    n--;
  }
  const out = kept.slice(0, n);
  if (out.length === 1 && count(build(out)) > budget) {
    // One element alone is too long: keep as many of its leading words as fit.
    const words = out[0]!.split(' ');
    while (words.length > 1 && count(build([words.join(' ')])) > budget) {
      words.pop();
    }
    out[0] = words.join(' ');
    if (count(build(out)) > budget) {
      out.length = 0;
    }
  }
  const prompt = build(out);
  return { prompt, elements: out, tokens: count(prompt) + 2 };
}
