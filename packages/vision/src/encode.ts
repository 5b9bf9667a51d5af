import sharp from 'sharp';

import { requireArg, VisionError, VisionErrorCode } from './errors';
import { checkImage, type RgbImage } from './image';

function rawInput(image: RgbImage): sharp.Sharp {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
}

async function encode(what: string, run: () => Promise<Buffer>): Promise<Buffer> {
  try {
    return await run();
  } catch (err) {
    throw new VisionError(
      VisionErrorCode.Encode,
      `cannot encode ${what}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

/**
 * Encodes to baseline JPEG with 4:2:0 chroma subsampling and the standard (Annex K) quantisation tables
 * scaled by `quality`, the settings of Pillow's `save(..., 'JPEG')` that SynOOD used for its synthetic
 * images (reference §3.3 step 5). Huffman tables are optimised (smaller files, identical pixels), so
 * byte sizes differ from Pillow's, and the DCT implementation may move a few pixels by a grey level.
 *
 * @param quality 1–100. @defaultValue 75 (Pillow's default and SynOOD's)
 * @throws VisionError `VISION_ERR_BAD_ARGUMENT` for a malformed image or quality, `VISION_ERR_ENCODE` if
 * sharp fails.
 */
export async function encodeJpeg(image: RgbImage, quality = 75): Promise<Buffer> {
  checkImage(image);
  requireArg(
    Number.isInteger(quality) && quality >= 1 && quality <= 100,
    `JPEG quality must be an integer in [1, 100], got ${String(quality)}`,
  );
  return encode(`${image.width}×${image.height} image as JPEG`, () =>
    rawInput(image).jpeg({ quality, chromaSubsampling: '4:2:0', mozjpeg: false }).toBuffer(),
  );
}

/**
 * Encodes to 8-bit RGB PNG (lossless: decoding gives the same bytes back).
 *
 * @throws VisionError `VISION_ERR_BAD_ARGUMENT` for a malformed image, `VISION_ERR_ENCODE` if sharp fails.
 */
export async function encodePng(image: RgbImage): Promise<Buffer> {
  checkImage(image);
  return encode(`${image.width}×${image.height} image as PNG`, () => rawInput(image).png().toBuffer());
}
