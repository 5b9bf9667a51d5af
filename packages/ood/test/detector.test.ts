import { describe, expect, it } from '@jest/globals';
import { Rng, TypeScriptBackend, l2NormalizeRows, randomNormalMatrix } from '@synood/tensor';
import {
  DETECTOR_FORMAT_VERSION,
  buildDetector,
  decodeDetector,
  detectorScores,
  encodeDetector,
  initProjectionHead,
  negLabelLayout,
  negLabelScores,
  projectFeatures,
  thresholdAtTpr,
} from '../src';

const backend = new TypeScriptBackend();

function parts() {
  const rng = new Rng('detector');
  const d = 8;
  return {
    indLabels: ['the nice cat', 'the nice dog', 'the nice owl'],
    indFeatures: randomNormalMatrix(rng, 3, d),
    negativeLabels: Array.from({ length: 23 }, (_, i) => `the nice thing ${i}`),
    negativeFeatures: randomNormalMatrix(rng, 23, d),
    finetuned: { rows: Int32Array.from([17, 4]), features: randomNormalMatrix(rng, 2, d) },
    projection: initProjectionHead(d, 'detector'),
    groups: 5,
    seed: 'detector-seed',
    metadata: { backbone: 'fixture', run: 'r1' },
    images: randomNormalMatrix(rng, 10, d),
  };
}

describe('buildDetector', () => {
  it('replaces fine-tuned rows (normalised) and scores projected features with the grouped score', async () => {
    const p = parts();
    const det = buildDetector(p);
    expect([...det.finetunedRows]).toEqual([4, 17]);
    const ft = l2NormalizeRows(p.finetuned.features);
    expect(det.negativeFeatures.data.subarray(17 * 8, 18 * 8)).toEqual(ft.data.subarray(0, 8));
    expect(det.negativeFeatures.data.subarray(4 * 8, 5 * 8)).toEqual(ft.data.subarray(8, 16));
    // Same numbers by composing the pieces by hand.
    const replaced = l2NormalizeRows(p.negativeFeatures);
    replaced.data.set(ft.data.subarray(0, 8), 17 * 8);
    replaced.data.set(ft.data.subarray(8, 16), 4 * 8);
    const layout = negLabelLayout(p.indFeatures, replaced, { groups: 5, seed: 'detector-seed' });
    const expected = await negLabelScores(
      backend,
      await projectFeatures(backend, p.projection, p.images),
      layout,
    );
    const got = await detectorScores(backend, det, p.images);
    got.forEach((s, i) => {
      expect(s).toBeCloseTo(expected[i]!, 6);
    });
  });

  it('rejects label/row count mismatches', () => {
    const p = parts();
    expect(() => buildDetector({ ...p, indLabels: ['a'] })).toThrow(/1 InD labels for 3 InD feature rows/);
  });
});

describe('detector bundle', () => {
  it('round-trips every field and gives identical scores', async () => {
    const p = parts();
    const det = { ...buildDetector(p), threshold: 0.42 };
    const { manifest, data } = encodeDetector(det);
    const json = JSON.parse(JSON.stringify(manifest)) as typeof manifest;
    expect(json.formatVersion).toBe(DETECTOR_FORMAT_VERSION);
    expect(json.labels.negatives[17]).toBe('the nice thing 17');
    const back = decodeDetector(json, data);
    expect(back.indLabels).toEqual(det.indLabels);
    expect(back.negativeFeatures.data).toEqual(det.negativeFeatures.data);
    expect(back.permutation).toEqual(det.permutation);
    expect(back.projection!.weight).toEqual(det.projection!.weight);
    expect(back.threshold).toBe(0.42);
    expect(back.metadata).toEqual({ backbone: 'fixture', run: 'r1' });
    expect(await detectorScores(backend, back, p.images)).toEqual(
      await detectorScores(backend, det, p.images),
    );
  });

  it('refuses corrupted, truncated, foreign and newer bundles with a coded error', () => {
    const { manifest, data } = encodeDetector(buildDetector(parts()));
    const corrupt = data.slice();
    corrupt[100] = corrupt[100]! ^ 1;
    expect(() => decodeDetector(manifest, corrupt)).toThrow(/checksum/);
    expect(() => decodeDetector(manifest, data.subarray(0, data.length - 4))).toThrow(/truncated/);
    expect(() => decodeDetector({ ...manifest, format: 'x' } as never, data)).toThrow(
      /not a detector manifest/,
    );
    expect(() => decodeDetector({ ...manifest, formatVersion: DETECTOR_FORMAT_VERSION + 1 }, data)).toThrow(
      /newer than this build reads/,
    );
    let error: unknown;
    try {
      decodeDetector(manifest, corrupt);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'OOD_ERR_BUNDLE' });
  });
});

describe('thresholdAtTpr', () => {
  it('accepts at least 95% of InD scores', () => {
    const scores = Array.from({ length: 20 }, (_, i) => (i + 1) / 20); // 0.05 … 1
    // 0.95·20 = 19 scores must pass: the 19th largest is 0.10.
    expect(thresholdAtTpr(scores)).toBe(0.1);
    // 10 scores: ⌈9.5⌉ = 10 must pass → the smallest.
    expect(thresholdAtTpr(scores.slice(0, 10))).toBe(0.05);
    expect(thresholdAtTpr([0.3, 0.1, 0.2], 1 / 3)).toBe(0.3);
    expect(() => thresholdAtTpr([])).toThrow(/at least one InD score/);
  });
});
