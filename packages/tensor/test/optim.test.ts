import { describe, expect, it } from '@jest/globals';

import { Adam, cosineLr, SgdMomentum, TensorError } from '../src';
import { expectAllClose } from './helpers';

const P0 = [0.5, -1.5, 2.0, 0.0];
const GRADS = [
  [0.3, -0.2, 0.05, 1.5],
  [0.1, -0.4, -0.05, 1.0],
  [-0.2, 0.3, 0.0, 0.5],
  [0.25, -0.1, 0.02, -0.5],
  [0.05, 0.05, -0.03, 0.2],
];

// Parameters after each of 5 steps from test/reference/adam_reference.py: torch.optim.Adam's
// `_single_tensor_adam` (lerp for m, mul/addcmul for v, step_size = lr/bc1,
// denom = sqrt(v)/sqrt(bc2) + eps, addcdiv) re-implemented in float32 numpy. Pasted as literals.
const ADAM_A = [
  [0.4000000059604645, -1.399999976158142, 1.899999976158142, -0.10000000149011612],
  [0.3128936290740967, -1.3034818172454834, 1.9052631855010986, -0.19703522324562073],
  [0.2901711165904999, -1.277136206626892, 1.9093315601348877, -0.2863972783088684],
  [0.2423892766237259, -1.2452995777130127, 1.8967034816741943, -0.34208640456199646],
  [0.19621863961219788, -1.2234679460525513, 1.9074708223342896, -0.3945199251174927],
];
const ADAM_B = [
  [0.462345689535141, -1.4658730030059814, 1.9794117212295532, -0.0468750037252903],
  [0.43278083205223083, -1.428041696548462, 1.974753499031067, -0.09136377274990082],
  [0.42740657925605774, -1.4190040826797485, 1.9690583944320679, -0.1306973695755005],
  [0.4108015298843384, -1.4073436260223389, 1.9605867862701416, -0.15148597955703735],
  [0.3956073820590973, -1.3999871015548706, 1.955553412437439, -0.17065434157848358],
];
const ADAM_C = [
  [0.4000000059604645, -1.399999976158142, 1.899999976158142, -0.10000000149011612],
  [0.3550712466239929, -1.3505574464797974, 1.8525856733322144, -0.14845985174179077],
  [0.34745436906814575, -1.3389233350753784, 1.8333362340927124, -0.16625738143920898],
  [0.34157973527908325, -1.332497477531433, 1.823588252067566, -0.17172470688819885],
  [0.3386784493923187, -1.3294800519943237, 1.818764567375183, -0.17428235709667206],
];

/** float32 rounding differences between torch's and this arithmetic order, a few ulps near 2. */
const ATOL = 2e-6;

describe('Adam', () => {
  it('first step from zero state is θ − lr·g/(|g| + eps) (bias corrections cancel)', () => {
    // m₁ = (1−β₁)g, v₁ = (1−β₂)g²; step = lr/(1−β₁) · (1−β₁)g / (√((1−β₂)g²)/√(1−β₂) + eps).
    const p = new Float32Array([1, -1, 0.5, 3]);
    const g = new Float32Array([2, -0.5, 1e-3, 0]);
    const opt = new Adam([p]); // torch defaults: lr 1e-3, β (0.9, 0.999), eps 1e-8
    expect(opt.lr).toBe(1e-3);
    opt.step([g]);
    expect(opt.steps).toBe(1);
    const gd = Array.from(g);
    const expected = [1, -1, 0.5, 3].map((t, i) => t - (1e-3 * gd[i]!) / (Math.abs(gd[i]!) + 1e-8));
    expectAllClose(p, expected, 1e-7);
    // A zero gradient leaves the parameter untouched.
    expect(p[3]).toBe(3);
  });

  it('matches torch.optim.Adam for 5 steps (lr 0.1, default betas and eps)', () => {
    const p = Float32Array.from(P0);
    const opt = new Adam([p], { lr: 0.1 });
    for (let t = 0; t < GRADS.length; t++) {
      opt.step([Float32Array.from(GRADS[t]!)]);
      expectAllClose(p, ADAM_A[t]!, ATOL);
    }
    expect(opt.steps).toBe(5);
  });

  it('matches torch.optim.Adam with large eps, other betas and coupled weight decay', () => {
    // eps = 0.1 makes its placement (outside the bias-corrected √v) visible.
    const p = Float32Array.from(P0);
    const opt = new Adam([p], { lr: 0.05, beta1: 0.8, beta2: 0.99, eps: 0.1, weightDecay: 0.01 });
    for (let t = 0; t < GRADS.length; t++) {
      opt.step([Float32Array.from(GRADS[t]!)]);
      expectAllClose(p, ADAM_B[t]!, ATOL);
    }
  });

  it('hand-derived first step with large eps and weight decay', () => {
    // θ = 0.5, g = 0.3, λ = 0.01: g' = 0.305; m = 0.2·0.305 = 0.061; v = 0.01·0.305² = 9.3025e-4;
    // step_size = 0.05/0.2 = 0.25; denom = √v/√0.01 + 0.1 = 0.305 + 0.1 = 0.405;
    // θ' = 0.5 − 0.25·0.061/0.405 = 0.46234567…
    const p = new Float32Array([0.5]);
    new Adam([p], { lr: 0.05, beta1: 0.8, beta2: 0.99, eps: 0.1, weightDecay: 0.01 }).step([
      new Float32Array([0.3]),
    ]);
    expectAllClose(p, [0.5 - (0.25 * 0.061) / 0.405], 1e-7);
  });

  it('uses the lr passed to step() (a schedule) with torch arithmetic', () => {
    const p = Float32Array.from(P0);
    const opt = new Adam([p], { lr: 123, weightDecay: 0.1 });
    const lrs = [0.1, 0.05, 0.02, 0.01, 0.005];
    for (let t = 0; t < GRADS.length; t++) {
      opt.step([Float32Array.from(GRADS[t]!)], lrs[t]);
      expectAllClose(p, ADAM_C[t]!, ATOL);
    }
  });

  it('updates several parameter tensors in place, each with its own state', () => {
    const a = Float32Array.from(P0.slice(0, 2));
    const b = Float32Array.from(P0.slice(2));
    const opt = new Adam([a, b], { lr: 0.1 });
    for (const g of GRADS) {
      opt.step([Float32Array.from(g.slice(0, 2)), Float32Array.from(g.slice(2))]);
    }
    expectAllClose([...a, ...b], ADAM_A[4]!, ATOL);
  });

  it('throws TensorError when gradients do not match the parameters', () => {
    const opt = new Adam([new Float32Array(2), new Float32Array(3)]);
    expect(() => {
      opt.step([new Float32Array(2)]);
    }).toThrow(TensorError);
    expect(() => {
      opt.step([new Float32Array(2), new Float32Array(4)]);
    }).toThrow(TensorError);
    expect(opt.steps).toBe(0);
  });
});

describe('SgdMomentum', () => {
  it('hand-derived: first step uses buf = g, later buf = μ·buf + g, with coupled weight decay', () => {
    // lr 0.1, μ 0.9, λ 0.01, θ = [1, −2], g = [0.5, 0.25] twice.
    // Step 1: g' = [0.5 + 0.01, 0.25 − 0.02] = [0.51, 0.23] = buf; θ = [0.949, −2.023].
    // Step 2: g' = [0.5 + 0.00949, 0.25 − 0.02023] = [0.50949, 0.22977];
    //         buf = [0.9·0.51 + 0.50949, 0.9·0.23 + 0.22977] = [0.96849, 0.43677];
    //         θ = [0.949 − 0.096849, −2.023 − 0.043677] = [0.852151, −2.066677].
    const p = new Float32Array([1, -2]);
    const opt = new SgdMomentum([p], { lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
    expect(opt.lr).toBe(0.1);
    opt.step([new Float32Array([0.5, 0.25])]);
    expectAllClose(p, [0.949, -2.023], 1e-6);
    opt.step([new Float32Array([0.5, 0.25])]);
    expectAllClose(p, [0.852151, -2.066677], 1e-6);
  });

  it('defaults to lr 0.02, momentum 0.9, no weight decay', () => {
    // g = 1 each step: buf = 1, 1.9, 2.71; θ = 1 − 0.02, − 0.038, − 0.0542.
    const p = new Float32Array([1]);
    const opt = new SgdMomentum([p]);
    expect(opt.lr).toBe(0.02);
    const g = new Float32Array([1]);
    opt.step([g]);
    expectAllClose(p, [0.98], 1e-7);
    opt.step([g]);
    expectAllClose(p, [0.942], 1e-7);
    opt.step([g]);
    expectAllClose(p, [0.8878], 1e-7);
  });

  it('matches a float64 reference of torch.optim.SGD over several steps with an lr schedule', () => {
    const lrs = [0.1, 0.08, 0.05, 0.03, 0.01];
    const mu = 0.8;
    const wd = 0.05;
    const theta = [...P0];
    let buf: number[] | undefined;
    const p = Float32Array.from(P0);
    const opt = new SgdMomentum([p], { lr: 1, momentum: mu, weightDecay: wd });
    for (let t = 0; t < GRADS.length; t++) {
      const g = GRADS[t]!.map((gi, i) => gi + wd * theta[i]!);
      buf = buf === undefined ? g : buf.map((b, i) => mu * b + g[i]!);
      for (let i = 0; i < theta.length; i++) {
        theta[i] = theta[i]! - lrs[t]! * buf[i]!;
      }
      opt.step([Float32Array.from(GRADS[t]!)], lrs[t]);
      expectAllClose(p, theta, 1e-6);
    }
  });

  it('with momentum 0 is plain SGD', () => {
    const p = new Float32Array([1, 2]);
    const opt = new SgdMomentum([p], { lr: 0.5, momentum: 0 });
    opt.step([new Float32Array([1, -1])]);
    opt.step([new Float32Array([1, -1])]);
    expect(Array.from(p)).toEqual([0, 3]);
  });

  it('throws TensorError when gradients do not match the parameters', () => {
    const opt = new SgdMomentum([new Float32Array(2)]);
    expect(() => {
      opt.step([]);
    }).toThrow(TensorError);
    expect(() => {
      opt.step([new Float32Array(3)]);
    }).toThrow(TensorError);
  });
});

describe('cosineLr', () => {
  it('base 1e-3, min 1e-5, T = 3: 1e-3, 7.525e-4, 2.575e-4', () => {
    // 1e-5 + 9.9e-4·(1 + cos(πe/3))/2 with cos = 1, 1/2, −1/2.
    const s = { baseLr: 1e-3, minLr: 1e-5, epochs: 3 };
    expectAllClose(
      [0, 1, 2].map((e) => cosineLr(e, s)),
      [1e-3, 7.525e-4, 2.575e-4],
      1e-15,
    );
    // The floor is reached at epoch T.
    expect(cosineLr(3, s)).toBeCloseTo(1e-5, 15);
  });

  it('base 0.02, min 0, T = 5: 0.02, 0.01809, 0.01309, 0.00691, 0.00191 (5 decimals)', () => {
    const s = { baseLr: 0.02, epochs: 5 };
    const got = [0, 1, 2, 3, 4].map((e) => cosineLr(e, s));
    const want = [0.02, 0.01809, 0.01309, 0.00691, 0.00191];
    for (let i = 0; i < want.length; i++) {
      expect(got[i]).toBeCloseTo(want[i]!, 5);
    }
    // Closed form: 0.01·(1 + cos(π/5)) with cos(π/5) = (1 + √5)/4.
    expect(got[1]).toBeCloseTo(0.01 * (1 + (1 + Math.sqrt(5)) / 4), 15);
    expect(cosineLr(5, s)).toBeCloseTo(0, 15);
  });

  it('throws TensorError for a non-positive period', () => {
    expect(() => cosineLr(0, { baseLr: 1, epochs: 0 })).toThrow(TensorError);
    expect(() => cosineLr(0, { baseLr: 1, epochs: -2 })).toThrow(TensorError);
    expect(() => cosineLr(0, { baseLr: 1, epochs: NaN })).toThrow(TensorError);
  });
});
