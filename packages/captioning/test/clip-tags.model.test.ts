/**
 * The `clip-tags` backend on tiny CLIP-like towers run by onnxruntime through the real `ClipTextEncoder` /
 * `ClipImageEncoder` adapters, built so that every similarity can be worked out by hand:
 * - text tower: `text_embeds = Σ_positions table[input_ids]`, where only word-final letters (`g</w>`, …)
 *   have non-zero rows, so a one-word prompt's feature is the row of its last letter;
 * - image tower: `image_embeds = mean over pixels of (pixel_values · std + mean)`, i.e. the image's mean
 *   colour in [0, 1] (the CLIP normalisation undone).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CLIP_PRESET } from '@synood/vision';
import {
  ClipImageEncoder,
  ClipTextEncoder,
  ClipTokenizer,
  clipLetterVocab,
  clipTokenizerJson,
} from '@synood/models';
import { buildModel, intAttr } from '@synood/onnx';
import type { Matrix } from '@synood/tensor';

import {
  type CaptionItem,
  ClipTagsBackend,
  type ClipTagsOptions,
  captionShard,
  clipImageEmbedder,
  clipTextEmbedder,
  type TextEmbedder,
  type TextFeatureCache,
} from '../src';
import { solidPng } from './helpers';

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const START = 52;
const END = 53;
const VOCAB_SIZE = 54;
const endId = (c: string): number => 26 + LETTERS.indexOf(c);

/** CLIP-style tokenizer.json: letters and word-final letters, no merges, so a word is its letters. */
function letterTokenizerJson(): Record<string, unknown> {
  return clipTokenizerJson(clipLetterVocab({ start: START, end: END }), []);
}

/** Word-final letter → text feature; every other token (start, end = pad, inner letters) is 0. */
const ROWS: Readonly<Record<string, readonly number[]>> = {
  g: [1, 0, 0], // dog
  d: [1, 0, 0], // hound
  e: [0.6, 0.8, 0], // tree
  s: [0, 1, 0], // grass
  r: [0, 0.6, 0.8], // water
  y: [0, 0, 1], // sky
};
const VOCABULARY = ['dog', 'hound', 'tree', 'grass', 'water', 'sky'];

function textTower(): Uint8Array {
  const table = new Float32Array(VOCAB_SIZE * 3);
  for (const [c, row] of Object.entries(ROWS)) {
    table.set(row, endId(c) * 3);
  }
  return buildModel({
    nodes: [
      {
        opType: 'Gather',
        inputs: ['table', 'input_ids'],
        outputs: ['tokens'],
        attributes: { axis: intAttr(0) },
      },
      {
        opType: 'ReduceSum',
        inputs: ['tokens', 'seq_axis'],
        outputs: ['text_embeds'],
        attributes: { keepdims: intAttr(0) },
      },
    ],
    inputs: [{ name: 'input_ids', type: 'int64', dims: ['batch', 'sequence'] }],
    outputs: [{ name: 'text_embeds', dims: ['batch', 3] }],
    initializers: [
      { name: 'table', type: 'float32', dims: [VOCAB_SIZE, 3], values: table },
      { name: 'seq_axis', type: 'int64', dims: [1], values: [1] },
    ],
  });
}

const SIZE = 16;

function imageTower(): Uint8Array {
  return buildModel({
    nodes: [
      {
        opType: 'ReduceMean',
        inputs: ['pixel_values'],
        outputs: ['mean_normalised'],
        attributes: { axes: { kind: 'ints', value: [2, 3] }, keepdims: intAttr(0) },
      },
      { opType: 'Mul', inputs: ['mean_normalised', 'std'], outputs: ['scaled'] },
      { opType: 'Add', inputs: ['scaled', 'mean'], outputs: ['image_embeds'] },
    ],
    inputs: [{ name: 'pixel_values', dims: ['batch', 3, SIZE, SIZE] }],
    outputs: [{ name: 'image_embeds', dims: ['batch', 3] }],
    initializers: [
      { name: 'std', type: 'float32', dims: [3], values: CLIP_PRESET.std },
      { name: 'mean', type: 'float32', dims: [3], values: CLIP_PRESET.mean },
    ],
  });
}

let textEncoder: ClipTextEncoder;
let imageEncoder: ClipImageEncoder;
/** Mean colour (0.8, 0.6, 0): cosines dog 0.8, hound 0.8, tree 0.96, grass 0.6, water 0.36, sky 0. */
let amber: Buffer = Buffer.alloc(0);
/** Mean colour (0, 0, 1): cosines sky 1, water 0.8, every other tag 0. */
let blue: Buffer = Buffer.alloc(0);

beforeAll(async () => {
  const tokenizer = ClipTokenizer.fromJson(letterTokenizerJson());
  textEncoder = await ClipTextEncoder.create(textTower(), tokenizer, { session: { intraOpThreads: 1 } });
  imageEncoder = await ClipImageEncoder.create(imageTower(), { session: { intraOpThreads: 1 } });
  amber = await solidPng(204, 153, 0, SIZE);
  blue = await solidPng(0, 0, 255, SIZE);
});

afterAll(async () => {
  await textEncoder.release();
  await imageEncoder.release();
});

function tagger(options: Partial<ClipTagsOptions> = {}, texts?: TextEmbedder): ClipTagsBackend {
  return new ClipTagsBackend({
    texts: texts ?? clipTextEmbedder(textEncoder),
    images: clipImageEmbedder(imageEncoder),
    vocabulary: VOCABULARY,
    template: '{}',
    model: 'tiny-clip',
    ...options,
  });
}

const dogItem = (id: string, image: Buffer): CaptionItem => ({
  id,
  image,
  className: 'dog',
  synonyms: ['hound'],
});

describe('ClipTagsBackend on fixture CLIP towers', () => {
  it('ranks tags by cosine similarity and excludes the class name and its synonyms', async () => {
    const [amberRecord, blueRecord] = await tagger({ topK: 3, minScore: 0.3 }).caption([
      dogItem('amber', amber),
      dogItem('blue', blue),
    ]);
    // Without the exclusion, dog and hound (0.8) would rank second and third for the amber image.
    expect(amberRecord!.raw).toBe('tree, grass, water');
    expect(amberRecord!.tags!.map((t) => t.text)).toEqual(['tree', 'grass', 'water']);
    const scores = amberRecord!.tags!.map((t) => t.score);
    expect(scores[0]).toBeCloseTo(0.96, 5);
    expect(scores[1]).toBeCloseTo(0.6, 5);
    expect(scores[2]).toBeCloseTo(0.36, 5);
    expect(blueRecord!.raw).toBe('sky, water');
    expect(blueRecord!.tags![1]!.score).toBeCloseTo(0.8, 5);
    // Another class: dog and hound (tied at 0.8, vocabulary order) are tags like any other.
    const [cat] = await tagger({ topK: 3, minScore: 0.3 }).caption([
      { id: 'c', image: amber, className: 'cat' },
    ]);
    expect(cat!.raw).toBe('tree, dog, hound');
  });

  it('applies minScore, keeping at least minTags of the best tags', async () => {
    const records = await tagger({ topK: 3, minScore: 0.5 }).caption([dogItem('a', amber)]);
    expect(records[0]!.raw).toBe('tree, grass');
    const strict = await tagger({ topK: 3, minScore: 0.99, minTags: 1 }).caption([dogItem('a', amber)]);
    expect(strict[0]!.raw).toBe('tree');
    const none = await tagger({ topK: 3, minScore: 0.99, minTags: 0 }).caption([dogItem('a', amber)]);
    expect(none[0]!.error?.code).toBe('CAPTION_ERR_NO_ELEMENTS');
  });

  it('excludes a class that is itself a vocabulary word', async () => {
    const records = await tagger({ topK: 2, minScore: 0.3 }).caption([
      { id: 'b', image: blue, className: 'Sky' },
    ]);
    expect(records[0]!.raw).toBe('water');
  });

  it('records undecodable images as per-image failures', async () => {
    const records = await tagger().caption([
      dogItem('broken', Buffer.from('not a png')),
      dogItem('ok', blue),
    ]);
    expect(records[0]!.error?.code).toBe('VISION_ERR_DECODE');
    expect(records[0]!.raw).toBe('');
    expect(records[1]!.raw.startsWith('sky')).toBe(true);
  });

  it('computes the vocabulary features once per backend, and once per cache', async () => {
    const prompts: string[][] = [];
    const counting: TextEmbedder = {
      embedTexts: async (texts) => {
        prompts.push([...texts]);
        return (await textEncoder.encodeTexts(texts)).raw;
      },
    };
    const store = new Map<string, Matrix>();
    const cache: TextFeatureCache = {
      get: (key) => Promise.resolve(store.get(key)),
      set: (key, m) => {
        store.set(key, m);
        return Promise.resolve();
      },
    };
    const first = tagger({ template: '{}', cache }, counting);
    await first.caption([dogItem('a', amber)]);
    await first.caption([dogItem('b', blue)]);
    expect(prompts).toEqual([VOCABULARY]);
    const second = tagger({ template: '{}', cache }, counting);
    const records = await second.caption([dogItem('c', amber)]);
    expect(prompts).toHaveLength(1);
    expect(records[0]!.raw.split(', ')[0]).toBe('tree');
    expect([...store.keys()]).toEqual([first.featureKey]);
  });

  it('gives the caption stage its records and prompts', async () => {
    const records = await captionShard([dogItem('a', amber)], {
      backend: tagger({ topK: 2, minScore: 0.3 }),
      mode: 'clean',
    });
    expect(records[0]).toMatchObject({
      id: 'a',
      backend: 'clip-tags',
      model: 'tiny-clip',
      elements: ['tree', 'grass'],
      prompt: 'A photo only remain tree, grass.',
      raw: 'tree, grass',
    });
  });
});
