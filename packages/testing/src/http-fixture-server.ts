/**
 * @file A loopback HTTP server for tests that would otherwise need the network: it serves fixture files
 * (from a folder and/or from memory) with `Range` support, answers redirects the way a hub sends clients
 * to its CDN, hosts custom routes (e.g. a mock chat-completions API), logs every request, and injects
 * failures on demand: an error status N times, a connection cut after N bytes, a `Range` header ignored,
 * or a delay. Files are read into memory per request, so it is meant for fixture-sized files.
 *
 * Typical use, a Hugging Face-like layout (`/owner/repo/resolve/rev/path` redirecting to a CDN path):
 *
 * ```ts
 * const server = await startHttpFixtureServer({
 *   files: { '/cdn/xenova/clip/main/tokenizer.json': bytes },
 *   redirect: (path) => path.replace(/^\/([^/]+)\/([^/]+)\/resolve\//, '/cdn/$1/$2/') ,
 * });
 * server.inject('/cdn/xenova/clip/main/tokenizer.json', { kind: 'cut', afterBytes: 100 });
 * // … run the client against server.url …
 * expect(server.requestsFor('/cdn/xenova/clip/main/tokenizer.json')[1]?.headers.range).toBe('bytes=100-');
 * await server.close();
 * ```
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isAbsolute, relative, resolve, sep } from 'node:path';

/** One logged request. */
export interface FixtureRequest {
  readonly method: string;
  /** The URL path, without the query string, percent-decoding left as sent. */
  readonly path: string;
  /** Path and query as sent. */
  readonly url: string;
  /** Request headers, names in lower case. */
  readonly headers: IncomingHttpHeaders;
  /** The status answered; 0 until the response starts. */
  readonly status: number;
}

/** A failure to inject into the requests whose path matches. Each applies `times` times (default 1). */
export type FixtureFault =
  /** Answer this status (e.g. 500, 404, 429) instead of the file; optional body and headers. */
  | {
      readonly kind: 'status';
      readonly status: number;
      readonly times?: number;
      readonly body?: string;
      readonly headers?: Readonly<Record<string, string>>;
    }
  /** Send the headers (full `Content-Length`) and the first `afterBytes` body bytes, then cut the socket. */
  | { readonly kind: 'cut'; readonly afterBytes: number; readonly times?: number }
  /** Answer 200 with the whole file even when the request has a `Range` header. */
  | { readonly kind: 'ignore-range'; readonly times?: number }
  /** Wait `ms` before handling the request (to hold requests in flight at once). */
  | { readonly kind: 'delay'; readonly ms: number; readonly times?: number };

/** A custom endpoint, tried before redirects and files. */
export interface FixtureRoute {
  /** HTTP method, or `*` for any. */
  readonly method: string;
  /** Exact path, or a pattern tested against the path. */
  readonly path: string | RegExp;
  /** Writes the response; `body` is the whole request body. */
  readonly handler: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void | Promise<void>;
}

/** Options of {@link startHttpFixtureServer}. */
export interface HttpFixtureServerOptions {
  /** Folder served: URL path `/a/b` is the file `<root>/a/b`. @defaultValue none */
  readonly root?: string;
  /** In-memory files by URL path (`/a/b`), tried before `root`. @defaultValue none */
  readonly files?: Readonly<Record<string, Uint8Array | string>>;
  /**
   * Decides redirects: return a `Location` (a path on this server or an absolute URL) to answer
   * `redirectStatus` instead of serving the path, or `undefined` to serve it. @defaultValue no redirects
   */
  readonly redirect?: (path: string, req: IncomingMessage) => string | undefined;
  /** Status of redirects. @defaultValue 302 */
  readonly redirectStatus?: 301 | 302 | 303 | 307 | 308;
  /** Custom endpoints. @defaultValue none */
  readonly routes?: readonly FixtureRoute[];
  /** Interface to listen on. @defaultValue `127.0.0.1` */
  readonly host?: string;
}

/** A running fixture server; see {@link startHttpFixtureServer}. */
export interface HttpFixtureServer {
  /** Base URL, `http://127.0.0.1:<port>` (no trailing slash). */
  readonly url: string;
  /** Every request so far, in arrival order. */
  readonly requests: readonly FixtureRequest[];
  /** The requests whose path equals `path` (or matches the pattern). */
  requestsFor(path: string | RegExp): FixtureRequest[];
  /** Requests being handled right now. */
  readonly inFlight: number;
  /** The most requests ever handled at the same time (since start or the last {@link reset}). */
  readonly maxInFlight: number;
  /** Adds a failure for requests whose path equals `path` (or matches the pattern). */
  inject(path: string | RegExp, fault: FixtureFault): void;
  /** Adds or replaces an in-memory file. */
  setFile(path: string, content: Uint8Array | string): void;
  /** Adds a custom endpoint (after those given at start). */
  route(route: FixtureRoute): void;
  /** Forgets logged requests, pending faults and the in-flight maximum (files and routes stay). */
  reset(): void;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

interface ActiveFault {
  readonly path: string | RegExp;
  readonly fault: FixtureFault;
  remaining: number;
}

function matches(pattern: string | RegExp, path: string): boolean {
  return typeof pattern === 'string' ? pattern === path : pattern.test(path);
}

/**
 * Parses a single-range `Range` header against a body of `size` bytes. Returns `'ignore'` for headers it
 * does not handle (several ranges, other units) — serving the whole body is then correct HTTP — and
 * `'unsatisfiable'` for a range starting past the end.
 */
export function parseRangeHeader(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'ignore' | 'unsatisfiable' {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? '');
  if (match === null || (match[1] === '' && match[2] === '')) {
    return 'ignore';
  }
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) {
      return 'unsatisfiable';
    }
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) {
    return 'unsatisfiable';
  }
  return { start, end };
}

/**
 * Starts a fixture server on a free loopback port.
 *
 * Request handling order: log → injected `status`/`delay` faults → custom routes → redirect → file
 * (`cut` and `ignore-range` faults apply here) → 404.
 */
export async function startHttpFixtureServer(
  options: HttpFixtureServerOptions = {},
): Promise<HttpFixtureServer> {
  const files = new Map<string, Buffer>();
  for (const [path, content] of Object.entries(options.files ?? {})) {
    files.set(path, Buffer.from(content));
  }
  const routes: FixtureRoute[] = [...(options.routes ?? [])];
  const requests: FixtureRequest[] = [];
  let faults: ActiveFault[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const root = options.root === undefined ? undefined : resolve(options.root);

  const takeFaults = (path: string): FixtureFault[] => {
    const taken: FixtureFault[] = [];
    for (const active of faults) {
      if (active.remaining > 0 && matches(active.path, path)) {
        active.remaining--;
        taken.push(active.fault);
      }
    }
    faults = faults.filter((active) => active.remaining > 0);
    return taken;
  };

  const loadFile = async (path: string): Promise<Buffer | undefined> => {
    const inMemory = files.get(path);
    if (inMemory !== undefined) {
      return inMemory;
    }
    if (root === undefined) {
      return undefined;
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return undefined;
    }
    const target = resolve(root, `.${decoded}`);
    const inside = relative(root, target);
    if (inside === '' || inside.startsWith(`..${sep}`) || inside === '..' || isAbsolute(inside)) {
      return undefined;
    }
    try {
      return (await stat(target)).isFile() ? await readFile(target) : undefined;
    } catch {
      return undefined;
    }
  };

  const serveFile = (
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    applied: readonly FixtureFault[],
  ): void => {
    const ignoreRange = applied.some((fault) => fault.kind === 'ignore-range');
    const cut = applied.find((fault) => fault.kind === 'cut');
    const range = ignoreRange ? 'ignore' : parseRangeHeader(req.headers.range, body.length);
    const headers: Record<string, string> = {
      'accept-ranges': 'bytes',
      'content-type': 'application/octet-stream',
      etag: `"${createHash('sha256').update(body).digest('hex')}"`,
    };
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...headers, 'content-range': `bytes */${body.length}`, 'content-length': '0' });
      res.end();
      return;
    }
    let payload = body;
    if (range === 'ignore') {
      res.writeHead(200, { ...headers, 'content-length': String(body.length) });
    } else {
      payload = body.subarray(range.start, range.end + 1);
      res.writeHead(206, {
        ...headers,
        'content-length': String(payload.length),
        'content-range': `bytes ${range.start}-${range.end}/${body.length}`,
      });
    }
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    if (cut !== undefined) {
      // Flush exactly `afterBytes` bytes, then close the connection mid-body. The pause lets the client
      // read what arrived: fetch destroys the body stream on the error, dropping chunks not yet read.
      res.write(payload.subarray(0, Math.min(cut.afterBytes, payload.length)), () => {
        setTimeout(() => res.socket?.end(), 100);
      });
      return;
    }
    res.end(payload);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    const path = url.split('?')[0]!;
    requests.push({
      method: req.method ?? 'GET',
      path,
      url,
      headers: req.headers,
      get status() {
        return res.headersSent ? res.statusCode : 0;
      },
    });

    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) {
      chunks.push(chunk);
    }
    const applied = takeFaults(path);
    for (const fault of applied) {
      if (fault.kind === 'delay') {
        await new Promise((done) => setTimeout(done, fault.ms));
      }
    }
    const failure = applied.find((fault) => fault.kind === 'status');
    if (failure !== undefined) {
      const text = failure.body ?? `injected ${failure.status}`;
      res.writeHead(failure.status, {
        'content-type': 'text/plain',
        'content-length': String(Buffer.byteLength(text)),
        ...failure.headers,
      });
      res.end(text);
      return;
    }
    const route = routes.find(
      (candidate) =>
        (candidate.method === '*' || candidate.method === req.method) && matches(candidate.path, path),
    );
    if (route !== undefined) {
      await route.handler(req, res, Buffer.concat(chunks));
      return;
    }
    const location = options.redirect?.(path, req);
    if (location !== undefined) {
      res.writeHead(options.redirectStatus ?? 302, { location, 'content-length': '0' });
      res.end();
      return;
    }
    const body = req.method === 'GET' || req.method === 'HEAD' ? await loadFile(path) : undefined;
    if (body === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain', 'content-length': '9' });
      res.end('not found');
      return;
    }
    serveFile(req, res, body, applied);
  };

  const server = createServer((req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.once('close', () => {
      inFlight--;
    });
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' });
      }
      res.end(String(error));
    });
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, options.host ?? '127.0.0.1', () => {
      done();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    get requests() {
      return requests;
    },
    requestsFor: (path) => requests.filter((request) => matches(path, request.path)),
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    inject: (path, fault) => {
      faults.push({ path, fault, remaining: fault.times ?? 1 });
    },
    setFile: (path, content) => {
      files.set(path, Buffer.from(content));
    },
    route: (route) => {
      routes.push(route);
    },
    reset: () => {
      requests.length = 0;
      faults = [];
      maxInFlight = inFlight;
    },
    close: () =>
      new Promise<void>((done, fail) => {
        server.closeAllConnections();
        server.close((error) => {
          if (error === undefined) {
            done();
          } else {
            fail(error);
          }
        });
      }),
  };
}
