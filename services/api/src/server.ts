/**
 * @file The API process (fastify/demo's `server.ts`): config → deps → app → listen, and a graceful
 * shutdown on SIGTERM/SIGINT that closes the HTTP server (in-flight requests finish), the plan worker
 * (its active job finishes or goes back to the queue), then the queues and the store.
 */
import { type Env, processEnv } from '@synood/config';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';

import { type ApiDeps, type ApiOptions, buildApp } from './app';
import { loadApiConfig } from './config';
import { apiOptionsOf, openApiDeps } from './deps';

/** A listening API. */
export interface RunningApi {
  readonly app: FastifyInstance;
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** Stops listening and the plan worker; the deps stay open (their owner closes them). */
  close(): Promise<void>;
}

/** Options of {@link startApi}. */
export interface StartApiOptions extends ApiOptions {
  /** @defaultValue 8080 (0 picks a free port) */
  port?: number;
  /** @defaultValue `'0.0.0.0'` */
  host?: string;
}

/** Builds the API on `deps` and listens (used by `server.ts` and by `synood up`). */
export async function startApi(deps: ApiDeps, options: StartApiOptions = {}): Promise<RunningApi> {
  const app = await buildApp(deps, options);
  try {
    await app.listen({ port: options.port ?? 8080, host: options.host ?? '0.0.0.0' });
  } catch (error) {
    await app.close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (options.port ?? 8080);
  const host = options.host === undefined || options.host === '0.0.0.0' ? '127.0.0.1' : options.host;
  return {
    app,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () => app.close(),
  };
}

/** Runs the API process until SIGTERM or SIGINT. */
export async function main(env: Env = processEnv()): Promise<void> {
  const config = loadApiConfig(env);
  const deps = await openApiDeps(config);
  const logger: FastifyServerOptions['logger'] = { level: config.common.log.level };
  let api: RunningApi;
  try {
    api = await startApi(deps, { ...apiOptionsOf(config), ...config.http, logger });
  } catch (error) {
    await deps.close();
    throw error;
  }
  api.app.log.info({ url: api.url, planWorker: config.planWorker }, 'synood API listening');
  let stopping: Promise<void> | undefined;
  const stop = (signal: NodeJS.Signals): void => {
    stopping ??= (async () => {
      api.app.log.info({ signal }, 'shutting down');
      try {
        await api.close();
      } finally {
        await deps.close();
      }
    })().catch((error: unknown) => {
      api.app.log.error({ err: error }, 'shutdown failed');
      process.exitCode = 1;
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
