/**
 * Stable error codes of the worker services (this file is shared verbatim by the captioner, synthesizer,
 * encoder and trainer). Callers and the queue harness branch on `code`, never on message text: messages
 * name the key, model file, stage or variable at fault and say what to do.
 */
export const WorkerErrorCode = {
  /**
   * A stage input is missing or malformed: the run record, a shard's item list, an upstream artifact.
   * Permanent: a retry reads the same bytes. The message names the key and the stage that writes it.
   */
  Input: 'WORKER_ERR_INPUT',
  /** A model file the service needs is not on disk; the message lists every missing file. */
  ModelMissing: 'WORKER_ERR_MODEL_MISSING',
  /** The handler registry does not match the stages the service consumes (a gap or a duplicate). */
  Handlers: 'WORKER_ERR_HANDLERS',
  /** A setting of the service or of the run spec cannot be honoured (e.g. a caption backend without an endpoint). */
  Config: 'WORKER_ERR_CONFIG',
} as const;

/** One of the {@link WorkerErrorCode} values. */
export type WorkerErrorCode = (typeof WorkerErrorCode)[keyof typeof WorkerErrorCode];

/**
 * Error thrown by a worker service. `retryable` is false for every code: each one describes a state a
 * retry cannot change, so the harness fails the job at once instead of burning its attempts.
 */
export class WorkerError extends Error {
  override readonly name: string = 'WorkerError';
  /** Always false (see the class comment); read by the queue harness. */
  readonly retryable = false;

  constructor(
    readonly code: WorkerErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Whether `error` carries the given `code` (duck-typed: errors from other realms fail `instanceof`). */
export function hasCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

/** `{code, message}` of a thrown value for item failures; uncoded values get `fallback`. */
export function codeAndMessage(error: unknown, fallback: string): { code: string; message: string } {
  if (typeof error === 'object' && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    return {
      code: typeof code === 'string' && /^[A-Z][A-Z0-9]*_ERR_[A-Z0-9_]+$/.test(code) ? code : fallback,
      message: typeof message === 'string' ? message : JSON.stringify(error),
    };
  }
  return { code: fallback, message: String(error) };
}
