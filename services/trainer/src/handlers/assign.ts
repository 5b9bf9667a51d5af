/**
 * The assign stage (design §2, stage 5): every synthetic image's nearest negative label by cosine over all
 * M mined negatives, and Y*⁻, the distinct assigned labels (design §4, reference §5).
 *
 * Output: `assignment.json` with `nearest` per synthetic feature row (encode shard order, then row order)
 * and `subset` (Y*⁻ as ascending negative indices, a deterministic order where the reference used a
 * Python set).
 */
import { ARTIFACTS, type Assignment, type StageResult } from '@synood/contracts';
import { assignNegatives, negativeSubset } from '@synood/ood';
import type { PayloadOf, StageContext } from '@synood/queue';

import type { TrainerDeps } from '../deps';
import { StageOutput, findDone, skippedResult } from '@synood/service-kit';
import { loadEncoded, loadMined, readPlan } from '../run-data';

/** Runs the assign job of a run; see the file comment. */
export async function handleAssign(
  deps: TrainerDeps,
  payload: PayloadOf<'assign'>,
  ctx: StageContext,
): Promise<StageResult> {
  const t0 = performance.now();
  const { runId } = payload;
  const location = { runId, stage: 'assign' as const };
  const done = await findDone(deps.store, location, payload.configHash);
  if (done !== undefined) {
    ctx.log.info({}, 'assign already done for this config: skipped');
    return skippedResult(done, t0);
  }
  const plan = await readPlan(deps.store, runId);
  const synthetic = await loadEncoded(deps.store, runId, plan.shards, 'synthetic');
  const mined = await loadMined(deps.store, runId);
  const n = synthetic.features.rows;
  ctx.signal.throwIfAborted();
  let assignment: Assignment = { nearest: [], subset: [] };
  if (n > 0) {
    const nearest = await assignNegatives(deps.backend, synthetic.features, mined.negativeText);
    const subset = negativeSubset(nearest.assignment, mined.negativeText.rows);
    assignment = { nearest: Array.from(nearest.assignment), subset: Array.from(subset.labels) };
  } else {
    ctx.log.warn(
      {},
      'no synthetic image was encoded: Y*⁻ is empty, label fine-tuning will have nothing to do',
    );
  }
  await ctx.progress({ done: n, total: n });
  const out = new StageOutput(deps.store, location, payload.configHash, t0);
  await out.putJson(ARTIFACTS.assign.assignment, assignment);
  ctx.log.info({ images: n, labels: assignment.subset.length }, 'negatives assigned');
  return out.finish({ processed: n, failed: 0, skipped: 0 }, [], { subset: assignment.subset.length });
}
