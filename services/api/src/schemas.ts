/**
 * Request and response schemas of the routes (zod; the OpenAPI document is generated from them). Run
 * specs and statuses come from `@synood/contracts`, the one schema shared with the workers.
 */
import { STAGES, runIdSchema, runStatusSchema } from '@synood/contracts';
import { z } from 'zod';

import { errorBodySchema } from './errors';

/** Error responses a route documents. */
export function errorResponses<const S extends readonly number[]>(
  ...statuses: S
): Record<S[number], typeof errorBodySchema> {
  return Object.fromEntries(statuses.map((s) => [s, errorBodySchema])) as Record<
    S[number],
    typeof errorBodySchema
  >;
}

/** `:id` of a run or detector. */
export const idParamsSchema = z.object({ id: runIdSchema });

/** Paging of `GET /v1/runs`. */
export const listRunsQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  /** `nextCursor` of the previous page. */
  cursor: z.string().min(1).max(200).optional(),
});

/** A page of runs. */
export const runListSchema = z.object({
  runs: z.array(runStatusSchema),
  nextCursor: z.string().nullable(),
});

/** Answer of `POST /v1/runs/:id/cancel`. */
export const cancelResponseSchema = z.object({
  run: runStatusSchema,
  /** Jobs removed before they started. */
  removed: z.number().int().nonnegative(),
  /** Active jobs told to abort. */
  signalled: z.number().int().nonnegative(),
});

/** Answer of `POST /v1/runs/:id/resume`. */
export const resumeResponseSchema = z.object({
  run: runStatusSchema,
  /** Jobs enqueued again. */
  added: z.number().int().nonnegative(),
  /** Jobs whose done-marker showed them finished. */
  done: z.number().int().nonnegative(),
});

/** Paging and filter of `GET /v1/runs/:id/artifacts`. */
export const artifactsQuerySchema = z.object({
  stage: z.enum(STAGES).optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(500),
  cursor: z.string().min(1).max(1024).optional(),
});

/** A page of a run's artifacts. */
export const artifactListSchema = z.object({
  artifacts: z.array(
    z.object({ key: z.string(), size: z.number().int().nonnegative(), stage: z.enum(STAGES).nullable() }),
  ),
  nextCursor: z.string().nullable(),
});

/** `GET /v1/detectors`. */
export const detectorListSchema = z.object({ detectors: z.array(z.object({ id: z.string() })) });

/** `GET /v1/detectors/:id`. */
export const detectorInfoSchema = z.object({
  id: z.string(),
  dim: z.number().int(),
  labels: z.object({ ind: z.number().int(), negatives: z.number().int(), finetuned: z.number().int() }),
  threshold: z.number().nullable(),
  scale: z.number(),
  groups: z.number().int(),
  projection: z.boolean(),
  createdAt: z.string().nullable(),
  byteLength: z.number().int(),
  metadata: z.record(z.string(), z.unknown()),
});

/** JSON body of `POST /v1/detectors/:id/score` (the alternative is a multipart upload of images). */
export const scoreUrlsBodySchema = z.object({ urls: z.array(z.string().min(1).max(4096)).min(1) });

/** `POST /v1/detectors/:id/score`. */
export const scoreResponseSchema = z.object({
  detector: z.string(),
  threshold: z.number().nullable(),
  results: z.array(
    z.object({
      name: z.string(),
      synoodScore: z.number().optional(),
      negLabelScore: z.number().optional(),
      decision: z.enum(['ind', 'ood']).nullable().optional(),
      topClass: z.object({ index: z.number().int(), name: z.string(), probability: z.number() }).optional(),
      error: z.object({ code: z.string(), message: z.string() }).optional(),
    }),
  ),
});

/** `GET /v1/models`. */
export const modelListSchema = z.object({
  cacheDir: z.string(),
  models: z.array(
    z.object({
      role: z.string(),
      description: z.string().optional(),
      status: z.enum(['verified', 'present', 'missing', 'export-required']),
      unverified: z.boolean(),
      exportCommand: z.string().optional(),
      files: z.array(
        z.object({
          name: z.string(),
          path: z.string(),
          source: z.string().optional(),
          size: z.number().int().optional(),
          expectedSize: z.number().int().optional(),
          sha256: z.string().optional(),
          status: z.enum(['verified', 'present', 'missing', 'export-required']),
        }),
      ),
    }),
  ),
});

/** `GET /healthz` and a passing `GET /readyz`. */
export const healthSchema = z.object({
  status: z.literal('ok'),
  checks: z
    .record(
      z.string(),
      z.object({ ok: z.boolean(), latencyMs: z.number().optional(), error: z.string().optional() }),
    )
    .optional(),
});
