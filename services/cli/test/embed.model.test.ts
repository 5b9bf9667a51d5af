import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GraphBuilder, type Model, encodeModel, makeTensor } from '@synood/graph';
import { clipLetterVocab, clipTokenizerJson } from '@synood/models';
import { decodeNpy } from '@synood/tensor';
import { type RgbImage, encodePng } from '@synood/vision';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type EmbedSidecar, registerEmbedCommand } from '../src/commands/embed';
import { type CliRun, runCli } from './support/run-cli';

const MEAN = [0.48145466, 0.4578275, 0.40821073];
const STD = [0.26862954, 0.26130258, 0.27577711];

const run = (args: string[]): Promise<CliRun> => runCli(registerEmbedCommand, args);

function solid(width: number, height: number, rgb: readonly number[]): RgbImage {
  return { width, height, data: new Uint8Array(width * height * 3).map((_, i) => rgb[i % 3]!) };
}

/** Left half one colour, right half another: S×S, so the CLIP preprocessing leaves it unchanged. */
function halves(side: number, left: readonly number[], right: readonly number[]): RgbImage {
  const data = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      data.set(x < side / 2 ? left : right, (y * side + x) * 3);
    }
  }
  return { width: side, height: side, data };
}

const norm = (v: number, c: number): number => (v / 255 - MEAN[c]!) / STD[c]!;

/** pixel_values [n, 3, 16, 16] → GlobalAveragePool → Flatten → image_embeds [n, 3]: per-channel means. */
function channelMeanModel(): Model {
  const b = new GraphBuilder('channel_mean');
  const x = b.input('pixel_values', 'float32', ['batch_size', 3, 16, 16]);
  const pooled = b.node('GlobalAveragePool', [x]);
  b.output(b.node('Flatten', [pooled], { axis: 1 }, { output: 'image_embeds' }), 'float32', [
    'batch_size',
    3,
  ]);
  return b.toModel(17);
}

/** input_ids, attention_mask int64 → [Σ ids·mask, 1] as text_embeds. */
function maskedSumModel(): Model {
  const b = new GraphBuilder('masked_sum');
  const ids = b.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const mask = b.input('attention_mask', 'int64', ['batch_size', 'sequence_length']);
  const prod = b.node('Mul', [b.node('Cast', [ids], { to: 1 }), b.node('Cast', [mask], { to: 1 })]);
  const sum = b.node('ReduceSum', [prod, b.int64s([1])], { keepdims: 1 });
  const scaled = b.node('Mul', [sum, b.initializer('pick', makeTensor('float32', [1, 2], [1, 0]))]);
  const out = b.node(
    'Add',
    [scaled, b.initializer('one', makeTensor('float32', [1, 2], [0, 1]))],
    {},
    {
      output: 'text_embeds',
    },
  );
  b.output(out, 'float32', ['batch_size', 2]);
  return b.toModel(17);
}

/** Letters a–z (ids 0–25), word-final letters (26–51), no merges, CLIP's special tokens and pipeline. */
function letterTokenizerJson(): Record<string, unknown> {
  return clipTokenizerJson(clipLetterVocab(), []);
}

describe('synood embed', () => {
  let dir: string;
  let images: string;
  let vision: string;
  let text: string;
  let tokenizer: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'synood-embed-'));
    images = join(dir, 'images');
    await mkdir(join(images, 'cat'), { recursive: true });
    await mkdir(join(images, 'dog'), { recursive: true });
    await mkdir(join(images, '.cache'), { recursive: true });
    await writeFile(join(images, 'cat', 'a.png'), await encodePng(solid(40, 30, [255, 0, 128])));
    await writeFile(join(images, 'dog', 'b.PNG'), await encodePng(halves(16, [0, 0, 0], [200, 100, 50])));
    await writeFile(join(images, 'broken.jpg'), 'not a jpeg');
    await writeFile(join(images, 'notes.txt'), 'not an image, not listed');
    await writeFile(join(images, '.cache', 'c.png'), await encodePng(solid(16, 16, [1, 2, 3])));
    vision = join(dir, 'vision.onnx');
    await writeFile(vision, encodeModel(channelMeanModel()).model);
    text = join(dir, 'text.onnx');
    await writeFile(text, encodeModel(maskedSumModel()).model);
    tokenizer = join(dir, 'tokenizer.json');
    await writeFile(tokenizer, JSON.stringify(letterTokenizerJson()));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // Per-channel means after CLIP normalisation, by hand: a constant image stays constant through the
  // resize; the 16×16 halves image is not resized, so its mean is the mean of the two halves.
  const catRow = [255, 0, 128].map((v, c) => norm(v, c));
  const dogRow = [0, 1, 2].map((c) => (norm([0, 0, 0][c]!, c) + norm([200, 100, 50][c]!, c)) / 2);

  it('embeds every image under the folder in sorted order, L2-normalised, with a sidecar and skipped files', async () => {
    const out = join(dir, 'images.npy');
    const r = await run([
      'embed',
      'images',
      '--input',
      images,
      '--out',
      out,
      '--model',
      vision,
      '--batch-size',
      '2',
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('embedded 2 of 3 images');
    expect(r.out).toMatch(/broken\.jpg: \[VISION_ERR_DECODE\]/);
    const a = decodeNpy(await readFile(out));
    expect(a.dtype).toBe('float32');
    expect(a.shape).toEqual([2, 3]);
    const data = Array.from(a.data as Float32Array);
    [catRow, dogRow].forEach((row, r) => {
      const n = Math.hypot(...row);
      row.forEach((v, c) => {
        expect(data[r * 3 + c]).toBeCloseTo(v / n, 5);
      });
    });
    const sidecar = JSON.parse(await readFile(`${out}.json`, 'utf8')) as EmbedSidecar;
    expect(sidecar).toMatchObject({ kind: 'images', model: vision, shape: [2, 3], normalized: true });
    expect(sidecar.files).toEqual([join('cat', 'a.png'), join('dog', 'b.PNG')]);
    expect(sidecar.failures).toHaveLength(1);
    expect(sidecar.failures![0]).toMatchObject({ file: 'broken.jpg', code: 'VISION_ERR_DECODE' });
  });

  it('writes the raw features with --raw', async () => {
    const out = join(dir, 'raw.npy');
    const r = await run(['embed', 'images', '--input', images, '--out', out, '--model', vision, '--raw']);
    expect(r.code).toBe(0);
    const data = Array.from(decodeNpy(await readFile(out)).data as Float32Array);
    [...catRow, ...dogRow].forEach((v, i) => {
      expect(data[i]).toBeCloseTo(v, 5);
    });
    expect((JSON.parse(await readFile(`${out}.json`, 'utf8')) as EmbedSidecar).normalized).toBe(false);
  });

  it('embeds labels through a template with the tokenizer, rows in file order', async () => {
    const labels = join(dir, 'labels.txt');
    await writeFile(labels, 'cat\n\n# a comment\n  ab  \n');
    const out = join(dir, 'texts.npy');
    const r = await run([
      'embed',
      'texts',
      '--input',
      labels,
      '--out',
      out,
      '--model',
      text,
      '--tokenizer',
      tokenizer,
      '--template',
      'a {}',
      '--raw',
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    // "a cat": start, a</w> = 26, c = 2, a = 0, t</w> = 26 + 19, end; "a ab": start, 26, a = 0, b</w> = 27, end.
    const sums = [49406 + 26 + 2 + 0 + 45 + 49407, 49406 + 26 + 0 + 27 + 49407];
    const a = decodeNpy(await readFile(out));
    expect(a.shape).toEqual([2, 2]);
    expect(Array.from(a.data as Float32Array)).toEqual([sums[0], 1, sums[1], 1]);
    const sidecar = JSON.parse(await readFile(`${out}.json`, 'utf8')) as EmbedSidecar;
    expect(sidecar).toMatchObject({
      kind: 'texts',
      labels: ['cat', 'ab'],
      prompts: ['a cat', 'a ab'],
      truncated: [],
    });

    const normOut = join(dir, 'texts-norm.npy');
    expect(
      (
        await run([
          'embed',
          'texts',
          '--input',
          labels,
          '--out',
          normOut,
          '--model',
          text,
          '--tokenizer',
          tokenizer,
          '--template',
          'a {}',
          '--pad-to',
          'longest',
        ])
      ).code,
    ).toBe(0);
    const n = Array.from(decodeNpy(await readFile(normOut)).data as Float32Array);
    sums.forEach((s, r) => {
      expect(n[2 * r]).toBeCloseTo(s / Math.hypot(s, 1), 6);
      expect(n[2 * r + 1]).toBeCloseTo(1 / Math.hypot(s, 1), 9);
    });
  });

  it('fails with coded errors and exit codes for bad input', async () => {
    const missing = await run([
      'embed',
      'images',
      '--input',
      join(dir, 'nope'),
      '--out',
      join(dir, 'x.npy'),
      '--model',
      vision,
    ]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^error \[CLI_ERR_FILE_NOT_FOUND\]/);
    const wrongModel = await run([
      'embed',
      'images',
      '--input',
      images,
      '--out',
      join(dir, 'x.npy'),
      '--model',
      text,
    ]);
    expect(wrongModel.code).toBe(1);
    expect(wrongModel.err).toMatch(
      /^error \[MODELS_ERR_CLIP_MODEL_IO\]: .*no input pixel_values \(inputs: input_ids int64/,
    );
    const empty = join(dir, 'empty');
    await mkdir(empty);
    const none = await run([
      'embed',
      'images',
      '--input',
      empty,
      '--out',
      join(dir, 'x.npy'),
      '--model',
      vision,
    ]);
    expect(none.err).toMatch(/^error \[CLI_ERR_NO_IMAGES\]/);
    const batch = await run([
      'embed',
      'images',
      '--input',
      images,
      '--out',
      join(dir, 'x.npy'),
      '--model',
      vision,
      '--batch-size',
      '0',
    ]);
    expect(batch.code).toBe(2);
    expect(batch.err).toMatch(/CLI_ERR_USAGE.*positive integer/);
    const labels = join(dir, 'labels.txt');
    const template = await run([
      'embed',
      'texts',
      '--input',
      labels,
      '--out',
      join(dir, 'x.npy'),
      '--model',
      text,
      '--tokenizer',
      tokenizer,
      '--template',
      'no slot',
    ]);
    expect(template.code).toBe(2);
    expect(template.err).toMatch(/CLI_ERR_USAGE.*has no \{\}/);
    const noTokenizer = await run([
      'embed',
      'texts',
      '--input',
      labels,
      '--out',
      join(dir, 'x.npy'),
      '--model',
      text,
    ]);
    expect(noTokenizer.code).toBe(2);
    expect(noTokenizer.err).toMatch(/--tokenizer/);
  });
});
