import { describe, expect, it } from '@jest/globals';

import { inpaintPrompt, parseElements } from '../src';

/** A stand-in token counter: one token per word and per comma or full stop. */
const countTokens = (text: string): number => (text.match(/[^\s,.]+|[,.]/g) ?? []).length;

describe('parseElements', () => {
  it('splits lists and drops markers, full stops, blanks and repeats', () => {
    expect(parseElements('bamboo, tourist,  Leaf ;railing.\n- bamboo\n2) wooden  fence\n\n')).toEqual([
      'bamboo',
      'tourist',
      'Leaf',
      'railing',
      'wooden fence',
    ]);
  });
});

describe('inpaintPrompt compat', () => {
  it('keeps the first 73 characters of the caption, splitting words as Python slicing does', () => {
    const caption = 'bamboo, tourist, leaf, railing, stone path, wooden bench, green moss, cloudy sky, river';
    // Characters 0…72 of the caption, counted by hand: the cut falls inside "cloudy".
    const first73 = 'bamboo, tourist, leaf, railing, stone path, wooden bench, green moss, clo';
    expect(Array.from(first73)).toHaveLength(73);
    expect(inpaintPrompt(caption, 'compat')).toBe(`A photo only remain ${first73}.`);
  });

  it('leaves short captions whole, counts code points, and joins element lists', () => {
    expect(inpaintPrompt('grass', 'compat')).toBe('A photo only remain grass.');
    const emoji = '🌿'.repeat(80);
    expect(inpaintPrompt(emoji, 'compat')).toBe(`A photo only remain ${'🌿'.repeat(73)}.`);
    expect(inpaintPrompt(['bamboo', 'leaf'], 'compat')).toBe('A photo only remain bamboo, leaf.');
  });
});

describe('inpaintPrompt clean', () => {
  it('joins parsed elements and drops those naming the class', () => {
    expect(
      inpaintPrompt('bamboo, giant panda toy, tourist, Panda, pandanus leaf', 'clean', {
        countTokens,
        exclude: ['giant panda', 'panda'],
      }),
    ).toBe('A photo only remain bamboo, tourist, pandanus leaf.');
  });

  it('fits the token budget: elements in order while the prompt has ≤ 75 content tokens', () => {
    // Prefix "A photo only remain" = 4 tokens, final "." = 1: 70 tokens left for elements. Each element
    // "wN" is 1 token and each separating comma 1, so k elements take 2k − 1 tokens: k = 35 fits (69).
    const elements = Array.from({ length: 50 }, (_, i) => `w${i}`);
    const prompt = inpaintPrompt(elements, 'clean', { countTokens });
    expect(prompt).toBe(`A photo only remain ${elements.slice(0, 35).join(', ')}.`);
    expect(countTokens(prompt)).toBe(74);
    // A context of 12 (10 content tokens): 4 + 1 + (2k − 1) ≤ 10 → k = 3.
    expect(inpaintPrompt(elements, 'clean', { countTokens, contextLength: 12 })).toBe(
      'A photo only remain w0, w1, w2.',
    );
  });

  it('cuts a single over-long element at a word boundary', () => {
    const long = Array.from({ length: 20 }, (_, i) => `x${i}`).join(' ');
    // 10 content tokens: 4 + 1 + n ≤ 10 → 5 words.
    expect(inpaintPrompt([long, 'y'], 'clean', { countTokens, contextLength: 12 })).toBe(
      'A photo only remain x0 x1 x2 x3 x4.',
    );
  });

  it('needs a token counter and at least one element', () => {
    expect(() => inpaintPrompt('a, b', 'clean')).toThrow(
      expect.objectContaining({ code: 'DIFFUSION_ERR_ARGUMENT' }),
    );
    expect(() => inpaintPrompt('panda', 'clean', { countTokens, exclude: ['panda'] })).toThrow(
      expect.objectContaining({ code: 'DIFFUSION_ERR_ARGUMENT' }),
    );
    expect(() => inpaintPrompt('a', 'fancy' as 'clean', { countTokens })).toThrow(
      expect.objectContaining({ code: 'DIFFUSION_ERR_ARGUMENT' }),
    );
  });
});
