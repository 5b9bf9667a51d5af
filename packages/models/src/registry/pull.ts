import type { Stats } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';

import { type ArtifactStore, type S3StoreOptions, openStore } from '@synood/storage';

import { type ModelFileRef, selectFiles } from './cache';
import { type ModelCatalog, exportCommandFor } from './catalog';
import {
  ModelRegistryError,
  ModelRegistryErrorCode,
  describeError,
  errnoOf,
  isModelRegistryError,
} from './errors';
import { type ModelLockRecord, ModelLockStore, sha256OfFile } from './lock';
import { type ModelProgressListener, type PullOutcome, emitProgress } from './progress';
import type { ModelRole } from './roles';
import { DEFAULT_HF_ENDPOINT, hfResolveUrl, normalizeHfEndpoint } from './source';
import {
  type TransferContext,
  type TransferResult,
  copyStream,
  downloadHttp,
  openLocalFile,
} from './transfer';

/** Suffix of in-progress downloads, next to their final path so the final rename is atomic. */
export const PARTIAL_SUFFIX = '.partial';

/** Options of {@link pullModels}. */
export interface PullModelsOptions {
  /** The catalog to pull from (e.g. `DEFAULT_MODEL_CATALOG` or `loadModelCatalog(file)`). */
  readonly catalog: ModelCatalog;
  /** The cache folder. */
  readonly cacheDir: string;
  /** Roles to pull; an unknown one fails with `MODELS_ERR_ROLE`. @defaultValue every role of the catalog */
  readonly roles?: readonly string[];
  /** Base URL `hf://` sources resolve against (the Hub or a mirror). @defaultValue `https://huggingface.co` */
  readonly endpoint?: string;
  /** Hugging Face token, sent as `Authorization: Bearer` to the endpoint's origin only. @defaultValue none */
  readonly token?: string;
  /** Never touch the network: present files are verified, missing ones reported. @defaultValue false */
  readonly offline?: boolean;
  /** Files transferred at the same time. @defaultValue 4 */
  readonly concurrency?: number;
  /** Retries of a file after its first attempt (network errors, HTTP 5xx/408/429). @defaultValue 4 */
  readonly retries?: number;
  /** First backoff delay in ms, doubling per retry (with jitter). @defaultValue 500 */
  readonly retryDelayMs?: number;
  /** Cap of one backoff delay in ms. @defaultValue 30000 */
  readonly maxRetryDelayMs?: number;
  /** Progress of each file (start, bytes, retries, done). */
  readonly onProgress?: ModelProgressListener;
  /** Cancels the pull; partial files are kept and resume next time. */
  readonly signal?: AbortSignal;
  /** Connection settings for `s3://` sources. @defaultValue `{}` (AWS, default credential chain) */
  readonly s3?: S3StoreOptions;
  /**
   * Opens the store an `s3://bucket` URL names. @defaultValue `openStore(url, { s3 })` from
   * `@synood/storage`
   */
  readonly openStore?: (url: string) => ArtifactStore;
}

/** How the expected hash of a file was established. */
export type HashAuthority =
  /** The catalog's sha256. */
  | 'catalog'
  /** The hash pinned in the lock file by an earlier pull or verify. */
  | 'lock'
  /** No hash was known: the one just computed was pinned in the lock file. */
  | 'pinned';

/** The result of {@link pullModels} for one file. */
export interface PullFileResult {
  readonly role: ModelRole;
  readonly name: string;
  /** Path inside the cache. */
  readonly path: string;
  /** Absolute path in the cache. */
  readonly absPath: string;
  readonly outcome: PullOutcome;
  /** sha256 of the cached bytes (absent for `export-required`). */
  readonly sha256?: string;
  /** Size of the cached file (absent for `export-required`). */
  readonly size?: number;
  /** Where the hash check's reference came from (absent for `export-required`). */
  readonly hashAuthority?: HashAuthority;
  /** For `export-required`: the command to run, `{cache}` already replaced. */
  readonly exportCommand?: string;
}

/** The result of {@link pullModels}. */
export interface PullReport {
  /** One result per selected file, in catalog order. */
  readonly files: readonly PullFileResult[];
}

interface Expectation {
  readonly sha256: string | undefined;
  readonly authority: 'catalog' | 'lock' | undefined;
  /** The lock record, when it describes the same source. */
  readonly record: ModelLockRecord | undefined;
  /** A lock record exists but for another source: the cached file came from elsewhere. */
  readonly staleRecord: boolean;
}

/** What the catalog and the lock file say the bytes of `ref` must hash to. */
export function expectationOf(ref: ModelFileRef, lock: ModelLockStore): Expectation {
  const source = ref.file.source?.uri ?? null;
  const record = lock.get(ref.file.path);
  const sameSource = record?.source === source;
  if (ref.file.sha256 !== undefined) {
    return {
      sha256: ref.file.sha256,
      authority: 'catalog',
      record: sameSource ? record : undefined,
      staleRecord: record !== undefined && !sameSource,
    };
  }
  if (sameSource) {
    return { sha256: record.sha256, authority: 'lock', record, staleRecord: false };
  }
  return { sha256: undefined, authority: undefined, record: undefined, staleRecord: record !== undefined };
}

/** Whether the lock vouches for the file as it is on disk now (same hash, size and mtime), skipping a re-hash. */
export function lockVouches(ref: ModelFileRef, expectation: Expectation, stats: Stats): boolean {
  const { record, sha256 } = expectation;
  return (
    record !== undefined &&
    sha256 !== undefined &&
    record.sha256 === sha256 &&
    record.size === stats.size &&
    record.mtimeMs === stats.mtimeMs &&
    (ref.file.size === undefined || ref.file.size === stats.size)
  );
}

/** `stat` that answers `undefined` for a missing path. */
export async function statIfExists(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') {
      return undefined;
    }
    throw new ModelRegistryError(ModelRegistryErrorCode.Io, `cannot stat ${path} (${describeError(error)})`, {
      cause: error,
    });
  }
}

/** `role file "name"` for messages. */
export function labelOf(ref: ModelFileRef): string {
  return `${ref.role} file "${ref.file.name}" (${ref.file.path})`;
}

function base(ref: ModelFileRef): { role: ModelRole; name: string; path: string } {
  return { role: ref.role, name: ref.file.name, path: ref.file.path };
}

function checkInteger(value: number, name: string, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ModelRegistryError(
      ModelRegistryErrorCode.Options,
      `${name} must be a whole number from ${min} to ${max}, got ${String(value)}`,
    );
  }
  return value;
}

/** Runs `work` over `items` with at most `concurrency` in flight; stops taking new items once aborted. */
export async function runPool<T>(
  items: readonly T[],
  concurrency: number,
  signal: AbortSignal | undefined,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length && signal?.aborted !== true) {
      const item = items[next++]!;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/**
 * Gathers per-file failures into one error: the error itself when only one file failed, `MODELS_ERR_PULL`
 * listing every failure otherwise.
 */
export function combineErrors(
  errors: readonly ModelRegistryError[],
  verb: string,
): ModelRegistryError | undefined {
  if (errors.length === 0) {
    return undefined;
  }
  if (errors.length === 1) {
    return errors[0];
  }
  return new ModelRegistryError(
    ModelRegistryErrorCode.Pull,
    `${errors.length} files failed to ${verb}: ${errors.map((e) => `[${e.code}] ${e.message}`).join(' | ')}`,
    { errors },
  );
}

/**
 * Downloads the catalog's files into the cache: in parallel (bounded), resumable from `<file>.partial`,
 * retried with backoff on network errors and HTTP 5xx/408/429, redirects followed. Every file's size (when
 * the catalog gives one) and sha256 are checked before an atomic rename into place; a file already in the
 * cache is verified (cheaply, when the lock vouches for it) and skipped. Entries without a published hash
 * (`unverified`) pin the hash of their first download in `<cache>/synood-models.lock.json`, and later
 * downloads must match it. `s3://` sources go through `@synood/storage`, `file://` sources are copied.
 * Files whose entry is `exportRequired` and that are not in the cache are reported, not fetched.
 *
 * @returns one result per selected file, in catalog order.
 * @throws {@link ModelRegistryError} after every file was attempted: the failing file's own error
 *   (`MODELS_ERR_CHECKSUM` naming the file, the expected and the actual hash; `MODELS_ERR_SIZE`,
 *   `MODELS_ERR_HTTP`, `MODELS_ERR_NOT_FOUND`, `MODELS_ERR_NETWORK`, …), `MODELS_ERR_OFFLINE` listing the
 *   missing files in offline mode, or `MODELS_ERR_PULL` when several files failed; `MODELS_ERR_ABORTED`
 *   when `signal` fired; `MODELS_ERR_ROLE` / `MODELS_ERR_OPTIONS` before anything starts.
 */
export async function pullModels(options: PullModelsOptions): Promise<PullReport> {
  const refs = selectFiles(options.catalog, options.cacheDir, options.roles);
  const concurrency = checkInteger(options.concurrency ?? 4, 'concurrency', 1, 64);
  const retries = checkInteger(options.retries ?? 4, 'retries', 0, 100);
  const retryDelayMs = checkInteger(options.retryDelayMs ?? 500, 'retryDelayMs', 0, 3_600_000);
  const maxRetryDelayMs = checkInteger(options.maxRetryDelayMs ?? 30_000, 'maxRetryDelayMs', 0, 3_600_000);
  const endpoint = normalizeHfEndpoint(options.endpoint ?? DEFAULT_HF_ENDPOINT);
  const offline = options.offline === true;
  const lock = await ModelLockStore.open(options.cacheDir);
  const stores = new Map<string, ArtifactStore>();
  const openSourceStore = options.openStore ?? ((url: string) => openStore(url, { s3: options.s3 ?? {} }));

  const results = new Map<ModelFileRef, PullFileResult>();
  const errors = new Map<ModelFileRef, ModelRegistryError>();
  const offlineMissing: ModelFileRef[] = [];

  const transferContext = (ref: ModelFileRef): TransferContext => ({
    label: labelOf(ref),
    signal: options.signal,
    retries,
    retryDelayMs,
    maxRetryDelayMs,
    onBytes: (bytesDone, bytesTotal) => {
      emitProgress(options.onProgress, {
        type: 'progress',
        ...base(ref),
        phase: 'download',
        bytesDone,
        bytesTotal,
      });
    },
    onRetry: (attempt, delayMs, error) => {
      emitProgress(options.onProgress, { type: 'retry', ...base(ref), attempt, delayMs, error });
    },
  });

  const fetchInto = async (ref: ModelFileRef, partial: string): Promise<TransferResult> => {
    const source = ref.file.source!;
    const ctx = transferContext(ref);
    switch (source.scheme) {
      case 'hf':
        return downloadHttp(
          hfResolveUrl(source, endpoint),
          partial,
          ref.file.size,
          auth(options.token, endpoint),
          ctx,
        );
      case 'http':
        return downloadHttp(source.url, partial, ref.file.size, undefined, ctx);
      case 's3': {
        const bucketUrl = `s3://${source.bucket}`;
        let store = stores.get(bucketUrl);
        if (store === undefined) {
          store = openSourceStore(bucketUrl);
          stores.set(bucketUrl, store);
        }
        const opened = store;
        return copyStream(
          () => openS3Object(opened, source.key, source.uri, ctx),
          partial,
          ref.file.size,
          source.uri,
          ctx,
          true,
        );
      }
      case 'file':
        return copyStream(
          () => openLocalFile(source.path, ctx),
          partial,
          ref.file.size,
          source.path,
          ctx,
          false,
        );
    }
  };

  const pullOne = async (ref: ModelFileRef): Promise<void> => {
    const label = labelOf(ref);
    emitProgress(options.onProgress, { type: 'start', ...base(ref), bytesTotal: ref.file.size });
    const expectation = expectationOf(ref, lock);
    const stats = await statIfExists(ref.absPath);
    if (stats !== undefined) {
      if (!stats.isFile()) {
        throw new ModelRegistryError(
          ModelRegistryErrorCode.Io,
          `${label}: ${ref.absPath} exists but is not a file; remove it and pull again`,
        );
      }
      if (lockVouches(ref, expectation, stats)) {
        results.set(ref, present(ref, expectation.sha256!, stats.size, expectation.authority!));
        emitProgress(options.onProgress, {
          type: 'done',
          ...base(ref),
          outcome: 'present',
          bytes: stats.size,
        });
        return;
      }
      // A file recorded under another source (the catalog's revision changed) and no published hash: its
      // bytes say nothing about the new source, so it is fetched again rather than pinned.
      const stale =
        expectation.staleRecord && expectation.sha256 === undefined && ref.file.source !== undefined;
      if (!stale) {
        const actual = await sha256OfFile(
          ref.absPath,
          (bytesDone) => {
            emitProgress(options.onProgress, {
              type: 'progress',
              ...base(ref),
              phase: 'hash',
              bytesDone,
              bytesTotal: stats.size,
            });
          },
          options.signal,
        );
        const sizeOk = ref.file.size === undefined || ref.file.size === stats.size;
        if (sizeOk && (expectation.sha256 === undefined || expectation.sha256 === actual)) {
          await lock.set(ref.file.path, record(ref, actual, stats));
          results.set(ref, present(ref, actual, stats.size, expectation.authority ?? 'pinned'));
          emitProgress(options.onProgress, {
            type: 'done',
            ...base(ref),
            outcome: 'present',
            bytes: stats.size,
          });
          return;
        }
        if (offline || ref.file.source === undefined) {
          await lock.invalidate(ref.file.path);
          throw new ModelRegistryError(
            ModelRegistryErrorCode.Checksum,
            `${label}: the cached ${ref.absPath} does not match: expected sha256 ${String(expectation.sha256)}` +
              `${ref.file.size === undefined ? '' : ` and ${ref.file.size} bytes`}, got sha256 ${actual} and ` +
              `${stats.size} bytes; delete it and ${ref.file.source === undefined ? 're-export it' : 'pull again online'}`,
          );
        }
      }
      if (!offline) {
        await lock.invalidate(ref.file.path);
        await rm(ref.absPath, { force: true });
      }
    }
    if (ref.file.source === undefined) {
      results.set(ref, {
        ...base(ref),
        absPath: ref.absPath,
        outcome: 'export-required',
        ...(ref.entry.exportRequired === undefined
          ? {}
          : { exportCommand: exportCommandFor(ref.entry, options.cacheDir)! }),
      });
      emitProgress(options.onProgress, { type: 'done', ...base(ref), outcome: 'export-required', bytes: 0 });
      return;
    }
    if (offline && ref.file.source.scheme !== 'file') {
      offlineMissing.push(ref);
      emitProgress(options.onProgress, {
        type: 'error',
        ...base(ref),
        error: new ModelRegistryError(
          ModelRegistryErrorCode.Offline,
          `${label}: missing from the cache (offline)`,
        ),
      });
      return;
    }
    const partial = `${ref.absPath}${PARTIAL_SUFFIX}`;
    try {
      await mkdir(dirname(ref.absPath), { recursive: true });
    } catch (error) {
      throw new ModelRegistryError(
        ModelRegistryErrorCode.Io,
        `${label}: cannot create ${dirname(ref.absPath)} (${describeError(error)})`,
        { cause: error },
      );
    }
    const got = await fetchInto(ref, partial);
    if (ref.file.size !== undefined && got.size !== ref.file.size) {
      await rm(partial, { force: true });
      throw new ModelRegistryError(
        ModelRegistryErrorCode.Size,
        `${label}: got ${got.size} bytes from ${ref.file.source.uri} but the catalog says ${ref.file.size}; ` +
          'the download was discarded',
      );
    }
    if (expectation.sha256 !== undefined && got.sha256 !== expectation.sha256) {
      await rm(partial, { force: true });
      const hint =
        expectation.authority === 'lock'
          ? 'the source changed since its hash was pinned in the lock file; if that is expected, delete the ' +
            "file's record from synood-models.lock.json and pull again"
          : 'the source serves other bytes than the catalog names; check the revision and sha256 in the catalog';
      throw new ModelRegistryError(
        ModelRegistryErrorCode.Checksum,
        `${label}: sha256 mismatch for ${ref.file.source.uri}: expected ${expectation.sha256}, got ${got.sha256}; ` +
          `the download was discarded (${hint})`,
      );
    }
    try {
      await rename(partial, ref.absPath);
    } catch (error) {
      throw new ModelRegistryError(
        ModelRegistryErrorCode.Io,
        `${label}: cannot move ${partial} into place (${describeError(error)})`,
        { cause: error },
      );
    }
    const finalStats = await stat(ref.absPath);
    await lock.set(ref.file.path, record(ref, got.sha256, finalStats));
    const outcome: PullOutcome = ref.file.source.scheme === 'file' ? 'copied' : 'downloaded';
    results.set(ref, {
      ...base(ref),
      absPath: ref.absPath,
      outcome,
      sha256: got.sha256,
      size: got.size,
      hashAuthority: expectation.authority ?? 'pinned',
    });
    emitProgress(options.onProgress, { type: 'done', ...base(ref), outcome, bytes: got.size });
  };

  try {
    await runPool(refs, concurrency, options.signal, async (ref) => {
      try {
        await pullOne(ref);
      } catch (error) {
        const coded = isModelRegistryError(error)
          ? error
          : new ModelRegistryError(ModelRegistryErrorCode.Io, `${labelOf(ref)}: ${describeError(error)}`, {
              cause: error,
            });
        errors.set(ref, coded);
        emitProgress(options.onProgress, { type: 'error', ...base(ref), error: coded });
      }
    });
  } finally {
    await Promise.allSettled([...stores.values()].map((store) => store.close()));
  }

  if (options.signal?.aborted === true) {
    throw new ModelRegistryError(
      ModelRegistryErrorCode.Aborted,
      'model pull cancelled; partial downloads are kept and resume on the next pull',
      { cause: options.signal.reason },
    );
  }
  const failures = refs.filter((ref) => errors.has(ref)).map((ref) => errors.get(ref)!);
  if (offlineMissing.length > 0) {
    failures.push(
      new ModelRegistryError(
        ModelRegistryErrorCode.Offline,
        `offline mode: ${offlineMissing.length} file(s) missing from ${options.cacheDir}: ` +
          offlineMissing.map((ref) => `${ref.role} ${ref.file.path} (${ref.file.source!.uri})`).join(', ') +
          '; pull them without --offline on a machine with network access',
      ),
    );
  }
  const failure = combineErrors(failures, 'pull');
  if (failure !== undefined) {
    throw failure;
  }
  return { files: refs.map((ref) => results.get(ref)!) };
}

function present(
  ref: ModelFileRef,
  sha256: string,
  size: number,
  hashAuthority: HashAuthority,
): PullFileResult {
  return { ...base(ref), absPath: ref.absPath, outcome: 'present', sha256, size, hashAuthority };
}

/** A fresh lock record for `ref` with the given hash and on-disk stats. */
export function record(ref: ModelFileRef, sha256: string, stats: Stats): ModelLockRecord {
  return {
    source: ref.file.source?.uri ?? null,
    sha256,
    size: stats.size,
    mtimeMs: stats.mtimeMs,
    verifiedAt: new Date().toISOString(),
  };
}

function auth(token: string | undefined, endpoint: string): { origin: string; token: string } | undefined {
  return token === undefined || token === '' ? undefined : { origin: new URL(endpoint).origin, token };
}

async function openS3Object(
  store: ArtifactStore,
  key: string,
  uri: string,
  ctx: TransferContext,
): Promise<Readable> {
  try {
    return await store.getStream(key);
  } catch (error) {
    const code = isStorageCode(error);
    if (code === 'STORAGE_ERR_NOT_FOUND') {
      throw new ModelRegistryError(ModelRegistryErrorCode.NotFound, `${ctx.label}: ${uri} does not exist`, {
        cause: error,
      });
    }
    const retryable =
      typeof error === 'object' && error !== null && 'retryable' in error && error.retryable === true;
    throw new ModelRegistryError(
      retryable ? ModelRegistryErrorCode.Network : ModelRegistryErrorCode.Io,
      `${ctx.label}: cannot read ${uri} (${describeError(error)})`,
      { cause: error, retryable },
    );
  }
}

function isStorageCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;
}
