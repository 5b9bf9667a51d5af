/**
 * @file `GET /v1/models`: the model catalog's roles with each file's cache status (from sizes, mtimes
 * and the lock file; nothing is hashed, so it is cheap enough for a status page).
 */
import { listModels } from '@synood/models';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

import { ApiError } from '../errors';
import { errorResponses, modelListSchema } from '../schemas';

/** `GET /v1/models`. */
export const modelRoutes: FastifyPluginAsyncZod = (app) => {
  app.get(
    '/v1/models',
    {
      schema: {
        tags: ['models'],
        summary: 'Model roles of the catalog and their cache status',
        response: { 200: modelListSchema, ...errorResponses(401, 503) },
      },
    },
    async () => {
      const where = app.synood.deps.models;
      if (where === undefined) {
        throw new ApiError('API_ERR_UNAVAILABLE', 'no model catalog is configured on this server');
      }
      const listing = await listModels({ catalog: where.catalog, cacheDir: where.cacheDir });
      return {
        cacheDir: where.cacheDir,
        models: listing.map((m) => ({
          role: m.role,
          ...(m.description === undefined ? {} : { description: m.description }),
          status: m.status,
          unverified: m.unverified,
          ...(m.exportCommand === undefined ? {} : { exportCommand: m.exportCommand }),
          files: m.files.map((f) => ({
            name: f.name,
            path: f.path,
            ...(f.source === undefined ? {} : { source: f.source }),
            ...(f.size === undefined ? {} : { size: f.size }),
            ...(f.expectedSize === undefined ? {} : { expectedSize: f.expectedSize }),
            ...(f.sha256 === undefined ? {} : { sha256: f.sha256 }),
            status: f.status,
          })),
        })),
      };
    },
  );
  return Promise.resolve();
};
