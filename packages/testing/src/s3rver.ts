import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

/** An s3rver process on 127.0.0.1 and the object events it reported. */
export interface S3rverProcess {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  /** Object events so far, e.g. `{ event: 'ObjectCreated:Post', key: 'a/b' }` (Post = multipart completion). */
  events: { event: string; key: string }[];
  /** Resolves once the event was reported (events travel on a pipe, so they may trail the HTTP reply). */
  waitForEvent(event: string, key: string): Promise<void>;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 20_000;
/** How long `stop()` waits for the child to exit after closing its stdin before it SIGKILLs it. */
const STOP_TIMEOUT_MS = 5000;

/** Starts s3rver (see `s3rver-main.js` for why it is a child process) with one bucket. */
export async function startS3rver(directory: string, bucket: string): Promise<S3rverProcess> {
  const child: ChildProcessByStdio<Writable, Readable, null> = spawn(
    process.execPath,
    ['--openssl-legacy-provider', join(__dirname, 's3rver-main.js'), directory, bucket],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  const events: S3rverProcess['events'] = [];
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error('s3rver did not start in time'));
    }, START_TIMEOUT_MS);
    child.once('exit', (code) => {
      reject(new Error(`s3rver exited with code ${String(code)}`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as { port?: number; event?: string; key?: string };
      if (message.port !== undefined) {
        clearTimeout(timer);
        resolve(message.port);
      } else if (message.event !== undefined && message.key !== undefined) {
        events.push({ event: message.event, key: message.key });
      }
    });
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    events,
    async waitForEvent(event: string, key: string): Promise<void> {
      const deadline = Date.now() + 5000;
      while (!events.some((e) => e.event === event && e.key === key)) {
        if (Date.now() > deadline) {
          throw new Error(`s3rver reported no ${event} for ${key}; events: ${JSON.stringify(events)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async stop(): Promise<void> {
      child.stdin.end();
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
      }, STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
