/**
 * The train-labels stage (design §2 stage 7, §4): the Y*⁻ label vectors, initialised from their raw CLIP
 * text features and normalised in the forward, fine-tuned with SGD + momentum on the un-projected
 * synthetic features against their assigned label (reference §7). Seeded from the run seed.
 *
 * Output: `labels.npy`, the raw fine-tuned vectors in assignment `subset` order (`[0, d]` when no synthetic
 * image was made) and `history.json` (loss per step and per epoch); the done-marker records the loss per
 * epoch and the stage's seconds.
 */
import { ARTIFACTS, type StageResult, type TrainingHistory } from '@synood/contracts';
import { finetuneLabels } from '@synood/ood';
import type { PayloadOf, StageContext } from '@synood/queue';
import { type Matrix, deriveSeed, gatherRows } from '@synood/tensor';

import type { TrainerDeps } from '../deps';
import { StageOutput, findDone, readRunSpec, skippedResult } from '@synood/service-kit';
import { loadAssignedSynthetic, loadRawNegatives, positionsOf, readPlan } from '../run-data';
import { recordSteps, trainingHistory } from '../report/history';
import { trainingProgress } from './progress';

/** Runs the train-labels job of a run; see the file comment. */
export async function handleTrainLabels(
  deps: TrainerDeps,
  payload: PayloadOf<'train-labels'>,
  ctx: StageContext,
): Promise<StageResult> {
  const t0 = performance.now();
  const { runId } = payload;
  const location = { runId, stage: 'train-labels' as const };
  const done = await findDone(deps.store, location, payload.configHash);
  if (done !== undefined) {
    ctx.log.info({}, 'train-labels already done for this config: skipped');
    return skippedResult(done, t0);
  }
  const spec = await readRunSpec(deps.store, runId);
  const plan = await readPlan(deps.store, runId);
  const raw = await loadRawNegatives(deps.store, runId);
  const { synthetic, assignment } = await loadAssignedSynthetic(deps.store, runId, plan.shards);
  const n = synthetic.rows.length;
  const out = new StageOutput(deps.store, location, payload.configHash, t0);
  if (n === 0 || assignment.subset.length === 0) {
    const empty: Matrix = { rows: 0, cols: raw.cols, data: new Float32Array(0) };
    await out.putMatrix(ARTIFACTS['train-labels'].labels, empty);
    await out.putJson(ARTIFACTS['train-labels'].history, trainingHistory([], []));
    ctx.log.warn({}, 'no synthetic image: nothing to fine-tune, the negatives keep their text features');
    return out.finish({ processed: 0, failed: 0, skipped: 0 }, [], {
      history: [],
      seconds: (performance.now() - t0) / 1000,
    });
  }
  const positions = positionsOf(assignment.subset, raw.rows);
  const targets = Int32Array.from(assignment.nearest, (j) => positions[j]!);
  const cfg = spec.stages.labels;
  const steps: TrainingHistory['steps'] = [];
  const result = await finetuneLabels(
    deps.backend,
    { features: synthetic.features, targets, labelFeatures: gatherRows(raw, assignment.subset) },
    {
      epochs: cfg.epochs,
      batchSize: cfg.batchSize,
      lr: cfg.lr,
      minLr: cfg.minLr,
      momentum: cfg.momentum,
      weightDecay: cfg.weightDecay,
      scale: spec.stages.score.scale,
      seed: deriveSeed(spec.seed, 'train-labels'),
    },
    { signal: ctx.signal, onStep: recordSteps(steps, trainingProgress(ctx, n, cfg.batchSize)) },
  );
  await out.putMatrix(ARTIFACTS['train-labels'].labels, result.labels);
  await out.putJson(ARTIFACTS['train-labels'].history, trainingHistory(result.history, steps));
  ctx.log.info({ samples: n, labels: result.labels.rows }, 'labels fine-tuned');
  return out.finish({ processed: n, failed: 0, skipped: 0 }, [], {
    history: result.history,
    seconds: (performance.now() - t0) / 1000,
  });
}
