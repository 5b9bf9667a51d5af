import { z } from 'zod';
import { STAGES } from './stages';

/** Lifecycle of a run. */
export const RUN_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
/** A run's state. */
export type RunState = (typeof RUN_STATES)[number];

/** Lifecycle of one stage within a run. */
export const STAGE_STATES = ['pending', 'running', 'done', 'failed', 'cancelled'] as const;
/** A stage's state. */
export type StageState = (typeof STAGE_STATES)[number];

/** States from which nothing more happens. */
export function isTerminal(state: RunState): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'cancelled';
}

/** Progress of one stage, as `GET /v1/runs/:id` shows it. */
export const stageStatusSchema = z.object({
  stage: z.enum(STAGES),
  state: z.enum(STAGE_STATES),
  /** Jobs of this stage (shards for per-shard stages, 1 otherwise) and how many finished. */
  jobs: z.object({ total: z.number().int().nonnegative(), done: z.number().int().nonnegative() }),
  /** Items (images) processed, failed and skipped so far. */
  items: z.object({
    processed: z.number().int().nonnegative(),
    failed: z.number().int().nonnegative(),
    skipped: z.number().int().nonnegative(),
  }),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

/** The status of a run. */
export const runStatusSchema = z.object({
  id: z.string(),
  name: z.string().optional(),
  state: z.enum(RUN_STATES),
  specHash: z.string(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  stages: z.array(stageStatusSchema),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

/** A stage's progress. */
export type StageStatus = z.infer<typeof stageStatusSchema>;
/** A run's status. */
export type RunStatus = z.infer<typeof runStatusSchema>;
