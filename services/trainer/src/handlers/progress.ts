/**
 * Progress of the training stages. The trainers report each step through a synchronous hook, so the report
 * is not awaited: the harness stores the latest report in the background, and cancellation reaches the
 * trainers through the signal they check between steps (a rejected report is that same abort, dropped
 * here). Units are samples seen: `epochs × n` in total.
 */
import type { StepInfo } from '@synood/ood';
import type { StageContext } from '@synood/queue';

/** A step hook reporting samples seen so far out of `epochs × n`. */
export function trainingProgress(ctx: StageContext, n: number, batchSize: number): (info: StepInfo) => void {
  return (info) => {
    const done = info.epoch * n + Math.min((info.step + 1) * batchSize, n);
    ctx.progress({ done, total: info.epochs * n }).catch(() => undefined);
  };
}
