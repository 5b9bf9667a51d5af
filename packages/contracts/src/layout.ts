/**
 * @file The run's storage layout: which artifact each stage writes (by name inside its stage folder
 * `runs/<runId>/<stage>[/<shard>]/`, see `artifactKey` in `@synood/storage`), the run record, and the
 * schemas of the JSON manifests that stages hand to each other. API and workers share these, so a
 * stage never guesses another's file names or formats.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { runIdSchema } from './payloads';
import { runSpecSchema } from './run-spec';
import { RUN_STATES } from './states';

/** Zero-padded shard number, as it appears in keys. */
export function shardName(shard: number): string {
  return String(shard).padStart(5, '0');
}

/** Artifact names per stage (inside the stage's folder). */
export const ARTIFACTS = {
  plan: {
    /** {@link Plan}. */
    plan: 'plan.json',
    /** {@link ShardItems} of shard `n`. */
    shard: (shard: number): string => `shards/${shardName(shard)}.json`,
  },
  caption: {
    /** One {@link CaptionRecord} per line, in shard order. */
    captions: 'captions.jsonl',
  },
  synthesize: {
    /** One {@link SyntheticRecord} per line. */
    manifest: 'synthetic.jsonl',
    /** The synthetic image of an item. */
    image: (itemId: string): string => `images/${itemId}.jpg`,
  },
  encode: {
    /** CLIP image features (raw, float32 `.npy`, one row per {@link EncodeRows} `ind` entry). */
    ind: 'ind.npy',
    /** CLIP image features of the synthetic images. */
    synthetic: 'synthetic.npy',
    /** {@link EncodeRows}. */
    rows: 'rows.json',
  },
  mine: {
    /** {@link MinedNegatives}. */
    negatives: 'negatives.json',
    /** Normalised text features of the InD prompts (`.npy`, class order). */
    indText: 'ind-text.npy',
    /** Normalised text features of the negative labels (`.npy`, {@link MinedNegatives} order). */
    negativeText: 'negatives-text.npy',
    /** Raw (unnormalised) text features of the negatives: label fine-tuning starts from them. */
    negativeTextRaw: 'negatives-text-raw.npy',
  },
  assign: {
    /** {@link Assignment}. */
    assignment: 'assignment.json',
  },
  'train-projection': {
    /** The projection head as written by `@synood/ood`'s detector encoding. */
    projection: 'projection.bin',
    /** {@link TrainingHistory} of the projection head (the report's training curve). */
    history: 'history.json',
  },
  'train-labels': {
    /** Fine-tuned label features of Y*⁻ (`.npy`, {@link Assignment} `subset` order). */
    labels: 'labels.npy',
    /** {@link TrainingHistory} of the label fine-tuning. */
    history: 'history.json',
  },
  evaluate: {
    /** {@link EvaluationReport}. */
    metrics: 'metrics.json',
    /** A self-contained HTML report. */
    report: 'report.html',
    /** Everything `report.html` shows, as JSON (metrics, curves, histograms, timings, config). */
    reportData: 'report.json',
  },
  publish: {
    /** The published detector's id, pointing into {@link detectorPrefix}. */
    detector: 'detector-ref.json',
  },
} as const;

/** Key of a run's record ({@link RunRecord}). */
export function runRecordKey(runId: string): string {
  return `runs/${runIdSchema.parse(runId)}/run.json`;
}

/** Folder of a published detector bundle (`detector.json` + `detector.bin`). */
export function detectorPrefix(detectorId: string): string {
  return `detectors/${runIdSchema.parse(detectorId)}`;
}

/**
 * A stable, key-safe id for a dataset item: the class index and a hash of the image's dataset key, so the
 * same image gets the same id (and the same seeds and artifact names) in every run and on every worker.
 */
export function itemIdOf(classIndex: number, datasetKey: string): string {
  const digest = createHash('sha256').update(datasetKey).digest('hex').slice(0, 16);
  return `c${String(classIndex).padStart(5, '0')}-${digest}`;
}

const itemId = z.string().regex(/^c\d{5}-[0-9a-f]{16}$/, 'must be an id made by itemIdOf');
const errorBody = z.object({ code: z.string().min(1), message: z.string() });

/** What `POST /v1/runs` stores: the parsed spec, its hash and the run's lifecycle. */
export const runRecordSchema = z.object({
  id: runIdSchema,
  name: z.string().optional(),
  specHash: z.string().min(1),
  spec: runSpecSchema,
  state: z.enum(RUN_STATES),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  /** Shards planned (0 until the plan is written). */
  shards: z.number().int().nonnegative(),
  error: errorBody.optional(),
});
/** A run record. */
export type RunRecord = z.infer<typeof runRecordSchema>;

/** One image of a shard. */
export const shardItemSchema = z.object({
  id: itemId,
  /** Where the image is: a key in the dataset's store. */
  key: z.string().min(1),
  classIndex: z.number().int().nonnegative(),
});
/** A shard's item list. */
export const shardItemsSchema = z.object({
  shard: z.number().int().nonnegative(),
  items: z.array(shardItemSchema),
});
/** A shard's items. */
export type ShardItems = z.infer<typeof shardItemsSchema>;

/** The plan stage's output. */
export const planSchema = z.object({
  classes: z.array(z.string().min(1)).min(1),
  shards: z.number().int().nonnegative(),
  shardSize: z.number().int().positive(),
  /** Images selected (InD) and listed in the dataset. */
  selected: z.number().int().nonnegative(),
  listed: z.number().int().nonnegative(),
  /** Images the listing could not use (unreadable, unknown class), with the reason. */
  skipped: z.array(z.object({ key: z.string(), reason: z.string() })),
});
/** A plan. */
export type Plan = z.infer<typeof planSchema>;

/** The caption of one item. */
export const captionRecordSchema = z.object({
  id: itemId,
  elements: z.array(z.string()),
  /** The inpainting prompt built from the elements. */
  prompt: z.string(),
  raw: z.string(),
  backend: z.string(),
  model: z.string(),
  seconds: z.number().nonnegative(),
  error: errorBody.optional(),
});
/** A caption record. */
export type CaptionRecord = z.infer<typeof captionRecordSchema>;

/** The synthetic image of one item. */
export const syntheticRecordSchema = z.object({
  id: itemId,
  classIndex: z.number().int().nonnegative(),
  /** Name of the image inside the synthesize shard folder (absent when the item failed). */
  image: z.string().optional(),
  /** Loss per guided iteration. */
  losses: z.array(z.number()),
  seed: z.string(),
  seconds: z.number().nonnegative(),
  error: errorBody.optional(),
});
/** A synthetic-image record. */
export type SyntheticRecord = z.infer<typeof syntheticRecordSchema>;

/** Which item each feature row of an encode shard belongs to. */
export const encodeRowsSchema = z.object({
  ind: z.array(z.object({ id: itemId, classIndex: z.number().int().nonnegative() })),
  synthetic: z.array(z.object({ id: itemId, classIndex: z.number().int().nonnegative() })),
  failures: z.array(z.object({ id: itemId, code: z.string(), message: z.string() })),
});
/** Encode rows. */
export type EncodeRows = z.infer<typeof encodeRowsSchema>;

/** The mined negative labels. */
export const minedNegativesSchema = z.object({
  labels: z.array(z.string().min(1)),
  /** Part of speech of each label. */
  pos: z.array(z.enum(['noun', 'adj'])),
  candidates: z.number().int().nonnegative(),
});
/** Mined negatives. */
export type MinedNegatives = z.infer<typeof minedNegativesSchema>;

/** The nearest negative of every synthetic image, and the distinct assigned labels Y*⁻. */
export const assignmentSchema = z.object({
  /** Per synthetic feature row (shard order, then row order): index into the negatives. */
  nearest: z.array(z.number().int().nonnegative()),
  /** Y*⁻ as indices into the negatives, ascending. */
  subset: z.array(z.number().int().nonnegative()),
});
/** An assignment. */
export type Assignment = z.infer<typeof assignmentSchema>;

const metricRow = z.object({
  auroc: z.number(),
  fpr95: z.number(),
  auprIn: z.number(),
  auprOut: z.number(),
});

/** Plain means of the metrics over some OOD sets, per method. */
export const metricsMeanSchema = z.object({
  /** The sets averaged, in report order. */
  sets: z.array(z.string()),
  metrics: z.record(z.string(), metricRow),
});

/**
 * Evaluation: per OOD set and method, the four metrics; per near/far group and over all scored sets,
 * their plain means (each set weighs the same, as the papers' "Average"). `groups` and `average` are
 * absent in reports written before they existed.
 */
export const evaluationReportSchema = z.object({
  methods: z.array(z.string()),
  sets: z.array(
    z.object({
      name: z.string(),
      kind: z.enum(['near', 'far']).optional(),
      images: z.number().int().nonnegative(),
      metrics: z.record(z.string(), metricRow),
    }),
  ),
  ind: z.object({ name: z.string(), images: z.number().int().nonnegative() }),
  threshold: z.number(),
  /** Means per group, near before far; only groups with a scored set. */
  groups: z.array(metricsMeanSchema.extend({ group: z.enum(['near', 'far']) })).optional(),
  /** Mean over every scored set (absent when none was scored). */
  average: metricsMeanSchema.optional(),
});
/** An evaluation report. */
export type EvaluationReport = z.infer<typeof evaluationReportSchema>;

/** Loss per optimisation step and per epoch of a trainer (`history.json` of the training stages). */
export const trainingHistorySchema = z.object({
  /** Mean loss and learning rate per epoch. */
  epochs: z.array(z.object({ epoch: z.number().int().nonnegative(), lr: z.number(), loss: z.number() })),
  /** Loss of every step, in order (`epoch · stepsPerEpoch + step`). */
  steps: z.array(
    z.object({
      epoch: z.number().int().nonnegative(),
      step: z.number().int().nonnegative(),
      loss: z.number(),
    }),
  ),
});
/** A training history. */
export type TrainingHistory = z.infer<typeof trainingHistorySchema>;
