/**
 * @file `/v1/detectors`: published detector bundles, and scoring images with one. Images come as a
 * multipart upload (one file part per image; size and count limits from the API's options) or as a
 * JSON body `{ "urls": [...] }` (fetched with a time and size limit, http/https only). Every image gets
 * its own result or its own error; one bad image never fails the request.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

import { ApiError, describeError, describeIssues, platformCode, zodIssues } from '../errors';
import { fetchImage } from '../detectors/fetch';
import type { ScoreInput } from '../detectors/service';
import {
  detectorInfoSchema,
  detectorListSchema,
  errorResponses,
  idParamsSchema,
  scoreResponseSchema,
  scoreUrlsBodySchema,
} from '../schemas';

/** `/v1/detectors` and scoring. */
export const detectorRoutes: FastifyPluginAsyncZod = (app) => {
  const { detectors, uploads, urls } = app.synood;

  app.get(
    '/v1/detectors',
    {
      schema: {
        tags: ['detectors'],
        summary: 'Published detectors',
        response: { 200: detectorListSchema, ...errorResponses(401) },
      },
    },
    async () => ({ detectors: (await detectors.list()).map((id) => ({ id })) }),
  );

  app.get(
    '/v1/detectors/:id',
    {
      schema: {
        tags: ['detectors'],
        summary: "A detector's metadata: label counts, threshold, creation time",
        params: idParamsSchema,
        response: { 200: detectorInfoSchema, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => detectors.describe(request.params.id),
  );

  app.post(
    '/v1/detectors/:id/score',
    {
      schema: {
        tags: ['detectors'],
        summary: 'Score images: InD or OOD?',
        description:
          'Send images as multipart/form-data file parts, or a JSON body {"urls": ["https://…"]}. Per image ' +
          'the answer has the SynOOD score, the NegLabel score, the decision at the detector threshold ' +
          '(score ≥ threshold is InD) and the most probable InD class, or an error for that image alone.',
        params: idParamsSchema,
        response: { 200: scoreResponseSchema, ...errorResponses(400, 401, 404, 409, 413, 415, 503) },
      },
    },
    async (request) => {
      await detectors.preload(request.params.id);
      const inputs: ScoreInput[] = [];
      if (request.isMultipart()) {
        for await (const part of request.files()) {
          const bytes = await part.toBuffer();
          const name = part.filename === '' ? part.fieldname : part.filename;
          inputs.push(
            part.file.truncated
              ? {
                  name,
                  error: {
                    code: 'API_ERR_PAYLOAD_TOO_LARGE',
                    message: `${name} is larger than the upload limit of ${uploads.maxFileBytes} bytes`,
                  },
                }
              : { name, bytes },
          );
        }
      } else {
        const body = scoreUrlsBodySchema.safeParse(request.body);
        if (!body.success) {
          const issues = zodIssues(body.error);
          throw new ApiError(
            'API_ERR_VALIDATION',
            `send images as multipart file parts or a JSON body {"urls": [...]}: ${describeIssues(issues)}`,
            { issues },
          );
        }
        if (body.data.urls.length > uploads.maxFiles) {
          throw new ApiError(
            'API_ERR_PAYLOAD_TOO_LARGE',
            `${body.data.urls.length} URLs; at most ${uploads.maxFiles} images per request`,
          );
        }
        const fetched = await Promise.all(
          body.data.urls.map(async (url): Promise<ScoreInput> => {
            try {
              return { name: url, bytes: await fetchImage(url, urls) };
            } catch (error) {
              return {
                name: url,
                error: { code: platformCode(error) ?? 'API_ERR_URL_FETCH', message: describeError(error) },
              };
            }
          }),
        );
        inputs.push(...fetched);
      }
      if (inputs.length === 0) {
        throw new ApiError('API_ERR_VALIDATION', 'no image to score: the upload has no file part');
      }
      return detectors.score(request.params.id, inputs);
    },
  );
  return Promise.resolve();
};
