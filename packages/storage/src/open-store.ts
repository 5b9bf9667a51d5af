import { StorageError, StorageErrorCode } from './errors';
import { FileStore } from './file-store';
import { S3Store, type S3StoreOptions } from './s3-store';
import type { ArtifactStore } from './store';

/** URL schemes {@link openStore} understands (a plain path counts as `file://`). */
export const SUPPORTED_SCHEMES: readonly string[] = ['file://', 's3://'];

/** Options of {@link openStore}, per backend. */
export interface OpenStoreOptions {
  /** Used when the URL is `s3://…`. @defaultValue `{}` (AWS, us-east-1, default credential chain) */
  s3?: S3StoreOptions;
}

/**
 * Opens the store a URL names: `file:///abs/path` or a plain path (local disk), `s3://bucket/prefix`
 * (S3, MinIO).
 *
 * @throws StorageError `STORAGE_ERR_URL` for any other scheme, naming the URL and the supported ones
 */
export function openStore(url: string, options: OpenStoreOptions = {}): ArtifactStore {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme === 's3') {
    return new S3Store(url, options.s3);
  }
  if (scheme === undefined || scheme === 'file') {
    return new FileStore(url);
  }
  throw new StorageError(
    StorageErrorCode.Url,
    `store URL ${JSON.stringify(url)} has the unsupported scheme "${scheme}://"; supported: ${SUPPORTED_SCHEMES.join(', ')} or a plain path`,
  );
}
