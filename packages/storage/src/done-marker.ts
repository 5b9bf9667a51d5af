import { createHash } from 'node:crypto';
import { Transform, type TransformCallback, pipeline } from 'node:stream';

import { StorageError, StorageErrorCode, describeError } from './errors';
import { joinKey, validateKey } from './keys';
import type { ArtifactStore, PutBody, PutOptions } from './store';

/** File name of a done-marker inside its folder. */
export const DONE_MARKER_NAME = '_DONE.json';

/** One artifact listed in a done-marker. */
export interface ArtifactRecord {
  /** Store key of the artifact. */
  key: string;
  /** Size in bytes. */
  size: number;
  /** SHA-256 of the bytes, 64 lower-case hex digits. */
  sha256: string;
}

/**
 * The content of a done-marker: the config hash the work was done for, the artifacts it produced, and
 * any extra fields (counts, timings, model versions), which are stored and returned as given.
 */
export interface DoneManifest {
  /** Hash of everything that determines the output (config, model versions); a mismatch means "redo". */
  configHash: string;
  /** The artifacts the finished work wrote. */
  artifacts: ArtifactRecord[];
  [extra: string]: unknown;
}

/** Options of {@link writeDoneMarker}. */
export interface WriteDoneMarkerOptions {
  /**
   * Check that every listed artifact exists with its recorded size before writing the marker, so a
   * marker can never vouch for output that is not there. @defaultValue true
   */
  verify?: boolean;
}

/** Options of {@link readDoneMarker}. */
export interface ReadDoneMarkerOptions {
  /**
   * Also check that every listed artifact still exists with its recorded size; if one does not, the
   * work counts as not done. @defaultValue false
   */
  verifyArtifacts?: boolean;
}

/** SHA-256 of `bytes` as 64 lower-case hex digits. */
export function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Stores `body` under `key` and returns its record for a done-marker. A stream body is hashed and
 * counted on its way to the store, so it is read only once.
 */
export async function putWithChecksum(
  store: ArtifactStore,
  key: string,
  body: PutBody,
  opts?: PutOptions,
): Promise<ArtifactRecord> {
  validateKey(key);
  if (body instanceof Uint8Array) {
    await store.put(key, body, opts);
    return { key, size: body.byteLength, sha256: sha256Of(body) };
  }
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback): void {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      hash.update(bytes);
      size += bytes.byteLength;
      callback(null, bytes);
    },
  });
  // pipeline hands a source error on to `tap` (so the store's write fails with it) and destroys the
  // source if the store stops reading; its own callback has nothing left to report.
  pipeline(body, tap, () => undefined);
  await store.put(key, tap, opts);
  return { key, size, sha256: hash.digest('hex') };
}

/** Key of the done-marker in folder `prefix`: `<prefix>/_DONE.json`. */
export function doneMarkerKey(prefix: string): string {
  return joinKey(prefix, DONE_MARKER_NAME);
}

function manifestError(where: string, problem: string, cause?: unknown): StorageError {
  return new StorageError(
    StorageErrorCode.Manifest,
    `done-marker ${where}: ${problem}`,
    cause === undefined ? undefined : { cause },
  );
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Checks the shape of a manifest (from a caller or parsed from a marker). */
function checkManifest(value: unknown, where: string): DoneManifest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw manifestError(where, 'expected a JSON object with configHash and artifacts');
  }
  const manifest = value as Record<string, unknown>;
  if (typeof manifest.configHash !== 'string' || manifest.configHash === '') {
    throw manifestError(
      where,
      `configHash is ${JSON.stringify(manifest.configHash)}; expected a non-empty string`,
    );
  }
  if (!Array.isArray(manifest.artifacts)) {
    throw manifestError(where, 'artifacts is not an array; expected [{ key, size, sha256 }, …]');
  }
  manifest.artifacts.forEach((item: unknown, i) => {
    const record = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    if (typeof record.key !== 'string') {
      throw manifestError(
        where,
        `artifacts[${i}].key is ${JSON.stringify(record.key)}; expected a store key`,
      );
    }
    try {
      validateKey(record.key, `artifacts[${i}].key`);
    } catch (error) {
      throw manifestError(where, describeError(error), error);
    }
    if (typeof record.size !== 'number' || !Number.isSafeInteger(record.size) || record.size < 0) {
      throw manifestError(
        where,
        `artifacts[${i}].size is ${JSON.stringify(record.size)}; expected an integer ≥ 0`,
      );
    }
    if (typeof record.sha256 !== 'string' || !SHA256_HEX.test(record.sha256)) {
      throw manifestError(
        where,
        `artifacts[${i}].sha256 is ${JSON.stringify(record.sha256)}; expected 64 lower-case hex digits`,
      );
    }
  });
  return manifest as DoneManifest;
}

/** The first listed artifact that is missing or has another size, described; undefined when all match. */
async function findMismatch(
  store: ArtifactStore,
  artifacts: readonly ArtifactRecord[],
): Promise<string | undefined> {
  const stats = await Promise.all(artifacts.map((a) => store.stat(a.key)));
  for (let i = 0; i < artifacts.length; i++) {
    const { key, size } = artifacts[i]!;
    const stat = stats[i];
    if (stat === undefined) {
      return `artifact ${JSON.stringify(key)} does not exist`;
    }
    if (stat.size !== size) {
      return `artifact ${JSON.stringify(key)} has ${stat.size} bytes, the manifest says ${size}`;
    }
  }
  return undefined;
}

/**
 * Marks the work in folder `prefix` as done by writing `<prefix>/_DONE.json`. Call it LAST, after every
 * artifact is stored: the marker is written atomically, so its presence means the whole output is
 * there. By default the listed artifacts are checked first.
 *
 * @returns the marker's key
 * @throws StorageError `STORAGE_ERR_MANIFEST` for a malformed manifest or (with `verify`) a missing or
 * wrong-sized artifact
 */
export async function writeDoneMarker(
  store: ArtifactStore,
  prefix: string,
  manifest: DoneManifest,
  options: WriteDoneMarkerOptions = {},
): Promise<string> {
  const key = doneMarkerKey(prefix);
  checkManifest(manifest, JSON.stringify(key));
  if (options.verify ?? true) {
    const problem = await findMismatch(store, manifest.artifacts);
    if (problem !== undefined) {
      throw manifestError(
        JSON.stringify(key),
        `${problem}; store the artifacts before marking the work done`,
      );
    }
  }
  await store.put(key, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), {
    contentType: 'application/json',
  });
  return key;
}

/**
 * The done-marker of folder `prefix`, if the work there is done for `configHash`: `undefined` when
 * there is no marker, when it was written for another config hash, or (with `verifyArtifacts`) when
 * a listed artifact is gone or changed size.
 *
 * @throws StorageError `STORAGE_ERR_MANIFEST` when the marker exists but is not a valid manifest
 */
export async function readDoneMarker(
  store: ArtifactStore,
  prefix: string,
  configHash: string,
  options: ReadDoneMarkerOptions = {},
): Promise<DoneManifest | undefined> {
  const key = doneMarkerKey(prefix);
  let bytes: Uint8Array;
  try {
    bytes = await store.get(key);
  } catch (error) {
    if (error instanceof StorageError && error.code === StorageErrorCode.NotFound) {
      return undefined;
    }
    throw error;
  }
  const where = `${JSON.stringify(key)} (${store.url}/${key})`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw manifestError(where, `is not valid JSON: ${describeError(error)}`, error);
  }
  const manifest = checkManifest(parsed, where);
  if (manifest.configHash !== configHash) {
    return undefined;
  }
  if (options.verifyArtifacts === true && (await findMismatch(store, manifest.artifacts)) !== undefined) {
    return undefined;
  }
  return manifest;
}
