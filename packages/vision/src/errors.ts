/**
 * Stable error codes of `@synood/vision`. Callers branch on `code`, never on message text: the messages
 * name the file or argument and say what was expected, and may change.
 */
export const VisionErrorCode = {
  /** The bytes are not an image sharp can decode (corrupt, truncated, empty, unsupported format). */
  Decode: 'VISION_ERR_DECODE',
  /** sharp failed to encode pixels (JPEG/PNG). */
  Encode: 'VISION_ERR_ENCODE',
  /** An argument is out of range: sizes, quality, mean/std, pixel buffer length. */
  BadArgument: 'VISION_ERR_BAD_ARGUMENT',
  /** Images that must share a size (one NCHW batch) do not. */
  Shape: 'VISION_ERR_SHAPE',
} as const;

/** One of the {@link VisionErrorCode} values. */
export type VisionErrorCode = (typeof VisionErrorCode)[keyof typeof VisionErrorCode];

/** Error thrown by `@synood/vision`; `code` is stable, the underlying sharp error (if any) is `cause`. */
export class VisionError extends Error {
  override readonly name: string = 'VisionError';

  constructor(
    readonly code: VisionErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Throws `VISION_ERR_BAD_ARGUMENT` with `message` unless `ok`. */
export function requireArg(ok: boolean, message: string): asserts ok {
  if (!ok) {
    throw new VisionError(VisionErrorCode.BadArgument, message);
  }
}
