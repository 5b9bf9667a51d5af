/**
 * Stable error codes of `@synood/queue`, and the rule that sorts a handler's error into "retry with
 * backoff" or "fail the job now". Callers branch on `code`, never on message text: the messages name
 * the option, URL, run or job and say what was expected.
 */
export const QueueErrorCode = {
  /** A Redis URL is malformed or has an unsupported scheme, port or database number. */
  Url: 'QUEUE_ERR_URL',
  /** An option is out of range: the stage option table, a prefix, a concurrency, a timeout. */
  Options: 'QUEUE_ERR_OPTIONS',
  /** A job payload built by the producer fails its contracts schema (caught before enqueueing). */
  Payload: 'QUEUE_ERR_PAYLOAD',
  /** Run flow arguments are invalid: run id, shard count, config hashes, items keys. */
  Flow: 'QUEUE_ERR_FLOW',
  /** Redis did not answer within the connect timeout. */
  Unavailable: 'QUEUE_ERR_UNAVAILABLE',
  /** `resumeRun` found jobs of the run still active; cancel the run or wait for them first. */
  RunActive: 'QUEUE_ERR_RUN_ACTIVE',
  /** A stage handler returned a value that is not a valid `StageResult`. */
  Result: 'QUEUE_ERR_RESULT',
  /** The worker is shutting down: the reason given to an aborted handler whose job goes back to the queue. */
  Shutdown: 'QUEUE_ERR_SHUTDOWN',
} as const;

/** One of the {@link QueueErrorCode} values. */
export type QueueErrorCode = (typeof QueueErrorCode)[keyof typeof QueueErrorCode];

/** Error thrown by `@synood/queue`; `code` is stable, an underlying error (if any) is `cause`. */
export class QueueError extends Error {
  override readonly name: string = 'QueueError';

  constructor(
    readonly code: QueueErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * Node errno codes that mean "the other side is not reachable right now": sockets, DNS and
 * descriptor exhaustion. A handler failing with one of them is retried with backoff.
 */
export const TRANSIENT_ERRNO_CODES: readonly string[] = Object.freeze([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
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
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/** A coded error of this platform (`JOB_ERR_PAYLOAD`, `VISION_ERR_DECODE`, …): upper-case, `_ERR_` inside. */
const PLATFORM_CODE = /^[A-Z][A-Z0-9]*_ERR_[A-Z0-9_]+$/;

/** How a failed job attempt is treated. */
export type ErrorClass = 'transient' | 'permanent';

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null && name in value
    ? (value as Record<string, unknown>)[name]
    : undefined;
}

/**
 * Sorts an error thrown by a stage handler, in this order:
 * 1. BullMQ's `UnrecoverableError` (by name) is permanent;
 * 2. an error with a boolean `retryable` (`SynoodError`, `StorageError`) follows it;
 * 3. an errno code from {@link TRANSIENT_ERRNO_CODES}, on the error or anywhere on its `cause` chain,
 *    is transient (a storage or model server blip);
 * 4. any other platform-coded error (`*_ERR_*`, e.g. `VISION_ERR_DECODE`) is permanent: coded errors
 *    report bad input or bad config, which a retry cannot fix;
 * 5. anything else (an uncoded `Error`, an allocation failure) is transient, BullMQ's default, bounded
 *    by the stage's attempts.
 *
 * Duck-typed rather than `instanceof`, so errors from another realm (jest's vm, worker threads) or
 * another copy of a package sort the same way.
 */
export function classifyError(error: unknown): ErrorClass {
  if (field(error, 'name') === 'UnrecoverableError') {
    return 'permanent';
  }
  const retryable = field(error, 'retryable');
  if (typeof retryable === 'boolean') {
    return retryable ? 'transient' : 'permanent';
  }
  const seen = new Set<unknown>();
  for (let e: unknown = error; e !== undefined && e !== null && !seen.has(e); e = field(e, 'cause')) {
    seen.add(e);
    const code = field(e, 'code');
    if (typeof code === 'string' && TRANSIENT_ERRNO_CODES.includes(code)) {
      return 'transient';
    }
  }
  const code = field(error, 'code');
  if (typeof code === 'string' && PLATFORM_CODE.test(code)) {
    return 'permanent';
  }
  return 'transient';
}

/** The platform code of an error (`code` when it is a `*_ERR_*` string), if any. */
export function errorCode(error: unknown): string | undefined {
  const code = field(error, 'code');
  return typeof code === 'string' && PLATFORM_CODE.test(code) ? code : undefined;
}

/** A one-line description of a thrown value, for failed reasons and logs. */
export function describeError(error: unknown): string {
  const message = field(error, 'message');
  if (typeof message === 'string') {
    const name = field(error, 'name');
    return `${typeof name === 'string' ? name : 'Error'}: ${message}`;
  }
  return String(error);
}

/**
 * Formats a coded failure the way the harness writes BullMQ's `failedReason`: `CODE: message`, so the
 * API can report the code of a failed stage with {@link parseFailedReason}.
 */
export function codedMessage(code: string, message: string): string {
  return `${code}: ${message}`;
}

/**
 * Splits a job's `failedReason` written by the harness (`CODE: message`) into code and message; a
 * reason without a leading platform code (a stalled job, a child failure relayed by BullMQ) has no code.
 */
export function parseFailedReason(reason: string): { code?: string; message: string } {
  const colon = reason.indexOf(': ');
  if (colon > 0) {
    const code = reason.slice(0, colon);
    if (PLATFORM_CODE.test(code)) {
      return { code, message: reason.slice(colon + 2) };
    }
  }
  return { message: reason };
}
