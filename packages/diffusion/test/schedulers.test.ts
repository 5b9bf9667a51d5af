import { describe, expect, it } from '@jest/globals';

import {
  DdimScheduler,
  NoiseSchedule,
  PndmScheduler,
  createScheduler,
  strengthTimesteps,
  truncateTimesteps,
} from '../src';
import { handAlphas } from './helpers';

const ALPHA = handAlphas();
const alpha = (t: number): number => (t < 0 ? ALPHA[0]! : ALPHA[t]!);

/**
 * The η = 0 DDIM form of a step, x_prev = √ᾱp·x̂₀ + √(1 − ᾱp)·ε with x̂₀ = (x − √(1 − ᾱt)·ε)/√ᾱt: algebraically
 * equal to PNDM's `_get_prev_sample`, written differently so the check is independent of the code's form.
 */
function viaX0(x: number[], eps: number[], t: number, prev: number): number[] {
  const at = alpha(t);
  const ap = alpha(prev);
  return x.map((xi, i) => {
    const x0 = (xi - Math.sqrt(1 - at) * eps[i]!) / Math.sqrt(at);
    return Math.sqrt(ap) * x0 + Math.sqrt(1 - ap) * eps[i]!;
  });
}

/** Reference §3.2's update, x_prev = √(ᾱp/ᾱt)·x − (ᾱp − ᾱt)·ε / (ᾱt·√(1 − ᾱp) + √(ᾱt(1 − ᾱt)ᾱp)). */
function viaReferenceFormula(x: number[], eps: number[], t: number, prev: number): number[] {
  const at = alpha(t);
  const ap = alpha(prev);
  const denom = at * Math.sqrt(1 - ap) + Math.sqrt(at * (1 - at) * ap);
  return x.map((xi, i) => Math.sqrt(ap / at) * xi - ((ap - at) * eps[i]!) / denom);
}

const lin = (coeffs: number[], vecs: number[][], scale: number): number[] =>
  vecs[0]!.map((_, i) => coeffs.reduce((acc, c, k) => acc + c * vecs[k]![i]!, 0) / scale);

function expectClose(actual: Float32Array, expected: number[], digits = 5): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((v, i) => {
    expect(actual[i]).toBeCloseTo(v, digits);
  });
}

describe('noise schedule', () => {
  it('matches ᾱ from the scaled-linear formula, with ᾱ₆₀₁ ≈ 0.15982', () => {
    const s = new NoiseSchedule();
    for (const t of [0, 1, 51, 300, 601, 999]) {
      expect(s.alphaAt(t)).toBeCloseTo(alpha(t), 12);
    }
    expect(s.alphaAt(601)).toBeCloseTo(0.15982, 5);
    expect(Math.sqrt(s.alphaAt(601))).toBeCloseTo(0.39977, 5);
    expect(Math.sqrt(1 - s.alphaAt(601))).toBeCloseTo(0.91662, 5);
    // set_alpha_to_one = false: the step past 0 targets ᾱ₀ = 1 − β₀.
    expect(s.alphaAt(-49)).toBeCloseTo(1 - 0.00085, 14);
    expect(s.betas[999]).toBeCloseTo(0.012, 15);
  });

  it('adds noise as √ᾱ·x + √(1 − ᾱ)·ε', () => {
    const s = new NoiseSchedule();
    const x = new Float32Array([1, -2, 0.5]);
    const e = new Float32Array([0.25, 1, -1]);
    const a = alpha(601);
    expectClose(
      s.addNoise(x, e, 601),
      [0, 1, 2].map((i) => Math.sqrt(a) * x[i]! + Math.sqrt(1 - a) * e[i]!),
      6,
    );
  });

  it('rejects timesteps outside the training range', () => {
    const s = new NoiseSchedule();
    expect(() => s.alphaAt(1000)).toThrow(expect.objectContaining({ code: 'DIFFUSION_ERR_SCHEDULER' }));
    expect(() => s.alphaAt(1.5)).toThrow(expect.objectContaining({ code: 'DIFFUSION_ERR_SCHEDULER' }));
  });
});

describe('timesteps', () => {
  it('PNDM 20 steps: 951, then 901 twice, then down to 1 (21 entries)', () => {
    const p = new PndmScheduler(20);
    const tail: number[] = [];
    for (let t = 901; t >= 1; t -= 50) {
      tail.push(t);
    }
    expect(p.timesteps).toEqual([951, 901, ...tail]);
    expect(p.timesteps).toHaveLength(21);
  });

  it('PNDM 20 steps at strength 0.6 gives the 13 timesteps 601 … 1', () => {
    const r = strengthTimesteps(new PndmScheduler(20), 0.6);
    expect(r.timesteps).toEqual([601, 551, 501, 451, 401, 351, 301, 251, 201, 151, 101, 51, 1]);
    expect(r.startIndex).toBe(8);
    expect(r.steps).toBe(12);
  });

  it('DDIM 20 steps: 951 … 1, and 551 … 1 at strength 0.6', () => {
    const d = new DdimScheduler(20);
    expect(d.timesteps).toEqual(Array.from({ length: 20 }, (_, k) => 951 - 50 * k));
    expect(strengthTimesteps(d, 0.6).timesteps).toEqual(Array.from({ length: 12 }, (_, k) => 551 - 50 * k));
  });

  it('handles other step counts and strengths', () => {
    // 50 steps: ratio 20, offset 1 → 981, 961, 961, 941, …
    expect(new PndmScheduler(50).timesteps.slice(0, 4)).toEqual([981, 961, 961, 941]);
    expect(new PndmScheduler(1).timesteps).toEqual([1]);
    expect(new PndmScheduler(2).timesteps).toEqual([501, 1, 1]);
    expect(strengthTimesteps(new PndmScheduler(20), 1).timesteps).toHaveLength(21);
    // int(10 · 0.75) = 7 → t_start = 3.
    expect(truncateTimesteps([10, 9, 8, 7, 6, 5, 4, 3, 2, 1], 10, 0.75).timesteps).toEqual([
      7, 6, 5, 4, 3, 2, 1,
    ]);
    expect(() => strengthTimesteps(new PndmScheduler(20), 0.01)).toThrow(
      expect.objectContaining({ code: 'DIFFUSION_ERR_ARGUMENT' }),
    );
    expect(() => strengthTimesteps(new PndmScheduler(20), 1.5)).toThrow(
      expect.objectContaining({ code: 'DIFFUSION_ERR_ARGUMENT' }),
    );
    expect(() => new PndmScheduler(0)).toThrow(expect.objectContaining({ code: 'DIFFUSION_ERR_ARGUMENT' }));
  });

  it('creates schedulers by name', () => {
    expect(createScheduler('pndm', 20)).toBeInstanceOf(PndmScheduler);
    expect(createScheduler('ddim', 20)).toBeInstanceOf(DdimScheduler);
    expect(() => createScheduler('euler' as 'pndm', 20)).toThrow(
      expect.objectContaining({ code: 'DIFFUSION_ERR_ARGUMENT' }),
    );
  });
});

describe('PLMS step', () => {
  const x0 = [0.7, -1.2, 0.05];
  const eps = [
    [0.3, -0.1, 0.9],
    [0.2, 0.4, -0.6],
    [-0.5, 0.25, 0.1],
    [0.8, -0.3, 0.45],
    [0.15, 0.6, -0.2],
    [-0.35, 0.05, 0.7],
  ];
  const f32 = (v: number[]): Float32Array => new Float32Array(v);

  it('follows step_plms for counters 0, 1, 2, 3, 4 and 5 on the truncated schedule', () => {
    const p = new PndmScheduler(20);
    const ts = strengthTimesteps(p, 0.6).timesteps;
    p.reset();
    const out: Float32Array[] = [];
    let x = f32(x0);
    for (let k = 0; k < 6; k++) {
      x = p.step(f32(eps[k]!), ts[k]!, x);
      out.push(x);
    }
    expect(p.stepCount).toBe(6);
    const [e0, e1, e2, e3, e4, e5] = eps as [number[], number[], number[], number[], number[], number[]];
    // Counter 0 at t = 601: ε₀, 601 → 551.
    expectClose(out[0]!, viaX0(x0, e0, 601, 551));
    // Counter 1 at t = 551: (ε₁ + ε₀)/2, redoing 601 → 551 from the stored sample x0.
    const x2 = viaX0(x0, lin([1, 1], [e1, e0], 2), 601, 551);
    expectClose(out[1]!, x2);
    // Counter 2 at t = 501: history [ε₀, ε₂] (ε₁ is never stored), (3ε₂ − ε₀)/2, 501 → 451.
    const x3 = viaX0(Array.from(out[1]!), lin([3, -1], [e2, e0], 2), 501, 451);
    expectClose(out[2]!, x3);
    // Counter 3: (23ε₃ − 16ε₂ + 5ε₀)/12, 451 → 401.
    const x4 = viaX0(Array.from(out[2]!), lin([23, -16, 5], [e3, e2, e0], 12), 451, 401);
    expectClose(out[3]!, x4);
    // Counter 4: (55ε₄ − 59ε₃ + 37ε₂ − 9ε₀)/24, 401 → 351.
    const x5 = viaX0(Array.from(out[3]!), lin([55, -59, 37, -9], [e4, e3, e2, e0], 24), 401, 351);
    expectClose(out[4]!, x5);
    // Counter 5: the history drops ε₀: (55ε₅ − 59ε₄ + 37ε₃ − 9ε₂)/24, 351 → 301.
    const x6 = viaX0(Array.from(out[4]!), lin([55, -59, 37, -9], [e5, e4, e3, e2], 24), 351, 301);
    expectClose(out[5]!, x6);
  });

  it('the reference formula and the x̂₀ form agree (so either checks the code)', () => {
    const a = viaX0(x0, eps[0]!, 601, 551);
    const b = viaReferenceFormula(x0, eps[0]!, 601, 551);
    a.forEach((v, i) => {
      expect(v).toBeCloseTo(b[i]!, 12);
    });
  });

  it('the last step from t = 1 targets ᾱ₀ = 0.99915', () => {
    const p = new PndmScheduler(20);
    const ts = strengthTimesteps(p, 0.6).timesteps;
    let x = f32(x0);
    const history: number[][] = [];
    for (let k = 0; k < ts.length; k++) {
      const e = eps[k % eps.length]!;
      history.push(e);
      const before = Array.from(x);
      x = p.step(f32(e), ts[k]!, x);
      if (k === ts.length - 1) {
        const n = history.length;
        const combo = lin(
          [55, -59, 37, -9],
          [history[n - 1]!, history[n - 2]!, history[n - 3]!, history[n - 4]!],
          24,
        );
        expectClose(x, viaReferenceFormula(before, combo, 1, -49));
      }
    }
  });

  it('reset starts a new chain', () => {
    const p = new PndmScheduler(20);
    const first = p.step(f32(eps[0]!), 601, f32(x0));
    p.step(f32(eps[1]!), 551, first);
    p.reset();
    expect(p.stepCount).toBe(0);
    expect(Array.from(p.step(f32(eps[0]!), 601, f32(x0)))).toEqual(Array.from(first));
  });
});

describe('DDIM step', () => {
  it('steps t → t − 50 with the η = 0 update, the last one to ᾱ₀', () => {
    const d = new DdimScheduler(20);
    const x = [0.4, -0.9, 1.3];
    const e = [0.1, -0.7, 0.35];
    expectClose(d.step(new Float32Array(e), 551, new Float32Array(x)), viaReferenceFormula(x, e, 551, 501));
    expectClose(d.step(new Float32Array(e), 1, new Float32Array(x)), viaReferenceFormula(x, e, 1, -49));
  });
});
