/**
 * `synood caption --backend clip-tags` on tiny CLIP-like towers written to disk: the text tower sums token
 * rows of which only word-final letters are non-zero (a one-word prompt's feature is its last letter's
 * row), the image tower returns the mean colour in [0, 1]. Similarities are then known by hand.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { clipLetterVocab, clipTokenizerJson } from '@synood/models';
import { buildModel, intAttr } from '@synood/onnx';
import { CLIP_PRESET, encodePng } from '@synood/vision';

import { registerCaptionCommand } from '../src/commands/caption';
import { buildProgram, runProgram } from '../src/program';

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const START = 52;
const END = 53;
const SIZE = 16;

/** Letters and word-final letters, no merges, so a word is its letters. */
function tokenizerJson(): unknown {
  return clipTokenizerJson(clipLetterVocab({ start: START, end: END }), []);
}

/** dog → g (1,0,0), tree → e (0.6,0.8,0), grass → s (0,1,0), water → r (0,0.6,0.8). */
function textTower(): Uint8Array {
  const table = new Float32Array(54 * 3);
  const rows: [string, number[]][] = [
    ['g', [1, 0, 0]],
    ['e', [0.6, 0.8, 0]],
    ['s', [0, 1, 0]],
    ['r', [0, 0.6, 0.8]],
  ];
  for (const [c, row] of rows) {
    table.set(row, (26 + LETTERS.indexOf(c)) * 3);
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
        inputs: ['tokens', 'axis'],
        outputs: ['text_embeds'],
        attributes: { keepdims: intAttr(0) },
      },
    ],
    inputs: [{ name: 'input_ids', type: 'int64', dims: ['batch', 'sequence'] }],
    outputs: [{ name: 'text_embeds', dims: ['batch', 3] }],
    initializers: [
      { name: 'table', type: 'float32', dims: [54, 3], values: table },
      { name: 'axis', type: 'int64', dims: [1], values: [1] },
    ],
  });
}

function imageTower(): Uint8Array {
  return buildModel({
    nodes: [
      {
        opType: 'ReduceMean',
        inputs: ['pixel_values'],
        outputs: ['m'],
        attributes: { axes: { kind: 'ints', value: [2, 3] }, keepdims: intAttr(0) },
      },
      { opType: 'Mul', inputs: ['m', 'std'], outputs: ['s'] },
      { opType: 'Add', inputs: ['s', 'mean'], outputs: ['image_embeds'] },
    ],
    inputs: [{ name: 'pixel_values', dims: ['batch', 3, SIZE, SIZE] }],
    outputs: [{ name: 'image_embeds', dims: ['batch', 3] }],
    initializers: [
      { name: 'std', type: 'float32', dims: [3], values: CLIP_PRESET.std },
      { name: 'mean', type: 'float32', dims: [3], values: CLIP_PRESET.mean },
    ],
  });
}

let dir = '';
const files = { text: '', image: '', tokenizer: '', vocabulary: '', photo: '' };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'synood-cli-clip-tags-'));
  files.text = join(dir, 'text_model.onnx');
  files.image = join(dir, 'vision_model.onnx');
  files.tokenizer = join(dir, 'tokenizer.json');
  files.vocabulary = join(dir, 'tags.txt');
  files.photo = join(dir, 'dog.png');
  writeFileSync(files.text, textTower());
  writeFileSync(files.image, imageTower());
  writeFileSync(files.tokenizer, JSON.stringify(tokenizerJson()));
  writeFileSync(files.vocabulary, '# tags\ndog\ntree\ngrass\nwater\n');
  // Mean colour (0.8, 0.6, 0): cosines dog 0.8, tree 0.96, grass 0.6, water 0.36.
  const data = new Uint8Array(SIZE * SIZE * 3);
  for (let i = 0; i < SIZE * SIZE; i++) {
    data.set([204, 153, 0], i * 3);
  }
  writeFileSync(files.photo, await encodePng({ width: SIZE, height: SIZE, data }));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('synood caption --backend clip-tags', () => {
  it('tags the image with the fixture towers, excluding the class, and caches the text features', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const program = buildProgram({ writeOut: (t) => out.push(t), writeErr: (t) => err.push(t) });
    registerCaptionCommand(program, { env: {} });
    const code = await runProgram(program, [
      'caption',
      '--image',
      files.photo,
      '--class',
      'dog',
      '--backend',
      'clip-tags',
      '--clip-text',
      files.text,
      '--clip-image',
      files.image,
      '--clip-tokenizer',
      files.tokenizer,
      '--vocabulary',
      files.vocabulary,
      '--models-dir',
      join(dir, 'cache'),
      '--model',
      'tiny-clip',
      '--top-k',
      '2',
      '--min-score',
      '0.5',
      '--mode',
      'clean',
      '--no-wordnet',
      '--json',
    ]);
    expect(err.join('')).toBe('');
    expect(code).toBe(0);
    const record = JSON.parse(out.join('')) as {
      elements: string[];
      prompt: string;
      tags: { score: number }[];
    };
    expect(record.elements).toEqual(['tree', 'grass']);
    expect(record.prompt).toBe('A photo only remain tree, grass.');
    expect(record.tags[0]!.score).toBeCloseTo(0.96, 5);
    expect(record.tags[1]!.score).toBeCloseTo(0.6, 5);
    expect(existsSync(join(dir, 'cache', 'caption-features'))).toBe(true);
    expect(
      readdirSync(join(dir, 'cache', 'caption-features')).filter((f) => f.endsWith('.npy')),
    ).toHaveLength(1);
  });
});
