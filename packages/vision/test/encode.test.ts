import { describe, expect, it } from '@jest/globals';
import sharp from 'sharp';

import { decodeImage, encodeJpeg, encodePng } from '../src';
import { pixel, rgbImage, solid } from './helpers';

/** Noise-like texture, so JPEG size depends strongly on quality. */
const textured = rgbImage(96, 64, (x, y) => [(x * 31 + y * 17) % 256, (x * y * 7) % 256, (x ^ y) * 3]);

describe('encodePng', () => {
  it('is lossless', async () => {
    const bytes = await encodePng(textured);
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const back = await decodeImage(bytes, 'round.png');
    expect(Array.from(back.data)).toEqual(Array.from(textured.data));
  });
});

describe('encodeJpeg', () => {
  it('writes a 4:2:0 JPEG that decodes close to the input colour', async () => {
    const bytes = await encodeJpeg(solid(32, 16, [200, 30, 90]));
    expect(Array.from(bytes.subarray(0, 3))).toEqual([0xff, 0xd8, 0xff]);
    expect(await sharp(bytes).metadata()).toMatchObject({
      format: 'jpeg',
      width: 32,
      height: 16,
      chromaSubsampling: '4:2:0',
    });
    const [r, g, b] = pixel(await decodeImage(bytes, 'solid.jpg'), 10, 10);
    expect(Math.abs(r! - 200)).toBeLessThanOrEqual(3);
    expect(Math.abs(g! - 30)).toBeLessThanOrEqual(3);
    expect(Math.abs(b! - 90)).toBeLessThanOrEqual(3);
  });

  it('grows with quality (default 75)', async () => {
    const [q30, q75, q95] = await Promise.all([
      encodeJpeg(textured, 30),
      encodeJpeg(textured),
      encodeJpeg(textured, 95),
    ]);
    expect(q30.length).toBeLessThan(q75.length);
    expect(q75.length).toBeLessThan(q95.length);
    expect((await encodeJpeg(textured, 75)).equals(q75)).toBe(true);
  });

  it('rejects qualities outside 1…100 and malformed images', async () => {
    for (const q of [0, 101, 75.5]) {
      await expect(encodeJpeg(textured, q)).rejects.toMatchObject({ code: 'VISION_ERR_BAD_ARGUMENT' });
    }
    await expect(encodePng({ width: 2, height: 2, data: new Uint8Array(3) })).rejects.toThrow(
      /must hold 12 bytes/,
    );
  });
});
