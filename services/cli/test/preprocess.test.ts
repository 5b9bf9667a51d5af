import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeNpy } from '@synood/tensor';
import { type RgbImage, encodePng } from '@synood/vision';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { registerPreprocessCommand } from '../src/commands/preprocess';
import { type CliRun, runCli } from './support/run-cli';

const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];
const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

const run = (args: string[]): Promise<CliRun> => runCli(registerPreprocessCommand, args);

function patterned(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = (x * 7 + y) % 256;
      data[i + 1] = (x + y * 5) % 256;
      data[i + 2] = (x * y) % 256;
    }
  }
  return { width, height, data };
}

/** Element (c, y, x) of the expected tensor: the crop window at (left, top), scaled and normalised. */
function expectedAt(
  image: RgbImage,
  c: number,
  y: number,
  x: number,
  left: number,
  top: number,
  mean: number[],
  std: number[],
): number {
  const v = image.data[((y + top) * image.width + (x + left)) * 3 + c]!;
  return (v / 255 - mean[c]!) / std[c]!;
}

describe('synood preprocess', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'synood-preprocess-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the CLIP input of a 224×224 image: no resize, no crop, CLIP mean/std', async () => {
    const image = patterned(224, 224);
    const file = join(dir, 'p224.png');
    await writeFile(file, await encodePng(image));
    const out = join(dir, 'p224.npy');
    const r = await run(['preprocess', '--image', file, '--out', out]);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toContain('float32[1, 3, 224, 224]');
    const t = decodeNpy(await readFile(out));
    expect(t.dtype).toBe('float32');
    expect(t.shape).toEqual([1, 3, 224, 224]);
    const data = t.data as Float32Array;
    let worst = 0;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 224; y++) {
        for (let x = 0; x < 224; x++) {
          const got = data[(c * 224 + y) * 224 + x]!;
          worst = Math.max(worst, Math.abs(got - expectedAt(image, c, y, x, 0, 0, CLIP_MEAN, CLIP_STD)));
        }
      }
    }
    expect(worst).toBeLessThan(1e-6);
  });

  it('writes the ResNet input of a 232×240 image: short side already 232, centre crop at (8, 4)', async () => {
    const image = patterned(240, 232);
    const file = join(dir, 'p240.png');
    await writeFile(file, await encodePng(image));
    const out = join(dir, 'p240.npy');
    expect((await run(['preprocess', '--image', file, '--preset', 'resnet', '--out', out])).code).toBe(0);
    const t = decodeNpy(await readFile(out));
    expect(t.shape).toEqual([1, 3, 224, 224]);
    const data = t.data as Float32Array;
    // (240 − 224) / 2 = 8 columns and (232 − 224) / 2 = 4 rows are cut on each side.
    for (const [c, y, x] of [
      [0, 0, 0],
      [1, 100, 37],
      [2, 223, 223],
      [0, 57, 200],
    ] as const) {
      expect(data[(c * 224 + y) * 224 + x]).toBeCloseTo(
        expectedAt(image, c, y, x, 8, 4, IMAGENET_MEAN, IMAGENET_STD),
        6,
      );
    }
  });

  it('keeps a constant colour constant through a real resize (clip-bilinear)', async () => {
    const rgb = [10, 128, 250];
    const data = new Uint8Array(300 * 100 * 3).map((_, i) => rgb[i % 3]!);
    const file = join(dir, 'const.png');
    await writeFile(file, await encodePng({ width: 300, height: 100, data }));
    const out = join(dir, 'const.npy');
    expect((await run(['preprocess', '--image', file, '--preset', 'clip-bilinear', '--out', out])).code).toBe(
      0,
    );
    const t = decodeNpy(await readFile(out)).data as Float32Array;
    for (let c = 0; c < 3; c++) {
      const expected = (rgb[c]! / 255 - CLIP_MEAN[c]!) / CLIP_STD[c]!;
      const plane = t.subarray(c * 224 * 224, (c + 1) * 224 * 224);
      expect(Math.max(...Array.from(plane, (v) => Math.abs(v - expected)))).toBeLessThan(1e-6);
    }
  });

  it('fails with coded errors for a missing file, an undecodable file and an unknown preset', async () => {
    const missing = await run(['preprocess', '--image', join(dir, 'nope.png'), '--out', join(dir, 'x.npy')]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^error \[CLI_ERR_FILE_NOT_FOUND\]: .*nope\.png: no such file/);
    const broken = join(dir, 'broken.jpg');
    await writeFile(broken, 'not a jpeg');
    const bad = await run(['preprocess', '--image', broken, '--out', join(dir, 'x.npy')]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^error \[VISION_ERR_DECODE\]: cannot decode image .*broken\.jpg/);
    const preset = await run([
      'preprocess',
      '--image',
      broken,
      '--preset',
      'vgg',
      '--out',
      join(dir, 'x.npy'),
    ]);
    expect(preset.code).toBe(2);
    expect(preset.err).toMatch(/CLI_ERR_USAGE.*vgg/);
  });
});
