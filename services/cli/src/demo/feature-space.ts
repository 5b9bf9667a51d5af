import {
  type OodMetrics,
  type StepInfo,
  assignNegatives,
  buildDetector,
  detectorScores,
  encodeDetector,
  finetuneLabels,
  mcmScores,
  negLabelLayout,
  negLabelScores,
  negativeSubset,
  oodMetrics,
  syntheticOodProblem,
  thresholdAtTpr,
  trainProjection,
  withThreshold,
} from '@synood/ood';
import { type LinalgBackend, concatRows, gatherRows } from '@synood/tensor';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One method's row in the demo's metrics table. */
export interface DemoRow extends OodMetrics {
  method: string;
}

/** What the feature-space demo produces. */
export interface FeatureSpaceDemoResult {
  rows: DemoRow[];
  /** Folder holding detector.json and detector.bin. */
  detectorDir: string;
  threshold: number;
  /** Share of test InD / test OOD images the calibrated detector accepts as InD. */
  acceptedInd: number;
  acceptedOod: number;
}

/** Progress callbacks, so the CLI can draw bars and tests can stay quiet. */
export interface DemoProgress {
  stage(name: string): void;
  step(stage: string, info: StepInfo): void;
}

/**
 * The OOD core end to end on a generated feature-space problem: negative assignment, projection
 * training, label fine-tuning, every method side by side, a calibrated detector bundle on disk.
 * The image stages (captioning, synthesis, CLIP encoding) are not part of it.
 */
export async function runFeatureSpaceDemo(
  backend: LinalgBackend,
  outDir: string,
  progress: DemoProgress,
  seed: number | string = 0,
): Promise<FeatureSpaceDemoResult> {
  progress.stage('generate features');
  const p = syntheticOodProblem({ seed });
  const k = p.indText.rows;
  const groups = 10;
  // A small problem (1,200 samples): train for about as many steps as a short real run.
  const schedule = { epochs: 10, batchSize: 32, seed };

  progress.stage('assign negatives');
  const { assignment } = await assignNegatives(backend, p.synthetic, p.negativeText);
  const subset = negativeSubset(assignment, p.negativeText.rows);
  const subsetFeatures = gatherRows(p.negativeText, subset.labels);

  progress.stage('train projection');
  const projection = await trainProjection(
    backend,
    {
      features: concatRows([p.trainInd, p.synthetic]),
      targets: Int32Array.from([...p.trainIndClass, ...subset.targets.map((t) => k + t)]),
      classFeatures: concatRows([p.indText, subsetFeatures]),
    },
    schedule,
    {
      onStep: (info) => {
        progress.step('train projection', info);
      },
    },
  );

  progress.stage('train labels');
  const labels = await finetuneLabels(
    backend,
    { features: p.synthetic, targets: subset.targets, labelFeatures: subsetFeatures },
    schedule,
    {
      onStep: (info) => {
        progress.step('train labels', info);
      },
    },
  );

  progress.stage('evaluate');
  const indLabels = Array.from({ length: k }, (_, i) => `the nice class ${i}`);
  const negativeLabels = Array.from({ length: p.negativeText.rows }, (_, i) => `the nice negative ${i}`);
  const detector = (withProjection: boolean, withLabels: boolean) =>
    buildDetector({
      indLabels,
      indFeatures: p.indText,
      negativeLabels,
      negativeFeatures: p.negativeText,
      ...(withLabels ? { finetuned: { rows: subset.labels, features: labels.labels } } : {}),
      projection: withProjection ? projection.head : null,
      groups,
      seed,
      metadata: { source: 'synood demo (feature space)', seed },
    });
  const rows: DemoRow[] = [];
  const add = (method: string, ind: Float64Array, ood: Float64Array) =>
    rows.push({ method, ...oodMetrics(ind, ood) });
  add('MCM', await mcmScores(backend, p.testInd, p.indText), await mcmScores(backend, p.testOod, p.indText));
  const layout = negLabelLayout(p.indText, p.negativeText, { groups, seed });
  add(
    'NegLabel',
    await negLabelScores(backend, p.testInd, layout),
    await negLabelScores(backend, p.testOod, layout),
  );
  for (const [method, withProjection, withLabels] of [
    ['SynOOD (projection only)', true, false],
    ['SynOOD (label fine-tuning only)', false, true],
    ['SynOOD (projection + labels)', true, true],
  ] as const) {
    const d = detector(withProjection, withLabels);
    add(method, await detectorScores(backend, d, p.testInd), await detectorScores(backend, d, p.testOod));
  }

  progress.stage('publish');
  // Calibrate on the training InD features (a stand-in for a validation split), never the test set.
  const full = detector(true, true);
  const threshold = thresholdAtTpr(await detectorScores(backend, full, p.trainInd));
  const calibrated = withThreshold(full, threshold);
  const detectorDir = join(outDir, 'detector');
  await writeDetectorDir(calibrated, detectorDir);
  const accepted = (s: Float64Array) => s.filter((v) => v >= threshold).length / s.length;
  return {
    rows,
    detectorDir,
    threshold,
    acceptedInd: accepted(await detectorScores(backend, calibrated, p.testInd)),
    acceptedOod: accepted(await detectorScores(backend, calibrated, p.testOod)),
  };
}

/**
 * Writes detector.json + detector.bin into `dir` atomically: both go to a temporary sibling folder
 * that is renamed into place, so a reader never sees half a bundle.
 */
export async function writeDetectorDir(
  detector: Parameters<typeof encodeDetector>[0],
  dir: string,
): Promise<void> {
  const { manifest, data } = encodeDetector(detector);
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await writeFile(join(tmp, 'detector.bin'), data);
  await writeFile(join(tmp, 'detector.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}
