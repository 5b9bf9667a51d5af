/**
 * @file HTTP metrics and `/metrics`. Every response is observed in `http_request_duration_seconds`
 * labelled with the method, the route pattern (`/v1/runs/:id`, never the URL, so no id becomes a
 * label) and the status code; requests that match no route are labelled `unmatched`. A scrape first
 * refreshes the per-queue job counts (`queue_jobs{queue,state}`), then answers the registry's text.
 */
import type { PlatformMetrics } from '@synood/metrics';
import { type RunQueues, queueDepths } from '@synood/queue';
import type { FastifyInstance } from 'fastify';

/** Route label of requests that matched no route. */
export const UNMATCHED_ROUTE = 'unmatched';

/** Adds the latency hook to every route and serves `GET /metrics`. */
export function registerMetrics(app: FastifyInstance, metrics: PlatformMetrics, queues: RunQueues): void {
  app.addHook('onResponse', (request, reply, done) => {
    try {
      metrics.httpRequest.observe(
        {
          method: request.method,
          route: request.is404 ? UNMATCHED_ROUTE : (request.routeOptions.url ?? UNMATCHED_ROUTE),
          statusCode: reply.statusCode,
        },
        reply.elapsedTime / 1000,
      );
    } catch (error) {
      // A metric label problem must never fail a response that has already been sent.
      request.log.warn({ err: error }, 'could not record the request latency');
    }
    done();
  });

  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    try {
      await queueDepths(queues, metrics);
    } catch (error) {
      // Queue depths keep their last values while Redis is down; the rest of the registry still answers.
      request.log.warn({ err: error }, 'could not refresh queue depths for /metrics');
    }
    return reply.type(metrics.contentType).send(await metrics.metricsText());
  });
}
