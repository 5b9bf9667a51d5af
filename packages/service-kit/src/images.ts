/**
 * @file Reading the images of a job from a store and embedding them with CLIP in batches, shared verbatim
 * by the worker services. A missing or undecodable image is an item failure with its code
 * (`STORAGE_ERR_NOT_FOUND`, `VISION_ERR_DECODE`, …), never a failed job; a store that is down
 * (`STORAGE_ERR_UNAVAILABLE`) fails the job so the queue retries it. Between batches the job reports
 * progress, which is also where a cancelled run stops.
 */
import type { ClipImageEncoder } from '@synood/models';
import { type ArtifactStore, StorageError, StorageErrorCode } from '@synood/storage';
import { type Matrix, concatRows } from '@synood/tensor';

import { codeAndMessage } from './errors';
import type { ItemFailure } from './io';

/** An image of a job: its item id, where it is, and how messages name it. */
export interface ImageSource {
  /** The item id recorded with its features or failure. */
  id: string;
  store: ArtifactStore;
  key: string;
}

/** An image read into memory. */
export interface LoadedImage {
  /** Position in the source list. */
  index: number;
  bytes: Uint8Array;
}

/**
 * Reads `sources` with at most `concurrency` reads in flight.
 *
 * @returns the images read (in source order) and a failure per image that does not exist.
 * @throws the store's error for anything but a missing object (a retryable outage fails the job).
 */
export async function readImages(
  sources: readonly ImageSource[],
  concurrency = 16,
): Promise<{ images: LoadedImage[]; failures: (ItemFailure & { index: number })[] }> {
  const slots = new Array<LoadedImage | (ItemFailure & { index: number })>(sources.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < sources.length) {
      const index = next++;
      const source = sources[index]!;
      try {
        slots[index] = { index, bytes: await source.store.get(source.key) };
      } catch (error) {
        if (error instanceof StorageError && error.code === StorageErrorCode.NotFound) {
          slots[index] = { index, item: source.id, ...codeAndMessage(error, StorageErrorCode.NotFound) };
        } else {
          throw error;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, sources.length) }, lane));
  const images: LoadedImage[] = [];
  const failures: (ItemFailure & { index: number })[] = [];
  for (const slot of slots) {
    if ('bytes' in slot) {
      images.push(slot);
    } else {
      failures.push(slot);
    }
  }
  return { images, failures };
}

/** Options of {@link embedImages}. */
export interface EmbedImagesOptions {
  /** Images per CLIP run. */
  batchSize: number;
  /** Checked before every batch. */
  signal?: AbortSignal;
  /** Called after every batch with images handled so far; awaited (a cancellation point). */
  progress?: (done: number) => Promise<void>;
  /** Observes the seconds of each CLIP run (the `onnx_run_seconds{model="clip.vision"}` histogram). */
  observeRun?: (seconds: number) => void;
}

/** CLIP features of the images that could be read and decoded. */
export interface EmbeddedImages {
  /** Raw `image_embeds`, one row per embedded image, in source order. */
  features: Matrix;
  /** Source index of each feature row. */
  indices: number[];
  /** The images that failed, in source order, with their codes. */
  failures: (ItemFailure & { index: number })[];
}

/**
 * Reads and embeds `sources` batch by batch (read, decode and preprocess inside `encodeImages`).
 *
 * @throws the store's error for an outage; OnnxError when onnxruntime fails; the abort reason of `signal`.
 */
export async function embedImages(
  encoder: ClipImageEncoder,
  sources: readonly ImageSource[],
  options: EmbedImagesOptions,
): Promise<EmbeddedImages> {
  const parts: Matrix[] = [];
  const indices: number[] = [];
  const failures: (ItemFailure & { index: number })[] = [];
  for (let start = 0; start < sources.length; start += options.batchSize) {
    options.signal?.throwIfAborted();
    const batch = sources.slice(start, start + options.batchSize);
    const read = await readImages(batch);
    for (const f of read.failures) {
      failures.push({ ...f, index: start + f.index });
    }
    if (read.images.length > 0) {
      const t0 = performance.now();
      const out = await encoder.encodeImages(
        read.images.map((img) => ({ name: batch[img.index]!.key, bytes: img.bytes })),
        { batchSize: options.batchSize },
      );
      options.observeRun?.((performance.now() - t0) / 1000);
      if (out.raw.rows > 0) {
        parts.push(out.raw);
      }
      for (const i of out.indices) {
        indices.push(start + read.images[i]!.index);
      }
      for (const f of out.failures) {
        const index = start + read.images[f.index]!.index;
        failures.push({ index, item: sources[index]!.id, ...codeAndMessage(f.error, 'VISION_ERR_DECODE') });
      }
    }
    await options.progress?.(Math.min(start + options.batchSize, sources.length));
  }
  failures.sort((a, b) => a.index - b.index);
  return {
    features: parts.length > 0 ? concatRows(parts) : { rows: 0, cols: 0, data: new Float32Array(0) },
    indices,
    failures,
  };
}
