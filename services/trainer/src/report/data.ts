/**
 * @file What the report shows, gathered from the run: `report.json` holds exactly this ({@link ReportData})
 * and `report.html` renders it. Upstream artifacts that only illustrate (captions, synthetic images,
 * training histories, done-markers) are read best-effort: a missing or unreadable one leaves its part of
 * the report empty instead of failing the evaluation.
 */
import {
  ARTIFACTS,
  type EvaluationReport,
  type RunSpec,
  STAGES,
  type Stage,
  type TrainingHistory,
  captionRecordSchema,
  isShardStage,
  shardItemsSchema,
  syntheticRecordSchema,
  trainingHistorySchema,
} from '@synood/contracts';
import { stageKey } from '@synood/service-kit';
import { type ArtifactStore, DONE_MARKER_NAME, artifactPrefix } from '@synood/storage';
import { centerCrop, decodeImage, encodeJpeg, resizeShortSide } from '@synood/vision';
import type { z } from 'zod';

import type { Point, ScoreHistogram } from './curves';

/** The plots of one OOD set. */
export interface SetPlots {
  set: string;
  group?: 'near' | 'far';
  /** ROC curves (`[FPR, TPR]`), one per plotted method. */
  roc: { method: string; points: Point[] }[];
  /** InD against OOD scores of one method. */
  histogram: ScoreHistogram & { method: string };
}

/** One InD image beside its synthetic counterpart (the paper's Fig. 4). */
export interface ReportPair {
  id: string;
  className: string;
  /** The caption's elements joined, or null when the caption stage left none. */
  caption: string | null;
  /** The inpainting prompt built from the caption. */
  prompt: string | null;
  /** Guidance loss per iteration of the synthesis. */
  losses: number[];
  /** JPEG thumbnails as `data:` URLs (null when the image could not be read). */
  ind: string | null;
  synthetic: string | null;
}

/** Time and throughput of one stage, summed over its shards. */
export interface StageTiming {
  stage: Stage;
  /** Done-markers found (shards for per-shard stages). */
  markers: number;
  /** Seconds summed over the markers that record them; null when none does. */
  seconds: number | null;
  processed: number;
  failed: number;
  skipped: number;
  /** Processed items per second of stage time, when both are known. */
  perSecond: number | null;
}

/** Everything the report shows (`report.json`). */
export interface ReportData {
  runId: string;
  /** InD true-positive rate of the threshold. */
  tpr: number;
  metrics: EvaluationReport;
  /** Display name per method id. */
  methodNames: Record<string, string>;
  plots: SetPlots[];
  training: { projection: TrainingHistory | null; labels: TrainingHistory | null };
  pairs: ReportPair[];
  stages: StageTiming[];
  /** Model names from the spec and the files this service ran. */
  models: { spec: RunSpec['models']; service: { role: string; file: string }[] };
  /** The run spec, defaults filled. */
  config: RunSpec;
}

async function tryGet(store: ArtifactStore, key: string): Promise<Uint8Array | null> {
  try {
    return await store.get(key);
  } catch {
    return null;
  }
}

function parseLines<T>(bytes: Uint8Array | null, schema: z.ZodType<T>): T[] {
  if (bytes === null) {
    return [];
  }
  const out: T[] = [];
  for (const line of Buffer.from(bytes).toString('utf8').split('\n')) {
    if (line.trim() === '') {
      continue;
    }
    try {
      const r = schema.safeParse(JSON.parse(line));
      if (r.success) {
        out.push(r.data);
      }
    } catch {
      // A torn line only drops that record from the illustration.
    }
  }
  return out;
}

function parseJson<T>(bytes: Uint8Array | null, schema: z.ZodType<T>): T | null {
  if (bytes === null) {
    return null;
  }
  try {
    const r = schema.safeParse(JSON.parse(Buffer.from(bytes).toString('utf8')));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/** The `history.json` of a training stage, or null. */
export async function readTrainingHistory(
  store: ArtifactStore,
  runId: string,
  stage: 'train-projection' | 'train-labels',
): Promise<TrainingHistory | null> {
  const name = ARTIFACTS[stage].history;
  return parseJson(await tryGet(store, stageKey({ runId, stage }, name)), trainingHistorySchema);
}

interface MarkerTiming {
  seconds?: unknown;
  counts?: { processed?: unknown; failed?: unknown; skipped?: unknown };
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/**
 * Per-stage timings from the done-markers (`seconds` where a stage records it, and the item counts),
 * stages in pipeline order; `current` is the stage computing the report, whose marker is not written yet.
 */
export async function stageTimings(
  store: ArtifactStore,
  runId: string,
  shards: number,
  current?: { stage: Stage; seconds: number; processed: number; failed: number },
): Promise<StageTiming[]> {
  const out: StageTiming[] = [];
  for (const stage of STAGES) {
    if (current?.stage === stage) {
      out.push({
        stage,
        markers: 1,
        seconds: current.seconds,
        processed: current.processed,
        failed: current.failed,
        skipped: 0,
        perSecond: current.seconds > 0 ? current.processed / current.seconds : null,
      });
      continue;
    }
    const prefixes = isShardStage(stage)
      ? Array.from({ length: shards }, (_, shard) => artifactPrefix({ runId, stage, shard }))
      : [artifactPrefix({ runId, stage })];
    const t: StageTiming = {
      stage,
      markers: 0,
      seconds: null,
      processed: 0,
      failed: 0,
      skipped: 0,
      perSecond: null,
    };
    for (const prefix of prefixes) {
      const bytes = await tryGet(store, `${prefix}/${DONE_MARKER_NAME}`);
      if (bytes === null) {
        continue;
      }
      let marker: MarkerTiming;
      try {
        marker = JSON.parse(Buffer.from(bytes).toString('utf8')) as MarkerTiming;
      } catch {
        continue;
      }
      t.markers++;
      if (typeof marker.seconds === 'number') {
        t.seconds = (t.seconds ?? 0) + marker.seconds;
      }
      t.processed += num(marker.counts?.processed);
      t.failed += num(marker.counts?.failed);
      t.skipped += num(marker.counts?.skipped);
    }
    if (t.markers > 0) {
      t.perSecond = t.seconds !== null && t.seconds > 0 ? t.processed / t.seconds : null;
      out.push(t);
    }
  }
  return out;
}

/** Thumbnail edge in pixels. */
export const THUMBNAIL_SIZE = 128;

/** A square JPEG thumbnail (short side resized, centre crop) as a `data:` URL, or null for an unreadable image. */
export async function thumbnail(
  bytes: Uint8Array | null,
  name: string,
  size = THUMBNAIL_SIZE,
): Promise<string | null> {
  if (bytes === null) {
    return null;
  }
  try {
    const image = await decodeImage(bytes, name);
    const small = centerCrop(
      resizeShortSide(image, size, { kernel: 'bilinear', antialias: true }),
      size,
      size,
    );
    return `data:image/jpeg;base64,${(await encodeJpeg(small, 80)).toString('base64')}`;
  } catch {
    return null;
  }
}

/** Where {@link figurePairs} reads from. */
export interface PairSources {
  /** The run's store. */
  store: ArtifactStore;
  /** The InD dataset's store (keys of the plan's shard items). */
  dataset: ArtifactStore;
  runId: string;
  shards: number;
  classes: readonly string[];
}

/**
 * Up to `limit` InD images with their synthetic counterparts, captions and loss trajectories, in shard
 * then item order, skipping items whose synthesis failed.
 */
export async function figurePairs(src: PairSources, limit = 12): Promise<ReportPair[]> {
  const pairs: ReportPair[] = [];
  for (let shard = 0; shard < src.shards && pairs.length < limit; shard++) {
    const at = { runId: src.runId, shard };
    const synthetic = parseLines(
      await tryGet(src.store, stageKey({ ...at, stage: 'synthesize' }, ARTIFACTS.synthesize.manifest)),
      syntheticRecordSchema,
    ).filter((r) => r.image !== undefined && r.error === undefined);
    if (synthetic.length === 0) {
      continue;
    }
    const captions = new Map(
      parseLines(
        await tryGet(src.store, stageKey({ ...at, stage: 'caption' }, ARTIFACTS.caption.captions)),
        captionRecordSchema,
      ).map((c) => [c.id, c]),
    );
    const items = parseJson(
      await tryGet(src.store, stageKey({ runId: src.runId, stage: 'plan' }, ARTIFACTS.plan.shard(shard))),
      shardItemsSchema,
    );
    const keyOf = new Map((items?.items ?? []).map((i) => [i.id, i.key]));
    for (const r of synthetic) {
      if (pairs.length >= limit) {
        break;
      }
      const caption = captions.get(r.id);
      const indKey = keyOf.get(r.id);
      const synKey = stageKey({ ...at, stage: 'synthesize' }, r.image!);
      pairs.push({
        id: r.id,
        className: src.classes[r.classIndex] ?? `class ${r.classIndex}`,
        caption: caption === undefined || caption.error !== undefined ? null : caption.elements.join(', '),
        prompt: caption === undefined || caption.error !== undefined ? null : caption.prompt,
        losses: r.losses,
        ind: indKey === undefined ? null : await thumbnail(await tryGet(src.dataset, indKey), indKey),
        synthetic: await thumbnail(await tryGet(src.store, synKey), synKey),
      });
    }
  }
  return pairs;
}
