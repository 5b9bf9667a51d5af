/**
 * @file OpenAPI: the document is generated from the routes' zod schemas (`@fastify/swagger` with the zod
 * type provider's transform) and served with Swagger UI at `/docs` (the JSON at `/docs/json`). Must be
 * registered before the routes it documents.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';

/** Package version shown in the document. */
const API_VERSION = '0.1.0';

/** Registers the OpenAPI generator and Swagger UI at `/docs`. */
export async function registerDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'synood API',
        description:
          'Runs of the SynOOD pipeline (submit, follow, cancel, resume, artifacts, report), published ' +
          'detectors (score images by upload or URL) and the model catalog. Errors are JSON ' +
          '`{ error: { code, message, details?, requestId } }` with a stable code.',
        version: API_VERSION,
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}
