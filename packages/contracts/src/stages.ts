/**
 * The stages of a run (design §2), in pipeline order. `as const` tuples rather than enums so zod
 * schemas and types derive from the same values.
 */
export const STAGES = [
  'plan',
  'caption',
  'synthesize',
  'encode',
  'mine',
  'assign',
  'train-projection',
  'train-labels',
  'evaluate',
  'publish',
] as const;

/** One stage of a run. */
export type Stage = (typeof STAGES)[number];

/** Stages whose unit of work is a shard of images (the rest run once per run). */
export const SHARD_STAGES = ['caption', 'synthesize', 'encode'] as const satisfies readonly Stage[];

/** A per-shard stage. */
export type ShardStage = (typeof SHARD_STAGES)[number];

/** Stages that run once per run. */
export const RUN_STAGES = [
  'plan',
  'mine',
  'assign',
  'train-projection',
  'train-labels',
  'evaluate',
  'publish',
] as const satisfies readonly Stage[];

/** A once-per-run stage. */
export type RunStage = (typeof RUN_STAGES)[number];

/** Which worker service consumes each stage's queue. */
export const STAGE_SERVICE = {
  plan: 'api',
  caption: 'captioner',
  synthesize: 'synthesizer',
  encode: 'encoder',
  mine: 'encoder',
  assign: 'trainer',
  'train-projection': 'trainer',
  'train-labels': 'trainer',
  evaluate: 'trainer',
  publish: 'trainer',
} as const satisfies Record<Stage, string>;

/** A worker service. */
export type Service = (typeof STAGE_SERVICE)[Stage];

/** The BullMQ queue of a stage: one queue per stage, so each scales and pauses on its own. */
export function queueName(stage: Stage): string {
  return `synood.${stage}`;
}

/** True for the per-shard stages. */
export function isShardStage(stage: Stage): stage is ShardStage {
  return (SHARD_STAGES as readonly Stage[]).includes(stage);
}

/**
 * Deterministic job id (design §6): `run.stage` or `run.stage.shard`, so a resubmitted or retried
 * job is deduplicated by the queue instead of running twice. Shards are zero-padded so ids sort.
 */
export function jobId(runId: string, stage: Stage, shard?: number): string {
  if (isShardStage(stage)) {
    if (shard === undefined || !Number.isInteger(shard) || shard < 0) {
      throw new RangeError(`stage ${stage} needs a non-negative integer shard index, got ${String(shard)}`);
    }
    return `${runId}.${stage}.${String(shard).padStart(5, '0')}`;
  }
  return `${runId}.${stage}`;
}
