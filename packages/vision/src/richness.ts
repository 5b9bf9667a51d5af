import sharp from 'sharp';

import { DECODABLE_FORMATS, decodeError } from './decode';
import { VisionError, VisionErrorCode } from './errors';

/** One image's size on disk and in pixels, and SynOOD's information richness. */
export interface InformationRichness {
  /** Length of the encoded file in bytes. */
  readonly fileBytes: number;
  /** Stored width in pixels (before any EXIF rotation, as Pillow's `Image.size`; the product is the same). */
  readonly width: number;
  /** Stored height in pixels. */
  readonly height: number;
  /** `fileBytes / (width · height)`: encoded bytes per pixel. */
  readonly richness: number;
}

/**
 * SynOOD's "information richness" of an encoded image (reference §1: file bytes ÷ (W×H)), reading only the
 * header, so it costs microseconds even for large files. The ranking and top-k per class are
 * `selectInD` in `@synood/ood`; this only measures one file.
 *
 * @param bytes the whole encoded file (its length is the byte count).
 * @param name the file's name or key, used only in error messages.
 * @throws VisionError `VISION_ERR_DECODE` naming `name` when the header cannot be read or the format is not
 * one `decodeImage` accepts. A file whose pixel data is truncated still passes: only its header is read.
 */
export async function informationRichnessOf(
  bytes: Buffer | Uint8Array,
  name: string,
): Promise<InformationRichness> {
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes).metadata(); // the constructor can throw too (empty input)
  } catch (err) {
    throw decodeError(name, err);
  }
  if (
    !(DECODABLE_FORMATS as readonly string[]).includes(meta.format) ||
    !(meta.width > 0 && meta.height > 0)
  ) {
    throw new VisionError(
      VisionErrorCode.Decode,
      `cannot read image ${name}: format ${meta.format}, size ${meta.width}×${meta.height}. ` +
        `Should be one of ${DECODABLE_FORMATS.join(', ')} with a positive size`,
    );
  }
  const fileBytes = bytes.length;
  return {
    fileBytes,
    width: meta.width,
    height: meta.height,
    richness: fileBytes / (meta.width * meta.height),
  };
}
