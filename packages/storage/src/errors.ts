/**
 * Stable error codes of the storage adapter. Callers branch on `code` (and `retryable`), never on
 * message text: the messages name the key, URL or line and say what was expected.
 */
export const StorageErrorCode = {
  /** A key or prefix is not a POSIX-style relative path (empty, `..`, leading `/`, backslash, …). */
  Key: 'STORAGE_ERR_KEY',
  /** The key does not exist (or names a directory rather than an object). */
  NotFound: 'STORAGE_ERR_NOT_FOUND',
  /** The backend is unreachable or overloaded (5xx, throttling, network, timeouts); retry later. */
  Unavailable: 'STORAGE_ERR_UNAVAILABLE',
  /** Credentials are missing, invalid or lack permission for the operation. */
  Access: 'STORAGE_ERR_ACCESS',
  /** A store URL has an unsupported scheme or a malformed bucket/path. */
  Url: 'STORAGE_ERR_URL',
  /** A store option is out of range (part size, queue size, page size, half-given credentials). */
  Config: 'STORAGE_ERR_CONFIG',
  /** A manifest, done-marker or class-name file is malformed; the message names the line or field. */
  Manifest: 'STORAGE_ERR_MANIFEST',
  /** Any other failure of the backend or of an upload's body stream; not retried automatically. */
  Io: 'STORAGE_ERR_IO',
} as const;

/** One of the {@link StorageErrorCode} values. */
export type StorageErrorCode = (typeof StorageErrorCode)[keyof typeof StorageErrorCode];

/** Error thrown by `@synood/storage`; the underlying SDK or file-system error, if any, is `cause`. */
export class StorageError extends Error {
  override readonly name: string = 'StorageError';
  /**
   * True when the same call may succeed later (only for `STORAGE_ERR_UNAVAILABLE`): the queue layer
   * retries with backoff or pauses consumption instead of failing the item.
   */
  readonly retryable: boolean;

  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.retryable = code === StorageErrorCode.Unavailable;
  }
}

/** Node errno codes that mean "try again later" for local file systems as well as sockets. */
export const TRANSIENT_ERRNO_CODES: readonly string[] = [
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAGAIN',
  'EBUSY',
  'EMFILE',
  'ENFILE',
];

/** The errno `code` of a Node system error, if it has one. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = error.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** A short description of an unknown thrown value for messages. */
export function describeError(error: unknown): string {
  // Duck-typed rather than `instanceof Error`: errors made by Node internals belong to another realm
  // when this code runs inside a vm context (jest), and `instanceof` is false for them there.
  if (
    typeof error === 'object' &&
    error !== null &&
    'message' in error &&
    typeof error.message === 'string'
  ) {
    const name = 'name' in error && typeof error.name === 'string' ? error.name : 'Error';
    const code = errnoCode(error);
    return code === undefined || error.message.includes(code)
      ? `${name}: ${error.message}`
      : `${name} (${code}): ${error.message}`;
  }
  return String(error);
}
