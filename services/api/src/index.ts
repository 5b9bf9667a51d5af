/**
 * The synood REST API (design §7): runs (submit, status, list, cancel, resume, artifacts, report),
 * published detectors (metadata, scoring by upload or URL), the model catalog, health, readiness,
 * metrics, OpenAPI at `/docs` and bull-board at `/admin/queues`; the plan stage runs in this process.
 * @packageDocumentation
 */
export { type ApiContext, type ApiDeps, type ApiOptions, buildApp } from './app';
export { type ApiConfig, apiEnvShape, loadApiConfig } from './config';
export { type OpenedApiDeps, apiOptionsOf, catalogVersions, openApiDeps } from './deps';
export { type RunningApi, type StartApiOptions, main, startApi } from './server';
export {
  API_HTTP_CODES,
  ApiError,
  type ApiErrorCode,
  type ErrorBody,
  type FieldIssue,
  errorBodySchema,
} from './errors';
export {
  type ComputedPlan,
  type PlanDeps,
  type PlanFailure,
  computePlan,
  createPlanHandler,
  flowConfigHashes,
  planKey,
  shardItemsKey,
} from './plan';
export { type RunConfigHashes, runConfigHashes } from './runs/hashes';
export { RUN_INDEX_PREFIX, readRunRecord, runIdOf } from './runs/records';
export { type CreateRunResult, type RunArtifact, type RunServiceDeps, RunService } from './runs/service';
export {
  DETECTOR_FILES,
  type DetectorInfo,
  DetectorService,
  type DetectorServiceDeps,
  type ScoreInput,
  type ScoreResponse,
  type ScoreResult,
} from './detectors/service';
export { type UrlFetchOptions, fetchImage, isPrivateAddress } from './detectors/fetch';
