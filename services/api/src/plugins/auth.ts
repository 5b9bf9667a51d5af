/**
 * @file API-key authentication. A key comes in `x-api-key` or `Authorization: Bearer <key>` and is
 * compared in constant time against the configured keys (several may be valid at once, for rotation).
 * Writes (POST, PUT, PATCH, DELETE) and the queue dashboard under `/admin/queues` always need a key;
 * reads of `/v1` need one only with `readsRequireKey`; health, readiness, metrics and the docs are open.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { ApiError, errorBody } from '../errors';

/** Options of {@link registerAuth}. */
export interface AuthOptions {
  /** Accepted keys. */
  keys: readonly string[];
  /** Require a key for `GET /v1/…` too. */
  readsRequireKey: boolean;
  /** With no key configured, let requests through without one (single-user setups). */
  allowAnonymous: boolean;
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** The key a request presents, if any. */
export function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header !== '') {
    return header;
  }
  const authorization = request.headers.authorization;
  const bearer = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return bearer?.[1];
}

/** Whether `method` on `path` needs a key under `options`. */
export function needsKey(
  method: string,
  path: string,
  options: Pick<AuthOptions, 'readsRequireKey'>,
): boolean {
  if (path === '/admin/queues' || path.startsWith('/admin/queues/')) {
    return true;
  }
  if (WRITE_METHODS.has(method)) {
    return true;
  }
  return options.readsRequireKey && path.startsWith('/v1/');
}

/** Adds the authentication hook to every route of `app`. */
export function registerAuth(app: FastifyInstance, options: AuthOptions): void {
  // Digests have one length, so the comparison's time does not depend on the key's.
  const accepted = options.keys.map(digest);
  const check = (request: FastifyRequest, reply: FastifyReply): ApiError | undefined => {
    const path = request.url.split('?')[0] ?? '/';
    if (!needsKey(request.method, path, options)) {
      return undefined;
    }
    if (accepted.length === 0) {
      if (options.allowAnonymous) {
        return undefined;
      }
      void reply.header('www-authenticate', 'Bearer');
      return new ApiError(
        'API_ERR_UNAUTHORIZED',
        'this server has no API key configured, so it accepts no writes; set SYNOOD_API_KEY (or allow anonymous access)',
      );
    }
    const key = presentedKey(request);
    const given = key === undefined ? undefined : digest(key);
    let ok = false;
    for (const candidate of accepted) {
      ok = (given !== undefined && timingSafeEqual(candidate, given)) || ok;
    }
    if (ok) {
      return undefined;
    }
    void reply.header('www-authenticate', 'Bearer');
    return new ApiError(
      'API_ERR_UNAUTHORIZED',
      key === undefined
        ? `${request.method} ${path} needs an API key in the x-api-key header or as Authorization: Bearer <key>`
        : 'the API key is not valid',
    );
  };
  app.addHook('onRequest', (request, reply, done) => {
    const error = check(request, reply);
    if (error === undefined) {
      done();
      return;
    }
    // Answered here rather than thrown: plugins such as bull-board install their own error handler.
    void reply
      .code(error.status)
      .type('application/json')
      .send(errorBody(error.code, error.message, request.id));
  });
}
