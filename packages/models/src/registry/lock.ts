import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { z } from 'zod';

import { ModelRegistryError, ModelRegistryErrorCode, describeError, errnoOf } from './errors';

/** File name of the lock file inside the cache folder. */
export const MODEL_LOCK_FILE_NAME = 'synood-models.lock.json';

/** What the cache knows about one file it holds. */
export interface ModelLockRecord {
  /** The source URI the bytes came from; `null` for locally exported files. */
  readonly source: string | null;
  /** sha256 of the bytes, lower-case hex: the catalog's hash, or the one pinned by the first pull. */
  readonly sha256: string;
  /** Size in bytes. */
  readonly size: number;
  /**
   * Modification time of the file when it was last hashed; a file whose size and mtime still match is
   * taken as verified without re-hashing. `-1` after a failed verification.
   */
  readonly mtimeMs: number;
  /** When the hash was last computed (ISO 8601). */
  readonly verifiedAt: string;
}

/** The lock file `<cache>/synood-models.lock.json`: records keyed by the file's path inside the cache. */
export interface ModelLockFile {
  readonly version: 1;
  readonly files: Readonly<Record<string, ModelLockRecord>>;
}

const lockSchema = z.strictObject({
  version: z.literal(1),
  files: z.record(
    z.string(),
    z.strictObject({
      source: z.string().nullable(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      size: z.number().int().nonnegative(),
      mtimeMs: z.number(),
      verifiedAt: z.string(),
    }),
  ),
});

/**
 * Reads the lock file of a cache folder; an absent file is an empty lock.
 *
 * @throws {@link ModelRegistryError} `MODELS_ERR_LOCK` when it is unreadable or malformed (the message says
 *   to delete it; `synood models verify` then rebuilds it, re-pinning unverified files).
 */
export async function readModelLock(cacheDir: string): Promise<ModelLockFile> {
  const file = join(cacheDir, MODEL_LOCK_FILE_NAME);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') {
      return { version: 1, files: {} };
    }
    throw new ModelRegistryError(
      ModelRegistryErrorCode.Lock,
      `cannot read ${file} (${describeError(error)})`,
      {
        cause: error,
      },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw lockError(file, `is not valid JSON (${describeError(error)})`, error);
  }
  const parsed = lockSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw lockError(
      file,
      `is malformed at ${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`,
    );
  }
  return parsed.data;
}

function lockError(file: string, problem: string, cause?: unknown): ModelRegistryError {
  return new ModelRegistryError(
    ModelRegistryErrorCode.Lock,
    `${file} ${problem}; delete it and run "synood models verify" to rebuild it`,
    cause === undefined ? {} : { cause },
  );
}

/**
 * The lock file of one cache folder, loaded once and rewritten atomically (temp file + rename) after every
 * change, so an interrupted pull keeps the records of the files it finished. Writes are serialised, since
 * parallel downloads finish concurrently. Several processes sharing a cache may lose each other's records
 * (never the files): the next `verify` restores them.
 */
export class ModelLockStore {
  private readonly records = new Map<string, ModelLockRecord>();
  private writing: Promise<void> = Promise.resolve();

  private constructor(private readonly cacheDir: string) {}

  /** Loads the lock of `cacheDir` (see {@link readModelLock} for errors). */
  static async open(cacheDir: string): Promise<ModelLockStore> {
    const store = new ModelLockStore(cacheDir);
    const lock = await readModelLock(cacheDir);
    for (const [path, record] of Object.entries(lock.files)) {
      store.records.set(path, record);
    }
    return store;
  }

  /** The record of a cache path. */
  get(path: string): ModelLockRecord | undefined {
    return this.records.get(path);
  }

  /** Stores a record and persists the lock. */
  async set(path: string, record: ModelLockRecord): Promise<void> {
    this.records.set(path, record);
    await this.persist();
  }

  /** Keeps the pinned hash of `path` but forces the next check to re-hash the file. */
  async invalidate(path: string): Promise<void> {
    const record = this.records.get(path);
    if (record !== undefined && record.mtimeMs !== -1) {
      this.records.set(path, { ...record, mtimeMs: -1 });
      await this.persist();
    }
  }

  private persist(): Promise<void> {
    const run = async (): Promise<void> => {
      const files = Object.fromEntries(
        [...this.records.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      );
      const body = `${JSON.stringify({ version: 1, files } satisfies ModelLockFile, null, 2)}\n`;
      const target = join(this.cacheDir, MODEL_LOCK_FILE_NAME);
      const temp = `${target}.${process.pid}.tmp`;
      try {
        await mkdir(this.cacheDir, { recursive: true });
        await writeFile(temp, body);
        await rename(temp, target);
      } catch (error) {
        await rm(temp, { force: true });
        throw new ModelRegistryError(
          ModelRegistryErrorCode.Io,
          `cannot write ${target} (${describeError(error)}); check that the cache folder is writable`,
          { cause: error },
        );
      }
    };
    // Chain on both outcomes so one failed write does not wedge every later one.
    const next = this.writing.then(run, run);
    this.writing = next.catch(() => undefined);
    return next;
  }
}

/**
 * sha256 (lower-case hex) of a file's bytes, streamed.
 *
 * @param onBytes - called with the running byte count, for progress bars.
 */
export async function sha256OfFile(
  path: string,
  onBytes?: (bytesDone: number) => void,
  signal?: AbortSignal,
): Promise<string> {
  const hash = createHash('sha256');
  await hashInto(hash, path, onBytes, signal);
  return hash.digest('hex');
}

/** Feeds a file's bytes into `hash` (used to continue a hash over a resumed download's prefix). */
export async function hashInto(
  hash: ReturnType<typeof createHash>,
  path: string,
  onBytes?: (bytesDone: number) => void,
  signal?: AbortSignal,
): Promise<number> {
  let done = 0;
  const stream = createReadStream(path, {
    highWaterMark: 1 << 20,
    ...(signal === undefined ? {} : { signal }),
  });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    done += chunk.length;
    onBytes?.(done);
  }
  return done;
}
