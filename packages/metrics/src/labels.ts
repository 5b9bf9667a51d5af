import { MetricsError, MetricsErrorCode } from './errors';

/** How a stage job ended; the `status` label of `stage_job_duration_seconds`. */
export const STAGE_JOB_STATUSES = ['completed', 'failed', 'skipped'] as const;
/** One of {@link STAGE_JOB_STATUSES}. */
export type StageJobStatus = (typeof STAGE_JOB_STATUSES)[number];

/** What happened to one item (image); the `outcome` label of `stage_items_total`. */
export const ITEM_OUTCOMES = ['processed', 'failed', 'skipped'] as const;
/** One of {@link ITEM_OUTCOMES}. */
export type ItemOutcome = (typeof ITEM_OUTCOMES)[number];

/** BullMQ job states reported by `queue_jobs` (the keys of BullMQ's `getJobCounts`). */
export const QUEUE_STATES = [
  'waiting',
  'active',
  'delayed',
  'completed',
  'failed',
  'paused',
  'prioritized',
  'waiting-children',
] as const;
/** One of {@link QUEUE_STATES}. */
export type QueueState = (typeof QUEUE_STATES)[number];

/** HTTP methods reported as themselves; any other method is reported as {@link OTHER_HTTP_METHOD}. */
export const HTTP_METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'OPTIONS',
  'TRACE',
  'CONNECT',
] as const;
/**
 * The `method` label value for non-standard methods (OpenTelemetry's convention). Node's HTTP parser
 * accepts WebDAV and other extension methods a client may send, and a metrics hook must not throw on
 * a request merely because of its method.
 */
export const OTHER_HTTP_METHOD = '_OTHER';

/** Longest free-form label value accepted; longer values are almost always ids, URLs or messages. */
export const MAX_LABEL_VALUE_LENGTH = 128;

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
const HEX_RUN = /[0-9a-f]{16,}/i;
const DIGITS = /^[0-9]+$/;

/**
 * Why a free-form label value is unacceptable, or `undefined` when it is fine. The rule (labels never
 * carry ids, because every distinct value is a new time series kept by Prometheus):
 * - empty, or longer than {@link MAX_LABEL_VALUE_LENGTH} characters;
 * - contains a UUID (8-4-4-4-12 hex digits, any case);
 * - contains a run of 16 or more hex digits (hashes, object ids, dash-less UUIDs);
 * - has a `/`-separated segment made only of digits (`/v1/runs/123`, or a bare `42`): pass the route
 *   template (`/v1/runs/:id`), not the URL.
 *
 * It is a heuristic: ids of other shapes (ULIDs, nanoids) pass it, which is what the per-metric series
 * cap of `createMetrics` is there to catch.
 */
export function labelValueProblem(value: string): string | undefined {
  if (value.length === 0) {
    return 'it is empty';
  }
  if (value.length > MAX_LABEL_VALUE_LENGTH) {
    return `it is ${value.length} characters long (at most ${MAX_LABEL_VALUE_LENGTH})`;
  }
  if (UUID.test(value)) {
    return 'it contains a UUID';
  }
  if (HEX_RUN.test(value)) {
    return 'it contains a run of 16 or more hex digits';
  }
  if (value.split('/').some((segment) => DIGITS.test(segment))) {
    return 'it has a digits-only path segment';
  }
  return undefined;
}

/**
 * Checks a free-form label value (stage, model, route, queue) with {@link labelValueProblem}.
 *
 * @throws MetricsError `METRICS_ERR_LABEL` naming the label, the value and the reason.
 */
export function checkFreeLabel(label: string, value: string): string {
  if (typeof value !== 'string') {
    throw new MetricsError(
      MetricsErrorCode.Label,
      `metric label ${label} must be a string, got ${typeof value}`,
    );
  }
  const problem = labelValueProblem(value);
  if (problem !== undefined) {
    throw new MetricsError(
      MetricsErrorCode.Label,
      `metric label ${label}=${JSON.stringify(value.slice(0, 200))} is rejected: ${problem}. Label values ` +
        'must come from a small fixed set (stage names, model roles such as clip.vision, route templates ' +
        'such as /v1/runs/:id, queue names), never ids',
    );
  }
  return value;
}

/**
 * Checks a label value against its closed set.
 *
 * @throws MetricsError `METRICS_ERR_LABEL` listing the allowed values.
 */
export function checkClosedLabel<T extends string>(label: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new MetricsError(
      MetricsErrorCode.Label,
      `metric label ${label}=${JSON.stringify(value)} is not allowed. Should be one of: ${allowed.join(', ')}`,
    );
  }
  return value as T;
}

/** The `method` label value: the upper-cased method if standard, else {@link OTHER_HTTP_METHOD}. */
export function httpMethodLabel(method: string): string {
  const upper = method.toUpperCase();
  return (HTTP_METHODS as readonly string[]).includes(upper) ? upper : OTHER_HTTP_METHOD;
}

/**
 * The `status_code` label value.
 *
 * @throws MetricsError `METRICS_ERR_LABEL` unless the code is an integer in 100..599.
 */
export function httpStatusLabel(statusCode: number): string {
  if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599) {
    throw new MetricsError(
      MetricsErrorCode.Label,
      `metric label status_code=${String(statusCode)} is not allowed. Should be an integer HTTP status in 100..599`,
    );
  }
  return String(statusCode);
}
