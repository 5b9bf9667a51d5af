/**
 * The only importer of bullmq (design §3, §6): Redis connection settings, the per-stage job-option
 * table, run flows with idempotent enqueue, resume and cancel, the stage worker harness (payload
 * validation, error sorting, metrics, cancellation, graceful shutdown, dependency-aware pausing) and
 * queue depth for the metrics.
 * @packageDocumentation
 */
export {
  QueueError,
  QueueErrorCode,
  TRANSIENT_ERRNO_CODES,
  classifyError,
  codedMessage,
  describeError,
  errorCode,
  parseFailedReason,
  type ErrorClass,
} from './errors';
export {
  DEFAULT_PREFIX,
  DEFAULT_REDIS_URL,
  checkPrefix,
  parseRedisUrl,
  pingRedis,
  redactRedisUrl,
  redisOptions,
  resolveRedisOptions,
  type ConnectionRole,
  type PingOptions,
  type QueueConnection,
  type RedisEndpoint,
  type RedisPing,
} from './connection';
export type { RedisOptions } from 'bullmq';
export {
  GPU_STAGES,
  STAGE_OPTIONS,
  allStageOptions,
  jobOptions,
  stageOptions,
  workerSettings,
  type BackoffSetting,
  type KeepSetting,
  type StageOptions,
  type StageOptionsOverride,
  type StageOptionsOverrides,
  type StageWorkerSettings,
} from './options';
export { silentLogger, withFields, type QueueLogger } from './logger';
export { CONTROL_QUEUE, ControlEvent } from './control';
export {
  enqueueStageJob,
  openQueues,
  queueDepths,
  validatePayload,
  type EnqueueStageJobOptions,
  type OpenQueuesOptions,
  type QueueDepth,
  type RunQueues,
} from './queues';
export {
  FLOW_STAGES,
  MAX_SHARDS,
  buildRunFlow,
  cancelRun,
  enqueueRun,
  flowTree,
  resumeRun,
  runJobRefs,
  runJobs,
  type BuildRunFlowOptions,
  type CancelRunResult,
  type DoneCheck,
  type EnqueueRunResult,
  type FlowStage,
  type ResumeRunOptions,
  type ResumeRunResult,
  type RunFlowPayloads,
  type RunIds,
  type RunJob,
  type RunJobRef,
  type RunRef,
} from './flow';
export {
  startStageWorker,
  type CloseOptions,
  type DependencyCheck,
  type PayloadOf,
  type StageContext,
  type StageHandler,
  type StageJobEvent,
  type StageJobResult,
  type StageProgress,
  type StageWorker,
  type StageWorkerOptions,
} from './harness';
