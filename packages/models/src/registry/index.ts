/**
 * The model registry: which files play which role (a catalog, zod-validated, with a built-in default),
 * where they come from (`hf://`, `https://`, `s3://`, `file://`), how they are checked (sha256 from the
 * catalog, or pinned in `<cache>/synood-models.lock.json` on first download), and the downloader
 * (`pullModels`: parallel, resumable, retried, verified before an atomic rename), `verifyModels`,
 * `listModels` and `resolveModelPath` for consumers.
 * @packageDocumentation
 */
export { ModelRegistryError, ModelRegistryErrorCode } from './errors';
export { MODEL_ROLES, isModelRole, type ModelRole } from './roles';
export {
  DEFAULT_HF_ENDPOINT,
  MODEL_SOURCE_SCHEMES,
  hfResolveUrl,
  isSafeRelativePath,
  normalizeHfEndpoint,
  parseModelSource,
  type ModelSource,
} from './source';
export {
  catalogEntry,
  exportCommandFor,
  loadModelCatalog,
  modelCatalogSchema,
  parseModelCatalog,
  type ModelCatalog,
  type ModelCatalogInput,
  type ModelEntry,
  type ModelExportInstructions,
  type ModelFileSpec,
} from './catalog';
export {
  DEFAULT_MODEL_CATALOG,
  DEFAULT_MODEL_CATALOG_JSON,
  RESNET50_EXPORT_COMMAND,
  RESNET50_EXPORT_PATH,
  SD2_INPAINTING_EXPORT_COMMAND,
  SD2_INPAINTING_EXPORT_DIR,
} from './default-catalog';
export { MODEL_LOCK_FILE_NAME, readModelLock, type ModelLockFile, type ModelLockRecord } from './lock';
export { cachePathOf, defaultModelCacheDir, resolveModelPath, type ModelLocation } from './cache';
export type {
  ModelFileEventBase,
  ModelProgressEvent,
  ModelProgressListener,
  PullOutcome,
  VerifyStatus,
} from './progress';
export {
  PARTIAL_SUFFIX,
  pullModels,
  type HashAuthority,
  type PullFileResult,
  type PullModelsOptions,
  type PullReport,
} from './pull';
export { verifyModels, type VerifyFileResult, type VerifyModelsOptions, type VerifyReport } from './verify';
export {
  listModels,
  type ListModelsOptions,
  type ModelFileListing,
  type ModelFileStatus,
  type ModelListing,
} from './list';
