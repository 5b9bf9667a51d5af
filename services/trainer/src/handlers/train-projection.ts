/**
 * The train-projection stage (design §2 stage 6, §4): the residual projection
 * f̂ = normalise(f + ReLU(LayerNorm(W f + b))) trained with Adam on the cached CLIP features: InD images
 * with their class, synthetic images with their assigned negative, cross-entropy at ×scale over the InD
 * prompts followed by Y*⁻ (reference §6). Seeded from the run seed, so a retry trains the same head.
 *
 * Output: `projection.bin` (see `projectionBytes`) and `history.json` (loss per step and per epoch, the
 * report's training curve); the done-marker records the loss per epoch and the stage's seconds.
 */
import { ARTIFACTS, type StageResult, type TrainingHistory } from '@synood/contracts';
import { trainProjection } from '@synood/ood';
import type { PayloadOf, StageContext } from '@synood/queue';
import { type Matrix, concatRows, deriveSeed, gatherRows } from '@synood/tensor';

import type { TrainerDeps } from '../deps';
import {
  WorkerError,
  WorkerErrorCode,
  StageOutput,
  findDone,
  readRunSpec,
  skippedResult,
} from '@synood/service-kit';
import {
  loadAssignedSynthetic,
  loadEncoded,
  loadMined,
  positionsOf,
  projectionBytes,
  readPlan,
} from '../run-data';
import { recordSteps, trainingHistory } from '../report/history';
import { trainingProgress } from './progress';

function nonEmpty(parts: Matrix[]): Matrix[] {
  return parts.filter((m) => m.rows > 0);
}

/** Runs the train-projection job of a run; see the file comment. */
export async function handleTrainProjection(
  deps: TrainerDeps,
  payload: PayloadOf<'train-projection'>,
  ctx: StageContext,
): Promise<StageResult> {
  const t0 = performance.now();
  const { runId } = payload;
  const location = { runId, stage: 'train-projection' as const };
  const done = await findDone(deps.store, location, payload.configHash);
  if (done !== undefined) {
    ctx.log.info({}, 'train-projection already done for this config: skipped');
    return skippedResult(done, t0);
  }
  const spec = await readRunSpec(deps.store, runId);
  const plan = await readPlan(deps.store, runId);
  const ind = await loadEncoded(deps.store, runId, plan.shards, 'ind');
  const mined = await loadMined(deps.store, runId);
  const { synthetic, assignment } = await loadAssignedSynthetic(deps.store, runId, plan.shards);
  const k = mined.indText.rows;
  const positions = positionsOf(assignment.subset, mined.negativeText.rows);
  const targets = new Int32Array(ind.rows.length + synthetic.rows.length);
  ind.rows.forEach((row, i) => {
    if (row.classIndex >= k) {
      throw new WorkerError(
        WorkerErrorCode.Input,
        `InD image ${row.id} has class ${row.classIndex}, but the mine stage encoded ${k} class prompts`,
      );
    }
    targets[i] = row.classIndex;
  });
  assignment.nearest.forEach((j, i) => {
    targets[ind.rows.length + i] = k + positions[j]!;
  });
  const features = nonEmpty([ind.features, synthetic.features]);
  if (features.length === 0) {
    throw new WorkerError(
      WorkerErrorCode.Input,
      `run ${runId} has no encoded image to train the projection on`,
    );
  }
  const classFeatures = concatRows(
    nonEmpty([mined.indText, gatherRows(mined.negativeText, assignment.subset)]),
  );
  const cfg = spec.stages.projection;
  const n = targets.length;
  const steps: TrainingHistory['steps'] = [];
  const result = await trainProjection(
    deps.backend,
    { features: concatRows(features), targets, classFeatures },
    {
      epochs: cfg.epochs,
      batchSize: cfg.batchSize,
      lr: cfg.lr,
      minLr: cfg.minLr,
      weightDecay: cfg.weightDecay,
      scale: spec.stages.score.scale,
      seed: deriveSeed(spec.seed, 'train-projection'),
    },
    { signal: ctx.signal, onStep: recordSteps(steps, trainingProgress(ctx, n, cfg.batchSize)) },
  );
  const out = new StageOutput(deps.store, location, payload.configHash, t0);
  await out.put(
    ARTIFACTS['train-projection'].projection,
    projectionBytes(result.head),
    'application/octet-stream',
  );
  await out.putJson(ARTIFACTS['train-projection'].history, trainingHistory(result.history, steps));
  ctx.log.info({ samples: n, loss: result.history.at(-1)?.loss ?? null }, 'projection trained');
  return out.finish({ processed: n, failed: 0, skipped: 0 }, [], {
    history: result.history,
    seconds: (performance.now() - t0) / 1000,
  });
}
