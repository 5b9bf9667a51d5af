import { describe, expect, it } from '@jest/globals';
import { TypeScriptBackend, concatRows, gatherRows } from '@synood/tensor';
import {
  assignNegatives,
  auroc,
  buildDetector,
  detectorScores,
  finetuneLabels,
  negLabelLayout,
  negLabelScores,
  negativeSubset,
  syntheticOodProblem,
  trainProjection,
} from '../src';

describe('SynOOD on a synthetic feature-space problem', () => {
  it('projection + label fine-tuning raise AUROC over the untrained NegLabel score', async () => {
    const backend = new TypeScriptBackend();
    const p = syntheticOodProblem({ seed: 'acceptance' });
    const groups = 10;

    const baselineLayout = negLabelLayout(p.indText, p.negativeText, { groups });
    const baseline = auroc(
      await negLabelScores(backend, p.testInd, baselineLayout),
      await negLabelScores(backend, p.testOod, baselineLayout),
    );

    const { assignment } = await assignNegatives(backend, p.synthetic, p.negativeText);
    const subset = negativeSubset(assignment, p.negativeText.rows);
    const k = p.indText.rows;
    // 1,200 training samples: the default 3 epochs of batch 128 would be 30 steps, against 2,346 in
    // the reference run, so train longer on this small problem.
    const schedule = { epochs: 10, batchSize: 32 };
    const projection = await trainProjection(
      backend,
      {
        features: concatRows([p.trainInd, p.synthetic]),
        targets: Int32Array.from([...p.trainIndClass, ...subset.targets.map((t) => k + t)]),
        classFeatures: concatRows([p.indText, gatherRows(p.negativeText, subset.labels)]),
      },
      schedule,
    );
    const labels = await finetuneLabels(
      backend,
      {
        features: p.synthetic,
        targets: subset.targets,
        labelFeatures: gatherRows(p.negativeText, subset.labels),
      },
      schedule,
    );
    const evaluate = async (withProjection: boolean, withLabels: boolean): Promise<number> => {
      const detector = buildDetector({
        indLabels: Array.from({ length: k }, (_, i) => `class ${i}`),
        indFeatures: p.indText,
        negativeLabels: Array.from({ length: p.negativeText.rows }, (_, i) => `negative ${i}`),
        negativeFeatures: p.negativeText,
        ...(withLabels ? { finetuned: { rows: subset.labels, features: labels.labels } } : {}),
        projection: withProjection ? projection.head : null,
        groups,
      });
      return auroc(
        await detectorScores(backend, detector, p.testInd),
        await detectorScores(backend, detector, p.testOod),
      );
    };
    const projectionOnly = await evaluate(true, false);
    const labelsOnly = await evaluate(false, true);
    const both = await evaluate(true, true);
    console.log(
      `synthetic problem AUROC: NegLabel ${baseline.toFixed(4)}, projection ${projectionOnly.toFixed(4)}, ` +
        `labels ${labelsOnly.toFixed(4)}, both ${both.toFixed(4)}`,
    );
    expect(baseline).toBeLessThan(0.85);
    expect(projectionOnly - baseline).toBeGreaterThan(0.1);
    expect(labelsOnly - baseline).toBeGreaterThan(0.03);
    expect(both - baseline).toBeGreaterThan(0.1);
  });
});
