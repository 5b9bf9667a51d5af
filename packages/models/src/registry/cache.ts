import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

import { type ModelCatalog, type ModelEntry, type ModelFileSpec, catalogEntry } from './catalog';
import { ModelRegistryError, ModelRegistryErrorCode } from './errors';
import { MODEL_ROLES, type ModelRole, isModelRole } from './roles';

/**
 * The default cache folder, `~/.cache/synood/models`. The CLI takes another one from `--cache` (and the
 * service configuration from `SYNOOD_MODEL_CACHE`); this package reads no environment itself.
 *
 * @param home - the home folder. @defaultValue `os.homedir()`
 */
export function defaultModelCacheDir(home: string = homedir()): string {
  return join(home, '.cache', 'synood', 'models');
}

/** Absolute path of a catalog file inside a cache folder. */
export function cachePathOf(cacheDir: string, file: ModelFileSpec): string {
  return join(resolve(cacheDir), ...file.path.split('/'));
}

/** A catalog file together with its role, as the downloader, verifier and lister see it. */
export interface ModelFileRef {
  readonly role: ModelRole;
  readonly entry: ModelEntry;
  readonly file: ModelFileSpec;
  /** Absolute path in the cache. */
  readonly absPath: string;
}

/**
 * The entries of `roles` (every catalog entry when omitted), in catalog order.
 *
 * @throws {@link ModelRegistryError} `MODELS_ERR_ROLE` for an unknown role or one the catalog lacks.
 */
export function selectEntries(catalog: ModelCatalog, roles: readonly string[] | undefined): ModelEntry[] {
  if (roles === undefined || roles.length === 0) {
    return [...catalog.models];
  }
  for (const role of roles) {
    if (!isModelRole(role)) {
      throw new ModelRegistryError(
        ModelRegistryErrorCode.Role,
        `unknown model role "${role}"; roles are ${MODEL_ROLES.join(', ')}`,
      );
    }
    if (catalogEntry(catalog, role) === undefined) {
      throw new ModelRegistryError(
        ModelRegistryErrorCode.Role,
        `the catalog has no entry for role "${role}"; add one to the catalog (--catalog FILE)`,
      );
    }
  }
  return catalog.models.filter((entry) => roles.includes(entry.role));
}

/** Every file of the selected entries, with absolute cache paths. */
export function selectFiles(
  catalog: ModelCatalog,
  cacheDir: string,
  roles?: readonly string[],
): ModelFileRef[] {
  return selectEntries(catalog, roles).flatMap((entry) =>
    entry.files.map((file) => ({ role: entry.role, entry, file, absPath: cachePathOf(cacheDir, file) })),
  );
}

/** Where a consumer finds a model: the catalog and the cache folder. */
export interface ModelLocation {
  readonly catalog: ModelCatalog;
  readonly cacheDir: string;
}

/**
 * Absolute path of a role's file in the cache. Pure path arithmetic: it does not check that the file is
 * there (`listModels` or `verifyModels` do).
 *
 * @param role - the role, e.g. `clip.vision`.
 * @param file - the file's `name` (or its catalog `path`); the role's first file when omitted.
 * @throws {@link ModelRegistryError} `MODELS_ERR_ROLE` for an unknown role, a role the catalog lacks, or a
 *   file name the role does not have.
 */
export function resolveModelPath(role: string, file: string | undefined, where: ModelLocation): string {
  const [entry] = selectEntries(where.catalog, [role]);
  const spec =
    file === undefined ? entry!.files[0] : entry!.files.find((f) => f.name === file || f.path === file);
  if (spec === undefined) {
    throw new ModelRegistryError(
      ModelRegistryErrorCode.Role,
      `role "${role}" has no file "${String(file)}"; its files are ${entry!.files.map((f) => f.name).join(', ')}`,
    );
  }
  return cachePathOf(where.cacheDir, spec);
}
