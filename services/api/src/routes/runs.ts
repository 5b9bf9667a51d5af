/**
 * @file `/v1/runs`: thin routes over {@link RunService}. Submission validates the body with the
 * contracts' run-spec schema (a bad spec is a 400 `SPEC_ERR_INVALID` naming every bad field's path)
 * and is rate limited per client (API key, else address).
 */
import { createHash } from 'node:crypto';

import { runSpecSchema, runStatusSchema } from '@synood/contracts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { ApiError } from '../errors';
import { presentedKey } from '../plugins/auth';
import {
  artifactListSchema,
  artifactsQuerySchema,
  cancelResponseSchema,
  errorResponses,
  idParamsSchema,
  listRunsQuerySchema,
  resumeResponseSchema,
  runListSchema,
} from '../schemas';

/** `/v1/runs` and its sub-resources. */
export const runRoutes: FastifyPluginAsyncZod = (app) => {
  const { runs, rateLimit } = app.synood;

  app.post(
    '/v1/runs',
    {
      schema: {
        tags: ['runs'],
        summary: 'Submit a run (idempotent: the same spec returns the same run)',
        description:
          'The run id derives from the hash of the spec (defaults filled in) and the model versions: a new ' +
          'spec answers 201, a spec submitted before answers 200 with that run.',
        body: runSpecSchema,
        response: { 200: runStatusSchema, 201: runStatusSchema, ...errorResponses(400, 401, 409, 429, 503) },
      },
      config: {
        validationCode: 'SPEC_ERR_INVALID',
        rateLimit: {
          max: rateLimit.max,
          timeWindow: rateLimit.timeWindowMs,
          keyGenerator: (request) => {
            const key = presentedKey(request);
            return key === undefined
              ? `ip:${request.ip}`
              : `key:${createHash('sha256').update(key).digest('hex')}`;
          },
          errorResponseBuilder: (_request, context) =>
            new ApiError(
              'API_ERR_RATE_LIMITED',
              `too many run submissions: at most ${context.max} per ${rateLimit.timeWindowMs / 1000} s; retry in ${context.after}`,
            ),
        },
      },
    },
    async (request, reply) => {
      const result = await runs.create(request.body);
      return reply.code(result.created ? 201 : 200).send(result.run);
    },
  );

  app.get(
    '/v1/runs',
    {
      schema: {
        tags: ['runs'],
        summary: 'List runs, newest first',
        querystring: listRunsQuerySchema,
        response: { 200: runListSchema, ...errorResponses(400, 401) },
      },
    },
    async (request) => runs.list(request.query.limit, request.query.cursor),
  );

  app.get(
    '/v1/runs/:id',
    {
      schema: {
        tags: ['runs'],
        summary: 'A run with per-stage progress and item counts',
        params: idParamsSchema,
        response: { 200: runStatusSchema, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => runs.get(request.params.id),
  );

  app.post(
    '/v1/runs/:id/cancel',
    {
      schema: {
        tags: ['runs'],
        summary: 'Cancel a run: waiting jobs are removed, active ones aborted',
        params: idParamsSchema,
        response: { 200: cancelResponseSchema, ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request) => runs.cancel(request.params.id),
  );

  app.post(
    '/v1/runs/:id/resume',
    {
      schema: {
        tags: ['runs'],
        summary: 'Resume a cancelled or failed run: only unfinished jobs are enqueued again',
        params: idParamsSchema,
        response: { 200: resumeResponseSchema, ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request) => runs.resume(request.params.id),
  );

  app.get(
    '/v1/runs/:id/artifacts',
    {
      schema: {
        tags: ['runs'],
        summary: "A page of the run's stored objects (key, size, stage), in key order",
        params: idParamsSchema,
        querystring: artifactsQuerySchema,
        response: { 200: artifactListSchema, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) =>
      runs.artifacts(request.params.id, {
        limit: request.query.limit,
        ...(request.query.stage === undefined ? {} : { stage: request.query.stage }),
        ...(request.query.cursor === undefined ? {} : { cursor: request.query.cursor }),
      }),
  );

  app.get(
    '/v1/runs/:id/report',
    {
      schema: {
        tags: ['runs'],
        summary: 'The evaluation report (HTML), once the evaluate stage wrote it',
        params: idParamsSchema,
        produces: ['text/html'],
        response: { 200: z.unknown().describe('the HTML report'), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const stream = await runs.report(request.params.id);
      return reply.type('text/html; charset=utf-8').send(stream);
    },
  );
  return Promise.resolve();
};
