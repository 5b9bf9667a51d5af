import { describe, expect, it } from '@jest/globals';
import {
  Rng,
  SgdMomentum,
  TypeScriptBackend,
  cloneMatrix,
  cosineLr,
  gatherRows,
  matrix,
  randomNormalMatrix,
} from '@synood/tensor';
import { DEFAULT_LABEL_FINETUNING, finetuneLabels, labelLossAndGrad } from '../src';

const backend = new TypeScriptBackend();

describe('labelLossAndGrad', () => {
  it('agrees with central finite differences on the raw (unnormalised) label vectors', async () => {
    const rng = new Rng('labels-fd');
    const labels = randomNormalMatrix(rng, 4, 3);
    const features = randomNormalMatrix(rng, 5, 3);
    const targets = Int32Array.from([0, 3, 1, 1, 2]);
    const scale = 4;
    const { grad } = await labelLossAndGrad(backend, labels, features, targets, scale);
    const h = 1e-3;
    for (let i = 0; i < labels.data.length; i++) {
      const orig = labels.data[i]!;
      labels.data[i] = orig + h;
      const up = (await labelLossAndGrad(backend, labels, features, targets, scale)).loss;
      labels.data[i] = orig - h;
      const down = (await labelLossAndGrad(backend, labels, features, targets, scale)).loss;
      labels.data[i] = orig;
      const fd = (up - down) / (2 * h);
      expect(Math.abs(fd - grad[i]!)).toBeLessThan(2e-3 + 1e-2 * Math.abs(fd));
    }
  });

  it('has zero gradient along each label vector (normalisation makes the loss scale-invariant)', async () => {
    const rng = new Rng('labels-radial');
    const labels = randomNormalMatrix(rng, 3, 4);
    const { grad } = await labelLossAndGrad(
      backend,
      labels,
      randomNormalMatrix(rng, 6, 4),
      new Int32Array(6),
      10,
    );
    for (let r = 0; r < 3; r++) {
      let dot = 0;
      for (let k = 0; k < 4; k++) {
        dot += grad[r * 4 + k]! * labels.data[r * 4 + k]!;
      }
      expect(Math.abs(dot)).toBeLessThan(1e-5);
    }
  });
});

describe('finetuneLabels', () => {
  it('uses the reference schedule by default and moves labels towards their images', async () => {
    expect(DEFAULT_LABEL_FINETUNING).toMatchObject({ epochs: 5, batchSize: 128, lr: 0.02, momentum: 0.9 });
    const rng = new Rng('labels-train');
    const d = 6;
    const labelFeatures = randomNormalMatrix(rng, 3, d);
    // Each label's images cluster around a direction unrelated to its initial vector.
    const centres = randomNormalMatrix(rng, 3, d);
    const n = 60;
    const features = matrix(n, d);
    const targets = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      targets[i] = i % 3;
      for (let k = 0; k < d; k++) {
        features.data[i * d + k] = centres.data[(i % 3) * d + k]! + 0.2 * rng.normal();
      }
    }
    const result = await finetuneLabels(
      backend,
      { features, targets, labelFeatures },
      { batchSize: 16, scale: 10, lr: 0.5 },
    );
    expect(result.history.map((h) => h.lr)).toEqual(
      [0, 1, 2, 3, 4].map((e) => cosineLr(e, { baseLr: 0.5, minLr: 0, epochs: 5 })),
    );
    expect(result.history[4]!.loss).toBeLessThan(0.5 * result.history[0]!.loss);
    // The input is not modified; the output differs from it.
    expect(result.labels.data).not.toEqual(labelFeatures.data);
    const again = await finetuneLabels(
      backend,
      { features, targets, labelFeatures },
      { batchSize: 16, scale: 10, lr: 0.5 },
    );
    expect(again.labels.data).toEqual(result.labels.data);
  });
});

describe('finetuneLabels fused step', () => {
  it('equals labelLossAndGrad + SgdMomentum step for step', async () => {
    const rng = new Rng('labels-fused');
    const labelFeatures = randomNormalMatrix(rng, 7, 5);
    const features = randomNormalMatrix(rng, 23, 5);
    const targets = Int32Array.from({ length: 23 }, (_, i) => (i * 5) % 7);
    const config = { epochs: 3, batchSize: 6, lr: 0.3, momentum: 0.9, weightDecay: 0.01, scale: 8, seed: 4 };
    const fused = await finetuneLabels(backend, { features, targets, labelFeatures }, config);

    // The unfused composition, with the same shuffles (one seeded stream, a permutation per epoch).
    const labels = cloneMatrix(labelFeatures);
    const sgd = new SgdMomentum([labels.data], config);
    const order = new Rng('4:labels-shuffle');
    for (let epoch = 0; epoch < config.epochs; epoch++) {
      const lr = cosineLr(epoch, { baseLr: config.lr, minLr: 0, epochs: config.epochs });
      const perm = order.permutation(23);
      for (let s = 0; s < 23; s += config.batchSize) {
        const idx = perm.subarray(s, Math.min(23, s + config.batchSize));
        const y = Int32Array.from(idx, (i) => targets[i]!);
        const { grad } = await labelLossAndGrad(backend, labels, gatherRows(features, idx), y, config.scale);
        sgd.step([grad], lr);
      }
    }
    fused.labels.data.forEach((v, i) => {
      expect(v).toBeCloseTo(labels.data[i]!, 4);
    });
  });
});
