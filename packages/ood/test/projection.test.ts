import { describe, expect, it } from '@jest/globals';
import { Rng, TypeScriptBackend, l2NormalizeRows, matrix, randomNormalMatrix } from '@synood/tensor';
import {
  type ProjectionHead,
  initProjectionHead,
  projectFeatures,
  projectionForward,
  projectionLossAndGrads,
  trainProjection,
} from '../src';

const backend = new TypeScriptBackend();

describe('projection head forward', () => {
  it('matches a hand computation: W = I, b = 0, x = (3, 1)', async () => {
    // z = (3,1); LayerNorm: μ = 2, var = 1 → x̂ = (1,−1)/√(1+ε); ReLU → (x̂₀, 0);
    // h = x + (x̂₀, 0) = (3 + 1/√(1+ε), 1); f̂ = h/‖h‖.
    const head: ProjectionHead = {
      dim: 2,
      weight: Float32Array.from([1, 0, 0, 1]),
      bias: new Float32Array(2),
      gamma: Float32Array.from([1, 1]),
      beta: new Float32Array(2),
      lnEps: 1e-5,
    };
    const { out } = await projectionForward(backend, head, matrix(1, 2, [3, 1]));
    const h0 = 3 + 1 / Math.sqrt(1 + 1e-5);
    const n = Math.hypot(h0, 1);
    expect(out.data[0]).toBeCloseTo(h0 / n, 6);
    expect(out.data[1]).toBeCloseTo(1 / n, 6);
  });

  it('initialises like torch: W, b uniform in ±1/√d, γ = 1, β = 0', () => {
    const head = initProjectionHead(16, 3);
    const bound = 1 / 4;
    expect(Math.max(...head.weight.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...head.weight.map(Math.abs))).toBeGreaterThan(0.9 * bound);
    expect([...head.gamma].every((g) => g === 1)).toBe(true);
    expect([...head.beta].every((b) => b === 0)).toBe(true);
    expect(initProjectionHead(16, 3).weight).toEqual(head.weight);
  });
});

describe('projection head backward', () => {
  it('agrees with central finite differences for every parameter', async () => {
    const rng = new Rng('projection-fd');
    const d = 5;
    const n = 6;
    const c = 7;
    const head = initProjectionHead(d, 'fd');
    // Non-trivial LayerNorm affine so γ and β gradients are exercised.
    rng.fillUniform(head.gamma, 0.5, 1.5);
    rng.fillUniform(head.beta, -0.3, 0.3);
    const x = randomNormalMatrix(rng, n, d);
    const classes = l2NormalizeRows(randomNormalMatrix(rng, c, d));
    const targets = Int32Array.from({ length: n }, (_, i) => (i * 3) % c);
    const scale = 5;
    const h = 1e-3;
    // The finite difference is only valid away from the ReLU kink.
    const fwd = await projectionForward(backend, head, x);
    expect(Math.min(...fwd.preRelu.map(Math.abs))).toBeGreaterThan(10 * h);

    const { grads } = await projectionLossAndGrads(backend, head, x, targets, classes, scale);
    const loss = async () => (await projectionLossAndGrads(backend, head, x, targets, classes, scale)).loss;
    for (const [name, param, grad] of [
      ['weight', head.weight, grads.weight],
      ['bias', head.bias, grads.bias],
      ['gamma', head.gamma, grads.gamma],
      ['beta', head.beta, grads.beta],
    ] as const) {
      for (let i = 0; i < param.length; i++) {
        const orig = param[i]!;
        param[i] = orig + h;
        const up = await loss();
        param[i] = orig - h;
        const down = await loss();
        param[i] = orig;
        const fd = (up - down) / (2 * h);
        const tol = 2e-3 + 1e-2 * Math.abs(fd);
        if (Math.abs(fd - grad[i]!) > tol) {
          throw new Error(`${name}[${i}]: analytic ${grad[i]} vs finite difference ${fd}`);
        }
      }
    }
  });
});

describe('trainProjection', () => {
  // Two InD classes and one negative label in 4-d; the synthetic samples sit between the classes.
  function problem() {
    const rng = new Rng('projection-train');
    const d = 4;
    const classes = matrix(3, d, [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]);
    const n = 96;
    const features = matrix(n, d);
    const targets = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const t = i % 3;
      targets[i] = t;
      const base = t === 2 ? [0.6, 0.6, 0.3, 0] : t === 0 ? [1, 0, 0, 0] : [0, 1, 0, 0];
      for (let k = 0; k < d; k++) {
        features.data[i * d + k] = base[k]! + 0.1 * rng.normal();
      }
    }
    return { features, targets, classFeatures: classes };
  }

  it('lowers the loss, follows the cosine schedule and is deterministic for a seed', async () => {
    const data = problem();
    const config = { epochs: 4, batchSize: 16, lr: 1e-2, minLr: 1e-4, scale: 20, seed: 11 };
    const a = await trainProjection(backend, data, config);
    const b = await trainProjection(backend, data, config);
    expect(a.head.weight).toEqual(b.head.weight);
    expect(a.history.map((h) => h.lr)).toEqual([
      1e-2,
      1e-4 + (1e-2 - 1e-4) * (1 + Math.cos(Math.PI / 4)) * 0.5,
      1e-4 + (1e-2 - 1e-4) * 0.5,
      1e-4 + (1e-2 - 1e-4) * (1 + Math.cos((3 * Math.PI) / 4)) * 0.5,
    ]);
    expect(a.history[3]!.loss).toBeLessThan(0.7 * a.history[0]!.loss);
    const c = await trainProjection(backend, data, { ...config, seed: 12 });
    expect(c.head.weight).not.toEqual(a.head.weight);
    const projected = await projectFeatures(backend, a.head, data.features);
    const norms = [0, 1, 2].map((i) => Math.hypot(...projected.data.subarray(i * 4, i * 4 + 4)));
    norms.forEach((v) => {
      expect(v).toBeCloseTo(1, 5);
    });
  });

  it('reports bad targets and dimension mismatches', async () => {
    const data = problem();
    await expect(
      trainProjection(backend, { ...data, targets: data.targets.map((t) => (t === 2 ? 3 : t)) }),
    ).rejects.toThrow(/target\[2\] = 3 is outside 0..2/);
    await expect(trainProjection(backend, { ...data, classFeatures: matrix(3, 5) })).rejects.toThrow(
      /4-d but label features are 5-d/,
    );
  });

  it('stops between steps when aborted', async () => {
    const controller = new AbortController();
    let steps = 0;
    const run = trainProjection(
      backend,
      problem(),
      { epochs: 2, batchSize: 8 },
      {
        signal: controller.signal,
        onStep: () => {
          if (++steps === 3) {
            controller.abort(new Error('cancelled by test'));
          }
        },
      },
    );
    await expect(run).rejects.toThrow('cancelled by test');
    expect(steps).toBe(3);
  });
});
