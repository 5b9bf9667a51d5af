/**
 * @file Redis connection settings for BullMQ, from a `redis://` or `rediss://` URL.
 *
 * Platform constraints encoded here (BullMQ `going-to-production.md`):
 * - Workers, `QueueEvents` and anything else that issues blocking commands must use
 *   `maxRetriesPerRequest: null`; otherwise ioredis gives up on a blocked `BZPOPMIN` after a Redis
 *   blip and the worker stops fetching jobs. BullMQ overrides the value with a warning; we set it.
 * - Producers (the API) fail fast instead: `enableOfflineQueue: false` makes an enqueue during an
 *   outage reject at once, so the API answers 503 instead of hanging the request.
 * - ioredis' own `keyPrefix` breaks BullMQ's Lua scripts; isolation between deployments and test
 *   files is BullMQ's `prefix` option (keys become `<prefix>:<queue>:…`). On Redis Cluster the prefix
 *   must be a hash tag such as `{synood}` so a queue's keys share one slot.
 * - Redis must run with `maxmemory-policy noeviction`: evicted job keys corrupt queues silently.
 */
import { QueueEventsProducer, type RedisOptions } from 'bullmq';

import { QueueError, QueueErrorCode, describeError } from './errors';

/** Key prefix of every queue unless a deployment (or a test file) chooses its own. */
export const DEFAULT_PREFIX = 'synood';

/** The default Redis URL (design §7): a local server on the standard port, database 0. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** The parts of a Redis URL. */
export interface RedisEndpoint {
  host: string;
  port: number;
  /** Redis 6 ACL user name, when the URL has one. */
  username?: string;
  password?: string;
  /** Logical database number. */
  db: number;
  /** True for `rediss://` (TLS). */
  tls: boolean;
}

/**
 * Who uses a connection: `worker` for workers and event listeners (blocking commands, retry forever),
 * `producer` for code that enqueues on behalf of a caller (fail fast while Redis is down).
 */
export type ConnectionRole = 'worker' | 'producer';

/** Redis settings and key prefix shared by every queue object of one deployment. */
export interface QueueConnection {
  /** A `redis://` / `rediss://` URL, or ioredis options (e.g. from {@link redisOptions}). */
  redis: string | RedisOptions;
  /** BullMQ key prefix. @defaultValue {@link DEFAULT_PREFIX} */
  prefix?: string;
}

/** Most databases a stock Redis has (`databases 16`); larger numbers need a custom server config. */
const MAX_DB = 65535;

function urlError(url: string, problem: string): QueueError {
  return new QueueError(
    QueueErrorCode.Url,
    `Redis URL ${redactRedisUrl(url)} is invalid: ${problem}. Expected redis://[user[:password]@]host[:port][/db] ` +
      'or rediss://… for TLS',
  );
}

/** The URL with its password replaced by `***`, for logs and error messages. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^:@/]*):([^@/]*)@/i, '$1$2:***@');
}

/**
 * Parses a Redis URL: `redis://` or `rediss://`, optional user and password (percent-decoded),
 * host, port (default 6379) and database as the path (`/2`, default 0).
 *
 * @throws QueueError `QUEUE_ERR_URL` naming the (redacted) URL and the problem.
 */
export function parseRedisUrl(url: string): RedisEndpoint {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw urlError(url, 'it is not a URL');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw urlError(url, `the scheme is ${parsed.protocol.slice(0, -1)}, not redis or rediss`);
  }
  // WHATWG URL keeps IPv6 hosts in brackets; ioredis wants the bare address.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') {
    throw urlError(url, 'it has no host');
  }
  const port = parsed.port === '' ? 6379 : Number(parsed.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw urlError(url, `the port ${parsed.port} is out of range`);
  }
  const path = parsed.pathname.replace(/^\//, '');
  const db = path === '' ? 0 : Number(path);
  if (!/^\d*$/.test(path) || !Number.isInteger(db) || db > MAX_DB) {
    throw urlError(url, `the database "${path}" is not an integer in 0..${MAX_DB}`);
  }
  const endpoint: RedisEndpoint = { host, port, db, tls: parsed.protocol === 'rediss:' };
  if (parsed.username !== '') {
    endpoint.username = decodeURIComponent(parsed.username);
  }
  if (parsed.password !== '') {
    endpoint.password = decodeURIComponent(parsed.password);
  }
  return endpoint;
}

/**
 * ioredis options for BullMQ from a Redis URL, for the given role (see {@link ConnectionRole}):
 * workers get `maxRetriesPerRequest: null`, producers `enableOfflineQueue: false` and one retry per
 * command. `rediss://` turns TLS on with the host as SNI server name.
 *
 * @throws QueueError `QUEUE_ERR_URL` for a malformed URL.
 */
export function redisOptions(url: string, role: ConnectionRole = 'worker'): RedisOptions {
  const e = parseRedisUrl(url);
  const options: RedisOptions = { host: e.host, port: e.port, db: e.db };
  if (e.username !== undefined) {
    options.username = e.username;
  }
  if (e.password !== undefined) {
    options.password = e.password;
  }
  if (e.tls) {
    options.tls = { servername: e.host };
  }
  if (role === 'worker') {
    options.maxRetriesPerRequest = null;
  } else {
    options.enableOfflineQueue = false;
    options.maxRetriesPerRequest = 1;
  }
  return options;
}

/** Options for `role`, from a URL or from ioredis options (role settings applied on top of a copy). */
export function resolveRedisOptions(redis: string | RedisOptions, role: ConnectionRole): RedisOptions {
  if (typeof redis === 'string') {
    return redisOptions(redis, role);
  }
  const options: RedisOptions = { ...redis };
  if (role === 'worker') {
    options.maxRetriesPerRequest = null;
  }
  return options;
}

/**
 * Checks a BullMQ key prefix: non-empty, at most 64 characters, no whitespace and no `*?[]` (which
 * would turn key scans into wildcards).
 *
 * @throws QueueError `QUEUE_ERR_OPTIONS`.
 */
export function checkPrefix(prefix: string): string {
  if (typeof prefix !== 'string' || !/^[^\s*?[\]]{1,64}$/.test(prefix)) {
    throw new QueueError(
      QueueErrorCode.Options,
      `queue prefix ${JSON.stringify(prefix)} is invalid: use 1–64 characters without whitespace or *?[]`,
    );
  }
  return prefix;
}

/** Outcome of {@link pingRedis}. */
export interface RedisPing {
  /** True when Redis answered within the timeout. */
  ok: boolean;
  /** Round-trip time of the check (connect + `INFO`), milliseconds. */
  latencyMs: number;
  /** `redis_version` from `INFO`, when Redis answered. */
  version?: string;
  /** Why the check failed (no password in it). */
  error?: string;
}

/** Options of {@link pingRedis}. */
export interface PingOptions {
  /** Give up after this long. @defaultValue 2000 */
  timeoutMs?: number;
}

/**
 * Readiness check for `/readyz` and worker start-up: connects once (no retries), reads `INFO` and
 * disconnects. Never throws for an unreachable server; the result says what happened. Writes nothing.
 *
 * @throws QueueError `QUEUE_ERR_URL` for a malformed URL (a configuration bug, not an outage).
 */
export async function pingRedis(url: string, options: PingOptions = {}): Promise<RedisPing> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const connection: RedisOptions = {
    ...redisOptions(url, 'producer'),
    connectTimeout: timeoutMs,
    // ioredis arms a disconnectTimeout timer (2 s by default) when closing a socket that already
    // failed, which would keep a CLI or test process alive after a failed check.
    disconnectTimeout: 100,
    retryStrategy: () => null,
    skipVersionCheck: true,
  };
  const start = performance.now();
  // A producer of custom events connects without writing anything, unlike a Queue (which stores meta).
  const probe = new QueueEventsProducer('synood.ping', { connection, prefix: DEFAULT_PREFIX });
  probe.on('error', () => undefined);
  let timer: NodeJS.Timeout | undefined;
  try {
    const info = await Promise.race([
      probe.client.then((client) => client.info()),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`no answer within ${timeoutMs} ms`));
        }, timeoutMs);
      }),
    ]);
    const version = /^redis_version:(\S+)/m.exec(info)?.[1];
    return {
      ok: true,
      latencyMs: performance.now() - start,
      ...(version === undefined ? {} : { version }),
    };
  } catch (error) {
    return {
      ok: false,
      latencyMs: performance.now() - start,
      error: `Redis at ${redactRedisUrl(url)} is not reachable: ${describeError(error)}`,
    };
  } finally {
    clearTimeout(timer);
    await probe.close().catch(() => undefined);
  }
}
