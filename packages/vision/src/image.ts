import { requireArg } from './errors';

/**
 * A decoded 8-bit sRGB image, interleaved and row-major (HWC): pixel (x, y) channel c is
 * `data[(y * width + x) * 3 + c]`, c = 0 red, 1 green, 2 blue.
 */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** `width * height * 3` bytes. */
  readonly data: Uint8Array;
}

/** Throws `VISION_ERR_BAD_ARGUMENT` unless `image` has positive integer dims and `width·height·3` bytes. */
export function checkImage(image: RgbImage, what = 'image'): void {
  const { width, height } = image;
  requireArg(
    Number.isSafeInteger(width) && Number.isSafeInteger(height) && width > 0 && height > 0,
    `${what} must have positive integer width and height, got ${String(width)}×${String(height)}`,
  );
  requireArg(
    image.data.length === width * height * 3,
    `${what} is ${width}×${height} RGB, so its data must hold ${width * height * 3} bytes, got ${image.data.length}`,
  );
}

/** Throws `VISION_ERR_BAD_ARGUMENT` unless `value` is an integer ≥ 1. */
export function checkSize(name: string, value: number): void {
  requireArg(
    Number.isSafeInteger(value) && value >= 1,
    `${name} must be a positive integer, got ${String(value)}`,
  );
}
