import type { Readable } from 'node:stream';

/** Options of {@link ArtifactStore.put}. */
export interface PutOptions {
  /** MIME type recorded with the object (S3 `Content-Type`; ignored by the file store). @defaultValue none */
  contentType?: string;
}

/** Size and, where the backend has one, entity tag of a stored object. */
export interface ObjectStat {
  /** Size in bytes. */
  size: number;
  /** S3 ETag without its quotes; absent for the file store. */
  etag?: string;
}

/** What an upload body may be: bytes in memory or a stream of bytes. */
export type PutBody = Uint8Array | Readable;

/**
 * A flat namespace of objects addressed by POSIX-style relative keys (`runs/r1/encode/00000/x.bin`).
 * Writes are atomic: an object appears under its key only once its whole body is stored, so a reader
 * never sees a partial object. Every method throws {@link StorageError}: `STORAGE_ERR_KEY` for a bad
 * key, `STORAGE_ERR_NOT_FOUND` for a missing object, `STORAGE_ERR_UNAVAILABLE` (`retryable: true`)
 * when the backend is down or overloaded, `STORAGE_ERR_ACCESS` for credential problems.
 */
export interface ArtifactStore {
  /** The store's base URL (`file:///abs/path` or `s3://bucket/prefix`); keys are relative to it. */
  readonly url: string;
  /** Stores `body` under `key`, replacing any existing object. */
  put(key: string, body: PutBody, opts?: PutOptions): Promise<void>;
  /** The whole object. */
  get(key: string): Promise<Uint8Array>;
  /** The object as a byte stream; a missing key rejects here, before any byte is read. */
  getStream(key: string): Promise<Readable>;
  /** Whether an object exists under `key`. */
  exists(key: string): Promise<boolean>;
  /** Size (and ETag) of the object, or `undefined` when there is none. */
  stat(key: string): Promise<ObjectStat | undefined>;
  /**
   * Every key under the folder `prefix` (`''` = the whole store), as full keys. S3 lists in pages and
   * yields in its lexicographic byte order; the file store walks folders depth-first, entries sorted
   * by name. Callers that need one global order sort themselves.
   */
  list(prefix: string): AsyncIterable<string>;
  /** Removes the object; deleting a missing key is not an error (as in S3). */
  delete(key: string): Promise<void>;
  /** Releases connections (S3 sockets); the store must not be used afterwards. */
  close(): Promise<void>;
}
