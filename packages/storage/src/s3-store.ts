/**
 * @file The S3 artifact store, and with the rest of `@synood/storage` the only code allowed to import
 * the AWS SDK (lint enforces it). Constraints it encodes:
 * - MinIO and most self-hosted S3 servers serve buckets at `http://host:port/<bucket>/<key>`
 *   (path-style), not as virtual hosts (`<bucket>.host`), so `forcePathStyle` defaults to true whenever
 *   an `endpoint` is given; AWS itself (no endpoint) keeps virtual-hosted style.
 * - Uploads go through `@aws-sdk/lib-storage`'s `Upload`: one PutObject below `partSize`, a multipart
 *   upload above it with `queueSize` parts in flight (so up to partSize × queueSize bytes are buffered).
 *   S3 rejects parts under 5 MiB (except the last) and allows at most 10,000 parts, so the part size is
 *   at least 5 MiB and 8 MiB by default (objects up to ~78 GiB). An object becomes visible only when
 *   PutObject or CompleteMultipartUpload succeeds: this is S3's atomicity, the counterpart of the file
 *   store's rename. A failed multipart upload is aborted so its parts do not linger (and cost).
 * - Listing uses ListObjectsV2 with continuation tokens (at most 1,000 keys a page).
 * - What counts as retryable (`STORAGE_ERR_UNAVAILABLE`, `retryable: true`) follows the SDK's own
 *   classification (`@smithy` service-error-classification): HTTP 5xx and 429, throttling error names
 *   (`SlowDown`, `Throttling`, …), timeouts (`TimeoutError`, `RequestTimeout`), and socket errors
 *   (`ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`, `EPIPE`, DNS `ENOTFOUND`/`EAI_AGAIN`, …), also when they
 *   are the `cause` of another error. The SDK has already retried these `maxAttempts` times when we see
 *   them, so the queue layer's backoff (or pausing the worker) comes next. 401/403 and credential
 *   errors are `STORAGE_ERR_ACCESS`; 404/`NoSuchKey` is `STORAGE_ERR_NOT_FOUND`; a missing bucket is
 *   `STORAGE_ERR_CONFIG` (retrying cannot create it).
 * - HEAD responses have no body, so a missing bucket looks like a missing key to `exists`/`stat`.
 * - AWS answers 403 rather than 404 for a missing key when the credentials lack `s3:ListBucket`, so
 *   such credentials turn "not there yet" into `STORAGE_ERR_ACCESS`; the message says so.
 * - Since late 2024 the SDK sends CRC32 checksums by default (`requestChecksumCalculation:
 *   'WHEN_SUPPORTED'`); some S3-compatible servers reject them, hence the `'WHEN_REQUIRED'` option.
 */
import { PassThrough, Readable } from 'node:stream';

import {
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  paginateListObjectsV2,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

import { StorageError, StorageErrorCode, TRANSIENT_ERRNO_CODES, describeError, errnoCode } from './errors';
import { isValidKey, normalizePrefix, validateKey } from './keys';
import type { ArtifactStore, ObjectStat, PutBody, PutOptions } from './store';

/** S3's minimum size of every part but the last. */
export const S3_MIN_PART_SIZE = 5 * 1024 * 1024;
/** S3's maximum number of keys in one ListObjectsV2 page. */
export const S3_MAX_PAGE_SIZE = 1000;

/** Connection and upload settings of {@link S3Store}. Every field is optional. */
export interface S3StoreOptions {
  /** Server URL for MinIO and other S3-compatible servers, e.g. `http://127.0.0.1:9000`. @defaultValue AWS */
  endpoint?: string;
  /** @defaultValue `'us-east-1'` */
  region?: string;
  /** Address buckets as `endpoint/bucket` rather than `bucket.endpoint`. @defaultValue true when `endpoint` is set */
  forcePathStyle?: boolean;
  /** Explicit access key; with `secretAccessKey`. @defaultValue the SDK's default credential chain */
  accessKeyId?: string;
  /** Explicit secret key; with `accessKeyId`. @defaultValue the SDK's default credential chain */
  secretAccessKey?: string;
  /** Session token for temporary credentials. @defaultValue none */
  sessionToken?: string;
  /** Multipart part size in bytes, at least 5 MiB. @defaultValue 8 MiB */
  partSize?: number;
  /** Parts uploaded concurrently. @defaultValue 4 */
  queueSize?: number;
  /** Keys requested per ListObjectsV2 page, 1–1,000. @defaultValue 1000 */
  listPageSize?: number;
  /** Attempts per request, retries included (the SDK's own retry with backoff). @defaultValue 3 */
  maxAttempts?: number;
  /** Milliseconds to establish a connection before failing. @defaultValue 10000 */
  connectionTimeoutMs?: number;
  /** Milliseconds a request may stay idle on its socket before failing. @defaultValue none (SDK default) */
  requestTimeoutMs?: number;
  /** When to send request checksums; `'WHEN_REQUIRED'` for servers that reject CRC32 headers. @defaultValue `'WHEN_SUPPORTED'` */
  requestChecksumCalculation?: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
}

/** Bucket and key prefix of an `s3://bucket/prefix` URL. */
export interface S3Location {
  bucket: string;
  /** Folder inside the bucket that every key is relative to; `''` for the bucket root. */
  prefix: string;
}

const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/;

/** Parses `s3://bucket[/prefix]`. */
export function parseS3Url(url: string): S3Location {
  const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(url);
  if (!match) {
    throw new StorageError(
      StorageErrorCode.Url,
      `${JSON.stringify(url)} is not an s3:// URL; expected s3://bucket/prefix`,
    );
  }
  const bucket = match[1]!;
  if (!BUCKET.test(bucket)) {
    throw new StorageError(
      StorageErrorCode.Url,
      `store URL ${JSON.stringify(url)} has bucket ${JSON.stringify(bucket)}; expected 2–255 letters, digits, ".", "_" or "-"`,
    );
  }
  let prefix: string;
  try {
    prefix = normalizePrefix(match[2] ?? '');
  } catch (error) {
    throw new StorageError(
      StorageErrorCode.Url,
      `store URL ${JSON.stringify(url)} has an invalid prefix: ${describeError(error)}`,
      { cause: error },
    );
  }
  return { bucket, prefix };
}

function checkInt(name: string, value: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < min || value > max)) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in ${min}..${max}`;
    throw new StorageError(
      StorageErrorCode.Config,
      `S3 option ${name} must be an integer ${range}, got ${String(value)}`,
    );
  }
}

/** The S3Client configuration for the options, validated. */
export function s3ClientConfig(options: S3StoreOptions = {}): S3ClientConfig {
  checkInt('partSize', options.partSize, S3_MIN_PART_SIZE);
  checkInt('queueSize', options.queueSize, 1);
  checkInt('listPageSize', options.listPageSize, 1, S3_MAX_PAGE_SIZE);
  checkInt('maxAttempts', options.maxAttempts, 1);
  checkInt('connectionTimeoutMs', options.connectionTimeoutMs, 1);
  checkInt('requestTimeoutMs', options.requestTimeoutMs, 1);
  if ((options.accessKeyId === undefined) !== (options.secretAccessKey === undefined)) {
    throw new StorageError(
      StorageErrorCode.Config,
      'S3 options accessKeyId and secretAccessKey must be given together (or neither, for the default credential chain)',
    );
  }
  if (options.endpoint !== undefined && !/^https?:\/\/[^/]+/.test(options.endpoint)) {
    throw new StorageError(
      StorageErrorCode.Config,
      `S3 option endpoint ${JSON.stringify(options.endpoint)} is not an http(s) URL; expected e.g. http://127.0.0.1:9000`,
    );
  }
  return {
    region: options.region ?? 'us-east-1',
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.accessKeyId === undefined || options.secretAccessKey === undefined
      ? {}
      : {
          credentials: {
            accessKeyId: options.accessKeyId,
            secretAccessKey: options.secretAccessKey,
            ...(options.sessionToken === undefined ? {} : { sessionToken: options.sessionToken }),
          },
        }),
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
    ...(options.requestChecksumCalculation === undefined
      ? {}
      : {
          requestChecksumCalculation: options.requestChecksumCalculation,
          responseChecksumValidation: options.requestChecksumCalculation,
        }),
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs ?? 10_000,
      ...(options.requestTimeoutMs === undefined ? {} : { requestTimeout: options.requestTimeoutMs }),
    },
  };
}

const NOT_FOUND_NAMES = new Set(['NoSuchKey', 'NotFound']);
const ACCESS_NAMES = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'AllAccessDisabled',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'CredentialsProviderError',
]);
/** `THROTTLING_ERROR_CODES` and `TRANSIENT_ERROR_CODES` of @smithy's service-error-classification, plus S3's 5xx names. */
const TRANSIENT_NAMES = new Set([
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
  'LimitExceededException',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'TransactionInProgressException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
]);

interface SdkErrorShape {
  name?: unknown;
  cause?: unknown;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

/**
 * The SDK's retry middleware replaces a thrown value that is not `instanceof Error` of its own realm
 * with `new Error('AWS SDK error wrapper for ' + value)`, dropping `code`. Socket errors come from Node
 * internals, which are another realm when the SDK runs in a vm context (jest), so there the errno code
 * survives only in the message.
 */
const WRAPPED_ERRNO = new RegExp(`^AWS SDK error wrapper for .*\\b(${TRANSIENT_ERRNO_CODES.join('|')})\\b`);

function isTransient(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 10) {
    return false;
  }
  const e = error as SdkErrorShape;
  if (e.name === 'AbortError') {
    return false;
  }
  const status = e.$metadata?.httpStatusCode ?? 0;
  const errno = errnoCode(error);
  const message = 'message' in error && typeof error.message === 'string' ? error.message : '';
  return (
    WRAPPED_ERRNO.test(message) ||
    (typeof e.name === 'string' && TRANSIENT_NAMES.has(e.name)) ||
    status === 429 ||
    (status >= 500 && status <= 599) ||
    (errno !== undefined && TRANSIENT_ERRNO_CODES.includes(errno)) ||
    (e.$retryable !== undefined && e.$retryable !== null) ||
    isTransient(e.cause, depth + 1)
  );
}

/** Maps an SDK (or body-stream) error to a coded {@link StorageError}; StorageErrors pass through. */
function wrapS3Error(error: unknown, action: string, where: string): StorageError {
  if (error instanceof StorageError) {
    return error;
  }
  const e = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  const name = typeof e.name === 'string' ? e.name : '';
  const status = e.$metadata?.httpStatusCode;
  const detail = `${describeError(error)}${status === undefined ? '' : ` (HTTP ${status})`}`;
  const options = { cause: error };
  if (name === 'NoSuchBucket') {
    return new StorageError(
      StorageErrorCode.Config,
      `${action} ${where}: the bucket does not exist`,
      options,
    );
  }
  if (NOT_FOUND_NAMES.has(name) || status === 404) {
    return new StorageError(StorageErrorCode.NotFound, `${action} ${where}: no such object`, options);
  }
  if (ACCESS_NAMES.has(name) || status === 401 || status === 403) {
    return new StorageError(
      StorageErrorCode.Access,
      `${action} ${where}: access denied, check the credentials and bucket policy (without s3:ListBucket, ` +
        `S3 also answers 403 for a missing key): ${detail}`,
      options,
    );
  }
  if (isTransient(error)) {
    return new StorageError(
      StorageErrorCode.Unavailable,
      `${action} ${where} failed, the storage backend is unavailable or throttling: ${detail}`,
      options,
    );
  }
  return new StorageError(StorageErrorCode.Io, `${action} ${where} failed: ${detail}`, options);
}

/** Artifact store in an S3 bucket (AWS, MinIO, any S3-compatible server), under an optional key prefix. */
export class S3Store implements ArtifactStore {
  readonly url: string;
  /** The bucket and key prefix from the URL. */
  readonly location: S3Location;
  private readonly client: S3Client;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly pageSize: number;

  /**
   * @param url - `s3://bucket` or `s3://bucket/prefix`
   * @throws StorageError `STORAGE_ERR_URL` for a malformed URL, `STORAGE_ERR_CONFIG` for bad options
   */
  constructor(url: string, options: S3StoreOptions = {}) {
    this.location = parseS3Url(url);
    const { bucket, prefix } = this.location;
    this.url = prefix === '' ? `s3://${bucket}` : `s3://${bucket}/${prefix}`;
    this.client = new S3Client(s3ClientConfig(options));
    this.partSize = options.partSize ?? 8 * 1024 * 1024;
    this.queueSize = options.queueSize ?? 4;
    this.pageSize = options.listPageSize ?? S3_MAX_PAGE_SIZE;
  }

  private objectKey(key: string): string {
    validateKey(key);
    return this.location.prefix === '' ? key : `${this.location.prefix}/${key}`;
  }

  private where(key: string): string {
    return `${JSON.stringify(key)} (${this.url}/${key})`;
  }

  async put(key: string, body: PutBody, opts: PutOptions = {}): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.location.bucket,
        Key: this.objectKey(key),
        Body: body,
        ...(opts.contentType === undefined ? {} : { ContentType: opts.contentType }),
      },
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      throw wrapS3Error(error, 'writing', this.where(key));
    }
  }

  private async getBody(key: string): Promise<NonNullable<GetObjectCommandOutput['Body']>> {
    const Key = this.objectKey(key);
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key }));
      if (response.Body === undefined) {
        throw new StorageError(StorageErrorCode.Io, `reading ${this.where(key)}: the response has no body`);
      }
      return response.Body;
    } catch (error) {
      throw wrapS3Error(error, 'reading', this.where(key));
    }
  }

  async get(key: string): Promise<Uint8Array> {
    const body = await this.getBody(key);
    try {
      return await body.transformToByteArray();
    } catch (error) {
      throw wrapS3Error(error, 'reading', this.where(key));
    }
  }

  async getStream(key: string): Promise<Readable> {
    const body = await this.getBody(key);
    if (!(body instanceof Readable)) {
      throw new StorageError(
        StorageErrorCode.Io,
        `reading ${this.where(key)}: the body is not a Node stream`,
      );
    }
    // A connection reset mid-body must reach the consumer as a coded, retryable error too.
    const out = new PassThrough();
    body.on('error', (error) => out.destroy(wrapS3Error(error, 'reading', this.where(key))));
    out.once('close', () => body.destroy());
    body.pipe(out);
    return out;
  }

  async exists(key: string): Promise<boolean> {
    return (await this.stat(key)) !== undefined;
  }

  async stat(key: string): Promise<ObjectStat | undefined> {
    const Key = this.objectKey(key);
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key }));
      return {
        size: head.ContentLength ?? 0,
        ...(head.ETag === undefined ? {} : { etag: head.ETag.replace(/^"|"$/g, '') }),
      };
    } catch (error) {
      const wrapped = wrapS3Error(error, 'checking', this.where(key));
      if (wrapped.code === StorageErrorCode.NotFound) {
        return undefined;
      }
      throw wrapped;
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    const folder = normalizePrefix(prefix);
    const base = this.location.prefix === '' ? '' : `${this.location.prefix}/`;
    const pages = paginateListObjectsV2(
      { client: this.client, pageSize: this.pageSize },
      { Bucket: this.location.bucket, Prefix: folder === '' ? base : `${base}${folder}/` },
    );
    try {
      for await (const page of pages) {
        for (const object of page.Contents ?? []) {
          const key = object.Key?.slice(base.length);
          // Console-made "folder" objects (`a/`) and other unaddressable names are not artifacts.
          if (key !== undefined && isValidKey(key)) {
            yield key;
          }
        }
      }
    } catch (error) {
      throw wrapS3Error(error, 'listing', `${JSON.stringify(folder)} (${this.url}/${folder})`);
    }
  }

  async delete(key: string): Promise<void> {
    const Key = this.objectKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key }));
    } catch (error) {
      throw wrapS3Error(error, 'deleting', this.where(key));
    }
  }

  close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }
}
