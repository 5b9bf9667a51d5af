/**
 * @file The local-filesystem artifact store. Constraints it encodes:
 * - Atomic writes: the body goes to a temp file in the destination folder (same file system, so
 *   `rename` is atomic on POSIX), is `fsync`ed, then renamed over the final name; the folder is
 *   `fsync`ed afterwards so the rename survives a power loss. A crash or a failing body leaves at most a
 *   temp file (`.<name>.<random>.synood-tmp`), which listing skips and a later write never reuses.
 * - Keys map to paths by splitting on `/`; key validation (no `..`, no leading `/`) keeps every path
 *   inside the root.
 * - A folder is not an object: `get` on a folder is `STORAGE_ERR_NOT_FOUND`, `exists` is false.
 * - Listing yields only names that are valid keys (temp files end in the reserved suffix, so they are
 *   never listed; a file named with a backslash cannot be addressed, so it is not listed either).
 * - Symbolic links are followed (datasets are often linked in), with a guard against link cycles.
 */
import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { mkdir, open, readdir, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { StorageError, StorageErrorCode, TRANSIENT_ERRNO_CODES, describeError, errnoCode } from './errors';
import { TEMP_SUFFIX, isValidKey, normalizePrefix, validateKey } from './keys';
import type { ArtifactStore, ObjectStat, PutBody } from './store';

const NOT_FOUND_ERRNO = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);
const ACCESS_ERRNO = new Set(['EACCES', 'EPERM', 'EROFS']);

/** Maps a file-system error to a coded {@link StorageError}; StorageErrors pass through. */
function wrapFsError(error: unknown, action: string, key: string, path: string): StorageError {
  if (error instanceof StorageError) {
    return error;
  }
  const code = errnoCode(error);
  const where = `${action} ${JSON.stringify(key)} (${path})`;
  if (code !== undefined && NOT_FOUND_ERRNO.has(code)) {
    return new StorageError(StorageErrorCode.NotFound, `${where}: no such object`, { cause: error });
  }
  if (code !== undefined && ACCESS_ERRNO.has(code)) {
    return new StorageError(StorageErrorCode.Access, `${where}: permission denied (${code})`, {
      cause: error,
    });
  }
  if (code !== undefined && TRANSIENT_ERRNO_CODES.includes(code)) {
    return new StorageError(StorageErrorCode.Unavailable, `${where} failed, may succeed later: ${code}`, {
      cause: error,
    });
  }
  return new StorageError(StorageErrorCode.Io, `${where} failed: ${describeError(error)}`, { cause: error });
}

/** Turns `file:///abs/path` or a plain (absolute or relative) path into an absolute path. */
export function fileStoreRoot(urlOrPath: string): string {
  if (urlOrPath.startsWith('file:')) {
    try {
      return fileURLToPath(urlOrPath);
    } catch (error) {
      throw new StorageError(
        StorageErrorCode.Url,
        `store URL ${JSON.stringify(urlOrPath)} is not a valid file URL; expected file:///absolute/path`,
        { cause: error },
      );
    }
  }
  if (urlOrPath === '') {
    throw new StorageError(
      StorageErrorCode.Url,
      'store URL is empty; expected file:///path, a path or s3://',
    );
  }
  return resolve(urlOrPath);
}

/** Artifact store on a local (or mounted network) file system rooted at one folder. */
export class FileStore implements ArtifactStore {
  /** Absolute path of the root folder (created on the first write). */
  readonly root: string;
  readonly url: string;

  /** @param urlOrPath - `file:///abs/path`, or a path resolved against the working directory */
  constructor(urlOrPath: string) {
    this.root = fileStoreRoot(urlOrPath);
    this.url = pathToFileURL(this.root).href;
  }

  /** The file path of a key (validated, so it cannot leave the root). */
  pathOf(key: string): string {
    return join(this.root, ...validateKey(key).split('/'));
  }

  /** Content types are not recorded: a file has none. */
  async put(key: string, body: PutBody): Promise<void> {
    const path = this.pathOf(key);
    const dir = dirname(path);
    // The name is cut so that the temp name stays under NAME_MAX (255) even for a long final name.
    const temp = join(
      dir,
      `.${basename(path).slice(0, 200)}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`,
    );
    try {
      await mkdir(dir, { recursive: true });
      const handle = await open(temp, 'wx');
      try {
        if (body instanceof Uint8Array) {
          await handle.writeFile(body);
        } else {
          for await (const chunk of body as AsyncIterable<Uint8Array | string>) {
            await handle.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
          }
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, path);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw wrapFsError(error, 'writing', key, path);
    }
    await syncDirectory(dir);
  }

  async get(key: string): Promise<Uint8Array> {
    const path = this.pathOf(key);
    try {
      return await readFile(path);
    } catch (error) {
      throw wrapFsError(error, 'reading', key, path);
    }
  }

  async getStream(key: string): Promise<Readable> {
    const path = this.pathOf(key);
    try {
      // Opening first turns a missing key into a rejected promise instead of a later stream error.
      const handle = await open(path, 'r');
      if (!(await handle.stat()).isFile()) {
        await handle.close();
        throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
      }
      return handle.createReadStream();
    } catch (error) {
      throw wrapFsError(error, 'reading', key, path);
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.stat(key)) !== undefined;
  }

  async stat(key: string): Promise<ObjectStat | undefined> {
    const path = this.pathOf(key);
    try {
      const info = await stat(path);
      return info.isFile() ? { size: info.size } : undefined;
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        return undefined;
      }
      throw wrapFsError(error, 'checking', key, path);
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    const base = normalizePrefix(prefix);
    const dir = base === '' ? this.root : join(this.root, ...base.split('/'));
    yield* this.walk(dir, base, new Set<string>());
  }

  private async *walk(dir: string, keyPrefix: string, visited: Set<string>): AsyncIterable<string> {
    let entries: Dirent[];
    try {
      const real = await realpath(dir);
      if (visited.has(real)) {
        return;
      }
      visited.add(real);
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        return;
      }
      throw wrapFsError(error, 'listing', keyPrefix, dir);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const key = keyPrefix === '' ? entry.name : `${keyPrefix}/${entry.name}`;
      if (!isValidKey(key)) {
        continue;
      }
      const path = join(dir, entry.name);
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        const target = await stat(path).catch(() => undefined);
        isDir = target?.isDirectory() ?? false;
        isFile = target?.isFile() ?? false;
      }
      if (isDir) {
        yield* this.walk(path, key, visited);
      } else if (isFile) {
        yield key;
      }
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await unlink(path);
    } catch (error) {
      const code = errnoCode(error);
      // A folder is not an object, so there is nothing to delete under its key (S3 semantics).
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') {
        return;
      }
      if (code === 'EPERM' && (await stat(path).catch(() => undefined))?.isDirectory() === true) {
        return;
      }
      throw wrapFsError(error, 'deleting', key, path);
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Makes a completed rename durable. Some platforms cannot fsync a folder; that only weakens durability. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Windows and some network file systems refuse; the data itself was already fsynced.
  }
}
