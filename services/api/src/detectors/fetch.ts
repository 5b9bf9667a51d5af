/**
 * @file Fetching images by URL for scoring, defensively: http and https only, a time limit over the
 * whole exchange, a size limit checked against `Content-Length` and again while the body streams in,
 * at most a few redirects (each hop checked again), and, unless allowed, no private, loopback or
 * link-local addresses (the API usually runs inside a cluster network that URLs must not reach).
 *
 * The address check resolves the host name before fetching; a DNS answer that changes between the check
 * and the connection (rebinding) is not caught here. Deployments that need a hard boundary should also
 * restrict the API's egress at the network level.
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

import { ApiError, describeError } from '../errors';

/** Options of {@link fetchImage}. */
export interface UrlFetchOptions {
  /** Time limit for the whole fetch (redirects and body included), milliseconds. */
  timeoutMs: number;
  /** Largest body accepted, bytes. */
  maxBytes: number;
  /** Allow private, loopback and link-local addresses (tests, single-host setups). */
  allowPrivate: boolean;
  /** Redirects followed. @defaultValue 3 */
  maxRedirects?: number;
}

/** Address ranges a URL may not point at unless `allowPrivate` is set. */
const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv6');
}

/** True when `address` (an IP literal) is private, loopback, link-local or otherwise not public. */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) {
    return PRIVATE.check(mapped[1]!, 'ipv4');
  }
  const family = isIP(address);
  return family === 0 ? true : PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

function fetchError(url: string, problem: string): ApiError {
  return new ApiError('API_ERR_URL_FETCH', `cannot fetch ${url}: ${problem}`);
}

async function checkTarget(url: URL, allowPrivate: boolean): Promise<void> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw fetchError(url.href, `the scheme is ${url.protocol.slice(0, -1)}; only http and https are fetched`);
  }
  if (allowPrivate) {
    return;
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: string[];
  if (isIP(host) !== 0) {
    addresses = [host];
  } else {
    try {
      addresses = (await lookup(host, { all: true })).map((a) => a.address);
    } catch (error) {
      throw fetchError(url.href, `the host does not resolve (${describeError(error)})`);
    }
  }
  if (addresses.some(isPrivateAddress)) {
    throw fetchError(
      url.href,
      'the host is a private, loopback or link-local address, which the API does not fetch',
    );
  }
}

async function readLimited(response: Response, url: string, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel();
    throw new ApiError(
      'API_ERR_PAYLOAD_TOO_LARGE',
      `${url} is ${declared} bytes, more than the limit of ${maxBytes}`,
    );
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (response.body !== null) {
    for await (const piece of response.body) {
      // undici types the chunks loosely; fetch bodies are byte streams.
      const chunk = piece as Uint8Array;
      size += chunk.byteLength;
      if (size > maxBytes) {
        // Leaving the loop by a throw cancels the stream (the async iterator's return()).
        throw new ApiError('API_ERR_PAYLOAD_TOO_LARGE', `${url} is more than the limit of ${maxBytes} bytes`);
      }
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks, size);
}

/**
 * The bytes of the image at `url`.
 *
 * @throws ApiError `API_ERR_URL_FETCH` (bad scheme, private address, DNS, network, timeout, non-2xx
 * status, too many redirects) or `API_ERR_PAYLOAD_TOO_LARGE`.
 */
export async function fetchImage(url: string, options: UrlFetchOptions): Promise<Uint8Array> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw fetchError(url, 'it is not a URL');
  }
  const signal = AbortSignal.timeout(options.timeoutMs);
  const maxRedirects = options.maxRedirects ?? 3;
  try {
    for (let hop = 0; ; hop++) {
      await checkTarget(target, options.allowPrivate);
      const response = await fetch(target, { redirect: 'manual', signal, headers: { accept: 'image/*' } });
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location !== null) {
        await response.body?.cancel();
        if (hop >= maxRedirects) {
          throw fetchError(url, `more than ${maxRedirects} redirects`);
        }
        target = new URL(location, target);
        continue;
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw fetchError(url, `the server answered ${response.status}`);
      }
      return await readLimited(response, url, options.maxBytes);
    }
  } catch (error) {
    if (error instanceof ApiError) {
      throw error;
    }
    if (signal.aborted) {
      throw fetchError(url, `no complete answer within ${options.timeoutMs} ms`);
    }
    throw fetchError(url, describeError(error));
  }
}
