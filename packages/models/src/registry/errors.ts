/**
 * Stable error codes of the model registry. Callers branch on `code` (and `retryable`), never on message
 * text: messages name the role, file, URL or catalog field at fault and say how to fix it.
 */
export const ModelRegistryErrorCode = {
  /** A catalog file is missing, not JSON, or fails the schema; the message names the field. */
  Catalog: 'MODELS_ERR_CATALOG',
  /** A file's source URI is malformed or uses an unsupported scheme; the message names the entry. */
  Source: 'MODELS_ERR_SOURCE',
  /** A role is not one of the known roles, is absent from the catalog, or has no file of that name. */
  Role: 'MODELS_ERR_ROLE',
  /** The bytes obtained do not hash to the expected sha256; nothing was moved into the cache. */
  Checksum: 'MODELS_ERR_CHECKSUM',
  /** The bytes obtained are not the size the catalog states. */
  Size: 'MODELS_ERR_SIZE',
  /** Offline mode was asked for and files are missing from the cache. */
  Offline: 'MODELS_ERR_OFFLINE',
  /** The server answered with an error status (5xx and 429 are retryable, other 4xx are not). */
  Http: 'MODELS_ERR_HTTP',
  /** The connection failed or broke off mid-transfer; retryable. */
  Network: 'MODELS_ERR_NETWORK',
  /** The source has no such file (HTTP 404, a missing `file://` path or S3 key). */
  NotFound: 'MODELS_ERR_NOT_FOUND',
  /** The lock file `synood-models.lock.json` is unreadable or malformed. */
  Lock: 'MODELS_ERR_LOCK',
  /** Reading or writing the cache folder failed. */
  Io: 'MODELS_ERR_IO',
  /** An option is out of range (concurrency, retries, endpoint). */
  Options: 'MODELS_ERR_OPTIONS',
  /** The caller's AbortSignal fired; partial downloads are kept and resume next time. */
  Aborted: 'MODELS_ERR_ABORTED',
  /** Several files failed; `errors` holds each file's own error. */
  Pull: 'MODELS_ERR_PULL',
} as const;

/** One of the {@link ModelRegistryErrorCode} values. */
export type ModelRegistryErrorCode = (typeof ModelRegistryErrorCode)[keyof typeof ModelRegistryErrorCode];

/** Error thrown by the model registry and downloader; the underlying error, if any, is `cause`. */
export class ModelRegistryError extends Error {
  override readonly name: string = 'ModelRegistryError';
  /** True when the same operation may succeed if repeated (network failures, HTTP 5xx and 429). */
  readonly retryable: boolean;
  /** For `MODELS_ERR_PULL`: the error of each file that failed, in catalog order. */
  readonly errors: readonly ModelRegistryError[];

  constructor(
    readonly code: ModelRegistryErrorCode,
    message: string,
    options: ErrorOptions & { retryable?: boolean; errors?: readonly ModelRegistryError[] } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable ?? false;
    this.errors = options.errors ?? [];
  }
}

/** The errno `code` of a Node system error, if it has one (duck-typed: errors may come from another realm). */
export function errnoOf(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = error.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** A one-line description of an unknown thrown value, following `cause` chains (fetch hides the socket error there). */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    if (typeof current === 'object' && 'message' in current && typeof current.message === 'string') {
      const code = errnoOf(current);
      parts.push(
        code === undefined || current.message.includes(code)
          ? current.message
          : `${current.message} (${code})`,
      );
      current = 'cause' in current ? current.cause : undefined;
    } else {
      parts.push(primitiveText(current));
      break;
    }
  }
  return parts.join(': ');
}

function primitiveText(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
    case 'bigint':
      return value.toString();
    case 'symbol':
      return value.toString();
    case 'undefined':
      return 'undefined';
    case 'object':
    case 'function':
      return Object.prototype.toString.call(value);
  }
}

/** True for a {@link ModelRegistryError} (duck-typed on `code`, so it also works across realms). */
export function isModelRegistryError(error: unknown): error is ModelRegistryError {
  return (
    typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    typeof error.code === 'string' &&
    error.code.startsWith('MODELS_ERR_') &&
    'retryable' in error
  );
}
