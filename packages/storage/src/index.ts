/**
 * The artifact store of the pipeline and the only importer of the AWS SDK in the monorepo: one
 * interface over the local file system (`file://`, plain paths) and S3 (`s3://`, AWS or MinIO), with
 * atomic writes, coded errors (`retryable` for a backend that is down), deterministic artifact keys,
 * done-markers for resumable stages, and dataset listing (imagefolder, JSONL manifests, class names).
 * Platform constraints are documented in `file-store.ts` and `s3-store.ts`.
 * @packageDocumentation
 */
export { StorageError, StorageErrorCode } from './errors';
export type { ArtifactStore, ObjectStat, PutBody, PutOptions } from './store';
export {
  MAX_KEY_BYTES,
  SHARD_DIGITS,
  TEMP_SUFFIX,
  artifactKey,
  artifactPrefix,
  isValidKey,
  joinKey,
  normalizePrefix,
  validateKey,
  type ArtifactLocation,
} from './keys';
export { FileStore, fileStoreRoot } from './file-store';
export {
  S3Store,
  S3_MAX_PAGE_SIZE,
  S3_MIN_PART_SIZE,
  parseS3Url,
  s3ClientConfig,
  type S3Location,
  type S3StoreOptions,
} from './s3-store';
export { SUPPORTED_SCHEMES, openStore, type OpenStoreOptions } from './open-store';
export {
  DONE_MARKER_NAME,
  doneMarkerKey,
  putWithChecksum,
  readDoneMarker,
  sha256Of,
  writeDoneMarker,
  type ArtifactRecord,
  type DoneManifest,
  type ReadDoneMarkerOptions,
  type WriteDoneMarkerOptions,
} from './done-marker';
export {
  DEFAULT_IMAGE_EXTENSIONS,
  listImageFolder,
  readClassNames,
  readJsonlManifest,
  type ClassName,
  type DatasetImage,
  type ImageFolderOptions,
  type ManifestImage,
} from './datasets';
