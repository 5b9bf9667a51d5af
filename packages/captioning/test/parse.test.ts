import { describe, expect, it } from '@jest/globals';

import { CaptionError, type DroppedItem, parseElements } from '../src';

const PANDA = {
  className: 'giant panda',
  synonyms: ['panda', 'panda bear', 'coon bear', 'ailuropoda melanoleuca'],
};

const reasons = (dropped: readonly DroppedItem[]): string[] => dropped.map((d) => `${d.item}:${d.reason}`);

describe('parseElements: answer shapes', () => {
  it('splits a bare comma list (the paper’s panda example)', () => {
    expect(parseElements('bamboo, tourist, leaf, railing', PANDA)).toEqual({
      elements: ['bamboo', 'tourist', 'leaf', 'railing'],
      dropped: [],
    });
  });

  it('reads a numbered markdown list with descriptions, skipping the header line', () => {
    const answer = [
      'Here are the background elements:',
      '1. **Bamboo stalks**: tall green stalks behind the panda',
      '2. **Rocks** - grey boulders on the left',
      '3) Wooden railing',
      '4. Pandas (another one sleeping in the back)',
      '5. Tourists',
    ].join('\n');
    const parsed = parseElements(answer, PANDA);
    expect(parsed.elements).toEqual(['bamboo stalks', 'rocks', 'wooden railing', 'tourists']);
    expect(reasons(parsed.dropped)).toEqual(['pandas:class-name']);
  });

  it('reads bulleted lists with any bullet character', () => {
    const answer = '- grass\n* sky\n• wooden fence\n– tree\n+ clouds';
    expect(parseElements(answer, { className: 'cow' }).elements).toEqual([
      'grass',
      'sky',
      'wooden fence',
      'tree',
      'clouds',
    ]);
  });

  it('reads a sentence with an "and"-joined tail', () => {
    expect(
      parseElements('The image shows a table, a lamp and a window.', { className: 'tabby cat' }),
    ).toEqual({
      elements: ['table', 'lamp', 'window'],
      dropped: [],
    });
  });

  it('reads prose with lead-ins and drops clauses about the main object', () => {
    const answer =
      'In the background, there are trees and a wooden fence. A Golden Retriever is lying on the lawn.';
    const parsed = parseElements(answer, { className: 'golden retriever' });
    expect(parsed.elements).toEqual(['trees', 'wooden fence']);
    expect(reasons(parsed.dropped)).toEqual([':empty', 'golden retriever is lying on the lawn:sentence']);
  });

  it('strips chatty lead-ins, "Elements:" labels and an Oxford "and"', () => {
    const answer = 'Sure! Here are 5 elements: sand, waves, an umbrella, a towel, and a beach ball.';
    expect(parseElements(answer, { className: 'seashore' }).elements).toEqual([
      'sand',
      'waves',
      'umbrella',
      'towel',
      'beach ball',
    ]);
    expect(
      parseElements('Elements: kitchen counter; sink; window', { className: 'toaster' }).elements,
    ).toEqual(['kitchen counter', 'sink', 'window']);
  });

  it('splits on "and", "&", "as well as" and semicolons across lines', () => {
    const answer = 'rocks and water & moss\nferns as well as a log; mud';
    expect(parseElements(answer, { className: 'salamander' }).elements).toEqual([
      'rocks',
      'water',
      'moss',
      'ferns',
      'log',
      'mud',
    ]);
  });

  it('keeps the landmark of a bare location phrase', () => {
    expect(
      parseElements('Behind it, a fence; near the window; under a table', { className: 'cat' }).elements,
    ).toEqual(['fence', 'window', 'table']);
  });

  it('drops location phrases, counts and determiners around the noun', () => {
    const answer =
      'trees in the background, clouds in the sky, a car on the left, two chairs, several plates, 3 cups';
    expect(parseElements(answer, { className: 'bicycle' }).elements).toEqual([
      'trees',
      'clouds',
      'car',
      'chairs',
      'plates',
      'cups',
    ]);
  });
});

describe('parseElements: the class name in odd forms', () => {
  it('drops plural, capitalised, possessive-free and synonym forms; keeps compounds headed by another noun', () => {
    const answer =
      "Dogs, leash, a dog's bowl, DOG, hot-dog stand, puppy, Domestic Dog, Canis familiaris, small dog, frisbee";
    const parsed = parseElements(answer, {
      className: 'dog',
      synonyms: ['domestic dog', 'canis familiaris'],
    });
    expect(parsed.elements).toEqual(['leash', "dog's bowl", 'hot-dog stand', 'puppy', 'frisbee']);
    expect(reasons(parsed.dropped)).toEqual([
      'dogs:class-name',
      'dog:class-name',
      'domestic dog:class-name',
      'canis familiaris:class-name',
      'small dog:class-name',
    ]);
  });

  it('matches hyphenated, spaced and run-together multi-word names and their head word', () => {
    const parsed = parseElements('Fire-engines, firehouse, hose, fireengine, fire engine, engine, ladder', {
      className: 'fire engine',
    });
    expect(parsed.elements).toEqual(['firehouse', 'hose', 'ladder']);
    expect(parsed.dropped.map((d) => d.reason)).toEqual([
      'class-name',
      'class-name',
      'class-name',
      'class-name',
    ]);
    expect(
      parseElements('retriever, Golden-Retriever, golden retrievers, lawn', { className: 'golden_retriever' })
        .elements,
    ).toEqual(['lawn']);
  });

  it('knows irregular plurals', () => {
    expect(parseElements('mice, keyboard, cheese', { className: 'mouse' }).elements).toEqual([
      'keyboard',
      'cheese',
    ]);
    expect(parseElements('geese, pond', { className: 'goose' }).elements).toEqual(['pond']);
    expect(parseElements('children, swing', { className: 'child' }).elements).toEqual(['swing']);
    expect(parseElements('wolves, snow', { className: 'wolf' }).elements).toEqual(['snow']);
    expect(parseElements('butterflies, flowers', { className: 'butterfly' }).elements).toEqual(['flowers']);
  });

  it('drops the class when it is given as a plural and the answer uses the singular', () => {
    expect(parseElements('sunglass, beach', { className: 'sunglasses' }).elements).toEqual(['beach']);
  });
});

describe('parseElements: filtering', () => {
  it('deduplicates case-insensitively and up to number, keeping the first form', () => {
    const parsed = parseElements('tree, trees, Tree, a tree, boxes, box', { className: 'owl' });
    expect(parsed.elements).toEqual(['tree', 'boxes']);
    expect(parsed.dropped.map((d) => d.reason)).toEqual(['duplicate', 'duplicate', 'duplicate', 'duplicate']);
  });

  it('drops items over the word or character limit, both configurable', () => {
    const answer =
      'a large wooden table with intricate carvings on its legs, lamp, extraordinarily-long-hyphenated-thing-here';
    const defaults = parseElements(answer, { className: 'cat' });
    expect(defaults.elements).toEqual(['lamp']);
    // 9 words and 54 characters; one word of 42 characters.
    expect(reasons(defaults.dropped)).toEqual([
      'large wooden table with intricate carvings on its legs:too-long',
      'extraordinarily-long-hyphenated-thing-here:too-long',
    ]);
    const loose = parseElements(answer, { className: 'cat', maxWords: 9, maxChars: 54 });
    expect(loose.elements).toEqual([
      'large wooden table with intricate carvings on its legs',
      'lamp',
      'extraordinarily-long-hyphenated-thing-here',
    ]);
    const tight = parseElements('lamp, desk lamp', { className: 'cat', maxWords: 1 });
    expect(tight.elements).toEqual(['lamp']);
  });

  it('caps the count at 8 by default, configurable', () => {
    const answer = 'a, b1, c1, d1, e1, f1, g1, h1, i1, j1'.replace('a,', 'apple,');
    const parsed = parseElements(answer, { className: 'zebra' });
    expect(parsed.elements).toEqual(['apple', 'b1', 'c1', 'd1', 'e1', 'f1', 'g1', 'h1']);
    expect(reasons(parsed.dropped)).toEqual(['i1:over-cap', 'j1:over-cap']);
    expect(parseElements(answer, { className: 'zebra', maxElements: 3 }).elements).toEqual([
      'apple',
      'b1',
      'c1',
    ]);
  });

  it('drops negations and empty items', () => {
    expect(parseElements('None.', { className: 'cat' })).toEqual({
      elements: [],
      dropped: [{ item: 'none', reason: 'negation' }],
    });
    expect(parseElements('no people, bench, , ;', { className: 'cat' }).elements).toEqual(['bench']);
    expect(parseElements('', { className: 'cat' })).toEqual({ elements: [], dropped: [] });
  });

  it('rejects non-positive limits with a coded error', () => {
    expect(() => parseElements('a', { className: 'cat', maxElements: 0 })).toThrow(CaptionError);
    expect(() => parseElements('a', { className: 'cat', maxWords: 1.5 })).toThrow(
      /maxWords must be a positive integer/,
    );
    try {
      parseElements('a', { className: 'cat', maxChars: -1 });
    } catch (err) {
      expect((err as CaptionError).code).toBe('CAPTION_ERR_BAD_ARGUMENT');
    }
  });
});
