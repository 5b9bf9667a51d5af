/**
 * @file The inpainting prompt `A photo only remain <elements>.` (reference §2, design §4), in the released
 * code's form (`compat`) or built from parsed elements fitted to CLIP's 77 tokens (`clean`).
 */
import { requireArg } from './errors';

/** The prompt's fixed opening, the authors' wording kept verbatim. */
export const INPAINT_PROMPT_PREFIX = 'A photo only remain ';

/** Characters (code points) of the caption the released code keeps: `caption[:73]`. */
export const COMPAT_CAPTION_CHARS = 73;

/** CLIP's context length, start and end tokens included. */
export const CLIP_CONTEXT = 77;

/** How the elements enter the prompt. */
export const PROMPT_MODES = ['compat', 'clean'] as const;

/** One of {@link PROMPT_MODES}. */
export type PromptMode = (typeof PROMPT_MODES)[number];

/** Options of {@link inpaintPrompt}. */
export interface InpaintPromptOptions {
  /**
   * Tokens of a text without CLIP's start and end tokens (e.g. `(t) => tokenizer.contentIds(t).length`).
   * Required in `clean` mode, unused in `compat` mode.
   */
  countTokens?: (text: string) => number;
  /** Tokens per prompt, start and end included. @defaultValue 77 */
  contextLength?: number;
  /**
   * `clean` mode: names whose elements are dropped (the image's class name and synonyms): an element is
   * dropped when it contains one of them as a whole-word phrase, case-insensitively.
   */
  exclude?: readonly string[];
}

function codePointSlice(text: string, n: number): string {
  return Array.from(text).slice(0, n).join('');
}

/**
 * Splits an MLLM answer into elements: on commas, semicolons and line breaks; list markers (`-`, `*`, `•`,
 * `1.`, `2)`) and surrounding whitespace and full stops are removed; empty and repeated (case-insensitive)
 * elements are dropped, first occurrence kept.
 */
export function parseElements(caption: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const raw of caption.split(/[,;\n\r]+/u)) {
    const element = raw
      .replace(/^\s*(?:[-*•]+|\d+[.)])\s*/u, '')
      .replace(/[\s.]+$/u, '')
      .replace(/\s+/gu, ' ')
      .trim();
    const key = element.toLowerCase();
    if (element !== '' && !seen.has(key)) {
      seen.add(key);
      out.push(element);
    }
  }
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&');
}

function excluder(names: readonly string[]): (element: string) => boolean {
  const patterns = names
    .map((n) => n.trim().split(/\s+/u).filter(Boolean).map(escapeRegExp).join('\\s+'))
    .filter((p) => p !== '')
    .map((p) => new RegExp(`(?:^|[^\\p{L}\\p{N}])${p}(?:$|[^\\p{L}\\p{N}])`, 'iu'));
  return (element) => patterns.some((re) => re.test(element));
}

/** `A photo only remain <text>.` */
function wrap(text: string): string {
  return `${INPAINT_PROMPT_PREFIX}${text}.`;
}

/**
 * The inpainting prompt for one image.
 *
 * - `compat`: the released code's `f'A photo only remain {caption[:73]}.'`: the first 73 code points of
 *   the caption (Python slices code points; the cut may split a word), nothing else parsed. A list of
 *   elements is joined with `', '` first.
 * - `clean`: the elements (parsed with {@link parseElements} from a caption string), minus those naming
 *   an `exclude` entry, joined with `', '`, as many as fit in order so that the whole prompt has at most
 *   `contextLength − 2` content tokens; when not even the first fits, its leading words that fit. With no
 *   element left the prompt is `A photo only remain .`'s clean form `A photo only remain background.`
 *   would invent content, so it throws instead.
 *
 * @throws DiffusionError `DIFFUSION_ERR_ARGUMENT` for an unknown mode, `clean` without `countTokens`, or
 * `clean` with no usable element (or a prefix alone over the token budget).
 */
export function inpaintPrompt(
  input: string | readonly string[],
  mode: PromptMode,
  options: InpaintPromptOptions = {},
): string {
  requireArg(
    (PROMPT_MODES as readonly string[]).includes(mode),
    `prompt mode is ${mode}. Should be one of: ${PROMPT_MODES.join(', ')}`,
  );
  if (mode === 'compat') {
    const caption = typeof input === 'string' ? input : input.join(', ');
    return wrap(codePointSlice(caption, COMPAT_CAPTION_CHARS));
  }
  const { countTokens } = options;
  requireArg(
    countTokens !== undefined,
    "prompt mode 'clean' needs countTokens (a CLIP token counter) to fit the prompt to the context length",
  );
  const contextLength = options.contextLength ?? CLIP_CONTEXT;
  requireArg(
    Number.isSafeInteger(contextLength) && contextLength > 2,
    `contextLength must be an integer > 2, got ${String(contextLength)}`,
  );
  const budget = contextLength - 2;
  const isExcluded = excluder(options.exclude ?? []);
  const elements = (
    typeof input === 'string' ? parseElements(input) : parseElements(input.join('\n'))
  ).filter((e) => !isExcluded(e));
  requireArg(
    elements.length > 0,
    `no element left for the prompt from ${JSON.stringify(input)} (after excluding ${JSON.stringify(options.exclude ?? [])})`,
  );
  const fits = (text: string): boolean => countTokens(wrap(text)) <= budget;
  const kept: string[] = [];
  for (const element of elements) {
    if (!fits([...kept, element].join(', '))) {
      break;
    }
    kept.push(element);
  }
  if (kept.length > 0) {
    return wrap(kept.join(', '));
  }
  const words = elements[0]!.split(' ');
  let n = words.length - 1;
  while (n > 0 && !fits(words.slice(0, n).join(' '))) {
    n--;
  }
  requireArg(
    n > 0,
    `the prompt prefix with any element exceeds ${budget} tokens (context length ${contextLength})`,
  );
  return wrap(words.slice(0, n).join(' '));
}
