import { describe, expect, it } from '@jest/globals';

import { CLIP_PRESET, preprocess, preprocessBatch, RESNET_PRESET } from '../src';
import { png, rgbImage, solid } from './helpers';

const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];
const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];
const PLANE = 224 * 224;

describe('presets', () => {
  it('hold the reference constants', () => {
    expect(CLIP_PRESET).toMatchObject({
      resizeShortSide: 224,
      kernel: 'bicubic',
      antialias: true,
      cropSize: 224,
    });
    expect(CLIP_PRESET.mean).toEqual(CLIP_MEAN);
    expect(CLIP_PRESET.std).toEqual(CLIP_STD);
    expect(RESNET_PRESET).toMatchObject({
      resizeShortSide: 232,
      kernel: 'bilinear',
      antialias: true,
      cropSize: 224,
    });
    expect(RESNET_PRESET.mean).toEqual(IMAGENET_MEAN);
    expect(RESNET_PRESET.std).toEqual(IMAGENET_STD);
  });
});

describe('preprocess', () => {
  it('gives [1, 3, 224, 224] with the normalised colour for a solid 640×480 image (CLIP)', async () => {
    const t = await preprocess(await png(solid(640, 480, [30, 120, 210])), 'solid.png', CLIP_PRESET);
    expect(t.dims).toEqual([1, 3, 224, 224]);
    expect(t.data.length).toBe(3 * PLANE);
    [30, 120, 210].forEach((v, c) => {
      const expected = (v / 255 - CLIP_MEAN[c]!) / CLIP_STD[c]!;
      expect(t.data[c * PLANE]).toBeCloseTo(expected, 5);
      expect(t.data[c * PLANE + PLANE - 1]).toBeCloseTo(expected, 5);
    });
  });

  it("crops at torchvision's offsets: CLIP on 300×224 keeps columns 38…261", async () => {
    // The short side is already 224, so no resampling; left = round(76 / 2) = 38.
    const img = rgbImage(300, 224, (x, y) => [x % 256, y, 0]);
    const t = await preprocess(await png(img), 'ramp.png', CLIP_PRESET);
    expect(t.data[0]).toBeCloseTo((38 / 255 - CLIP_MEAN[0]!) / CLIP_STD[0]!, 5); // R at (0, 0)
    expect(t.data[223]).toBeCloseTo((((38 + 223) % 256) / 255 - CLIP_MEAN[0]!) / CLIP_STD[0]!, 5); // R at (223, 0)
    expect(t.data[PLANE + 100 * 224]).toBeCloseTo((100 / 255 - CLIP_MEAN[1]!) / CLIP_STD[1]!, 5); // G at (0, 100)
  });

  it('crops at torchvision offsets: ResNet on 464×232 starts at (120, 4)', async () => {
    const img = rgbImage(464, 232, (x, y) => [x % 256, y, 7]);
    const t = await preprocess(await png(img), 'ramp.png', RESNET_PRESET);
    expect(t.dims).toEqual([1, 3, 224, 224]);
    expect(t.data[0]).toBeCloseTo((120 / 255 - IMAGENET_MEAN[0]!) / IMAGENET_STD[0]!, 5);
    expect(t.data[PLANE]).toBeCloseTo((4 / 255 - IMAGENET_MEAN[1]!) / IMAGENET_STD[1]!, 5);
    expect(t.data[2 * PLANE]).toBeCloseTo((7 / 255 - IMAGENET_MEAN[2]!) / IMAGENET_STD[2]!, 5);
  });

  it('upscales small images to the crop size and accepts preset variants', async () => {
    const small = await png(solid(50, 20, [255, 255, 255]));
    const bilinear = await preprocess(small, 'small.png', { ...CLIP_PRESET, kernel: 'bilinear' });
    expect(bilinear.dims).toEqual([1, 3, 224, 224]);
    expect(bilinear.data[0]).toBeCloseTo((1 - CLIP_MEAN[0]!) / CLIP_STD[0]!, 5);
    await expect(preprocess(small, 'small.png', { ...CLIP_PRESET, cropSize: 256 })).rejects.toThrow(
      /preset clip crops 256 from a short side of 224/,
    );
  });

  it('names the file when it cannot be decoded', async () => {
    await expect(preprocess(new Uint8Array([1, 2, 3, 4]), 'bad.jpg', CLIP_PRESET)).rejects.toMatchObject({
      code: 'VISION_ERR_DECODE',
      message: expect.stringMatching(/^cannot decode image bad\.jpg: /) as unknown,
    });
  });
});

describe('preprocessBatch', () => {
  it('stacks the decodable inputs in order and lists the failures', async () => {
    const inputs = [
      { bytes: await png(solid(300, 250, [10, 20, 30])), name: 'a.png' },
      { bytes: new Uint8Array([0xff, 0xd8, 0xff, 0x00]), name: 'broken.jpg' },
      { bytes: await png(solid(250, 300, [200, 100, 0])), name: 'c.png' },
    ];
    for (const concurrency of [1, 4]) {
      const batch = await preprocessBatch(inputs, RESNET_PRESET, { concurrency });
      expect(batch.dims).toEqual([2, 3, 224, 224]);
      expect(batch.indices).toEqual([0, 2]);
      expect(batch.failures.map((f) => [f.index, f.name, f.error.code])).toEqual([
        [1, 'broken.jpg', 'VISION_ERR_DECODE'],
      ]);
      expect(batch.data[0]).toBeCloseTo((10 / 255 - IMAGENET_MEAN[0]!) / IMAGENET_STD[0]!, 5);
      expect(batch.data[3 * PLANE]).toBeCloseTo((200 / 255 - IMAGENET_MEAN[0]!) / IMAGENET_STD[0]!, 5);
      expect(batch.data[5 * PLANE]).toBeCloseTo((0 - IMAGENET_MEAN[2]!) / IMAGENET_STD[2]!, 5);
    }
  });

  it('returns an empty [0, 3, 224, 224] tensor when nothing decodes', async () => {
    const batch = await preprocessBatch([{ bytes: new Uint8Array(8), name: 'zeros.bin' }], CLIP_PRESET);
    expect(batch.dims).toEqual([0, 3, 224, 224]);
    expect(batch.data.length).toBe(0);
    expect(batch.failures).toHaveLength(1);
    await expect(preprocessBatch([], CLIP_PRESET, { concurrency: 0 })).rejects.toThrow(
      /concurrency must be a positive integer/,
    );
  });
});
