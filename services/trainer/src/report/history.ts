/**
 * @file Training histories for the report: the training stages record every step's loss beside the
 * per-epoch means the trainers return, and store both as `history.json`.
 */
import type { TrainingHistory } from '@synood/contracts';
import type { EpochStats, StepInfo } from '@synood/ood';

/**
 * Wraps a step hook so that every step's loss is also appended to `steps` (the trainers themselves only
 * return per-epoch means).
 */
export function recordSteps(
  steps: TrainingHistory['steps'],
  next: (info: StepInfo) => void,
): (info: StepInfo) => void {
  return (info) => {
    steps.push({ epoch: info.epoch, step: info.step, loss: info.loss });
    next(info);
  };
}

/** The `history.json` of a trainer run. */
export function trainingHistory(
  epochs: readonly EpochStats[],
  steps: TrainingHistory['steps'],
): TrainingHistory {
  return { epochs: epochs.map((e) => ({ epoch: e.epoch, lr: e.lr, loss: e.loss })), steps: [...steps] };
}
