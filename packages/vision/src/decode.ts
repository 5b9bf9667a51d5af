/**
 * @file Decoding with sharp (libvips). This module and `encode.ts` / `richness.ts` are the package's only
 * users of sharp; everything after decoding is plain TypeScript on the RGB bytes.
 *
 * Platform facts encoded here (checked on sharp 0.35.5 / libvips 8.18):
 * - sharp's default `failOn: 'warning'` rejects JPEGs on any libjpeg warning, including the harmless
 *   "Corrupt JPEG data: N extraneous bytes before marker" that some real datasets (ImageNet among them)
 *   contain and that Pillow, the reference pipelines' decoder, ignores. `'none'` goes the other way: a
 *   JPEG cut in half decodes "successfully" with its missing rows filled in. We use `'error'`: truncated
 *   files and decoder errors fail, warnings do not. That is also where Pillow draws the line (it raises
 *   "image file is truncated" unless told otherwise).
 * - Greyscale, CMYK and 16-bit inputs come out of `toColourspace('srgb')` as 8-bit sRGB; sharp colour-
 *   manages CMYK and images with an embedded ICC profile (lcms), whereas Pillow's `convert('RGB')` uses a
 *   naive CMYK formula and ignores ICC profiles. Such images therefore differ from the reference
 *   pipelines' pixels; plain sRGB JPEG/PNG/WebP, the common case, do not.
 * - Pillow does not apply EXIF orientation on `Image.open`; we do by default (a photo shown upright is
 *   what a user expects to be scored). Set `autoOrient: false` for Pillow parity.
 */
import sharp from 'sharp';

import { requireArg, VisionError, VisionErrorCode } from './errors';
import type { RgbImage } from './image';

/** Container formats `decodeImage` accepts: raster photo formats sharp's prebuilt libvips reads. */
export const DECODABLE_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif'] as const;

/** One of {@link DECODABLE_FORMATS}. `heif` covers AVIF and HEIC (sharp reports both as `heif`). */
export type ImageFormat = (typeof DECODABLE_FORMATS)[number];

/** Values of {@link AlphaMode}. */
export const ALPHA_MODES = ['discard', 'black', 'white'] as const;

/**
 * What to do with an alpha channel.
 * - `discard`: drop it and keep the stored colour values, as Pillow's `convert('RGB')` does (the CLIP,
 *   NegLabel and SynOOD loaders all call it), so features match the reference code.
 * - `black` / `white`: composite onto that background (`rgb·α + bg·(1 − α)`, rounded).
 */
export type AlphaMode = (typeof ALPHA_MODES)[number];

/** sharp's `failOn` levels, least to most sensitive. */
export const FAIL_ON_LEVELS = ['none', 'truncated', 'error', 'warning'] as const;

/** One of {@link FAIL_ON_LEVELS}. */
export type FailOnLevel = (typeof FAIL_ON_LEVELS)[number];

/** Options of {@link decodeImage}. */
export interface DecodeOptions {
  /** @defaultValue `'discard'` (Pillow `convert('RGB')` parity) */
  alpha?: AlphaMode;
  /** Apply the EXIF orientation tag (rotate/flip), so width and height are as displayed. @defaultValue true */
  autoOrient?: boolean;
  /** When invalid pixel data aborts decoding; see the module notes. @defaultValue `'error'` */
  failOn?: FailOnLevel;
}

/** A decoded image and the container format it came from. */
export interface DecodedImage extends RgbImage {
  readonly format: ImageFormat;
}

const ALPHA_BACKGROUND = { black: '#000000', white: '#ffffff' } as const;

function isDecodable(format: string): format is ImageFormat {
  return (DECODABLE_FORMATS as readonly string[]).includes(format);
}

/** sharp's error text on one line; libvips repeats a decoder's message once per pipeline stage. */
function sharpMessage(err: unknown): string {
  const lines = (err instanceof Error ? err.message : String(err)).split('\n').map((l) => l.trim());
  return [...new Set(lines.filter((l) => l !== ''))].join('; ');
}

/** Wraps a sharp failure on file `name` in `VISION_ERR_DECODE`. */
export function decodeError(name: string, err: unknown): VisionError {
  return new VisionError(VisionErrorCode.Decode, `cannot decode image ${name}: ${sharpMessage(err)}`, {
    cause: err,
  });
}

/**
 * Decodes an encoded image to 8-bit sRGB RGB, HWC.
 *
 * Greyscale (with or without alpha), CMYK, palette and 16-bit images are converted to 3-channel sRGB;
 * alpha is handled per `options.alpha`; multi-frame GIF/TIFF/WebP give their first frame.
 *
 * @param input the encoded file's bytes.
 * @param name the file's name or key, used only in error messages.
 * @throws VisionError `VISION_ERR_DECODE` naming `name` and quoting sharp when the bytes are empty, corrupt,
 * truncated, over sharp's pixel limit or in a format outside {@link DECODABLE_FORMATS} (SVG and PDF are
 * rejected: documents, not photos, and costly to render from untrusted input); `VISION_ERR_BAD_ARGUMENT`
 * for an unknown option value.
 */
export async function decodeImage(
  input: Buffer | Uint8Array,
  name: string,
  options: DecodeOptions = {},
): Promise<DecodedImage> {
  const alpha = options.alpha ?? 'discard';
  const failOn = options.failOn ?? 'error';
  // Options often come from JSON configs, so the union types are checked at run time too.
  requireArg(
    (ALPHA_MODES as readonly string[]).includes(alpha),
    `decode option alpha is ${alpha}. Should be one of: ${ALPHA_MODES.join(', ')}`,
  );
  requireArg(
    (FAIL_ON_LEVELS as readonly string[]).includes(failOn),
    `decode option failOn is ${failOn}. Should be one of: ${FAIL_ON_LEVELS.join(', ')}`,
  );
  let pipeline: sharp.Sharp;
  let format: string;
  try {
    // The constructor itself throws on some inputs (an empty buffer), so it belongs inside the try.
    pipeline = sharp(input, { failOn });
    format = (await pipeline.metadata()).format;
  } catch (err) {
    throw decodeError(name, err);
  }
  if (!isDecodable(format)) {
    throw new VisionError(
      VisionErrorCode.Decode,
      `cannot decode image ${name}: format ${format} is not supported. Should be one of: ${DECODABLE_FORMATS.join(', ')}`,
    );
  }
  if (options.autoOrient ?? true) {
    pipeline = pipeline.autoOrient();
  }
  // Alpha goes before the colourspace step so that greyscale+alpha also ends up with exactly 3 bands.
  pipeline =
    alpha === 'discard' ? pipeline.removeAlpha() : pipeline.flatten({ background: ALPHA_BACKGROUND[alpha] });
  let out: { data: Buffer; info: sharp.OutputInfo };
  try {
    out = await pipeline.toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw decodeError(name, err);
  }
  const { width, height, channels } = out.info;
  if (channels !== 3 || out.data.length !== width * height * 3) {
    // Not reachable with the pipeline above; guards against a sharp behaviour change reaching callers.
    throw new VisionError(
      VisionErrorCode.Decode,
      `cannot decode image ${name}: sharp returned ${channels} channels and ${out.data.length} bytes for ` +
        `${width}×${height}, expected 3 channels`,
    );
  }
  return {
    width,
    height,
    data: new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length),
    format,
  };
}
