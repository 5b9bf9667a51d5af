import { describe, expect, it } from '@jest/globals';
import sharp from 'sharp';

import { type AlphaMode, decodeImage, type FailOnLevel, VisionError } from '../src';
import { pixel, png, raw, rgbImage } from './helpers';

/** Runs `fn` and returns what it threw (fails the test if it did not throw). */
async function thrown(fn: () => Promise<unknown>): Promise<VisionError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VisionError);
    return err as VisionError;
  }
  throw new Error('expected a VisionError');
}

/** A textured image, so a cut JPEG really misses scan data. */
const textured = rgbImage(64, 48, (x, y) => [(x * 4) % 256, (y * 5) % 256, (x * y) % 256]);

describe('decodeImage', () => {
  it('round-trips PNG and lossless WebP exactly and reports the format', async () => {
    const image = rgbImage(5, 3, (x, y) => [x * 50, y * 100, 255 - x * 10 - y]);
    const fromPng = await decodeImage(await png(image), 'a.png');
    expect(fromPng).toMatchObject({ width: 5, height: 3, format: 'png' });
    expect(Array.from(fromPng.data)).toEqual(Array.from(image.data));
    const webp = await raw(image.data, 5, 3, 3).webp({ lossless: true }).toBuffer();
    const fromWebp = await decodeImage(webp, 'a.webp');
    expect(fromWebp.format).toBe('webp');
    expect(Array.from(fromWebp.data)).toEqual(Array.from(image.data));
  });

  it('decodes a solid-colour JPEG to that colour within JPEG error', async () => {
    const jpeg = await sharp({
      create: { width: 16, height: 16, channels: 3, background: { r: 200, g: 30, b: 90 } },
    })
      .jpeg({ quality: 95 })
      .toBuffer();
    const image = await decodeImage(new Uint8Array(jpeg), 'solid.jpg');
    expect(image.format).toBe('jpeg');
    const [r, g, b] = pixel(image, 7, 7);
    expect(Math.abs(r! - 200)).toBeLessThanOrEqual(2);
    expect(Math.abs(g! - 30)).toBeLessThanOrEqual(2);
    expect(Math.abs(b! - 90)).toBeLessThanOrEqual(2);
  });

  it('applies EXIF orientation 6 (rotate 90° clockwise): width and height swap, left goes to top', async () => {
    // 16×8, left half red, right half blue.
    const image = rgbImage(16, 8, (x) => (x < 8 ? [255, 0, 0] : [0, 0, 255]));
    const jpeg = await raw(image.data, 16, 8, 3)
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    expect((await sharp(jpeg).metadata()).orientation).toBe(6);
    const upright = await decodeImage(jpeg, 'o6.jpg');
    expect([upright.width, upright.height]).toEqual([8, 16]);
    expect(pixel(upright, 4, 3)[0]).toBeGreaterThan(240); // top half: the red left side
    expect(pixel(upright, 4, 12)[2]).toBeGreaterThan(240); // bottom half: the blue right side
    const stored = await decodeImage(jpeg, 'o6.jpg', { autoOrient: false });
    expect([stored.width, stored.height]).toEqual([16, 8]);
  });

  it('expands greyscale to R = G = B', async () => {
    const grey = await raw([0, 50, 100, 255], 2, 2, 1).toColourspace('b-w').png().toBuffer();
    expect((await sharp(grey).metadata()).channels).toBe(1);
    const image = await decodeImage(grey, 'grey.png');
    expect(Array.from(image.data)).toEqual([0, 0, 0, 50, 50, 50, 100, 100, 100, 255, 255, 255]);
  });

  it('handles greyscale + alpha per the alpha mode', async () => {
    // (grey, alpha): 50 at α = 128 over white is 50·128/255 + 255·127/255 = 152.1; over black 25.1.
    const ga = await raw([10, 0, 50, 128], 2, 1, 2).toColourspace('b-w').png().toBuffer();
    expect((await sharp(ga).metadata()).channels).toBe(2);
    expect(Array.from((await decodeImage(ga, 'ga.png')).data)).toEqual([10, 10, 10, 50, 50, 50]);
    expect(Array.from((await decodeImage(ga, 'ga.png', { alpha: 'white' })).data)).toEqual([
      255, 255, 255, 152, 152, 152,
    ]);
    expect(Array.from((await decodeImage(ga, 'ga.png', { alpha: 'black' })).data)).toEqual([
      0, 0, 0, 25, 25, 25,
    ]);
  });

  it('drops RGBA alpha keeping the stored colour by default, or flattens onto white / black', async () => {
    // (200, 100, 50) at α = 0, 128, 255. Over white at α = 128: c·128/255 + 127 → 227.4, 177.2, 152.1;
    // over black: 100.4, 50.2, 25.1.
    const rgba = await raw([200, 100, 50, 0, 200, 100, 50, 128, 200, 100, 50, 255], 3, 1, 4).png().toBuffer();
    const discard = await decodeImage(rgba, 'rgba.png');
    expect(Array.from(discard.data)).toEqual([200, 100, 50, 200, 100, 50, 200, 100, 50]);
    const white = await decodeImage(rgba, 'rgba.png', { alpha: 'white' });
    expect(Array.from(white.data)).toEqual([255, 255, 255, 227, 177, 152, 200, 100, 50]);
    const black = await decodeImage(rgba, 'rgba.png', { alpha: 'black' });
    expect(Array.from(black.data)).toEqual([0, 0, 0, 100, 50, 25, 200, 100, 50]);
  });

  it('converts a CMYK JPEG to 3-channel sRGB', async () => {
    const cmyk = async (r: number, g: number, b: number) =>
      sharp({ create: { width: 8, height: 8, channels: 3, background: { r, g, b } } })
        .toColourspace('cmyk')
        .jpeg({ quality: 100 })
        .toBuffer();
    const white = await cmyk(255, 255, 255);
    expect(await sharp(white).metadata()).toMatchObject({ space: 'cmyk', channels: 4 });
    const w = await decodeImage(white, 'white-cmyk.jpg');
    expect(w.data.length).toBe(8 * 8 * 3);
    expect(pixel(w, 3, 3)).toEqual([255, 255, 255]); // no ink is paper white under any profile
    // Through an ICC profile pair red stays strongly red, not exactly (255, 0, 0).
    const [r, g, b] = pixel(await decodeImage(await cmyk(255, 0, 0), 'red-cmyk.jpg'), 3, 3);
    expect(r).toBeGreaterThan(200);
    expect(g).toBeLessThan(40);
    expect(b).toBeLessThan(40);
  });

  it('reduces 16-bit PNG samples to their high byte', async () => {
    const samples = new Uint16Array([65535, 771, 0x12ff, 0x8080, 0, 257]);
    // A Uint16Array input tells sharp the raw samples are 16-bit.
    const png16 = await sharp(samples, { raw: { width: 2, height: 1, channels: 3 } })
      .toColourspace('rgb16')
      .png()
      .toBuffer();
    expect((await sharp(png16).metadata()).depth).toBe('ushort');
    expect(Array.from((await decodeImage(png16, 'deep.png')).data)).toEqual([255, 3, 0x12, 0x80, 0, 1]);
  });

  it('fails a truncated JPEG with VISION_ERR_DECODE naming the file (which failOn none would accept)', async () => {
    const jpeg = await raw(textured.data, 64, 48, 3).jpeg().toBuffer();
    const half = jpeg.subarray(0, Math.floor(jpeg.length / 2));
    const err = await thrown(() => decodeImage(half, 'cut.jpg'));
    expect(err.code).toBe('VISION_ERR_DECODE');
    expect(err.message).toMatch(/^cannot decode image cut\.jpg: .*premature end of JPEG/);
    // The deliberate choice: sharp with failOn 'none' "decodes" the half file.
    const lenient = await decodeImage(half, 'cut.jpg', { failOn: 'none' });
    expect([lenient.width, lenient.height]).toEqual([64, 48]);
  });

  it('fails truncated PNG, random bytes, empty input and SVG with VISION_ERR_DECODE', async () => {
    const full = await png(textured);
    const cut = await thrown(() => decodeImage(full.subarray(0, Math.floor(full.length * 0.9)), 'cut.png'));
    expect(cut.code).toBe('VISION_ERR_DECODE');
    expect(cut.message).toMatch(/cut\.png.*libpng read error/);
    const noise = Uint8Array.from({ length: 256 }, (_, i) => (i * 97 + 13) % 256);
    const random = await thrown(() => decodeImage(noise, 'noise.bin'));
    expect(random.code).toBe('VISION_ERR_DECODE');
    expect(random.message).toMatch(/noise\.bin: .*unsupported image format/);
    expect((await thrown(() => decodeImage(new Uint8Array(0), 'empty.jpg'))).message).toMatch(/empty\.jpg/);
    const svg = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>',
    );
    const vector = await thrown(() => decodeImage(svg, 'logo.svg'));
    expect(vector.code).toBe('VISION_ERR_DECODE');
    expect(vector.message).toMatch(/logo\.svg: format svg is not supported/);
  });

  it('rejects unknown option values with VISION_ERR_BAD_ARGUMENT', async () => {
    const bytes = await png(textured);
    const alpha = await thrown(() => decodeImage(bytes, 'a.png', { alpha: 'grey' as AlphaMode }));
    expect(alpha.code).toBe('VISION_ERR_BAD_ARGUMENT');
    expect(alpha.message).toBe('decode option alpha is grey. Should be one of: discard, black, white');
    const failOn = await thrown(() => decodeImage(bytes, 'a.png', { failOn: 'never' as FailOnLevel }));
    expect(failOn.message).toMatch(/failOn is never/);
  });

  it('accepts a JPEG whose only defect is a libjpeg warning (extraneous bytes before a marker)', async () => {
    const jpeg = await sharp({
      create: { width: 16, height: 8, channels: 3, background: { r: 200, g: 30, b: 90 } },
    })
      .jpeg({ quality: 95 })
      .toBuffer();
    const at = jpeg.indexOf(Buffer.from([0xff, 0xc4])); // first DHT marker
    const noisy = Buffer.concat([
      jpeg.subarray(0, at),
      Buffer.from([0x12, 0x34, 0x56, 0x78]),
      jpeg.subarray(at),
    ]);
    expect((await decodeImage(noisy, 'noisy.jpg')).width).toBe(16);
    const strict = await thrown(() => decodeImage(noisy, 'noisy.jpg', { failOn: 'warning' }));
    expect(strict.message).toMatch(/4 extraneous bytes before marker 0xc4$/);
  });
});
