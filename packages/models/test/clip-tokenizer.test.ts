import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ClipTokenizer, cleanClipText } from '../src';
import {
  A_PHOTO_OF_A_CAT,
  BRACKET_END,
  CAT_END,
  END,
  LETTER,
  LETTER_END,
  PHOTO_END,
  START,
  TO_END,
  expectClipError,
  tinyClipTokenizerJson,
} from './clip-fixtures';

function row(ids: BigInt64Array, r: number, length: number): number[] {
  return Array.from(ids.subarray(r * length, (r + 1) * length), Number);
}

describe('cleanClipText', () => {
  it('collapses whitespace, trims, lower-cases and composes to NFC', () => {
    expect(cleanClipText('  A\tPHOTO \n of   a CAT.  ')).toBe('a photo of a cat.');
    expect(cleanClipText('Cafe\u0301')).toBe('caf\u00e9');
  });
});

describe('ClipTokenizer', () => {
  const tokenizer = ClipTokenizer.fromJson(tinyClipTokenizerJson());

  it('resolves the special ids and defaults the pad id to the end token', () => {
    expect([tokenizer.startId, tokenizer.endId, tokenizer.padId, tokenizer.contextLength]).toEqual([
      START,
      END,
      END,
      77,
    ]);
  });

  it('encodes a prompt to the ids worked out by hand, padded to 77 with a mask', () => {
    const t = tokenizer.encode(['a photo of a cat.']);
    expect([t.count, t.length]).toEqual([1, 77]);
    expect(row(t.ids, 0, 77)).toEqual([...A_PHOTO_OF_A_CAT, ...new Array<number>(68).fill(END)]);
    expect(Array.from(t.attentionMask, Number)).toEqual([
      ...new Array<number>(9).fill(1),
      ...new Array<number>(68).fill(0),
    ]);
    expect(Array.from(t.lengths)).toEqual([9]);
    expect(t.truncated).toEqual([]);
  });

  it('applies CLIP cleanup: case and whitespace do not change the ids', () => {
    const t = tokenizer.encode(['  A\tPHOTO \n of   a CAT.  ', 'a photo of a cat.']);
    expect(row(t.ids, 0, 77)).toEqual(row(t.ids, 1, 77));
  });

  it('cleans up even when the tokenizer.json has no normalizer', () => {
    const bare = ClipTokenizer.fromJson({ ...tinyClipTokenizerJson(), normalizer: null });
    expect(bare.contentIds('A PHOTO')).toEqual([LETTER_END('a'), PHOTO_END]);
  });

  it('distinguishes word-final pieces and keeps [ literal', () => {
    // tomato: "t o" is not a merge (only "t o</w>" is) → t o m a to</w>.
    expect(tokenizer.contentIds('tomato')).toEqual([
      LETTER('t'),
      LETTER('o'),
      LETTER('m'),
      LETTER('a'),
      TO_END,
    ]);
    expect(tokenizer.contentIds('a [cat')).toEqual([LETTER_END('a'), BRACKET_END, CAT_END]);
  });

  it('truncates to 75 text tokens and keeps the end token last', () => {
    const long = new Array<string>(80).fill('a').join(' ');
    const exact = new Array<string>(75).fill('a').join(' ');
    const t = tokenizer.encode([exact, long]);
    const full = [START, ...new Array<number>(75).fill(LETTER_END('a')), END];
    expect(row(t.ids, 0, 77)).toEqual(full);
    expect(row(t.ids, 1, 77)).toEqual(full);
    expect(t.truncated).toEqual([1]);
    expect(Array.from(t.lengths)).toEqual([77, 77]);
    expect(Array.from(t.attentionMask).every((m) => m === 1n)).toBe(true);
  });

  it('pads to the longest row when asked', () => {
    const t = tokenizer.encode(['a cat', 'a photo of a cat.'], { padTo: 'longest' });
    expect(t.length).toBe(9);
    expect(row(t.ids, 0, 9)).toEqual([START, LETTER_END('a'), CAT_END, END, END, END, END, END, END]);
    expect(row(t.ids, 1, 9)).toEqual(A_PHOTO_OF_A_CAT);
    expect(row(t.attentionMask, 0, 9)).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0]);
    expect(Array.from(t.lengths)).toEqual([4, 9]);
  });

  it('pads with the option, else with tokenizer.json padding.pad_id (OpenAI CLIP pads with 0)', () => {
    const zero = ClipTokenizer.fromJson(tinyClipTokenizerJson(), { padId: 0 });
    expect(row(zero.encode(['a cat']).ids, 0, 77).slice(3, 6)).toEqual([END, 0, 0]);
    const fromFile = ClipTokenizer.fromJson(tinyClipTokenizerJson({ pad_id: 7 }));
    expect(fromFile.padId).toBe(7);
    const short = ClipTokenizer.fromJson(tinyClipTokenizerJson(), { contextLength: 5 });
    const t = short.encode(['a photo of a cat.']);
    expect(row(t.ids, 0, 5)).toEqual([START, LETTER_END('a'), PHOTO_END, LETTER('o'), END]);
  });

  describe('files and errors', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'synood-clip-tok-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('reads a tokenizer.json file', async () => {
      const file = join(dir, 'tokenizer.json');
      await writeFile(file, JSON.stringify(tinyClipTokenizerJson()));
      const t = (await ClipTokenizer.fromFile(file)).encode(['a photo of a cat.']);
      expect(row(t.ids, 0, 77).slice(0, 9)).toEqual(A_PHOTO_OF_A_CAT);
    });

    it('names the file when it is missing or not JSON', async () => {
      await expectClipError(
        () => ClipTokenizer.fromFile(join(dir, 'nope.json')),
        'MODELS_ERR_CLIP_TOKENIZER',
        /nope\.json/,
      );
      const bad = join(dir, 'bad.json');
      await writeFile(bad, '{"model": ');
      await expectClipError(
        () => ClipTokenizer.fromFile(bad),
        'MODELS_ERR_CLIP_TOKENIZER',
        /bad\.json is not valid JSON/,
      );
    });

    it('rejects non-BPE tokenizers, missing special tokens and bad options', async () => {
      const json = tinyClipTokenizerJson();
      await expectClipError(
        () => ClipTokenizer.fromJson({ ...json, model: { type: 'WordPiece' } }),
        'MODELS_ERR_CLIP_TOKENIZER',
        /"WordPiece"/,
      );
      await expectClipError(
        () => ClipTokenizer.fromJson(json, { startToken: '<s>' }),
        'MODELS_ERR_CLIP_TOKENIZER',
        /no token <s>; set startToken/,
      );
      await expectClipError(() => ClipTokenizer.fromJson([]), 'MODELS_ERR_CLIP_TOKENIZER');
      await expectClipError(
        () => ClipTokenizer.fromJson(json, { contextLength: 1 }),
        'MODELS_ERR_CLIP_ARGUMENT',
      );
      await expectClipError(() => ClipTokenizer.fromJson(json, { padId: -1 }), 'MODELS_ERR_CLIP_ARGUMENT');
      await expectClipError(() => tokenizer.encode([]), 'MODELS_ERR_CLIP_ARGUMENT');
    });
  });
});
