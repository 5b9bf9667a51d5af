/**
 * Stable error codes of `@synood/captioning`. Callers branch on `code` (and `retryable`), never on message
 * text: messages name the image, file, option or endpoint at fault and say what was expected.
 */
export const CaptionErrorCode = {
  /** An option or argument is out of range (a count, a timeout, an empty class name, duplicate ids). */
  BadArgument: 'CAPTION_ERR_BAD_ARGUMENT',
  /**
   * The captioning endpoint is down: its circuit breaker is open (or a half-open probe failed). Retryable:
   * the caption stage pauses and retries the shard later instead of failing its images.
   */
  Unavailable: 'CAPTION_ERR_UNAVAILABLE',
  /** The caller's AbortSignal fired (a cancelled run); nothing more is sent. */
  Aborted: 'CAPTION_ERR_ABORTED',
  /** Per image: the request for this image timed out on every attempt. */
  Timeout: 'CAPTION_ERR_TIMEOUT',
  /** Per image: the endpoint answered 429 on every attempt. */
  RateLimited: 'CAPTION_ERR_RATE_LIMITED',
  /** Per image: the endpoint answered 5xx on every attempt. */
  Server: 'CAPTION_ERR_SERVER',
  /** Per image: the connection failed (refused, reset, DNS) on every attempt. */
  Network: 'CAPTION_ERR_NETWORK',
  /** Per image: the endpoint rejected the request (4xx other than 429: bad request, auth, unknown model). */
  HttpStatus: 'CAPTION_ERR_HTTP_STATUS',
  /** Per image: the response is not chat-completions JSON (malformed JSON, no choices, no message). */
  BadResponse: 'CAPTION_ERR_BAD_RESPONSE',
  /** Per image: the model answered with empty text. */
  EmptyAnswer: 'CAPTION_ERR_EMPTY_ANSWER',
  /** Per image: nothing usable was left after parsing the answer (clean mode), or no tag was found. */
  NoElements: 'CAPTION_ERR_NO_ELEMENTS',
  /** Per image: the image file is missing or unreadable. */
  ImageRead: 'CAPTION_ERR_IMAGE_READ',
  /** Per image: the bytes are not a JPEG, PNG, WebP or GIF image (or do not decode). */
  ImageFormat: 'CAPTION_ERR_IMAGE_FORMAT',
  /** The local model folder is missing or incomplete; the message lists every missing file. */
  ModelMissing: 'CAPTION_ERR_MODEL_MISSING',
  /** The local model's `config.json` names an architecture the local backend does not run. */
  ModelUnsupported: 'CAPTION_ERR_MODEL_UNSUPPORTED',
  /** `@huggingface/transformers` could not load the local model (bad export, wrong dtype files). */
  ModelLoad: 'CAPTION_ERR_MODEL_LOAD',
  /** Per image: in-process generation failed. */
  Generate: 'CAPTION_ERR_GENERATE',
} as const;

/** One of the {@link CaptionErrorCode} values. */
export type CaptionErrorCode = (typeof CaptionErrorCode)[keyof typeof CaptionErrorCode];

/** Codes a retry of the same work can fix (the queue harness retries them with backoff). */
const RETRYABLE: ReadonlySet<CaptionErrorCode> = new Set([CaptionErrorCode.Unavailable]);

/** Options of {@link CaptionError} beyond the standard `cause`. */
export interface CaptionErrorOptions extends ErrorOptions {
  /** For `CAPTION_ERR_UNAVAILABLE`: when the endpoint may be tried again, in ms from now. */
  retryAfterMs?: number;
}

/**
 * Error thrown by `@synood/captioning`; `code` is stable, `retryable` tells the queue harness whether to
 * retry (only `CAPTION_ERR_UNAVAILABLE` is), an underlying error (if any) is `cause`.
 */
export class CaptionError extends Error {
  override readonly name: string = 'CaptionError';
  /** Whether retrying the same work later can succeed. */
  readonly retryable: boolean;
  /** For `CAPTION_ERR_UNAVAILABLE`: the breaker's remaining cool-down, in ms. */
  readonly retryAfterMs: number | undefined;

  constructor(
    readonly code: CaptionErrorCode,
    message: string,
    options: CaptionErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = RETRYABLE.has(code);
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Throws `CAPTION_ERR_BAD_ARGUMENT` with `message` unless `ok`. */
export function requireArg(ok: boolean, message: string): asserts ok {
  if (!ok) {
    throw new CaptionError(CaptionErrorCode.BadArgument, message);
  }
}

/** A per-image failure as recorded in a caption record: the code and a one-line message. */
export interface CaptionFailure {
  readonly code: string;
  readonly message: string;
}

/** The `{code, message}` of a thrown value; uncoded values become `fallback`. */
export function failureOf(err: unknown, fallback: CaptionErrorCode): CaptionFailure {
  // Duck-typed: errors from another realm (jest's VM context) or package fail `instanceof`.
  if (typeof err === 'object' && err !== null) {
    const { code, message } = err as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && /^[A-Z][A-Z0-9]*_ERR_[A-Z0-9_]+$/.test(code)) {
      return { code, message: typeof message === 'string' ? message : `${code} (no message)` };
    }
    if (typeof message === 'string') {
      return { code: fallback, message };
    }
  }
  return { code: fallback, message: String(err) };
}

/** Whether `err` is a {@link CaptionError} (duck-typed) with the given code. */
export function hasCode(err: unknown, code: CaptionErrorCode): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
