/**
 * @file Liveness and readiness. `/healthz` answers while the process runs; `/readyz` answers 200 only
 * when Redis answers a ping and the artifact store answers a metadata read, else 503 with each check's
 * outcome, so a load balancer stops sending traffic while a dependency is down.
 */
import { pingRedis } from '@synood/queue';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

import { ApiError, describeError } from '../errors';
import { errorResponses, healthSchema } from '../schemas';

/** Time each readiness check may take. */
const CHECK_TIMEOUT_MS = 2000;

async function checkStorage(
  check: () => Promise<unknown>,
): Promise<{ ok: boolean; latencyMs: number; error?: string }> {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`));
        }, CHECK_TIMEOUT_MS);
      }),
    ]);
    return { ok: true, latencyMs: performance.now() - start };
  } catch (error) {
    return { ok: false, latencyMs: performance.now() - start, error: describeError(error) };
  } finally {
    clearTimeout(timer);
  }
}

/** `GET /healthz`, `GET /readyz`. */
export const healthRoutes: FastifyPluginAsyncZod = (app) => {
  app.get(
    '/healthz',
    { schema: { tags: ['health'], summary: 'The process is up', response: { 200: healthSchema } } },
    () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: 'Redis and the artifact store answer',
        response: { 200: healthSchema, ...errorResponses(503) },
      },
    },
    async (request) => {
      const { store, redisUrl } = app.synood.deps;
      const [redis, storage] = await Promise.all([
        pingRedis(redisUrl, { timeoutMs: CHECK_TIMEOUT_MS }),
        checkStorage(() => store.stat('_synood_ready')),
      ]);
      const checks = {
        redis: {
          ok: redis.ok,
          latencyMs: redis.latencyMs,
          ...(redis.error === undefined ? {} : { error: redis.error }),
        },
        storage,
      };
      if (!redis.ok || !storage.ok) {
        const down = Object.entries(checks)
          .filter(([, c]) => !c.ok)
          .map(([name]) => name);
        request.log.warn({ checks }, 'not ready');
        // The body says which check failed, not why: error texts name hosts and paths.
        const brief = Object.fromEntries(
          Object.entries(checks).map(([name, c]) => [name, { ok: c.ok, latencyMs: c.latencyMs }]),
        );
        throw new ApiError('API_ERR_UNAVAILABLE', `not ready: ${down.join(' and ')} unavailable`, {
          checks: brief,
        });
      }
      return { status: 'ok' as const, checks };
    },
  );
  return Promise.resolve();
};
