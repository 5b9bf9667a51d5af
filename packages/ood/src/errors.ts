/** Stable error codes of the method's math; callers map them to HTTP statuses or CLI exits. */
export const OOD_ERROR_CODES = {
  badArgument: 'OOD_ERR_BAD_ARGUMENT',
  shape: 'OOD_ERR_SHAPE',
  bundle: 'OOD_ERR_BUNDLE',
} as const;

/** A coded error raised by the method's math on bad input; the message names the argument. */
export class OodError extends Error {
  override readonly name = 'OodError';
  constructor(
    readonly code: (typeof OOD_ERROR_CODES)[keyof typeof OOD_ERROR_CODES],
    message: string,
  ) {
    super(message);
  }
}

/** Throws `OOD_ERR_BAD_ARGUMENT` unless `ok`. */
export function require_(ok: boolean, message: string): asserts ok {
  if (!ok) {
    throw new OodError(OOD_ERROR_CODES.badArgument, message);
  }
}
