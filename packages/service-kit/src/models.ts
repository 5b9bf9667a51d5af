/**
 * Where a service finds its model files: an explicit path from its configuration, or the role's file in
 * the model cache per the catalog (`synood models pull` fills the cache). Shared verbatim by the services.
 */
import {
  DEFAULT_MODEL_CATALOG,
  type ModelCatalog,
  defaultModelCacheDir,
  loadModelCatalog,
  resolveModelPath,
} from '@synood/models';

import type { WorkerRuntimeConfig } from './env';

/** A model file a service needs, checked at startup. */
export interface ModelInput {
  /** Registry role (`clip.vision`) or another name for messages. */
  role: string;
  /** Absolute path of the file. */
  path: string;
}

/** Resolves model files by role, honouring explicit paths. */
export interface ModelResolver {
  /** The catalog in use. */
  readonly catalog: ModelCatalog;
  /** The cache folder in use. */
  readonly cacheDir: string;
  /** `override` when given, else the role's file (its first, or the named one) in the cache. */
  path(role: string, override?: string, file?: string): string;
}

/** A resolver over the runtime's catalog (a file, or the built-in one) and cache folder. */
export async function modelResolver(runtime: WorkerRuntimeConfig): Promise<ModelResolver> {
  const catalog =
    runtime.modelCatalog === undefined ? DEFAULT_MODEL_CATALOG : await loadModelCatalog(runtime.modelCatalog);
  const cacheDir = runtime.common.models.cacheDir ?? defaultModelCacheDir();
  return {
    catalog,
    cacheDir,
    path: (role, override, file) => override ?? resolveModelPath(role, file, { catalog, cacheDir }),
  };
}
