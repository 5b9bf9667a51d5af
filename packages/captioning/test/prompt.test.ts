import { describe, expect, it } from '@jest/globals';

import {
  captionQuestion,
  cleanPrompt,
  compatPrompt,
  estimateClipTokens,
  matchesClassName,
  normalizeNoun,
  pluralize,
  pluralizeWord,
  sameNoun,
  singularCandidates,
} from '../src';

describe('noun forms', () => {
  it('pluralises by the simple rules and the irregular table', () => {
    const cases: [string, string][] = [
      ['box', 'boxes'],
      ['church', 'churches'],
      ['bush', 'bushes'],
      ['bus', 'buses'],
      ['city', 'cities'],
      ['day', 'days'],
      ['tree', 'trees'],
      ['mouse', 'mice'],
      ['goose', 'geese'],
      ['child', 'children'],
      ['leaf', 'leaves'],
      ['sheep', 'sheep'],
    ];
    for (const [singular, plural] of cases) {
      expect(pluralizeWord(singular)).toBe(plural);
    }
    expect(pluralize('fire hydrant')).toBe('fire hydrants');
    expect(pluralize('police box')).toBe('police boxes');
  });

  it('lists singular candidates of plural-looking words', () => {
    expect(singularCandidates('cities')).toEqual(['city', 'citi', 'citie']);
    expect(singularCandidates('mice')).toEqual(['mouse']);
    expect(singularCandidates('glass')).toEqual([]);
    expect(singularCandidates('wolves')).toEqual(['wolf', 'wolf', 'wolfe', 'wolv', 'wolve']);
  });

  it('normalises case, hyphens, underscores, possessives and punctuation', () => {
    expect(normalizeNoun("  The Dog's  Fire-Hydrant_Cap! ")).toBe('the dog fire hydrant cap');
    expect(normalizeNoun('Ｆｕｌｌｗｉｄｔｈ')).toBe('fullwidth');
  });

  it('compares nouns up to number only', () => {
    expect(sameNoun('horse', 'horses')).toBe(true);
    expect(sameNoun('boxes', 'box')).toBe(true);
    expect(sameNoun('geese', 'goose')).toBe(true);
    expect(sameNoun('horse', 'house')).toBe(false);
    expect(sameNoun('', '')).toBe(false);
  });

  it('matches the class name by the documented rules', () => {
    expect(matchesClassName('Small Dogs', ['dog'])).toBe(true);
    expect(matchesClassName('dog bowl', ['dog'])).toBe(false);
    expect(matchesClassName('retrievers', ['golden retriever'])).toBe(true);
    expect(matchesClassName('golden', ['golden retriever'])).toBe(false);
    expect(matchesClassName('firetrucks', ['fire truck'])).toBe(true);
    expect(matchesClassName('cat', ['', 'dog'])).toBe(false);
  });
});

describe('captionQuestion', () => {
  it('names the class and the 3–8 range and forbids the main object', () => {
    const q = captionQuestion('golden_retriever');
    expect(q).toContain('"golden retriever"');
    expect(q).toContain('List 3 to 8 other concrete things');
    expect(q).toContain('Never name "golden retriever"');
    expect(q).toContain('separated by commas');
  });

  it('fills a custom template', () => {
    expect(
      captionQuestion('cat', { template: '{class}: {min}-{max}?', minElements: 2, maxElements: 5 }),
    ).toBe('cat: 2-5?');
  });

  it('rejects an empty class name and counts out of order', () => {
    expect(() => captionQuestion('  ')).toThrow(/class name is empty/);
    expect(() => captionQuestion('cat', { minElements: 5, maxElements: 4 })).toThrow(/minElements/);
  });
});

describe('compatPrompt', () => {
  it('keeps the first 73 characters of the answer, splitting words as the released code does', () => {
    const answer = 'bamboo, tourists, leaves, railing, rocks, a wooden fence, green grass, trees, a blue sky';
    // 73 characters by hand: 'bamboo, tourists, leaves, railing, rocks, a wooden fence, green grass, tr'.
    const head = 'bamboo, tourists, leaves, railing, rocks, a wooden fence, green grass, tr';
    expect(head).toHaveLength(73);
    expect(compatPrompt(answer)).toBe(`A photo only remain ${head}.`);
  });

  it('keeps short answers whole and trims surrounding whitespace first', () => {
    expect(compatPrompt('\n  bamboo, railing \n')).toBe('A photo only remain bamboo, railing.');
  });

  it('counts characters as Python does (code points, not UTF-16 units)', () => {
    const pandas = '🐼'.repeat(80);
    const prompt = compatPrompt(pandas);
    expect(prompt).toBe(`A photo only remain ${'🐼'.repeat(73)}.`);
  });
});

describe('estimateClipTokens', () => {
  it('counts CLIP pre-tokenizer pieces, long words as several', () => {
    // a photo only remain bamboo , railing . → 8 pieces.
    expect(estimateClipTokens('A photo only remain bamboo, railing.')).toBe(8);
    // 15 letters → ceil(15 / 5) = 3; "2024" → 4 digits; "..." → 3.
    expect(estimateClipTokens('extraordinarily 2024...')).toBe(10);
    expect(estimateClipTokens("dog's")).toBe(2);
  });
});

describe('cleanPrompt', () => {
  const words = (t: string): number => t.split(/[\s,.]+/).filter((w) => w !== '').length;

  it('removes class-name words and joins the rest', () => {
    const out = cleanPrompt(['dog bowl', 'leash', 'grass', 'dog-bed'], { classNames: ['dog'] });
    expect(out.prompt).toBe('A photo only remain bowl, leash, grass, bed.');
    expect(out.elements).toEqual(['bowl', 'leash', 'grass', 'bed']);
    // a photo only remain bowl , leash , grass , bed . → 12 pieces, + start and end.
    expect(out.tokens).toBe(14);
  });

  it('removes synonym words, drops emptied elements and duplicates they create', () => {
    const out = cleanPrompt(['golden sand', 'retrievers', 'bowl', 'dog bowl'], {
      classNames: ['golden retriever', 'dog'],
    });
    expect(out.elements).toEqual(['sand', 'bowl']);
  });

  it('keeps stopwords of the class name', () => {
    const out = cleanPrompt(['bottle of water', 'war memorial'], { classNames: ['man of war'] });
    expect(out.elements).toEqual(['bottle of water', 'memorial']);
  });

  it('drops whole elements from the end until the prompt fits the token budget', () => {
    // Prefix: 4 words; budget 9 − 2 = 7 → 3 one-word elements.
    const out = cleanPrompt(['bamboo', 'rocks', 'railing', 'tourists', 'leaves'], {
      classNames: ['panda'],
      countTokens: words,
      maxTokens: 9,
    });
    expect(out.prompt).toBe('A photo only remain bamboo, rocks, railing.');
    expect(out.tokens).toBe(9);
  });

  it('cuts the words of a single element that is too long alone', () => {
    const out = cleanPrompt(['very long wooden park bench'], {
      classNames: ['cat'],
      countTokens: words,
      maxTokens: 8,
    });
    expect(out.elements).toEqual(['very long']);
    expect(out.prompt).toBe('A photo only remain very long.');
  });

  it('rejects a budget that cannot hold the prefix', () => {
    expect(() => cleanPrompt(['a'], { classNames: ['cat'], countTokens: words, maxTokens: 6 })).toThrow(
      /cannot hold the prompt prefix/,
    );
  });
});
