/**
 * Platform-level error codes shared by the API, the workers and the CLI (fastify's `FST_ERR_*` style).
 * Package-level codes (`OOD_ERR_*`, `ONNX_ERR_*`, `STORAGE_ERR_*`, …) stay with their packages; these
 * are the ones a REST client or a run report sees.
 */
export const ERROR_CODES = {
  API_ERR_VALIDATION: { status: 400, retryable: false, summary: 'the request body or query is invalid' },
  API_ERR_UNAUTHORIZED: { status: 401, retryable: false, summary: 'a valid API key is required' },
  API_ERR_NOT_FOUND: { status: 404, retryable: false, summary: 'no such run, detector or artifact' },
  API_ERR_CONFLICT: {
    status: 409,
    retryable: false,
    summary: 'the resource is not in a state that allows this',
  },
  API_ERR_RATE_LIMITED: { status: 429, retryable: true, summary: 'too many submissions; retry later' },
  API_ERR_UNAVAILABLE: { status: 503, retryable: true, summary: 'a dependency (Redis, storage) is down' },
  API_ERR_INTERNAL: { status: 500, retryable: false, summary: 'an internal error; details are in the logs' },
  SPEC_ERR_INVALID: { status: 400, retryable: false, summary: 'the run spec is invalid' },
  JOB_ERR_PAYLOAD: {
    status: 500,
    retryable: false,
    summary: 'a job payload failed validation in the worker',
  },
  JOB_ERR_NO_HANDLER: { status: 500, retryable: false, summary: 'no handler is registered for a job name' },
  RUN_ERR_STAGE_FAILED: { status: 500, retryable: false, summary: 'a stage failed permanently' },
  RUN_ERR_CANCELLED: { status: 409, retryable: false, summary: 'the run was cancelled' },
  ITEM_ERR_IMAGE: { status: 422, retryable: false, summary: 'one image could not be processed' },
} as const;

/** A platform error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The JSON body of every API error. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /** Field-level details for validation errors. */
  issues?: { path: string; message: string }[];
}

/** An error carrying a platform code, with the HTTP status and retry policy looked up from it. */
export class SynoodError extends Error {
  override readonly name = 'SynoodError';
  readonly status: number;
  readonly retryable: boolean;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly issues?: { path: string; message: string }[],
  ) {
    super(message);
    this.status = ERROR_CODES[code].status;
    this.retryable = ERROR_CODES[code].retryable;
  }

  /** The body the API returns for this error. */
  toBody(): ErrorBody {
    return { code: this.code, message: this.message, ...(this.issues ? { issues: this.issues } : {}) };
  }
}
