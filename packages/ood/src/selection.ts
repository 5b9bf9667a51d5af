import { require_ } from './errors';

/** What InD selection needs to know about one training image. */
export interface ImageInfo {
  readonly id: string;
  readonly className: string;
  /** Size of the encoded file in bytes (JPEG for ImageNet). */
  readonly fileBytes: number;
  readonly width: number;
  readonly height: number;
}

/** A selected image with its information richness and rank within its class (1 = richest). */
export interface RankedImage extends ImageInfo {
  readonly richness: number;
  readonly rank: number;
}

/**
 * SynOOD's "information richness" (reference §1): encoded bytes per pixel. Larger files at equal
 * resolution hold more texture and detail, so they make better seeds for synthesis.
 */
export function informationRichness(image: ImageInfo): number {
  require_(
    image.width > 0 && image.height > 0,
    `image ${image.id} has invalid dimensions ${image.width}×${image.height}`,
  );
  require_(image.fileBytes >= 0, `image ${image.id} has a negative file size`);
  return image.fileBytes / (image.width * image.height);
}

/**
 * Top `perClass` images of each class by information richness, descending (ties by id, so the
 * result does not depend on listing order). Classes appear in order of first occurrence.
 * @param perClass images kept per class. @defaultValue 50
 */
export function selectInD(images: readonly ImageInfo[], perClass = 50): RankedImage[] {
  require_(
    Number.isInteger(perClass) && perClass >= 1,
    `perClass must be a positive integer, got ${perClass}`,
  );
  const byClass = new Map<string, { image: ImageInfo; richness: number }[]>();
  for (const image of images) {
    const list = byClass.get(image.className) ?? [];
    list.push({ image, richness: informationRichness(image) });
    byClass.set(image.className, list);
  }
  const out: RankedImage[] = [];
  for (const list of byClass.values()) {
    list.sort(
      (a, b) => b.richness - a.richness || (a.image.id < b.image.id ? -1 : a.image.id > b.image.id ? 1 : 0),
    );
    list.slice(0, perClass).forEach((e, i) => out.push({ ...e.image, richness: e.richness, rank: i + 1 }));
  }
  return out;
}
