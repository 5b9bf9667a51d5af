/**
 * Stable error codes of `@synood/diffusion`. Callers branch on `code`, never on message text: the messages
 * name the option, model input or output at fault and say what was expected.
 */
export const DiffusionErrorCode = {
  /** An option or argument is out of range (steps, strength, sizes, seeds, batch contents). */
  Argument: 'DIFFUSION_ERR_ARGUMENT',
  /** A scheduler was used out of order (a timestep outside the schedule, a step before `setTimesteps`). */
  Scheduler: 'DIFFUSION_ERR_SCHEDULER',
  /** A model does not have the inputs or outputs its role needs, or they have unusable types or dims. */
  Model: 'DIFFUSION_ERR_MODEL',
  /** A model produced values of an unexpected shape or non-finite values. */
  Output: 'DIFFUSION_ERR_OUTPUT',
} as const;

/** One of the {@link DiffusionErrorCode} values. */
export type DiffusionErrorCode = (typeof DiffusionErrorCode)[keyof typeof DiffusionErrorCode];

/** Error thrown by `@synood/diffusion`; `code` is stable, an underlying error (if any) is `cause`. */
export class DiffusionError extends Error {
  override readonly name: string = 'DiffusionError';

  constructor(
    readonly code: DiffusionErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Throws `DIFFUSION_ERR_ARGUMENT` with `message` unless `ok`. */
export function requireArg(ok: boolean, message: string): asserts ok {
  if (!ok) {
    throw new DiffusionError(DiffusionErrorCode.Argument, message);
  }
}
