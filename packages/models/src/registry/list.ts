import { selectFiles } from './cache';
import { type ModelCatalog, exportCommandFor } from './catalog';
import { ModelLockStore } from './lock';
import { expectationOf, lockVouches, statIfExists } from './pull';
import type { ModelRole } from './roles';

/** Cache state of one file, from file-system metadata and the lock file (nothing is hashed). */
export type ModelFileStatus =
  /** In the cache, and the lock file vouches for its hash at its current size and mtime. */
  | 'verified'
  /** In the cache, but not verified since it last changed (run `verify`, or `pull` checks it). */
  | 'present'
  /** Not in the cache; `pull` downloads it. */
  | 'missing'
  /** Not in the cache and has no download: export it locally. */
  | 'export-required';

/** One file in {@link ModelListing}. */
export interface ModelFileListing {
  readonly name: string;
  readonly path: string;
  readonly absPath: string;
  /** The source URI; absent for locally exported files. */
  readonly source?: string;
  /** Size from the catalog, when it gives one. */
  readonly expectedSize?: number;
  /** Size in the cache, when present. */
  readonly size?: number;
  readonly sha256?: string;
  readonly status: ModelFileStatus;
}

/** One role in {@link listModels}' answer. */
export interface ModelListing {
  readonly role: ModelRole;
  readonly description?: string;
  readonly unverified: boolean;
  /** The export command with `{cache}` replaced, for roles that must be exported. */
  readonly exportCommand?: string;
  /**
   * The role's overall status: `verified` when every file is; `export-required` or `missing` when a file
   * is (export-required wins); `present` otherwise.
   */
  readonly status: ModelFileStatus;
  readonly files: readonly ModelFileListing[];
}

/** Options of {@link listModels}. */
export interface ListModelsOptions {
  readonly catalog: ModelCatalog;
  readonly cacheDir: string;
  /** @defaultValue every role of the catalog */
  readonly roles?: readonly string[];
}

/**
 * Reports each role's files and their cache status from file sizes, mtimes and the lock file: cheap
 * enough for a status page, but a file corrupted without changing size or mtime still shows `verified`
 * (use `verifyModels` to re-hash).
 *
 * @throws {@link ModelRegistryError} `MODELS_ERR_ROLE`, `MODELS_ERR_LOCK`.
 */
export async function listModels(options: ListModelsOptions): Promise<ModelListing[]> {
  const refs = selectFiles(options.catalog, options.cacheDir, options.roles);
  const lock = await ModelLockStore.open(options.cacheDir);
  const byRole = new Map<ModelRole, ModelFileListing[]>();
  for (const ref of refs) {
    const stats = await statIfExists(ref.absPath);
    const expectation = expectationOf(ref, lock);
    let status: ModelFileStatus;
    if (stats?.isFile() !== true) {
      status = ref.file.source === undefined ? 'export-required' : 'missing';
    } else {
      status = lockVouches(ref, expectation, stats) ? 'verified' : 'present';
    }
    const sha256 = ref.file.sha256 ?? expectation.sha256;
    const listing: ModelFileListing = {
      name: ref.file.name,
      path: ref.file.path,
      absPath: ref.absPath,
      ...(ref.file.source === undefined ? {} : { source: ref.file.source.uri }),
      ...(ref.file.size === undefined ? {} : { expectedSize: ref.file.size }),
      ...(stats?.isFile() === true ? { size: stats.size } : {}),
      ...(sha256 === undefined ? {} : { sha256 }),
      status,
    };
    byRole.set(ref.role, [...(byRole.get(ref.role) ?? []), listing]);
  }
  return [...byRole.entries()].map(([role, files]) => {
    const entry = options.catalog.models.find((e) => e.role === role)!;
    const command = exportCommandFor(entry, options.cacheDir);
    return {
      role,
      ...(entry.description === undefined ? {} : { description: entry.description }),
      unverified: entry.unverified,
      ...(command === undefined ? {} : { exportCommand: command }),
      status: overall(files.map((f) => f.status)),
      files,
    };
  });
}

function overall(statuses: readonly ModelFileStatus[]): ModelFileStatus {
  if (statuses.includes('export-required')) {
    return 'export-required';
  }
  if (statuses.includes('missing')) {
    return 'missing';
  }
  return statuses.every((s) => s === 'verified') ? 'verified' : 'present';
}
