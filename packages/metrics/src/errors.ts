/**
 * Stable error codes of `@synood/metrics`. Callers branch on `code`, never on message text: the
 * messages name the label, option or argument and say what was expected.
 */
export const MetricsErrorCode = {
  /**
   * A label value is outside its closed set, or a free-form label value looks like an id (UUID, long hex
   * run, digits-only path segment), is empty or is too long. See {@link checkFreeLabel}.
   */
  Label: 'METRICS_ERR_LABEL',
  /** A metric already holds its maximum number of label combinations (a cardinality leak). */
  Cardinality: 'METRICS_ERR_CARDINALITY',
  /** A bad option or observed value: prefix, default labels, negative or non-finite numbers, time going backwards. */
  Argument: 'METRICS_ERR_ARGUMENT',
  /** Two registries to combine define the same metric name. */
  Merge: 'METRICS_ERR_MERGE',
} as const;

/** One of the {@link MetricsErrorCode} values. */
export type MetricsErrorCode = (typeof MetricsErrorCode)[keyof typeof MetricsErrorCode];

/** Error thrown by `@synood/metrics`; `code` is stable. */
export class MetricsError extends Error {
  override readonly name: string = 'MetricsError';

  constructor(
    readonly code: MetricsErrorCode,
    message: string,
  ) {
    super(message);
  }
}
