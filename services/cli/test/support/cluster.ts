/**
 * Helpers of the multi-process cluster test (s3rver comes from `@synood/testing`): a delaying proxy in front of it, a tiny
 * WordNet database, service processes spawned from the built `dist/` files, and a `/metrics` parser.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { type IncomingMessage, type ServerResponse, createServer, request } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every `intervalMs` until it returns a value other than undefined, or throws on timeout. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(intervalMs);
  }
}

/**
 * Waits for a teardown step at most `ms`, then goes on with a warning: a stuck step must not hold the
 * whole teardown past its timeout (jest would then report the hook, not the step, and keep the process).
 */
export async function bounded(what: string, step: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => {
      resolve('late');
    }, ms);
  });
  const outcome = await Promise.race([
    step.then(
      () => 'done' as const,
      () => 'failed' as const,
    ),
    late,
  ]);
  clearTimeout(timer);
  if (outcome !== 'done') {
    console.warn(`teardown: ${what} ${outcome === 'late' ? `did not finish within ${ms} ms` : 'failed'}`);
  }
}

/** A free TCP port on 127.0.0.1 (closed again; the caller binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

/** A proxy that holds every request `delayMs` before forwarding it unchanged. */
export interface DelayProxy {
  endpoint: string;
  close(): Promise<void>;
}

/**
 * An HTTP proxy in front of `target` that waits `delayMs` before forwarding each request (Host header
 * included, so S3 signatures stay valid). It slows a worker's storage I/O down, so that a job is still
 * running when the test kills its process.
 */
export async function startDelayProxy(target: string, delayMs: number): Promise<DelayProxy> {
  const upstream = new URL(target);
  const sockets = new Set<Socket>();
  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('error', () => res.destroy());
      },
    );
    out.on('error', () => res.destroy());
    // A client killed mid-upload must not leave the upstream request waiting for the rest of its body:
    // s3rver would hold that connection open and never finish closing.
    req.on('close', () => {
      if (!req.complete) {
        out.destroy();
      }
    });
    res.on('close', () => {
      if (!res.writableFinished) {
        out.destroy();
      }
    });
    req.pipe(out);
  };
  let closed = false;
  const server = createServer((req, res) => {
    res.on('error', () => undefined);
    setTimeout(() => {
      if (closed || res.destroyed) {
        res.destroy();
        return;
      }
      forward(req, res);
    }, delayMs);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close() {
      closed = true;
      for (const s of sockets) {
        s.destroy();
      }
      server.closeAllConnections();
      return new Promise((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}

/**
 * Writes a WordNet `dict/` folder holding only `nouns` (in `noun.artifact`, lexicographer file 06) and
 * `adjectives` (`adj.all`, 00): the services' `SYNOOD_WORDNET_DIR`, so the `clip-tags` vocabulary and
 * the mining corpus are a few dozen words instead of WordNet's 70,000 (fixture CLIP towers would take
 * minutes on them). Lines follow wndb(5WN): `offset lex_filenum ss_type w_cnt word lex_id p_cnt | gloss`.
 */
export async function writeTinyWordNet(
  dir: string,
  nouns: readonly string[],
  adjectives: readonly string[],
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const data = (words: readonly string[], lexFile: string, ssType: string): string => {
    let out = '';
    for (const word of words) {
      // The offset is the line's byte offset in its file, as in the real database.
      const offset = String(Buffer.byteLength(out)).padStart(8, '0');
      out += `${offset} ${lexFile} ${ssType} 01 ${word} 0 000 | a ${word}\n`;
    }
    return out;
  };
  await writeFile(join(dir, 'data.noun'), data(nouns, '06', 'n'));
  await writeFile(join(dir, 'data.adj'), data(adjectives, '00', 'a'));
  return dir;
}

/** A service running as its own process. */
export interface ServiceProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Port of its HTTP listener (the API, or a worker's `/metrics`). */
  readonly port: number;
  /** Whether it has not exited yet. */
  alive(): boolean;
  /** The last lines it printed (stdout and stderr), for failure messages. */
  tail(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  /** Sends `signal` (SIGTERM: graceful), then SIGKILL after `graceMs` if it is still running. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

const TAIL_LINES = 60;

/** Spawns `node <file>` with exactly `env` (plus PATH and HOME) and collects its output. */
export function spawnService(
  name: string,
  file: string,
  env: Record<string, string>,
  port: number,
): ServiceProcess {
  const child = spawn(process.execPath, [file], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      if (lines.length > TAIL_LINES) {
        lines.shift();
      }
    });
  }
  let done = false;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      done = true;
      resolve();
    });
  });
  return {
    name,
    child,
    port,
    exited,
    alive: () => !done,
    tail: () => lines.join('\n'),
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000) {
      if (done) {
        return;
      }
      child.kill(signal);
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Waits until `GET <url>` answers 200, failing early with the output when the process exits. */
export async function waitHealthy(service: ServiceProcess, url: string, timeoutMs: number): Promise<void> {
  await waitFor(
    `${service.name} at ${url}`,
    async () => {
      if (!service.alive()) {
        throw new Error(`${service.name} exited before it was healthy:\n${service.tail()}`);
      }
      try {
        return (await fetch(url)).status === 200 ? true : undefined;
      } catch {
        return undefined;
      }
    },
    timeoutMs,
  );
}

/**
 * The `_count` of `synood_stage_job_duration_seconds` per stage in a Prometheus text exposition, summed
 * over the other labels (status, service).
 */
export function stageJobCounts(exposition: string): Map<string, number> {
  const counts = new Map<string, number>();
  const line = /^synood_stage_job_duration_seconds_count\{([^}]*)\} (\S+)$/gm;
  for (const m of exposition.matchAll(line)) {
    const stage = /(?:^|,)stage="([^"]*)"/.exec(m[1]!)?.[1];
    if (stage !== undefined) {
      counts.set(stage, (counts.get(stage) ?? 0) + Number(m[2]));
    }
  }
  return counts;
}
