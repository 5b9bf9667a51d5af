import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  GraphBuilder,
  type Model,
  clipTextFixture,
  clipVisionFixture,
  encodeModel,
  makeTensor,
} from '@synood/graph';
import { type RgbImage, encodePng } from '@synood/vision';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ClipImageEncoder, ClipTextEncoder, ClipTokenizer, type ClipImageFeatures } from '../src';
import {
  A_PHOTO_OF_A_CAT,
  CAT_END,
  END,
  LETTER_END,
  START,
  expectClipError,
  tinyClipTokenizerJson,
} from './clip-fixtures';

const S = 32;
const EMBED = 4;
const MEAN = [0.48145466, 0.4578275, 0.40821073];
const STD = [0.26862954, 0.26130258, 0.27577711];

/** mulberry32: test data independent of the code under test. */
function testRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomImage(width: number, height: number, seed: number): RgbImage {
  const rand = testRandom(seed);
  return {
    width,
    height,
    data: Uint8Array.from({ length: width * height * 3 }, () => Math.floor(rand() * 256)),
  };
}

function constantImage(width: number, height: number, rgb: [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) {
    data[i] = rgb[i % 3]!;
  }
  return { width, height, data };
}

function bytesOf(model: Model): Uint8Array {
  return encodeModel(model).model;
}

/** pixel_values [batch, 3, S, S] → Flatten → MatMul W [3·S·S, EMBED] → image_embeds. */
function flattenVisionModel(w: Float32Array, side = S): Model {
  const b = new GraphBuilder('tiny_vision');
  const x = b.input('pixel_values', 'float32', ['batch_size', 3, side, side]);
  const flat = b.node('Flatten', [x], { axis: 1 });
  const wName = b.initializer('w', makeTensor('float32', [3 * side * side, EMBED], w));
  b.output(b.node('MatMul', [flat, wName], {}, { output: 'image_embeds' }), 'float32', ['batch_size', EMBED]);
  return b.toModel(17);
}

/**
 * The expected embedding worked out independently: crop the S×S window at (left, top) of the 8-bit image,
 * scale to [0, 1], normalise with CLIP's mean/std, flatten C-H-W, multiply by W.
 */
function expectedEmbedding(image: RgbImage, left: number, top: number, w: Float32Array): number[] {
  const out = new Array<number>(EMBED).fill(0);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const v = image.data[((y + top) * image.width + (x + left)) * 3 + c]!;
        const value = (v / 255 - MEAN[c]!) / STD[c]!;
        const i = (c * S + y) * S + x;
        for (let j = 0; j < EMBED; j++) {
          out[j]! += value * w[i * EMBED + j]!;
        }
      }
    }
  }
  return out;
}

function rowOf(m: { cols: number; data: Float32Array }, r: number): number[] {
  return Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols));
}

function expectClose(actual: number[], expected: number[], tol: number): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => {
    expect(Math.abs(a - expected[i]!)).toBeLessThanOrEqual(tol);
  });
}

describe('ClipImageEncoder', () => {
  let dir: string;
  const rand = testRandom(7);
  const w = Float32Array.from({ length: 3 * S * S * EMBED }, () => 0.1 * rand() - 0.05);
  // a: already S×S (identity resize); b: 40×32 (identity resize, crop left 4); c: 32×36 (crop top 2);
  // d: 64×48 constant colour (a real resize; constant stays constant); e: bytes, not a file.
  const a = randomImage(32, 32, 1);
  const b = randomImage(40, 32, 2);
  const c = randomImage(32, 36, 3);
  const d = constantImage(64, 48, [200, 100, 50]);
  const e = randomImage(32, 32, 5);
  let files: Record<string, string>;
  let eBytes: Buffer;
  let encoder: ClipImageEncoder;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'synood-clip-img-'));
    files = {
      a: join(dir, 'a.png'),
      b: join(dir, 'b.png'),
      c: join(dir, 'c.png'),
      d: join(dir, 'd.png'),
      broken: join(dir, 'broken.jpg'),
      missing: join(dir, 'missing.png'),
    };
    await writeFile(files.a!, await encodePng(a));
    await writeFile(files.b!, await encodePng(b));
    await writeFile(files.c!, await encodePng(c));
    await writeFile(files.d!, await encodePng(d));
    await writeFile(files.broken!, Buffer.from('this is not a JPEG'));
    eBytes = await encodePng(e);
    encoder = await ClipImageEncoder.create(bytesOf(flattenVisionModel(w)), {
      session: { intraOpThreads: 1 },
    });
  });
  afterAll(async () => {
    await encoder.release();
    await rm(dir, { recursive: true, force: true });
  });

  const inputs = (): Parameters<ClipImageEncoder['encodeImages']>[0] => [
    files.a!,
    files.broken!,
    files.b!,
    files.c!,
    files.missing!,
    files.d!,
    { bytes: eBytes, name: 'e-in-memory' },
  ];

  function checkFeatures(f: ClipImageFeatures): void {
    expect(f.indices).toEqual([0, 2, 3, 5, 6]);
    expect(f.names).toEqual([files.a, files.b, files.c, files.d, 'e-in-memory']);
    expect([f.raw.rows, f.raw.cols]).toEqual([5, EMBED]);
    const dConst = constantImage(S, S, [200, 100, 50]);
    const expected = [
      expectedEmbedding(a, 0, 0, w),
      expectedEmbedding(b, 4, 0, w),
      expectedEmbedding(c, 0, 2, w),
      expectedEmbedding(dConst, 0, 0, w),
      expectedEmbedding(e, 0, 0, w),
    ];
    expected.forEach((row, r) => {
      expectClose(rowOf(f.raw, r), row, 2e-4);
      const norm = Math.hypot(...row);
      expectClose(
        rowOf(f.normalized, r),
        row.map((v) => v / norm),
        1e-4,
      );
    });
  }

  it('sizes the default CLIP preset to the model input', () => {
    expect(encoder.preset.cropSize).toBe(S);
    expect(encoder.preset.resizeShortSide).toBe(S);
    expect(encoder.preset.kernel).toBe('bicubic');
  });

  it('embeds files and buffers in batches, matching preprocessing + model computed by hand', async () => {
    const progress: [number, number][] = [];
    const f = await encoder.encodeImages(inputs(), {
      batchSize: 2,
      onBatch: (done, total) => progress.push([done, total]),
    });
    checkFeatures(f);
    expect(progress).toEqual([
      [2, 7],
      [4, 7],
      [6, 7],
      [7, 7],
    ]);
  });

  it('reports unreadable and undecodable files with coded errors naming them, without failing the batch', async () => {
    const f = await encoder.encodeImages(inputs(), { batchSize: 3 });
    expect(f.failures.map((x) => [x.index, x.name, x.error.code])).toEqual([
      [1, files.broken, 'VISION_ERR_DECODE'],
      [4, files.missing, 'MODELS_ERR_CLIP_IMAGE_READ'],
    ]);
    expect(f.failures[0]!.error.message).toContain('broken.jpg');
    expect(f.failures[1]!.error.message).toContain('missing.png');
    checkFeatures(f);
  });

  it('gives the same features whatever the batch size and decode concurrency', async () => {
    const one = await encoder.encodeImages(inputs(), { batchSize: 1, decodeConcurrency: 1 });
    const all = await encoder.encodeImages(inputs(), { batchSize: 16 });
    expect(one.indices).toEqual(all.indices);
    expectClose(Array.from(one.raw.data), Array.from(all.raw.data), 1e-5);
  });

  it('returns empty features when nothing decodes, and for no input', async () => {
    const f = await encoder.encodeImages([files.broken!]);
    expect(f.raw.rows).toBe(0);
    expect(f.failures).toHaveLength(1);
    expect((await encoder.encodeImages([])).raw.rows).toBe(0);
  });

  it('rejects models without the expected inputs and outputs, listing what they have', async () => {
    const g = new GraphBuilder('wrong');
    const x = g.input('images', 'float32', ['n', 3, S, S]);
    g.output(g.node('Flatten', [x], { axis: 1 }, { output: 'features' }), 'float32', ['n', 3 * S * S]);
    const bytes = bytesOf(g.toModel(17));
    await expectClipError(
      () => ClipImageEncoder.create(bytes),
      'MODELS_ERR_CLIP_MODEL_IO',
      /no input pixel_values \(inputs: images float32\[n, 3, 32, 32\]; outputs: features float32\[n, 3072\]\)/,
    );
    await expectClipError(
      () => ClipImageEncoder.create(bytes, { inputName: 'images' }),
      'MODELS_ERR_CLIP_MODEL_IO',
      /no output image_embeds/,
    );
    const renamed = await ClipImageEncoder.create(bytes, { inputName: 'images', outputName: 'features' });
    const f = await renamed.encodeImages([files.a!]);
    expect([f.raw.rows, f.raw.cols]).toEqual([1, 3 * S * S]);
    await renamed.release();
    await expectClipError(() => renamed.encodeImages([files.a!]), 'MODELS_ERR_CLIP_RELEASED');
  });

  it('rejects a preset whose crop differs from the model input, and bad options', async () => {
    await expectClipError(
      () =>
        ClipImageEncoder.create(bytesOf(flattenVisionModel(w)), {
          preset: { ...encoder.preset, name: 'big', resizeShortSide: 64, cropSize: 64 },
        }),
      'MODELS_ERR_CLIP_MODEL_IO',
      /takes 32×32 images but preset big crops 64×64/,
    );
    await expectClipError(
      () => encoder.encodeImages([files.a!], { batchSize: 0 }),
      'MODELS_ERR_CLIP_ARGUMENT',
    );
  });
});

describe('ClipTextEncoder', () => {
  const tokenizer = ClipTokenizer.fromJson(tinyClipTokenizerJson());
  // "a photo of a cat." and "a cat" by hand (see clip-fixtures.ts).
  const photo = [...A_PHOTO_OF_A_CAT];
  const cat = [START, LETTER_END('a'), CAT_END, END];
  const padded = (ids: number[]): number[] => [...ids, ...new Array<number>(77 - ids.length).fill(END)];
  // Small integer weights keep every product and sum exact in float32 (|sum| ≤ 77·3·49407 < 2^24).
  const wRand = testRandom(11);
  const w = Float32Array.from({ length: 77 * 3 }, () => Math.floor(wRand() * 7) - 3);

  /** input_ids int64 [batch, 77] → Cast → MatMul W [77, 3] → text_embeds. */
  function linearTextModel(seq: number): Model {
    const g = new GraphBuilder('tiny_text');
    const ids = g.input('input_ids', 'int64', ['batch_size', seq]);
    const f = g.node('Cast', [ids], { to: 1 });
    const wName = g.initializer(
      'w',
      makeTensor('float32', [seq, 3], seq === 77 ? w : new Float32Array(seq * 3)),
    );
    g.output(g.node('MatMul', [f, wName], {}, { output: 'text_embeds' }), 'float32', ['batch_size', 3]);
    return g.toModel(17);
  }

  /** input_ids and attention_mask int32 [batch, seq] → Σ ids·mask → × [1, −2] → text_embeds. */
  function maskedSumModel(): Model {
    const g = new GraphBuilder('tiny_text_masked');
    const ids = g.input('input_ids', 'int32', ['batch_size', 'sequence_length']);
    const mask = g.input('attention_mask', 'int32', ['batch_size', 'sequence_length']);
    const prod = g.node('Mul', [g.node('Cast', [ids], { to: 1 }), g.node('Cast', [mask], { to: 1 })]);
    const sum = g.node('ReduceSum', [prod, g.int64s([1])], { keepdims: 1 });
    const scale = g.initializer('scale', makeTensor('float32', [1, 2], [1, -2]));
    g.output(g.node('Mul', [sum, scale], {}, { output: 'text_embeds' }), 'float32', ['batch_size', 2]);
    return g.toModel(17);
  }

  function dot(ids: number[]): number[] {
    return [0, 1, 2].map((j) => ids.reduce((s, id, t) => s + id * w[t * 3 + j]!, 0));
  }

  it('feeds int64 ids padded to 77 and returns raw and normalised text_embeds computed by hand', async () => {
    const enc = await ClipTextEncoder.create(bytesOf(linearTextModel(77)), tokenizer);
    try {
      const f = await enc.encodeTexts(['a photo of a cat.', 'a cat', 'A  CAT'], { batchSize: 2 });
      const expected = [dot(padded(photo)), dot(padded(cat)), dot(padded(cat))];
      expect([f.raw.rows, f.raw.cols]).toEqual([3, 3]);
      expected.forEach((row, r) => {
        expect(rowOf(f.raw, r)).toEqual(row);
        const norm = Math.hypot(...row);
        expectClose(
          rowOf(f.normalized, r),
          row.map((v) => v / norm),
          1e-6,
        );
      });
      expect(f.truncated).toEqual([]);
    } finally {
      await enc.release();
    }
  });

  it('feeds int32 ids and the attention mask when the model declares them, padding to the longest prompt', async () => {
    const enc = await ClipTextEncoder.create(bytesOf(maskedSumModel()), tokenizer, { padTo: 'longest' });
    try {
      const long = new Array<string>(80).fill('a').join(' ');
      const f = await enc.encodeTexts(['a photo of a cat.', 'a cat', long]);
      const sum = (ids: number[]): number => ids.reduce((s, v) => s + v, 0);
      const longSum = START + 75 * LETTER_END('a') + END;
      expect(Array.from(f.raw.data)).toEqual([
        sum(photo),
        -2 * sum(photo),
        sum(cat),
        -2 * sum(cat),
        longSum,
        -2 * longSum,
      ]);
      expect(f.truncated).toEqual([2]);
    } finally {
      await enc.release();
    }
  });

  it('rejects a model whose fixed sequence length differs from the tokenizer, or without input_ids', async () => {
    await expectClipError(
      () => ClipTextEncoder.create(bytesOf(linearTextModel(16)), tokenizer),
      'MODELS_ERR_CLIP_MODEL_IO',
      /takes 16 tokens per prompt but the tokenizer's context length is 77/,
    );
    const g = new GraphBuilder('wrong');
    const x = g.input('tokens', 'float32', ['n', 77]);
    g.output(g.node('Identity', [x], {}, { output: 'text_embeds' }), 'float32', ['n', 77]);
    await expectClipError(
      () => ClipTextEncoder.create(bytesOf(g.toModel(17)), tokenizer),
      'MODELS_ERR_CLIP_MODEL_IO',
      /no input input_ids \(inputs: tokens float32\[n, 77\]/,
    );
  });
});

describe('CLIP fixtures from @synood/graph', () => {
  it('vision: ViT-shaped tower gives unit-norm features independent of the batch split', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'synood-clip-fix-'));
    const enc = await ClipImageEncoder.create(bytesOf(clipVisionFixture({ seed: 3 })), {
      session: { intraOpThreads: 1 },
    });
    try {
      const paths = await Promise.all(
        [randomImage(48, 40, 21), randomImage(32, 32, 22), randomImage(50, 70, 23)].map(async (img, i) => {
          const p = join(dir, `${i}.png`);
          await writeFile(p, await encodePng(img));
          return p;
        }),
      );
      const together = await enc.encodeImages(paths, { batchSize: 3 });
      const apart = await enc.encodeImages(paths, { batchSize: 1 });
      expect([together.raw.rows, together.raw.cols]).toEqual([3, 16]);
      expectClose(Array.from(together.raw.data), Array.from(apart.raw.data), 1e-5);
      for (let r = 0; r < 3; r++) {
        expect(Math.hypot(...rowOf(together.normalized, r))).toBeCloseTo(1, 5);
      }
    } finally {
      await enc.release();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('text: the causal tower gives the same feature padded to 77 or to the longest prompt', async () => {
    const bytes = bytesOf(clipTextFixture({ seed: 4 }));
    const full = await ClipTextEncoder.create(bytes, tokenizer(), { padTo: 'context' });
    const short = await ClipTextEncoder.create(bytes, tokenizer(), { padTo: 'longest' });
    try {
      const texts = ['a photo of a cat.', 'a cat', 'tomato [cat'];
      const a = await full.encodeTexts(texts);
      const b = await short.encodeTexts(texts);
      expect([a.raw.rows, a.raw.cols]).toEqual([3, 16]);
      expectClose(Array.from(a.raw.data), Array.from(b.raw.data), 1e-5);
      // Different prompts, different features.
      expect(rowOf(a.raw, 0)).not.toEqual(rowOf(a.raw, 1));
    } finally {
      await full.release();
      await short.release();
    }
  });
});

function tokenizer(): ClipTokenizer {
  return ClipTokenizer.fromJson(tinyClipTokenizerJson());
}
