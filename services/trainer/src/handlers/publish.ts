/**
 * The publish stage (design §2 stage 9): the run's detector bundle, with the threshold the evaluate stage
 * set at the configured InD true-positive rate, written under `detectorPrefix(runId)` as `detector.json`
 * (manifest: labels, shapes, checksum, metadata) and `detector.bin` (the arrays), where the API's scoring
 * endpoint loads it; and `detector-ref.json` in the stage folder pointing at it.
 */
import { ARTIFACTS, type StageResult, detectorPrefix, evaluationReportSchema } from '@synood/contracts';
import { encodeDetector } from '@synood/ood';
import type { PayloadOf, StageContext } from '@synood/queue';

import type { TrainerDeps } from '../deps';
import {
  StageOutput,
  findDone,
  jsonBytes,
  readJson,
  readRunSpec,
  skippedResult,
  stageKey,
} from '@synood/service-kit';
import { assembleDetector, loadDetectorInputs } from '../run-data';

/** File names of a bundle inside its detector folder. */
export const DETECTOR_FILES = { manifest: 'detector.json', data: 'detector.bin' } as const;

/** What `detector-ref.json` holds. */
export interface DetectorRef {
  /** The detector's id (the run id). */
  id: string;
  /** Folder of the bundle. */
  prefix: string;
  manifest: { key: string; sha256: string; size: number };
  data: { key: string; sha256: string; size: number };
  threshold: number | null;
  dim: number;
  negatives: number;
  finetuned: number;
  groups: number;
}

/** Runs the publish job of a run; see the file comment. */
export async function handlePublish(
  deps: TrainerDeps,
  payload: PayloadOf<'publish'>,
  ctx: StageContext,
): Promise<StageResult> {
  const t0 = performance.now();
  const { runId } = payload;
  const location = { runId, stage: 'publish' as const };
  const done = await findDone(deps.store, location, payload.configHash);
  if (done !== undefined) {
    ctx.log.info({}, 'publish already done for this config: skipped');
    return skippedResult(done, t0);
  }
  const spec = await readRunSpec(deps.store, runId);
  const evaluation = await readJson(
    deps.store,
    stageKey({ runId, stage: 'evaluate' }, ARTIFACTS.evaluate.metrics),
    evaluationReportSchema,
    'the evaluation report',
    'the evaluate stage',
  );
  const inputs = await loadDetectorInputs(deps.store, runId);
  const detector = assembleDetector(spec, runId, inputs, evaluation.threshold);
  const { manifest, data } = encodeDetector(detector);
  const folder = detectorPrefix(runId);
  const out = new StageOutput(deps.store, location, payload.configHash, t0);
  // Data first, manifest second: a reader that finds the manifest finds the data it describes.
  const dataRecord = await out.putAt(`${folder}/${DETECTOR_FILES.data}`, data, 'application/octet-stream');
  const manifestRecord = await out.putAt(
    `${folder}/${DETECTOR_FILES.manifest}`,
    jsonBytes(manifest),
    'application/json',
  );
  const ref: DetectorRef = {
    id: runId,
    prefix: folder,
    manifest: { key: manifestRecord.key, sha256: manifestRecord.sha256, size: manifestRecord.size },
    data: { key: dataRecord.key, sha256: dataRecord.sha256, size: dataRecord.size },
    threshold: detector.threshold,
    dim: manifest.dim,
    negatives: detector.negativeLabels.length,
    finetuned: detector.finetunedRows.length,
    groups: detector.groups,
  };
  await out.putJson(ARTIFACTS.publish.detector, ref);
  await ctx.progress({ done: 1, total: 1 });
  ctx.log.info({ detector: folder, threshold: detector.threshold }, 'detector published');
  return out.finish({ processed: 1, failed: 0, skipped: 0 }, []);
}
