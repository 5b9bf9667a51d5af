/**
 * @file The interface every captioning backend implements, and the image input helpers they share.
 */
import { readFile } from 'node:fs/promises';

import { CaptionError, CaptionErrorCode, type CaptionFailure } from './errors';

/** One image to caption. */
export interface CaptionItem {
  /** Stable id (the image's key in the run); records are matched to items by it. */
  readonly id: string;
  /** The encoded image (JPEG, PNG, WebP or GIF bytes) or a file path. */
  readonly image: Buffer | Uint8Array | string;
  /** The image's class: the main object, never an element. */
  readonly className: string;
  /** Other names of the class (WordNet synonyms), excluded like the class name. */
  readonly synonyms?: readonly string[];
}

/** A tag of the `clip-tags` backend with its cosine similarity to the image. */
export interface ScoredTag {
  readonly text: string;
  readonly score: number;
}

/** What a backend returns for one item. */
export interface BackendRecord {
  /** The item's id. */
  readonly id: string;
  /** The model's answer as received (empty on failure): what goes into the manifest. */
  readonly raw: string;
  /** The model that answered, when the backend learns it per request (an endpoint's `model` field). */
  readonly model?: string;
  /** `clip-tags` only: the tags kept, best first. */
  readonly tags?: readonly ScoredTag[];
  /** Set when this image failed; the others are unaffected. */
  readonly error?: CaptionFailure;
  /** Time spent on this image, retries and backoff included, in ms. */
  readonly ms: number;
  /** Requests or model runs made for this image (0 when it failed before any). */
  readonly attempts: number;
}

/** Availability of a backend's model server, as its circuit breaker sees it. */
export type BackendState = 'closed' | 'open' | 'half-open';

/**
 * A captioning backend. `caption` returns one record per item, in item order, with per-image failures
 * recorded in `error`; it throws only for the whole call:
 * - `CAPTION_ERR_UNAVAILABLE` (`retryable: true`): the model server is down (breaker open); no image is
 *   failed, the caller pauses and retries later;
 * - `CAPTION_ERR_ABORTED`: the signal fired;
 * - configuration errors (model folder missing, bad options).
 */
export interface CaptionBackend {
  /** `openai`, `clip-tags` or `local`. */
  readonly name: string;
  /** The model name recorded with every caption. */
  readonly model: string;
  /** Breaker state; backends without a remote server are always `closed`. */
  readonly state: BackendState;
  caption(items: readonly CaptionItem[], signal?: AbortSignal): Promise<BackendRecord[]>;
  /** Releases sessions and sockets. Safe to call twice. */
  close(): Promise<void>;
}

/** Image container formats the backends send on; the `image_url` MIME types of chat endpoints. */
export type ImageMime = 'image/jpeg' | 'image/png' | 'image/webp' | 'image/gif';

/** The MIME type of encoded image bytes from their magic number, or undefined. */
export function sniffImageMime(bytes: Uint8Array): ImageMime | undefined {
  const at = (i: number): number => bytes[i] ?? -1;
  if (at(0) === 0xff && at(1) === 0xd8 && at(2) === 0xff) {
    return 'image/jpeg';
  }
  if (at(0) === 0x89 && at(1) === 0x50 && at(2) === 0x4e && at(3) === 0x47) {
    return 'image/png';
  }
  const ascii = (from: number, to: number): string => String.fromCharCode(...bytes.subarray(from, to));
  if (bytes.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') {
    return 'image/webp';
  }
  if (bytes.length >= 6 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a')) {
    return 'image/gif';
  }
  return undefined;
}

/** A name for an item's image in messages: its path, or `<id> (N bytes)`. */
export function describeImage(item: CaptionItem): string {
  return typeof item.image === 'string' ? item.image : `${item.id} (${item.image.byteLength} bytes)`;
}

/**
 * An item's encoded bytes (read from disk for a path).
 *
 * @throws CaptionError `CAPTION_ERR_IMAGE_READ` naming the file when it cannot be read.
 */
export async function imageBytes(item: CaptionItem): Promise<Uint8Array> {
  if (typeof item.image !== 'string') {
    return item.image;
  }
  try {
    return await readFile(item.image);
  } catch (err) {
    const reason = typeof err === 'object' && err !== null && 'message' in err ? String(err.message) : '';
    throw new CaptionError(
      CaptionErrorCode.ImageRead,
      `cannot read image ${item.image} of item ${item.id}: ${reason}`,
      { cause: err },
    );
  }
}

/**
 * An item's image as a `data:` URL, the form chat endpoints take images in.
 *
 * @throws CaptionError `CAPTION_ERR_IMAGE_READ`; `CAPTION_ERR_IMAGE_FORMAT` when the bytes are not a
 * JPEG, PNG, WebP or GIF.
 */
export async function imageDataUrl(item: CaptionItem): Promise<string> {
  const bytes = await imageBytes(item);
  const mime = sniffImageMime(bytes);
  if (mime === undefined) {
    throw new CaptionError(
      CaptionErrorCode.ImageFormat,
      `image ${describeImage(item)} is not a JPEG, PNG, WebP or GIF file (unknown magic bytes)`,
    );
  }
  return `data:${mime};base64,${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`;
}

/** Whether `signal` fired; throws `CAPTION_ERR_ABORTED` if so. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted === true) {
    throw new CaptionError(CaptionErrorCode.Aborted, `${what} was aborted`, { cause: signal.reason });
  }
}
