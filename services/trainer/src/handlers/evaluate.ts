/**
 * The evaluate stage (design §2 stage 8): scores the InD images (the encoded training selection) and every
 * OOD set of the spec with SynOOD (the run's detector), its ablations and the baselines beside it, all on
 * the same cached features, then computes AUROC, FPR95, AUPR-In and AUPR-Out per set and method with InD as
 * the positive class (design §4, reference §9), their plain means per near/far group and over all sets, and
 * the detector's threshold at the configured InD true-positive rate (95% by default).
 *
 * Methods (the paper's Table 4 rows, then the baselines): `synood` (projection + fine-tuned Y*⁻ + grouped
 * NegLabel score, design §4 "inference"), `synood-projection` (the projection, the mined negatives' own text
 * features), `synood-labels` (raw image features, the fine-tuned Y*⁻), `neglabel` (raw features, mined
 * negatives), all with the same grouping; `mcm` (max softmax over the InD prompts, τ = 1); and `msp`,
 * `energy`, `max-logit` on CLIP's zero-shot InD logits (×scale cosines), the classifier baselines in their
 * CLIP form.
 *
 * OOD images are read from the set's location (`imagefolder`: `<class>/<image>`; `flat`: every image under
 * it; `list`: a text file naming one image per line, relative to the file's folder) and embedded here with
 * the same CLIP preprocessing as the encode stage. An unreadable image is an item failure
 * (`<set>/<key>`), never a failed job.
 *
 * Output: `metrics.json` (`EvaluationReport`), `report.json` (`ReportData`: everything the page shows) and
 * `report.html`.
 */
import { posix } from 'node:path';

import { ARTIFACTS, type EvaluationReport, type RunSpec, type StageResult } from '@synood/contracts';
import {
  type NegLabelLayout,
  type SynoodDetector,
  buildDetector,
  detectorLayout,
  detectorScores,
  energyScores,
  maxLogitScores,
  mcmScores,
  mspScores,
  negLabelLayout,
  negLabelScores,
  oodMetrics,
  thresholdAtTpr,
} from '@synood/ood';
import type { PayloadOf, StageContext } from '@synood/queue';
import { type ArtifactStore, DEFAULT_IMAGE_EXTENSIONS, listImageFolder } from '@synood/storage';
import { type Matrix, l2NormalizeRows } from '@synood/tensor';

import type { TrainerDeps } from '../deps';
import {
  WorkerError,
  WorkerErrorCode,
  type ImageSource,
  embedImages,
  type ItemFailure,
  StageOutput,
  findDone,
  readInput,
  readRunSpec,
  skippedResult,
  splitObjectLocation,
} from '@synood/service-kit';
import { METHOD_NAMES, renderReport, reportMeans } from '../report';
import { rocCurve, scoreHistogram } from '../report/curves';
import {
  type ReportData,
  type SetPlots,
  figurePairs,
  readTrainingHistory,
  stageTimings,
} from '../report/data';
import {
  assembleDetector,
  effectiveGroups,
  groupingSeed,
  type DetectorInputs,
  loadDetectorInputs,
  loadEncoded,
  readPlan,
} from '../run-data';

/** The methods scored, in report order. */
export const EVALUATION_METHODS = [
  'synood',
  'synood-projection',
  'synood-labels',
  'neglabel',
  'mcm',
  'msp',
  'energy',
  'max-logit',
] as const;

/** Methods drawn in the ROC plots (the full method and the two zero-shot ones it builds on). */
export const ROC_METHODS = ['synood', 'neglabel', 'mcm'] as const satisfies readonly EvaluationMethod[];

/** Method whose scores the histograms show. */
export const HISTOGRAM_METHOD: EvaluationMethod = 'synood';

/** Most synthetic pairs shown in the report. */
export const REPORT_PAIRS = 12;

/** One of {@link EVALUATION_METHODS}. */
export type EvaluationMethod = (typeof EVALUATION_METHODS)[number];

type OodSet = RunSpec['oodSets'][number];

const IMAGE_EXTENSIONS = new Set(DEFAULT_IMAGE_EXTENSIONS);

function isImageKey(key: string): boolean {
  return (
    IMAGE_EXTENSIONS.has(posix.extname(key).toLowerCase()) && !key.split('/').some((s) => s.startsWith('.'))
  );
}

/**
 * The images of an OOD set: its store and their keys, sorted (so scores and failures come out in one
 * order whatever the backend lists).
 */
export async function listOodSet(
  open: (location: string) => ArtifactStore,
  set: OodSet,
): Promise<{ store: ArtifactStore; keys: string[] }> {
  switch (set.layout) {
    case 'imagefolder': {
      const store = open(set.location);
      return { store, keys: (await listImageFolder(store, '')).map((i) => i.key) };
    }
    case 'flat': {
      const store = open(set.location);
      const keys: string[] = [];
      for await (const key of store.list('')) {
        if (isImageKey(key)) {
          keys.push(key);
        }
      }
      return { store, keys: keys.sort() };
    }
    case 'list': {
      const { folder, key } = splitObjectLocation(set.location);
      const store = open(folder);
      const text = Buffer.from(
        await readInput(store, key, `OOD set ${set.name}'s image list`, 'the run spec (oodSets[].location)'),
      ).toString('utf8');
      const base = posix.dirname(key);
      const keys = text
        .split(/\r?\n/)
        .map((line) => line.trim().split(/\s+/)[0] ?? '')
        .filter((path) => path !== '' && !path.startsWith('#'))
        .map((path) => (path.startsWith('/') ? path.slice(1) : base === '.' ? path : `${base}/${path}`));
      return { store, keys: [...new Set(keys)].sort() };
    }
  }
}

/** One NegLabel-form scorer: an optional projection and the layout of its label features. */
interface Scorer {
  detector: SynoodDetector;
  layout: NegLabelLayout;
}

/** What scoring needs besides the features. */
interface Scorers {
  synood: Scorer;
  projectionOnly: Scorer;
  labelsOnly: Scorer;
  plain: NegLabelLayout;
  indText: Matrix;
  scale: number;
}

function scorer(detector: SynoodDetector): Scorer {
  return { detector, layout: detectorLayout(detector) };
}

/**
 * The run's detector and its two ablations (Table 4): the same InD prompts, negatives, scale, groups and
 * grouping seed, so each differs from `synood` only in the part it drops.
 */
function ablations(
  spec: RunSpec,
  runId: string,
  inputs: DetectorInputs,
): Omit<Scorers, 'plain' | 'indText' | 'scale'> {
  const full = assembleDetector(spec, runId, inputs, null);
  const common = {
    indLabels: full.indLabels,
    indFeatures: inputs.mined.indText,
    negativeLabels: full.negativeLabels,
    negativeFeatures: inputs.mined.negativeText,
    scale: full.scale,
    groups: full.groups,
    seed: groupingSeed(spec),
  };
  const finetuned =
    inputs.labels.rows > 0
      ? { finetuned: { rows: Int32Array.from(inputs.assignment.subset), features: inputs.labels } }
      : {};
  return {
    synood: scorer(full),
    projectionOnly: scorer(buildDetector({ ...common, projection: inputs.projection })),
    labelsOnly: scorer(buildDetector({ ...common, ...finetuned, projection: null })),
  };
}

/** Every method's score of each row of `features` (raw CLIP features; higher = more InD). */
async function scoreAll(
  deps: TrainerDeps,
  s: Scorers,
  features: Matrix,
): Promise<Record<EvaluationMethod, Float64Array>> {
  const { backend } = deps;
  const logits = await backend.gemm(l2NormalizeRows(features), s.indText, { transB: true, alpha: s.scale });
  return {
    synood: await detectorScores(backend, s.synood.detector, features, s.synood.layout),
    'synood-projection': await detectorScores(
      backend,
      s.projectionOnly.detector,
      features,
      s.projectionOnly.layout,
    ),
    'synood-labels': await detectorScores(backend, s.labelsOnly.detector, features, s.labelsOnly.layout),
    neglabel: await negLabelScores(backend, features, s.plain),
    mcm: await mcmScores(backend, features, s.indText, 1),
    msp: mspScores(logits),
    energy: energyScores(logits),
    'max-logit': maxLogitScores(logits),
  };
}

/** Runs the evaluate job of a run; see the file comment. */
export async function handleEvaluate(
  deps: TrainerDeps,
  payload: PayloadOf<'evaluate'>,
  ctx: StageContext,
): Promise<StageResult> {
  const t0 = performance.now();
  const { runId } = payload;
  const location = { runId, stage: 'evaluate' as const };
  const done = await findDone(deps.store, location, payload.configHash);
  if (done !== undefined) {
    ctx.log.info({}, 'evaluate already done for this config: skipped');
    return skippedResult(done, t0);
  }
  const spec = await readRunSpec(deps.store, runId);
  const plan = await readPlan(deps.store, runId);
  const ind = await loadEncoded(deps.store, runId, plan.shards, 'ind');
  if (ind.features.rows === 0) {
    throw new WorkerError(WorkerErrorCode.Input, `run ${runId} has no encoded InD image to evaluate against`);
  }
  const inputs = await loadDetectorInputs(deps.store, runId);
  const m = inputs.mined.negativeText.rows;
  if (effectiveGroups(spec, m) < spec.stages.score.groups) {
    ctx.log.warn(
      { configured: spec.stages.score.groups, negatives: m },
      'fewer negatives than score groups: using one group per negative',
    );
  }
  const scorers: Scorers = {
    ...ablations(spec, runId, inputs),
    plain: negLabelLayout(inputs.mined.indText, inputs.mined.negativeText, {
      scale: spec.stages.score.scale,
      groups: effectiveGroups(spec, m),
      seed: groupingSeed(spec),
    }),
    indText: inputs.mined.indText,
    scale: spec.stages.score.scale,
  };
  const indScores = await scoreAll(deps, scorers, ind.features);

  const listed = [];
  for (const set of spec.oodSets) {
    listed.push({ set, ...(await listOodSet((l) => deps.stores.open(l), set)) });
  }
  const total = listed.reduce((n, l) => n + l.keys.length, 0);
  const failures: ItemFailure[] = [];
  const clipRun = deps.metrics.onnxRun.bind({ model: 'clip.vision' });
  const sets: EvaluationReport['sets'] = [];
  const plots: SetPlots[] = [];
  let embedded = 0;
  let offset = 0;
  for (const { set, store, keys } of listed) {
    const sources: ImageSource[] = keys.map((key) => ({ id: `${set.name}/${key}`, store, key }));
    const base = offset;
    const out = await embedImages(deps.imageEncoder, sources, {
      batchSize: deps.batch.images,
      signal: ctx.signal,
      progress: (n) => ctx.progress({ done: base + n, total }),
      observeRun: (seconds) => {
        clipRun.observe(seconds);
      },
    });
    offset += keys.length;
    failures.push(...out.failures.map((f) => ({ item: f.item, code: f.code, message: f.message })));
    if (keys.length === 0) {
      failures.push({
        item: set.name,
        code: WorkerErrorCode.Input,
        message: `OOD set ${set.name} (${set.layout} at ${set.location}) has no image`,
      });
    }
    embedded += out.features.rows;
    const metrics: EvaluationReport['sets'][number]['metrics'] = {};
    if (out.features.rows > 0) {
      const oodScores = await scoreAll(deps, scorers, out.features);
      for (const method of EVALUATION_METHODS) {
        metrics[method] = oodMetrics(indScores[method], oodScores[method]);
      }
      plots.push({
        set: set.name,
        ...(set.group === undefined ? {} : { group: set.group }),
        roc: ROC_METHODS.map((method) => ({
          method,
          points: rocCurve(indScores[method], oodScores[method]),
        })),
        histogram: {
          method: HISTOGRAM_METHOD,
          ...scoreHistogram(indScores[HISTOGRAM_METHOD], oodScores[HISTOGRAM_METHOD]),
        },
      });
    }
    sets.push({
      name: set.name,
      ...(set.group === undefined ? {} : { kind: set.group }),
      images: out.features.rows,
      metrics,
    });
  }

  const tpr = spec.stages.evaluation.tpr;
  const report: EvaluationReport = {
    methods: [...EVALUATION_METHODS],
    sets,
    ind: { name: 'ind', images: ind.features.rows },
    threshold: thresholdAtTpr(indScores.synood, tpr),
    ...reportMeans(EVALUATION_METHODS, sets),
  };
  const counts = { processed: ind.features.rows + embedded, failed: failures.length, skipped: 0 };
  const data: ReportData = {
    runId,
    tpr,
    metrics: report,
    methodNames: Object.fromEntries(EVALUATION_METHODS.map((m) => [m, METHOD_NAMES[m] ?? m])),
    plots,
    training: {
      projection: await readTrainingHistory(deps.store, runId, 'train-projection'),
      labels: await readTrainingHistory(deps.store, runId, 'train-labels'),
    },
    pairs: await figurePairs(
      {
        store: deps.store,
        dataset: deps.stores.open(spec.dataset.location),
        runId,
        shards: plan.shards,
        classes: plan.classes,
      },
      REPORT_PAIRS,
    ),
    stages: await stageTimings(deps.store, runId, plan.shards, {
      stage: 'evaluate',
      seconds: (performance.now() - t0) / 1000,
      processed: counts.processed,
      failed: counts.failed,
    }),
    models: {
      spec: spec.models,
      // The last segments of a cached model's path carry its name and version (`<name>/<version>/<file>`).
      service: deps.modelInputs.map((i) => ({
        role: i.role,
        file: i.path.replaceAll('\\', '/').split('/').slice(-3).join('/'),
      })),
    },
    config: spec,
  };
  const out = new StageOutput(deps.store, location, payload.configHash, t0);
  await out.putJson(ARTIFACTS.evaluate.metrics, report);
  await out.putJson(ARTIFACTS.evaluate.reportData, data);
  await out.put(ARTIFACTS.evaluate.report, Buffer.from(renderReport(data)), 'text/html; charset=utf-8');
  ctx.log.info({ sets: sets.length, images: embedded, threshold: report.threshold }, 'evaluation finished');
  return out.finish(counts, failures, { seconds: (performance.now() - t0) / 1000 });
}
