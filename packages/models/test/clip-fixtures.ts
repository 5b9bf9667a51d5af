/**
 * Test helpers for the CLIP adapters: a tiny CLIP-style `tokenizer.json` with hand-assigned ids, so that
 * expected token ids can be worked out on paper.
 */
import { expect } from '@jest/globals';

import { ClipError, type ClipErrorCode, clipLetterVocab, clipTokenizerJson } from '../src';

/** Plain letters a–z: ids 0–25. */
export const LETTER = (c: string): number => c.charCodeAt(0) - 97;
/** Word-final letters `a</w>`–`z</w>`: ids 26–51. */
export const LETTER_END = (c: string): number => 26 + LETTER(c);
export const DOT = 52;
export const DOT_END = 53;
/** Merge results, in merge order. */
export const PH = 54;
export const PHO = 55;
export const TO_END = 56;
export const PHOTO_END = 57;
export const CA = 58;
export const CAT_END = 59;
export const BRACKET_END = 60;
export const START = 49406;
export const END = 49407;

/**
 * The ids of "a photo of a cat." worked out by hand: a → a</w>; photo → p h o t o</w> merges (p h), (ph o),
 * (t o</w>), (pho to</w>) → photo</w>; of → o f</w> (no merge); cat → (c a), (ca t</w>) → cat</w>; . → .</w>.
 */
export const A_PHOTO_OF_A_CAT: readonly number[] = [
  START,
  LETTER_END('a'),
  PHOTO_END,
  LETTER('o'),
  LETTER_END('f'),
  LETTER_END('a'),
  CAT_END,
  DOT_END,
  END,
];

/**
 * A tokenizer.json in the layout of `openai/clip-vit-base-patch16` ({@link clipTokenizerJson}): NFC +
 * whitespace + lowercase normalizer, CLIP's split regex then byte-level pre-tokenizer, BPE with the `</w>`
 * suffix, Roberta-style post-processor with the start and end tokens. Only the vocabulary is small.
 */
export function tinyClipTokenizerJson(padding: { pad_id: number } | null = null): Record<string, unknown> {
  const vocab = {
    ...clipLetterVocab({ start: START, end: END }),
    '.': DOT,
    '.</w>': DOT_END,
    ph: PH,
    pho: PHO,
    'to</w>': TO_END,
    'photo</w>': PHOTO_END,
    ca: CA,
    'cat</w>': CAT_END,
    '[</w>': BRACKET_END,
  };
  const merges = ['p h', 'ph o', 't o</w>', 'pho to</w>', 'c a', 'ca t</w>'];
  return { ...clipTokenizerJson(vocab, merges), padding };
}

/** Runs `f` and expects it to throw (or reject with) a {@link ClipError} of `code`, its message matching. */
export async function expectClipError(
  f: () => unknown,
  code: ClipErrorCode,
  message?: RegExp,
): Promise<void> {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(ClipError);
    expect((e as ClipError).code).toBe(code);
    if (message !== undefined) {
      expect((e as ClipError).message).toMatch(message);
    }
    return;
  }
  throw new Error(`expected ClipError ${code}`);
}
