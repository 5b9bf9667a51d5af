export {
  BETA_SCHEDULES,
  NoiseSchedule,
  SD_NOISE_SCHEDULE,
  betasOf,
  cumulativeAlphas,
  leadingTimesteps,
  truncateTimesteps,
  type BetaSchedule,
  type NoiseScheduleConfig,
  type TruncatedTimesteps,
} from './schedule';
export { SCHEDULER_KINDS, type DiffusionScheduler, type SchedulerKind } from './scheduler';
export { PndmScheduler, pndmPrevSample } from './pndm';
export { DdimScheduler, ddimPrevSample } from './ddim';
export { createScheduler, strengthTimesteps } from './factory';
