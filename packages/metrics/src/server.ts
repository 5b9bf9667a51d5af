/**
 * @file A small HTTP server for worker processes: `GET /metrics` (Prometheus text of one or more
 * {@link PlatformMetrics}) and `GET /healthz` / `GET /readyz` (JSON from caller-supplied checks). The API
 * serves these routes through Fastify; worker services have no web framework, so this uses `node:http`
 * directly and stays dependency-free.
 *
 * Behaviour a scraper or an orchestrator relies on:
 * - `/metrics` answers with {@link METRICS_CONTENT_TYPE}; a failing `beforeScrape` hook (e.g. a queue-depth
 *   refresh while Redis is down) is logged through `onError` and the metrics are served anyway, because a
 *   scrape that fails hides exactly the metrics that explain the outage.
 * - `/healthz` and `/readyz` answer 200 with `{"status":"ok",…}` when the check resolves to `ok: true`, and
 *   503 with `{"status":"unavailable",…}` when it resolves to `ok: false`, throws or takes longer than
 *   `checkTimeoutMs`. Without a `ready` check, `/readyz` answers like `/healthz`.
 * - Other paths answer 404 and other methods 405, with a JSON body; `HEAD` is answered like `GET`.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { MetricsError, MetricsErrorCode } from './errors';
import { type PlatformMetrics, METRICS_CONTENT_TYPE, combinedMetricsText } from './metrics';

/** What a health or readiness check reports. */
export interface HealthReport {
  /** Whether the process is healthy (or ready). */
  ok: boolean;
  /** Extra JSON-serialisable detail shown in the response body (per-dependency state, paused workers). */
  details?: Record<string, unknown>;
}

/** A health or readiness check. */
export type HealthCheck = () => HealthReport | Promise<HealthReport>;

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions {
  /** TCP port; 0 picks a free one (see {@link MetricsServer.port}). @defaultValue 9464 */
  port?: number;
  /** Interface to listen on. @defaultValue `'0.0.0.0'` (scraped from other hosts) */
  host?: string;
  /** The registries served at `/metrics`; several are combined into one text. */
  metrics: PlatformMetrics | readonly PlatformMetrics[];
  /** Liveness: `/healthz`. @defaultValue always ok */
  health?: HealthCheck;
  /** Readiness: `/readyz`. @defaultValue the health check */
  ready?: HealthCheck;
  /** Runs before every scrape, e.g. to refresh queue-depth gauges. */
  beforeScrape?: () => Promise<void>;
  /** Longest a health check may take before it counts as failed, milliseconds. @defaultValue 2000 */
  checkTimeoutMs?: number;
  /** Told about failures of `beforeScrape` and of rendering; the response still goes out. @defaultValue ignore */
  onError?: (error: unknown, where: 'beforeScrape' | 'metrics' | 'health' | 'ready') => void;
}

/** A running metrics server. */
export interface MetricsServer {
  /** The port it listens on (the chosen one when 0 was given). */
  readonly port: number;
  /** `http://<host>:<port>` with a loopback host when listening on all interfaces. */
  readonly url: string;
  /** Stops listening and closes idle keep-alive connections. Safe to call twice. */
  close(): Promise<void>;
}

function argumentError(message: string): MetricsError {
  return new MetricsError(MetricsErrorCode.Argument, message);
}

async function withTimeout<T>(run: () => T | Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(run),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`the check gave no answer within ${ms} ms`));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(error: unknown): string {
  return typeof error === 'object' &&
    error !== null &&
    'message' in error &&
    typeof error.message === 'string'
    ? error.message
    : String(error);
}

function send(res: ServerResponse, status: number, contentType: string, body: string, head: boolean): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(head ? undefined : body);
}

function sendJson(res: ServerResponse, status: number, value: unknown, head: boolean): void {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(value)}\n`, head);
}

/**
 * Starts the server and resolves once it listens.
 *
 * @throws MetricsError `METRICS_ERR_ARGUMENT` for a bad port, timeout or an empty metrics list; the
 * listen error (e.g. `EADDRINUSE`) as is.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const port = options.port ?? 9464;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw argumentError(`metrics server port must be an integer in 0..65535, got ${String(port)}`);
  }
  const checkTimeoutMs = options.checkTimeoutMs ?? 2000;
  if (!Number.isInteger(checkTimeoutMs) || checkTimeoutMs < 1) {
    throw argumentError(
      `metrics server checkTimeoutMs must be an integer ≥ 1, got ${String(checkTimeoutMs)}`,
    );
  }
  const registries: readonly PlatformMetrics[] = Array.isArray(options.metrics)
    ? (options.metrics as readonly PlatformMetrics[])
    : [options.metrics as PlatformMetrics];
  if (registries.length === 0) {
    throw argumentError('metrics server needs at least one PlatformMetrics');
  }
  const host = options.host ?? '0.0.0.0';
  const onError = options.onError ?? (() => undefined);
  const health: HealthCheck = options.health ?? (() => ({ ok: true }));
  const ready: HealthCheck = options.ready ?? health;

  const render = async (): Promise<string> =>
    registries.length === 1 ? registries[0]!.metricsText() : combinedMetricsText(...registries);

  const check = async (
    res: ServerResponse,
    which: 'health' | 'ready',
    run: HealthCheck,
    head: boolean,
  ): Promise<void> => {
    try {
      const report = await withTimeout(run, checkTimeoutMs);
      sendJson(
        res,
        report.ok ? 200 : 503,
        { status: report.ok ? 'ok' : 'unavailable', ...(report.details ?? {}) },
        head,
      );
    } catch (error) {
      onError(error, which);
      sendJson(res, 503, { status: 'unavailable', error: describe(error) }, head);
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    const head = req.method === 'HEAD';
    const known = path === '/metrics' || path === '/healthz' || path === '/readyz';
    if (!known) {
      sendJson(res, 404, { status: 'not found', routes: ['/metrics', '/healthz', '/readyz'] }, head);
      return;
    }
    if (req.method !== 'GET' && !head) {
      res.setHeader('allow', 'GET, HEAD');
      sendJson(res, 405, { status: 'method not allowed' }, false);
      return;
    }
    if (path === '/healthz') {
      await check(res, 'health', health, head);
      return;
    }
    if (path === '/readyz') {
      await check(res, 'ready', ready, head);
      return;
    }
    if (options.beforeScrape !== undefined) {
      try {
        await options.beforeScrape();
      } catch (error) {
        onError(error, 'beforeScrape');
      }
    }
    try {
      send(res, 200, METRICS_CONTENT_TYPE, await render(), head);
    } catch (error) {
      onError(error, 'metrics');
      send(
        res,
        500,
        'text/plain; charset=utf-8',
        `metrics could not be rendered: ${describe(error)}\n`,
        head,
      );
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      onError(error, 'metrics');
      if (!res.headersSent) {
        send(res, 500, 'text/plain; charset=utf-8', 'internal error\n', false);
      } else {
        res.destroy();
      }
    });
  });
  // Scrapers keep connections alive; a long keep-alive would hold `close()` open.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    const fail = (error: Error): void => {
      reject(error);
    };
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  let closing: Promise<void> | undefined;
  return {
    port: address.port,
    url: `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${address.port}`,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => {
          if (error) {
            reject(error);
          } else {
            resolve();
          }
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
