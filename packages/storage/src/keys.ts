import { StorageError, StorageErrorCode } from './errors';

/**
 * Suffix of the temporary files that {@link FileStore} writes before renaming them into place. A key
 * may not end with it, so that listing can skip temp files without hiding a real object.
 */
export const TEMP_SUFFIX = '.synood-tmp';

/** S3's limit on a key's UTF-8 length; applied to every store so that keys stay portable. */
export const MAX_KEY_BYTES = 1024;

/** Shard numbers are zero-padded to this many digits so that lexicographic order is numeric order. */
export const SHARD_DIGITS = 5;

const EXAMPLE = 'runs/r1/encode/00000/features.bin';
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what this rejects
const CONTROL = /[\u0000-\u001f\u007f]/;

function keyError(what: string, value: string, problem: string): StorageError {
  return new StorageError(
    StorageErrorCode.Key,
    `${what} ${JSON.stringify(value)} ${problem}; expected a POSIX-style relative path like "${EXAMPLE}"`,
  );
}

/**
 * Checks that `key` is a POSIX-style relative path: non-empty, no leading `/`, no empty, `.` or `..`
 * segments, no backslashes or control characters, at most {@link MAX_KEY_BYTES} UTF-8 bytes, and not
 * ending in {@link TEMP_SUFFIX}. Returns the key unchanged.
 *
 * @param what - how to name the value in the error message (e.g. `key`, `prefix`, `manifest image`)
 * @throws StorageError `STORAGE_ERR_KEY` naming the key and the problem
 */
export function validateKey(key: string, what = 'key'): string {
  if (typeof key !== 'string') {
    throw new StorageError(StorageErrorCode.Key, `${what} must be a string, got ${typeof key}`);
  }
  if (key.length === 0) {
    throw keyError(what, key, 'is empty');
  }
  if (key.startsWith('/')) {
    throw keyError(what, key, 'starts with "/"');
  }
  if (key.includes('\\')) {
    throw keyError(what, key, 'contains a backslash');
  }
  if (CONTROL.test(key)) {
    throw keyError(what, key, 'contains a control character');
  }
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    throw keyError(what, key, `is longer than ${MAX_KEY_BYTES} UTF-8 bytes`);
  }
  for (const segment of key.split('/')) {
    if (segment === '') {
      throw keyError(what, key, 'has an empty segment');
    }
    if (segment === '.' || segment === '..') {
      throw keyError(what, key, `has a "${segment}" segment`);
    }
  }
  if (key.endsWith(TEMP_SUFFIX)) {
    throw keyError(what, key, `ends with the reserved temp-file suffix "${TEMP_SUFFIX}"`);
  }
  return key;
}

/** Whether {@link validateKey} would accept `key` (for filtering listings). */
export function isValidKey(key: string): boolean {
  try {
    validateKey(key);
    return true;
  } catch {
    return false;
  }
}

/**
 * Normalises a listing prefix: `''` means the whole store, one trailing `/` is dropped, anything else
 * must be a valid key. Prefixes name folders: `list('a')` finds `a/b` but not `ab`.
 */
export function normalizePrefix(prefix: string): string {
  if (prefix === '') {
    return '';
  }
  return validateKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix, 'prefix');
}

/** Joins a folder prefix (possibly `''`) and a relative key, validating the result. */
export function joinKey(prefix: string, key: string): string {
  const base = normalizePrefix(prefix);
  return validateKey(base === '' ? key : `${base}/${key}`);
}

/** Where an artifact of a run belongs: run, stage and (for per-shard stages) shard. */
export interface ArtifactLocation {
  /** Run id: letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
  runId: string;
  /** Stage name, same alphabet as `runId` (e.g. `encode`). */
  stage: string;
  /** Shard number (zero-padded to {@link SHARD_DIGITS} digits) or shard name; absent for run-level stages. */
  shard?: number | string;
}

function checkSegment(field: string, value: string): string {
  if (typeof value !== 'string' || !SEGMENT.test(value)) {
    throw new StorageError(
      StorageErrorCode.Key,
      `artifact ${field} ${JSON.stringify(value)} is not a single path segment; expected letters, digits, ` +
        `".", "_" or "-", starting with a letter or digit`,
    );
  }
  return value;
}

function shardSegment(shard: number | string): string {
  if (typeof shard === 'number') {
    if (!Number.isSafeInteger(shard) || shard < 0) {
      throw new StorageError(
        StorageErrorCode.Key,
        `artifact shard ${shard} is not a non-negative integer; expected e.g. 0, 1, 2 or a shard name`,
      );
    }
    return String(shard).padStart(SHARD_DIGITS, '0');
  }
  return checkSegment('shard', shard);
}

/**
 * The folder of a run's stage (and shard): `runs/<runId>/<stage>[/<shard>]`. Done-markers of the stage
 * live directly inside it.
 */
export function artifactPrefix(location: ArtifactLocation): string {
  const parts = ['runs', checkSegment('runId', location.runId), checkSegment('stage', location.stage)];
  if (location.shard !== undefined) {
    parts.push(shardSegment(location.shard));
  }
  return parts.join('/');
}

/**
 * The deterministic key of an artifact: `runs/<runId>/<stage>[/<shard>]/<name>`, e.g.
 * `artifactKey({ runId: 'r1', stage: 'encode', shard: 3, name: 'features.bin' })` is
 * `runs/r1/encode/00003/features.bin`. A retried job writes to the same key, so output is never
 * duplicated. `name` may contain `/`.
 *
 * @throws StorageError `STORAGE_ERR_KEY` naming the offending field
 */
export function artifactKey(location: ArtifactLocation & { name: string }): string {
  return validateKey(`${artifactPrefix(location)}/${validateKey(location.name, 'artifact name')}`);
}
