import { requireArg } from './errors';
import { checkImage, checkSize, type RgbImage } from './image';

/** Python 3's `round` on a float: half to even (`round(0.5) == 0`, `round(1.5) == 2`, `round(2.5) == 2`). */
function pythonRound(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Top-left corner of a `width`×`height` centre crop, as torchvision's `center_crop` computes it:
 * `top = int(round((H − h) / 2.0))`, `left = int(round((W − w) / 2.0))` with Python's round-half-to-even,
 * so an odd difference of 1 gives 0, 3 gives 2, 5 gives 2 and 7 gives 4.
 */
export function centerCropOffsets(
  imageWidth: number,
  imageHeight: number,
  width: number,
  height: number,
): { left: number; top: number } {
  return { left: pythonRound((imageWidth - width) / 2), top: pythonRound((imageHeight - height) / 2) };
}

/**
 * Cuts the centred `width`×`height` region (offsets of {@link centerCropOffsets}).
 *
 * @throws VisionError `VISION_ERR_BAD_ARGUMENT` when the crop is larger than the image in either dimension
 * (torchvision would pad with zeros; every preprocessing here resizes first, so a larger crop is a
 * configuration mistake), or for malformed images and sizes.
 */
export function centerCrop(image: RgbImage, width: number, height: number): RgbImage {
  checkImage(image);
  checkSize('crop width', width);
  checkSize('crop height', height);
  requireArg(
    width <= image.width && height <= image.height,
    `crop ${width}×${height} is larger than the ${image.width}×${image.height} image; resize first`,
  );
  const { left, top } = centerCropOffsets(image.width, image.height, width, height);
  const out = new Uint8Array(width * height * 3);
  const rowBytes = width * 3;
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * image.width + left) * 3;
    out.set(image.data.subarray(from, from + rowBytes), y * rowBytes);
  }
  return { width, height, data: out };
}
