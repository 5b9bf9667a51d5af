/**
 * @file Published detectors (`detectors/<id>/detector.json` + `detector.bin`, written by the publish
 * stage): listing, metadata, and scoring images. A bundle is decoded once and kept in a small
 * least-recently-used cache (bundles are immutable once published); the CLIP image encoder is loaded
 * once, on the first scoring request, and shared.
 *
 * Per image the answer has the SynOOD score (projected features, fine-tuned negatives: the detector's
 * own score), the NegLabel score of the same label set on the raw CLIP features (no projection), the
 * decision at the bundle's threshold (images scoring at or above it are InD) and the most probable InD
 * class (softmax over the InD labels at the detector's logit scale, on the projected features). An image
 * that cannot be read or decoded is a per-image error; it never fails the request.
 */
import { detectorPrefix, runIdSchema } from '@synood/contracts';
import type { ClipImageEncoder } from '@synood/models';
import {
  type DetectorManifest,
  type NegLabelLayout,
  type SynoodDetector,
  decodeDetector,
  detectorLayout,
  detectorScores,
  negLabelScores,
  projectFeatures,
} from '@synood/ood';
import { type ArtifactStore, StorageError, StorageErrorCode, joinKey } from '@synood/storage';
import { type LinalgBackend, type Matrix, TypeScriptBackend, l2NormalizeRows } from '@synood/tensor';

import { ApiError, describeError, platformCode } from '../errors';

/** File names of a bundle inside its folder. */
export const DETECTOR_FILES = { manifest: 'detector.json', data: 'detector.bin' } as const;

/** What {@link DetectorService} needs. */
export interface DetectorServiceDeps {
  /** The artifact store holding `detectors/`. */
  store: ArtifactStore;
  /** Loads the CLIP image encoder; called once (again only after a failed load). */
  loadImageEncoder?: () => Promise<ClipImageEncoder>;
  /** Linear algebra for scoring. @defaultValue a `TypeScriptBackend` */
  backend?: LinalgBackend;
  /** Decoded bundles kept in memory. @defaultValue 8 */
  cacheSize?: number;
}

/** A detector's metadata, as `GET /v1/detectors/:id` answers. */
export interface DetectorInfo {
  id: string;
  dim: number;
  labels: { ind: number; negatives: number; finetuned: number };
  threshold: number | null;
  scale: number;
  groups: number;
  projection: boolean;
  createdAt: string | null;
  /** Bytes of the binary part. */
  byteLength: number;
  metadata: Record<string, unknown>;
}

/** One image to score: its bytes, or the error that kept it from being read. */
export type ScoreInput =
  { name: string; bytes: Uint8Array } | { name: string; error: { code: string; message: string } };

/** The answer for one image. */
export interface ScoreResult {
  name: string;
  synoodScore?: number;
  negLabelScore?: number;
  /** `null` when the bundle has no threshold (not calibrated). */
  decision?: 'ind' | 'ood' | null;
  topClass?: { index: number; name: string; probability: number };
  error?: { code: string; message: string };
}

/** A scoring answer. */
export interface ScoreResponse {
  detector: string;
  threshold: number | null;
  results: ScoreResult[];
}

interface LoadedDetector {
  detector: SynoodDetector;
  layout: NegLabelLayout;
  manifest: DetectorManifest;
}

function manifestKey(id: string): string {
  return joinKey(detectorPrefix(id), DETECTOR_FILES.manifest);
}

function dataKey(id: string): string {
  return joinKey(detectorPrefix(id), DETECTOR_FILES.data);
}

function isNotFound(error: unknown): boolean {
  return error instanceof StorageError && error.code === StorageErrorCode.NotFound;
}

/** Index and probability of each row's largest value of a row-stochastic matrix. */
function argmaxRows(probs: Matrix): { index: number; probability: number }[] {
  const out: { index: number; probability: number }[] = [];
  for (let i = 0; i < probs.rows; i++) {
    let best = 0;
    for (let j = 1; j < probs.cols; j++) {
      if (probs.data[i * probs.cols + j]! > probs.data[i * probs.cols + best]!) {
        best = j;
      }
    }
    out.push({ index: best, probability: probs.data[i * probs.cols + best]! });
  }
  return out;
}

/** Detector listing, metadata and scoring. */
export class DetectorService {
  private readonly cache = new Map<string, Promise<LoadedDetector>>();
  private encoder: Promise<ClipImageEncoder> | undefined;
  private readonly backend: LinalgBackend;
  private readonly cacheSize: number;

  constructor(private readonly deps: DetectorServiceDeps) {
    this.backend = deps.backend ?? new TypeScriptBackend();
    this.cacheSize = deps.cacheSize ?? 8;
  }

  /** Ids of every published detector, sorted. */
  async list(): Promise<string[]> {
    const ids = new Set<string>();
    for await (const key of this.deps.store.list('detectors')) {
      const parts = key.split('/');
      if (
        parts.length === 3 &&
        parts[2] === DETECTOR_FILES.manifest &&
        runIdSchema.safeParse(parts[1]).success
      ) {
        ids.add(parts[1]!);
      }
    }
    return [...ids].sort();
  }

  private async readManifest(id: string): Promise<DetectorManifest> {
    let bytes: Uint8Array;
    try {
      bytes = await this.deps.store.get(manifestKey(id));
    } catch (error) {
      if (isNotFound(error)) {
        throw new ApiError('API_ERR_NOT_FOUND', `detector ${id} does not exist`);
      }
      throw error;
    }
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as DetectorManifest;
  }

  /** A detector's metadata (read from its manifest only). @throws ApiError `API_ERR_NOT_FOUND` */
  async describe(id: string): Promise<DetectorInfo> {
    const m = await this.readManifest(id);
    const finetuned = m.arrays.find((a) => a.name === 'finetuned_rows')?.shape[0] ?? 0;
    const createdAt = m.metadata.createdAt;
    return {
      id,
      dim: m.dim,
      labels: { ind: m.labels.ind.length, negatives: m.labels.negatives.length, finetuned },
      threshold: m.threshold,
      scale: m.scale,
      groups: m.groups,
      projection: m.projection !== null,
      createdAt: typeof createdAt === 'string' ? createdAt : null,
      byteLength: m.byteLength,
      metadata: { ...m.metadata },
    };
  }

  /**
   * Loads (or finds cached) the bundle of `id`, so a request for an unknown detector fails before its
   * images are read or fetched.
   *
   * @throws ApiError `API_ERR_NOT_FOUND`
   */
  async preload(id: string): Promise<void> {
    await this.load(id);
  }

  /** The decoded bundle of `id`, from the cache or the store (a failed load is not cached). */
  private load(id: string): Promise<LoadedDetector> {
    const hit = this.cache.get(id);
    if (hit !== undefined) {
      // Re-insert: the Map's order is the recency order.
      this.cache.delete(id);
      this.cache.set(id, hit);
      return hit;
    }
    const loading = (async () => {
      const manifest = await this.readManifest(id);
      let data: Uint8Array;
      try {
        data = await this.deps.store.get(dataKey(id));
      } catch (error) {
        if (isNotFound(error)) {
          throw new ApiError(
            'API_ERR_NOT_FOUND',
            `detector ${id} has a manifest but no ${DETECTOR_FILES.data}`,
          );
        }
        throw error;
      }
      const detector = decodeDetector(manifest, data);
      return { detector, layout: detectorLayout(detector), manifest };
    })();
    this.cache.set(id, loading);
    loading.catch(() => {
      if (this.cache.get(id) === loading) {
        this.cache.delete(id);
      }
    });
    while (this.cache.size > this.cacheSize) {
      this.cache.delete(this.cache.keys().next().value!);
    }
    return loading;
  }

  private imageEncoder(): Promise<ClipImageEncoder> {
    const load = this.deps.loadImageEncoder;
    if (load === undefined) {
      return Promise.reject(
        new ApiError(
          'API_ERR_UNAVAILABLE',
          'scoring is not configured: no CLIP image encoder was given to the API',
        ),
      );
    }
    if (this.encoder === undefined) {
      const loading = load();
      this.encoder = loading;
      loading.catch(() => {
        if (this.encoder === loading) {
          this.encoder = undefined;
        }
      });
    }
    return this.encoder;
  }

  /**
   * Scores images with detector `id`. Results are in input order; inputs that carry an error, and
   * images the encoder cannot read or decode, get `error` instead of scores.
   *
   * @throws ApiError `API_ERR_NOT_FOUND` for an unknown detector, `API_ERR_CONFLICT` when the CLIP model's
   * feature size is not the detector's, `API_ERR_UNAVAILABLE` when no encoder is configured.
   */
  async score(id: string, inputs: readonly ScoreInput[]): Promise<ScoreResponse> {
    const loaded = await this.load(id);
    const { detector, layout } = loaded;
    const results: ScoreResult[] = inputs.map((input) =>
      'error' in input ? { name: input.name, error: input.error } : { name: input.name },
    );
    const readable = inputs.flatMap((input, i) => ('bytes' in input ? [{ i, input }] : []));
    if (readable.length > 0) {
      const encoder = await this.imageEncoder();
      const encoded = await encoder.encodeImages(
        readable.map(({ input }) => ({ name: input.name, bytes: input.bytes })),
      );
      for (const failure of encoded.failures) {
        results[readable[failure.index]!.i]!.error = {
          code: platformCode(failure.error) ?? 'ITEM_ERR_IMAGE',
          message: describeError(failure.error),
        };
      }
      if (encoded.raw.rows > 0) {
        if (encoded.raw.cols !== detector.indFeatures.cols) {
          throw new ApiError(
            'API_ERR_CONFLICT',
            `detector ${id} takes ${detector.indFeatures.cols}-d CLIP features but the API's CLIP image model gives ` +
              `${encoded.raw.cols}-d ones; score it with the backbone it was trained on`,
          );
        }
        const synood = await detectorScores(this.backend, detector, encoded.raw, layout);
        const negLabel = await negLabelScores(this.backend, encoded.raw, layout);
        const projected = l2NormalizeRows(
          detector.projection === null
            ? encoded.raw
            : await projectFeatures(this.backend, detector.projection, encoded.raw),
        );
        const { probs } = await this.backend.softmax(projected, detector.indFeatures, detector.scale);
        const top = argmaxRows(probs);
        encoded.indices.forEach((inputIndex, row) => {
          const result = results[readable[inputIndex]!.i]!;
          const score = synood[row]!;
          result.synoodScore = score;
          result.negLabelScore = negLabel[row]!;
          result.decision = detector.threshold === null ? null : score >= detector.threshold ? 'ind' : 'ood';
          result.topClass = {
            index: top[row]!.index,
            name: detector.indLabels[top[row]!.index]!,
            probability: top[row]!.probability,
          };
        });
      }
    }
    return { detector: id, threshold: detector.threshold, results };
  }
}
