import { requireArg, VisionError, VisionErrorCode } from './errors';
import { checkImage, type RgbImage } from './image';

/** Per-channel constants in R, G, B order. */
export type Rgb3 = readonly [number, number, number];

/** A float32 image batch in NCHW layout, ready to feed a vision model. */
export interface NchwTensor {
  /** `N·3·H·W` values; element (n, c, y, x) is at `((n·3 + c)·H + y)·W + x`. */
  readonly data: Float32Array;
  /** `[N, 3, H, W]`. */
  readonly dims: readonly [number, 3, number, number];
}

function checkRgb3(name: string, v: Rgb3, positive: boolean): void {
  // Widened on purpose: configs arrive as JSON, where the tuple type promises nothing.
  const values: readonly unknown[] = v;
  requireArg(
    values.length === 3 &&
      values.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0)),
    `${name} must be three finite numbers${positive ? ' > 0' : ''} (R, G, B), got ${JSON.stringify(v)}`,
  );
}

/**
 * Per-channel lookup of (v/255 − mean)/std for every byte value, each operation rounded to float32 as
 * torch does it (`ToTensor`'s `div(255)`, then `Normalize`'s `sub_(mean).div_(std)` on float32 tensors),
 * so the values are bit-identical to torchvision's. Doing each step in double and rounding to float32
 * gives the correctly rounded float32 result for a single +, −, ×, ÷.
 */
function normalisationTable(mean: Rgb3, std: Rgb3): Float32Array {
  const lut = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const m = Math.fround(mean[c]!);
    const s = Math.fround(std[c]!);
    for (let v = 0; v < 256; v++) {
      lut[c * 256 + v] = Math.fround(Math.fround(Math.fround(v / 255) - m) / s);
    }
  }
  return lut;
}

/**
 * Stacks same-size RGB images into one float32 NCHW tensor with values (x/255 − mean)/std per channel.
 *
 * @throws VisionError `VISION_ERR_SHAPE` when the images differ in size (the message names the first
 * offending index), `VISION_ERR_BAD_ARGUMENT` for an empty list, a malformed image, or mean/std that are
 * not three finite numbers (std > 0).
 */
export function toNchwFloat32(images: readonly RgbImage[], mean: Rgb3, std: Rgb3): NchwTensor {
  requireArg(images.length > 0, 'images must hold at least one image to build an NCHW batch');
  checkRgb3('mean', mean, false);
  checkRgb3('std', std, true);
  const first = images[0]!;
  const { width, height } = first;
  images.forEach((image, i) => {
    checkImage(image, `images[${i}]`);
    if (image.width !== width || image.height !== height) {
      throw new VisionError(
        VisionErrorCode.Shape,
        `images[${i}] is ${image.width}×${image.height} but images[0] is ${width}×${height}; ` +
          'every image of one batch must have the same size (resize and crop first)',
      );
    }
  });
  const lut = normalisationTable(mean, std);
  const plane = width * height;
  const data = new Float32Array(images.length * 3 * plane);
  images.forEach((image, n) => {
    const src = image.data;
    const r = n * 3 * plane;
    const g = r + plane;
    const b = g + plane;
    for (let p = 0; p < plane; p++) {
      data[r + p] = lut[src[3 * p]!]!;
      data[g + p] = lut[256 + src[3 * p + 1]!]!;
      data[b + p] = lut[512 + src[3 * p + 2]!]!;
    }
  });
  return { data, dims: [images.length, 3, height, width] };
}
