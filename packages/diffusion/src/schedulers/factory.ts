/**
 * @file Schedulers by name.
 */
import { requireArg } from '../errors';
import { DdimScheduler } from './ddim';
import { PndmScheduler } from './pndm';
import { type NoiseScheduleConfig, type TruncatedTimesteps, truncateTimesteps } from './schedule';
import { type DiffusionScheduler, SCHEDULER_KINDS, type SchedulerKind } from './scheduler';

/**
 * A scheduler by name, set to `numInferenceSteps`.
 *
 * @throws DiffusionError `DIFFUSION_ERR_ARGUMENT` for an unknown kind, a bad step count or config.
 */
export function createScheduler(
  kind: SchedulerKind,
  numInferenceSteps: number,
  config?: Readonly<NoiseScheduleConfig>,
): DiffusionScheduler {
  requireArg(
    (SCHEDULER_KINDS as readonly string[]).includes(kind),
    `scheduler is ${kind}. Should be one of: ${SCHEDULER_KINDS.join(', ')}`,
  );
  return kind === 'pndm'
    ? new PndmScheduler(numInferenceSteps, config)
    : new DdimScheduler(numInferenceSteps, config);
}

/**
 * The timesteps an img2img/inpainting call with `strength` visits on `scheduler`'s schedule (diffusers
 * `get_timesteps`, see {@link truncateTimesteps}).
 *
 * @throws DiffusionError `DIFFUSION_ERR_ARGUMENT` as {@link truncateTimesteps}.
 */
export function strengthTimesteps(scheduler: DiffusionScheduler, strength: number): TruncatedTimesteps {
  return truncateTimesteps(scheduler.timesteps, scheduler.numInferenceSteps, strength, scheduler.order);
}
