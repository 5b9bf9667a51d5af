/**
 * The API's coded errors. Every error response has the body `{ error: { code, message, details?,
 * requestId } }` with a stable `code`: the platform codes of `@synood/contracts` (`API_ERR_*`,
 * `SPEC_ERR_INVALID`, …) plus the few HTTP-level ones below that the contracts do not list.
 */
import { ERROR_CODES, type ErrorCode } from '@synood/contracts';
import { z } from 'zod';

/** HTTP-level codes the API adds to the platform's {@link ERROR_CODES}. */
export const API_HTTP_CODES = {
  /** A body, upload or fetched image is larger than the configured limit. */
  API_ERR_PAYLOAD_TOO_LARGE: { status: 413 },
  /** The request's content type is not one the route accepts. */
  API_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415 },
  /** An image URL could not be fetched (per-image only: it never fails a whole scoring request). */
  API_ERR_URL_FETCH: { status: 422 },
} as const;

/** Every code an API error body can carry. */
export type ApiErrorCode = ErrorCode | keyof typeof API_HTTP_CODES;

/** The HTTP status of a code. */
export function statusOf(code: ApiErrorCode): number {
  return code in API_HTTP_CODES
    ? API_HTTP_CODES[code as keyof typeof API_HTTP_CODES].status
    : ERROR_CODES[code as ErrorCode].status;
}

/** One field-level problem of a rejected request: the field's dotted path and what is wrong. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** An error the API answers with its own status and code (4xx; 5xx ones are masked anyway). */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number;
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.status = statusOf(code);
  }
}

/** The `error` member of every error response. */
export const errorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.unknown().optional(),
    requestId: z.string(),
  }),
});

/** An error response body. */
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** Builds an error response body. */
export function errorBody(code: string, message: string, requestId: string, details?: unknown): ErrorBody {
  return { error: { code, message, ...(details === undefined ? {} : { details }), requestId } };
}

/** Field issues of a zod error, paths dotted (`stages.synthesis.size`), `(root)` for the value itself. */
export function zodIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message }));
}

/** `path: message; …` for messages. */
export function describeIssues(issues: readonly FieldIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('; ');
}

/** A short description of a thrown value for logs and per-item errors. */
export function describeError(error: unknown): string {
  if (
    typeof error === 'object' &&
    error !== null &&
    'message' in error &&
    typeof error.message === 'string'
  ) {
    return error.message;
  }
  return String(error);
}

/** The platform code (`*_ERR_*`) of a thrown value, if it carries one. */
export function platformCode(error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  return typeof code === 'string' && /^[A-Z][A-Z0-9]*_ERR_[A-Z0-9_]+$/.test(code) ? code : undefined;
}
