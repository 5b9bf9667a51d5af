/**
 * Stable error codes of the CLIP adapters. Callers branch on `code`, never on message text: messages name
 * the file, model input or option at fault and say what was expected.
 */
export const ClipErrorCode = {
  /** A `tokenizer.json` is missing, not JSON, not a CLIP-style BPE tokenizer, or lacks its special tokens. */
  Tokenizer: 'MODELS_ERR_CLIP_TOKENIZER',
  /** A model lacks the expected inputs or outputs; the message lists what the model has. */
  ModelIo: 'MODELS_ERR_CLIP_MODEL_IO',
  /** A model output has an unexpected element type or shape. */
  Output: 'MODELS_ERR_CLIP_OUTPUT',
  /** An image file cannot be read (missing, unreadable); undecodable bytes are `VISION_ERR_DECODE`. */
  ImageRead: 'MODELS_ERR_CLIP_IMAGE_READ',
  /** An option or argument is out of range (batch size, context length, pad id, empty input). */
  Argument: 'MODELS_ERR_CLIP_ARGUMENT',
  /** The encoder was used after `release()`. */
  Released: 'MODELS_ERR_CLIP_RELEASED',
} as const;

/** One of the {@link ClipErrorCode} values. */
export type ClipErrorCode = (typeof ClipErrorCode)[keyof typeof ClipErrorCode];

/** Error thrown by the CLIP tokenizer and encoders; the underlying error, if any, is `cause`. */
export class ClipError extends Error {
  override readonly name: string = 'ClipError';

  constructor(
    readonly code: ClipErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Throws `MODELS_ERR_CLIP_ARGUMENT` with `message` unless `ok`. */
export function requireClipArg(ok: boolean, message: string): asserts ok {
  if (!ok) {
    throw new ClipError(ClipErrorCode.Argument, message);
  }
}
