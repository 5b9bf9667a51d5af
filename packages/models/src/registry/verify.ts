import { type ModelFileRef, selectFiles } from './cache';
import type { ModelCatalog } from './catalog';
import { ModelRegistryError, ModelRegistryErrorCode, describeError, isModelRegistryError } from './errors';
import { ModelLockStore, sha256OfFile } from './lock';
import { type ModelProgressListener, type VerifyStatus, emitProgress } from './progress';
import { labelOf, record, runPool, statIfExists } from './pull';
import type { ModelRole } from './roles';

/** Options of {@link verifyModels}. */
export interface VerifyModelsOptions {
  readonly catalog: ModelCatalog;
  readonly cacheDir: string;
  /** Roles to verify. @defaultValue every role of the catalog */
  readonly roles?: readonly string[];
  /** Files hashed at the same time. @defaultValue 2 */
  readonly concurrency?: number;
  /** Progress of each file (`phase: 'hash'`). */
  readonly onProgress?: ModelProgressListener;
  readonly signal?: AbortSignal;
}

/** The result of {@link verifyModels} for one file. */
export interface VerifyFileResult {
  readonly role: ModelRole;
  readonly name: string;
  readonly path: string;
  readonly absPath: string;
  readonly status: VerifyStatus;
  /** The hash the file had to match: the catalog's, or the one pinned in the lock file. */
  readonly expected?: string;
  /** The hash of the bytes in the cache (present files only). */
  readonly actual?: string;
  /** Size in the cache (present files only). */
  readonly size?: number;
  /** For `unverified`: true when this run pinned the hash (no record existed). */
  readonly pinned?: boolean;
}

/** The result of {@link verifyModels}. */
export interface VerifyReport {
  readonly files: readonly VerifyFileResult[];
  /** True when every file is `verified` or `unverified` (nothing missing, nothing corrupt). */
  readonly ok: boolean;
}

/**
 * Re-hashes the cached files of the selected roles and compares them with the catalog's sha256 (or, for
 * entries without one, the hash pinned in the lock file; a file never seen before gets its hash pinned).
 * Never downloads. Updates the lock file: verified files are vouched for again, corrupt ones lose their
 * vouching so the next pull re-hashes and replaces them.
 *
 * @returns a status per file; `ok` is false when something is missing or does not match.
 * @throws {@link ModelRegistryError} `MODELS_ERR_ROLE`, `MODELS_ERR_LOCK`, `MODELS_ERR_IO` (unreadable file),
 *   `MODELS_ERR_ABORTED`.
 */
export async function verifyModels(options: VerifyModelsOptions): Promise<VerifyReport> {
  const refs = selectFiles(options.catalog, options.cacheDir, options.roles);
  const concurrency = options.concurrency ?? 2;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new ModelRegistryError(
      ModelRegistryErrorCode.Options,
      `concurrency must be a whole number from 1 to 64, got ${String(concurrency)}`,
    );
  }
  const lock = await ModelLockStore.open(options.cacheDir);
  const results = new Map<ModelFileRef, VerifyFileResult>();
  const errors: ModelRegistryError[] = [];

  const verifyOne = async (ref: ModelFileRef): Promise<VerifyFileResult> => {
    const info = { role: ref.role, name: ref.file.name, path: ref.file.path };
    emitProgress(options.onProgress, { type: 'start', ...info, bytesTotal: ref.file.size });
    const stats = await statIfExists(ref.absPath);
    const source = ref.file.source?.uri ?? null;
    const pinnedRecord = lock.get(ref.file.path);
    const pin = pinnedRecord?.source === source ? pinnedRecord : undefined;
    const expected = ref.file.sha256 ?? pin?.sha256;
    if (stats?.isFile() !== true) {
      const status: VerifyStatus = ref.file.source === undefined ? 'export-required' : 'missing';
      emitProgress(options.onProgress, { type: 'done', ...info, outcome: status, bytes: 0 });
      return { ...info, absPath: ref.absPath, status, ...(expected === undefined ? {} : { expected }) };
    }
    let actual: string;
    try {
      actual = await sha256OfFile(
        ref.absPath,
        (bytesDone) => {
          emitProgress(options.onProgress, {
            type: 'progress',
            ...info,
            phase: 'hash',
            bytesDone,
            bytesTotal: stats.size,
          });
        },
        options.signal,
      );
    } catch (error) {
      if (options.signal?.aborted === true) {
        throw new ModelRegistryError(ModelRegistryErrorCode.Aborted, 'model verification cancelled', {
          cause: error,
        });
      }
      throw new ModelRegistryError(
        ModelRegistryErrorCode.Io,
        `${labelOf(ref)}: cannot read ${ref.absPath} (${describeError(error)})`,
        { cause: error },
      );
    }
    const sizeOk = ref.file.size === undefined || ref.file.size === stats.size;
    let status: VerifyStatus;
    let pinned = false;
    if (!sizeOk || (expected !== undefined && expected !== actual)) {
      status = 'mismatch';
      await lock.invalidate(ref.file.path);
    } else {
      status = ref.file.sha256 !== undefined ? 'verified' : 'unverified';
      pinned = expected === undefined;
      await lock.set(ref.file.path, record(ref, actual, stats));
    }
    emitProgress(options.onProgress, { type: 'done', ...info, outcome: status, bytes: stats.size });
    return {
      ...info,
      absPath: ref.absPath,
      status,
      ...(expected === undefined ? {} : { expected }),
      actual,
      size: stats.size,
      ...(status === 'unverified' ? { pinned } : {}),
    };
  };

  await runPool(refs, concurrency, options.signal, async (ref) => {
    try {
      results.set(ref, await verifyOne(ref));
    } catch (error) {
      const coded = isModelRegistryError(error)
        ? error
        : new ModelRegistryError(ModelRegistryErrorCode.Io, `${labelOf(ref)}: ${describeError(error)}`, {
            cause: error,
          });
      errors.push(coded);
      emitProgress(options.onProgress, {
        type: 'error',
        role: ref.role,
        name: ref.file.name,
        path: ref.file.path,
        error: coded,
      });
    }
  });
  if (options.signal?.aborted === true) {
    throw new ModelRegistryError(ModelRegistryErrorCode.Aborted, 'model verification cancelled', {
      cause: options.signal.reason,
    });
  }
  if (errors.length > 0) {
    throw errors.length === 1
      ? errors[0]!
      : new ModelRegistryError(
          ModelRegistryErrorCode.Pull,
          `${errors.length} files could not be verified: ${errors.map((e) => e.message).join(' | ')}`,
          { errors },
        );
  }
  const files = refs.map((ref) => results.get(ref)!);
  return { files, ok: files.every((f) => f.status === 'verified' || f.status === 'unverified') };
}
