/**
 * @file One error handler and one not-found handler for the whole API (fastify/demo's pattern): every
 * error becomes `{ error: { code, message, details?, requestId } }` with a stable code. Validation
 * errors name each bad field's path; 4xx messages pass through; 5xx bodies are masked to a generic
 * message with the request id, while the real error is logged with the request's context.
 */
import { ERROR_CODES, SynoodError } from '@synood/contracts';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';

import { ApiError, type ApiErrorCode, type FieldIssue, describeIssues, errorBody } from '../errors';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Code of a request-validation failure on this route. @defaultValue `API_ERR_VALIDATION` */
    validationCode?: 'API_ERR_VALIDATION' | 'SPEC_ERR_INVALID';
  }
}

/** The code of a 4xx status that carries none of ours. */
function codeOfStatus(status: number): ApiErrorCode {
  switch (status) {
    case 401:
      return 'API_ERR_UNAUTHORIZED';
    case 404:
      return 'API_ERR_NOT_FOUND';
    case 409:
      return 'API_ERR_CONFLICT';
    case 413:
      return 'API_ERR_PAYLOAD_TOO_LARGE';
    case 415:
      return 'API_ERR_UNSUPPORTED_MEDIA_TYPE';
    case 429:
      return 'API_ERR_RATE_LIMITED';
    default:
      return 'API_ERR_VALIDATION';
  }
}

/** `/dataset/location` (an instance path) as `dataset.location`. */
function dottedPath(instancePath: string): string {
  const path = instancePath.replace(/^\//, '').split('/').filter(Boolean).join('.');
  return path === '' ? '(root)' : path;
}

/** Something that is down, as opposed to a bug: answered 503 so that clients retry. */
function isUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) {
    return false;
  }
  const code = 'code' in error ? error.code : undefined;
  const retryable = 'retryable' in error ? error.retryable : undefined;
  return (
    code === 'QUEUE_ERR_UNAVAILABLE' ||
    code === 'ECONNREFUSED' ||
    (typeof code === 'string' && code.startsWith('STORAGE_ERR_') && retryable === true) ||
    (error instanceof Error &&
      /Connection is closed|Stream isn't writeable|enableOfflineQueue/.test(error.message))
  );
}

/** Sends an error body with `status`. */
function send(
  reply: FastifyReply,
  request: FastifyRequest,
  status: number,
  code: string,
  message: string,
  details?: unknown,
): FastifyReply {
  return reply
    .code(status)
    .type('application/json')
    .send(errorBody(code, message, request.id, details));
}

/** Installs the error and not-found handlers on the root instance. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const code = request.routeOptions.config.validationCode ?? 'API_ERR_VALIDATION';
      const issues: FieldIssue[] = error.validation.map((v) => ({
        path: dottedPath(v.instancePath),
        message: v.message ?? 'is invalid',
      }));
      const what = code === 'SPEC_ERR_INVALID' ? 'run spec' : (error.validationContext ?? 'request');
      return send(reply, request, 400, code, `invalid ${what}: ${describeIssues(issues)}`, { issues });
    }
    if (error instanceof ApiError || error instanceof SynoodError) {
      const issues = error instanceof SynoodError ? error.issues : undefined;
      const details =
        error instanceof ApiError ? error.details : issues === undefined ? undefined : { issues };
      if (error.status < 500) {
        return send(reply, request, error.status, error.code, error.message, details);
      }
      if (error.code === 'API_ERR_UNAVAILABLE') {
        // Our own 503s carry only what their code chose to show (no internal error text).
        request.log.warn({ err: error }, 'dependency unavailable');
        return send(reply, request, 503, error.code, `${error.message}; retry later`, details);
      }
    }
    const status = 'statusCode' in error && typeof error.statusCode === 'number' ? error.statusCode : 500;
    if (status >= 400 && status < 500) {
      if (status === 429) {
        void reply.header('retry-after', reply.getHeader('retry-after') ?? '60');
      }
      return send(reply, request, status, codeOfStatus(status), error.message);
    }
    if (isUnavailable(error)) {
      request.log.warn({ err: error, method: request.method, url: request.url }, 'dependency unavailable');
      return send(
        reply,
        request,
        503,
        'API_ERR_UNAVAILABLE',
        `a dependency (Redis or storage) is unavailable; retry later (request ${request.id})`,
      );
    }
    request.log.error(
      { err: error, method: request.method, url: request.url, params: request.params, query: request.query },
      'request failed',
    );
    return send(
      reply,
      request,
      500,
      'API_ERR_INTERNAL',
      `${ERROR_CODES.API_ERR_INTERNAL.summary} (request ${request.id})`,
    );
  });

  app.setNotFoundHandler((request, reply) =>
    send(
      reply,
      request,
      404,
      'API_ERR_NOT_FOUND',
      `no route ${request.method} ${request.url.split('?')[0] ?? ''}`,
    ),
  );
}
