import sharp from 'sharp';

import type { RgbImage } from '../src';

/** An RGB image whose pixel (x, y) is `f(x, y)`. */
export function rgbImage(
  width: number,
  height: number,
  f: (x: number, y: number) => readonly [number, number, number],
): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      data.set(f(x, y), (y * width + x) * 3);
    }
  }
  return { width, height, data };
}

/** A solid-colour image. */
export const solid = (width: number, height: number, rgb: readonly [number, number, number]): RgbImage =>
  rgbImage(width, height, () => rgb);

/** The image's pixel (x, y). */
export function pixel(image: RgbImage, x: number, y: number): number[] {
  const i = (y * image.width + x) * 3;
  return Array.from(image.data.subarray(i, i + 3));
}

/** A sharp pipeline over raw interleaved pixels with `channels` bands. */
export const raw = (data: Uint8Array | number[], width: number, height: number, channels: 1 | 2 | 3 | 4) =>
  sharp(Uint8Array.from(data), { raw: { width, height, channels } });

/** PNG bytes of an RGB image (lossless, so decoding must give the same bytes back). */
export const png = (image: RgbImage): Promise<Buffer> =>
  raw(image.data, image.width, image.height, 3).png().toBuffer();
