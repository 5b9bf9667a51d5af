/**
 * A hand-made report for the page tests: two sets (one named to break out of the markup if it were not
 * escaped), every method, a hostile caption and config, a real embedded thumbnail.
 */
import { type EvaluationReport, type RunSpec, parseRunSpec } from '@synood/contracts';
import { encodePng } from '@synood/vision';

import { METHOD_NAMES, reportMeans } from '../src/report';
import { rocCurve, scoreHistogram } from '../src/report/curves';
import { type ReportData, thumbnail } from '../src/report/data';
import { patternImage } from './fixtures';

/** Every method the report names. */
export const METHODS = Object.keys(METHOD_NAMES);

/** A metric row with the given AUROC and the others derived from it. */
export function row(auroc: number): { auroc: number; fpr95: number; auprIn: number; auprOut: number } {
  return { auroc, fpr95: 1 - auroc, auprIn: auroc, auprOut: auroc / 2 };
}

/** The sample report. */
export async function sampleReport(): Promise<ReportData> {
  const sets: EvaluationReport['sets'] = [
    {
      name: 'SSB-hard',
      kind: 'near',
      images: 5,
      metrics: Object.fromEntries(METHODS.map((m, i) => [m, row(0.5 + i / 40)])),
    },
    {
      name: '<b>evil</b>',
      kind: 'far',
      images: 3,
      metrics: Object.fromEntries(METHODS.map((m, i) => [m, row(0.9 - i / 40)])),
    },
  ];
  const metrics: EvaluationReport = {
    methods: METHODS,
    sets,
    ind: { name: 'ind', images: 4 },
    threshold: 0.42,
    ...reportMeans(METHODS, sets),
  };
  const png = await encodePng(patternImage(3, 40, 30));
  const image = await thumbnail(png, 'pattern.png');
  const config: RunSpec = parseRunSpec({ name: '</pre><script>x</script>', dataset: { location: '/d' } });
  return {
    runId: 'run-1',
    tpr: 0.95,
    metrics,
    methodNames: { ...METHOD_NAMES },
    plots: sets.map((s) => ({
      set: s.name,
      ...(s.kind === undefined ? {} : { group: s.kind }),
      roc: ['synood', 'neglabel', 'mcm'].map((method) => ({
        method,
        points: rocCurve([0.9, 0.6], [0.8, 0.1]),
      })),
      histogram: { method: 'synood', ...scoreHistogram([0.9, 0.6], [0.8, 0.1], 5) },
    })),
    training: {
      projection: {
        epochs: [{ epoch: 0, lr: 1e-3, loss: 2 }],
        steps: [
          { epoch: 0, step: 0, loss: 2.5 },
          { epoch: 0, step: 1, loss: 1.5 },
        ],
      },
      labels: null,
    },
    pairs: [
      {
        id: 'c00000-0123456789abcdef',
        className: 'cat',
        caption: '<img src=x onerror=alert(1)> & grass',
        prompt: 'A photo only remain grass.',
        losses: [3, 2, 1.5],
        ind: image,
        synthetic: image,
      },
    ],
    stages: [
      { stage: 'caption', markers: 2, seconds: 4, processed: 8, failed: 0, skipped: 0, perSecond: 2 },
      { stage: 'assign', markers: 1, seconds: null, processed: 8, failed: 0, skipped: 0, perSecond: null },
    ],
    models: { spec: config.models, service: [{ role: 'clip.vision', file: 'clip/1/vision.onnx' }] },
    config,
  };
}
