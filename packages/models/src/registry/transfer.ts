/**
 * @file Byte transfer into `<file>.partial`, hashing as the bytes arrive. Constraints it encodes:
 * - Hugging Face `resolve` URLs answer large files with a redirect to a CDN on another origin. Redirects
 *   are followed by hand (at most {@link MAX_REDIRECTS}) so the `Authorization` header is sent only to the
 *   endpoint's own origin, never to the CDN (whose signed URL needs none), and the `Range` header survives.
 * - A download resumes with `Range: bytes=N-` from a `.partial` file of N bytes. 206 with a matching
 *   `Content-Range` appends; 200 means the server ignored the range, so the file restarts from zero; 416
 *   means the partial file is already complete (its size equals the total) or is stale (restart).
 * - Network failures, HTTP 5xx, 408 and 429 are retried with exponential backoff (a `Retry-After` header
 *   wins when present); a broken connection keeps the bytes already written, so the retry resumes.
 * - S3 objects are read through `@synood/storage`, whose interface has no ranged reads: a retry restarts
 *   the object from zero. `file://` sources are copied locally and never retried.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open, rm, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  ModelRegistryError,
  ModelRegistryErrorCode,
  describeError,
  errnoOf,
  isModelRegistryError,
} from './errors';
import { hashInto } from './lock';

/** Redirect hops followed before giving up. */
export const MAX_REDIRECTS = 10;

const USER_AGENT = 'synood-models/0.1 (node)';

/** Result of a transfer: what was written to the partial file. */
export interface TransferResult {
  readonly sha256: string;
  readonly size: number;
}

/** Settings and callbacks of one file's transfer. */
export interface TransferContext {
  /** Names the file in messages, e.g. `clip.vision file "model"`. */
  readonly label: string;
  readonly signal: AbortSignal | undefined;
  /** Retries after the first attempt. */
  readonly retries: number;
  /** First backoff delay; doubles per retry. */
  readonly retryDelayMs: number;
  /** Cap of one backoff delay. */
  readonly maxRetryDelayMs: number;
  onBytes(bytesDone: number, bytesTotal: number | undefined): void;
  onRetry(attempt: number, delayMs: number, error: ModelRegistryError): void;
}

/** Credentials for HTTP sources: sent only to `origin`. */
export interface HttpAuth {
  readonly origin: string;
  readonly token: string;
}

function aborted(ctx: TransferContext, cause?: unknown): ModelRegistryError {
  return new ModelRegistryError(
    ModelRegistryErrorCode.Aborted,
    `${ctx.label}: cancelled; the partial download is kept and resumes on the next pull`,
    cause === undefined ? {} : { cause },
  );
}

function network(ctx: TransferContext, what: string, cause?: unknown): ModelRegistryError {
  return new ModelRegistryError(
    ModelRegistryErrorCode.Network,
    `${ctx.label}: ${what}${cause === undefined ? '' : ` (${describeError(cause)})`}`,
    { retryable: true, ...(cause === undefined ? {} : { cause }) },
  );
}

/** Runs `attempt` with retries on retryable errors; `attempt` receives the attempt number (0-based). */
async function withRetries<T>(ctx: TransferContext, attempt: (n: number) => Promise<T>): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (ctx.signal?.aborted === true) {
        throw aborted(ctx, error);
      }
      const coded = isModelRegistryError(error) ? error : network(ctx, 'transfer failed', error);
      if (!coded.retryable || n >= ctx.retries) {
        throw coded;
      }
      const backoff = Math.min(ctx.maxRetryDelayMs, ctx.retryDelayMs * 2 ** n);
      const retryAfter = (coded as ModelRegistryError & { retryAfterMs?: number }).retryAfterMs;
      // Jitter (50–100 % of the backoff) keeps many clients from retrying in lock step.
      const delayMs = retryAfter ?? Math.round(backoff * (0.5 + Math.random() * 0.5));
      ctx.onRetry(n + 1, delayMs, coded);
      try {
        await sleep(delayMs, undefined, ctx.signal === undefined ? {} : { signal: ctx.signal });
      } catch (sleepError) {
        throw aborted(ctx, sleepError);
      }
    }
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') {
      return 0;
    }
    throw error;
  }
}

async function discard(response: Response): Promise<void> {
  try {
    await response.body?.cancel();
  } catch {
    // The body is unwanted; a failure to cancel it changes nothing.
  }
}

/** Fetches `url`, following redirects by hand so credentials stay on their origin. */
async function fetchFollowing(
  url: string,
  headers: Record<string, string>,
  auth: HttpAuth | undefined,
  ctx: TransferContext,
): Promise<Response> {
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const sent: Record<string, string> = { 'user-agent': USER_AGENT, ...headers };
    if (auth?.origin === new URL(current).origin) {
      sent.authorization = `Bearer ${auth.token}`;
    }
    let response: Response;
    try {
      response = await fetch(current, {
        headers: sent,
        redirect: 'manual',
        ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
      });
    } catch (error) {
      if (ctx.signal?.aborted === true) {
        throw aborted(ctx, error);
      }
      throw network(ctx, `cannot reach ${current}`, error);
    }
    const location = response.headers.get('location');
    if ([301, 302, 303, 307, 308].includes(response.status) && location !== null) {
      await discard(response);
      current = new URL(location, current).href;
      continue;
    }
    return response;
  }
  throw new ModelRegistryError(
    ModelRegistryErrorCode.Http,
    `${ctx.label}: more than ${MAX_REDIRECTS} redirects starting at ${url}`,
  );
}

function statusError(ctx: TransferContext, url: string, response: Response): ModelRegistryError {
  const status = response.status;
  if (status === 404) {
    return new ModelRegistryError(
      ModelRegistryErrorCode.NotFound,
      `${ctx.label}: ${url} answered 404 Not Found; check the repository, revision and path in the catalog`,
    );
  }
  if (status === 401 || status === 403) {
    return new ModelRegistryError(
      ModelRegistryErrorCode.Http,
      `${ctx.label}: ${url} answered ${status}; the repository may be gated or private: pass a Hugging Face ` +
        'token with read access',
    );
  }
  const retryable = status === 408 || status === 429 || status >= 500;
  const error = new ModelRegistryError(
    ModelRegistryErrorCode.Http,
    `${ctx.label}: ${url} answered HTTP ${status}${retryable ? '' : ' (not retried)'}`,
    { retryable },
  );
  const retryAfter = Number(response.headers.get('retry-after'));
  if (retryable && Number.isFinite(retryAfter) && retryAfter > 0) {
    // Honour the server's own hint, capped by the backoff cap.
    Object.assign(error, { retryAfterMs: Math.min(retryAfter * 1000, ctx.maxRetryDelayMs) });
  }
  return error;
}

function parseContentRange(value: string | null): { start: number; total: number | undefined } | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value?.trim() ?? '');
  if (match === null) {
    return undefined;
  }
  return { start: Number(match[1]), total: match[3] === '*' ? undefined : Number(match[3]) };
}

/**
 * Downloads `url` into `partial`, resuming from whatever `partial` already holds.
 *
 * @param expectedSize - the catalog's size, if any: a longer partial file is discarded, and an equal one
 *   is taken as complete without a request.
 */
export async function downloadHttp(
  url: string,
  partial: string,
  expectedSize: number | undefined,
  auth: HttpAuth | undefined,
  ctx: TransferContext,
): Promise<TransferResult> {
  return withRetries(ctx, async () => {
    let offset = await sizeOf(partial);
    if (expectedSize !== undefined && offset > expectedSize) {
      await rm(partial, { force: true });
      offset = 0;
    }
    let hash = createHash('sha256');
    if (offset > 0) {
      await hashInto(hash, partial, undefined, ctx.signal);
      if (offset === expectedSize) {
        return { sha256: hash.digest('hex'), size: offset };
      }
    }
    const response = await fetchFollowing(url, offset > 0 ? { range: `bytes=${offset}-` } : {}, auth, ctx);
    let mode: 'a' | 'w';
    let total: number | undefined;
    if (response.status === 206 && offset > 0) {
      const range = parseContentRange(response.headers.get('content-range'));
      if (range?.start !== offset) {
        await discard(response);
        await rm(partial, { force: true });
        throw network(
          ctx,
          `${url} resumed at the wrong byte (Content-Range "${String(range?.start)}"); restarting`,
        );
      }
      mode = 'a';
      total = range.total;
    } else if (response.status === 200) {
      // A 200 to a ranged request means the server ignored the range: start over.
      if (offset > 0) {
        hash = createHash('sha256');
        offset = 0;
      }
      mode = 'w';
      const length = response.headers.get('content-length');
      total = length === null ? undefined : Number(length);
    } else if (response.status === 416 && offset > 0) {
      const range = /^bytes \*\/(\d+)$/.exec(response.headers.get('content-range')?.trim() ?? '');
      await discard(response);
      if (range !== null && Number(range[1]) === offset) {
        return { sha256: hash.digest('hex'), size: offset };
      }
      await rm(partial, { force: true });
      throw network(ctx, `${url} cannot resume from byte ${offset} (416); restarting`);
    } else {
      await discard(response);
      throw statusError(ctx, url, response);
    }
    if (total !== undefined && expectedSize !== undefined && total !== expectedSize) {
      await discard(response);
      await rm(partial, { force: true });
      throw new ModelRegistryError(
        ModelRegistryErrorCode.Size,
        `${ctx.label}: ${url} serves ${total} bytes but the catalog says ${expectedSize}; fix the catalog's size ` +
          'or revision',
      );
    }
    const bytesTotal = total ?? expectedSize;
    let done = offset;
    ctx.onBytes(done, bytesTotal);
    const body = response.body as AsyncIterable<Uint8Array> | null;
    const file = await openPartial(partial, mode, ctx);
    try {
      if (body !== null) {
        for await (const chunk of body) {
          hash.update(chunk);
          await file.write(chunk);
          done += chunk.length;
          ctx.onBytes(done, bytesTotal);
        }
      }
    } catch (error) {
      if (ctx.signal?.aborted === true) {
        throw aborted(ctx, error);
      }
      if (isModelRegistryError(error)) {
        throw error;
      }
      throw network(ctx, `connection to ${url} broke after ${done} bytes; resuming`, error);
    } finally {
      await file.close();
    }
    if (total !== undefined && done !== total) {
      throw network(ctx, `connection to ${url} closed after ${done} of ${total} bytes; resuming`);
    }
    return { sha256: hash.digest('hex'), size: done };
  });
}

async function openPartial(partial: string, mode: 'a' | 'w', ctx: TransferContext): Promise<FileHandle> {
  try {
    return await open(partial, mode);
  } catch (error) {
    throw new ModelRegistryError(
      ModelRegistryErrorCode.Io,
      `${ctx.label}: cannot write ${partial} (${describeError(error)}); check that the cache folder is writable`,
      { cause: error },
    );
  }
}

/**
 * Streams bytes from `openSource` into `partial` (replacing it), retrying retryable failures from zero.
 *
 * @param openSource - opens the byte stream; its rejections may carry `retryable` (storage errors do).
 */
export async function copyStream(
  openSource: () => Promise<Readable>,
  partial: string,
  bytesTotal: number | undefined,
  describeSource: string,
  ctx: TransferContext,
  retry: boolean,
): Promise<TransferResult> {
  const once = async (): Promise<TransferResult> => {
    const source = await openSource();
    const hash = createHash('sha256');
    let done = 0;
    ctx.onBytes(0, bytesTotal);
    const file = await openPartial(partial, 'w', ctx);
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        hash.update(chunk);
        await file.write(chunk);
        done += chunk.length;
        ctx.onBytes(done, bytesTotal);
      }
    } catch (error) {
      if (ctx.signal?.aborted === true) {
        throw aborted(ctx, error);
      }
      // A stream that breaks mid-object is most likely a dropped connection: worth another attempt for
      // remote stores (retry = true), not for local files.
      throw new ModelRegistryError(
        retry ? ModelRegistryErrorCode.Network : ModelRegistryErrorCode.Io,
        `${ctx.label}: reading ${describeSource} failed after ${done} bytes (${describeError(error)})`,
        { cause: error, retryable: retry },
      );
    } finally {
      source.destroy();
      await file.close();
    }
    return { sha256: hash.digest('hex'), size: done };
  };
  return retry ? withRetries(ctx, once) : once();
}

/** Opens a local file for {@link copyStream}, mapping a missing file to `MODELS_ERR_NOT_FOUND`. */
export async function openLocalFile(path: string, ctx: TransferContext): Promise<Readable> {
  const stream = createReadStream(path, { highWaterMark: 1 << 20 });
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => {
      resolve();
    });
    stream.once('error', (error) => {
      reject(
        errnoOf(error) === 'ENOENT'
          ? new ModelRegistryError(
              ModelRegistryErrorCode.NotFound,
              `${ctx.label}: source file ${path} does not exist`,
            )
          : new ModelRegistryError(
              ModelRegistryErrorCode.Io,
              `${ctx.label}: cannot read source file ${path} (${describeError(error)})`,
              { cause: error },
            ),
      );
    });
  });
  return stream;
}
