/**
 * The synthesis stage's whole chain on the fixture exports: VAE decoder (Optimum opset-14 patterns) →
 * /2 + 0.5 → clamp [0, 1] → ResNet preprocessing → ResNet-style classifier (torch.onnx patterns) → loss.
 * The gradient model's output is checked against central finite differences of the forward model.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type InferenceSession, Tensor, createSession, releaseSession, runSession } from '@synood/onnx';

import {
  type Model,
  buildSynthesisGradientModel,
  buildSynthesisLossModel,
  encodeModel,
  resnetClassifierFixture,
  vaeDecoderFixture,
} from '../src';
import { testRandom } from './helpers';

const LATENT = [4, 8, 8];
const PER = LATENT.reduce((a, d) => a * d, 1);

function gaussian(n: number, rand: () => number): number[] {
  return Array.from({ length: n }, () => {
    const u = Math.max(rand(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  });
}

const norm = (v: readonly number[]): number => Math.sqrt(v.reduce((s, a) => s + a * a, 0));
const dot = (a: readonly number[], b: readonly number[]): number => a.reduce((s, v, i) => s + v * b[i]!, 0);

async function session(model: Model): Promise<InferenceSession> {
  return createSession(encodeModel(model).model, { intraOpThreads: 1 });
}

async function run(
  s: InferenceSession,
  z: readonly number[],
  n: number,
): Promise<{ loss: number[]; grad?: number[] }> {
  const out = await runSession(s, {
    latent_sample: new Tensor('float32', Float32Array.from(z), [n, ...LATENT]),
  });
  return {
    loss: Array.from(out.loss!.data as Float32Array),
    ...(out.grad === undefined ? {} : { grad: Array.from(out.grad.data as Float32Array) }),
  };
}

describe.each([
  ['code', { kind: 'code' as const }],
  ['energy', { kind: 'energy' as const, margin: -7, temperature: 1 }],
])('whole chain with the %s loss', (_, loss) => {
  const decoder = vaeDecoderFixture({ seed: 5 });
  const classifier = resnetClassifierFixture({ seed: 6 });
  const options = { classifier, decoder, preprocess: 'resnet' as const, loss, inputShape: LATENT };
  let forward: InferenceSession;
  let gradient: InferenceSession;

  beforeAll(async () => {
    forward = await session(buildSynthesisLossModel(options));
    gradient = await session(buildSynthesisGradientModel(options));
  });

  afterAll(async () => {
    await releaseSession(forward);
    await releaseSession(gradient);
  });

  it('has the decoder latent as its only input, dynamic batch, and loss/grad outputs', () => {
    const gm = buildSynthesisGradientModel(options);
    expect(gm.graph.inputs).toEqual([
      { name: 'latent_sample', dtype: 'float32', dims: ['batch_size', ...LATENT] },
    ]);
    expect(gm.graph.outputs.map((o) => [o.name, o.dims])).toEqual([
      ['loss', ['batch_size']],
      ['grad', ['batch_size', ...LATENT]],
    ]);
  });

  it('matches central finite differences of the forward model along random directions', async () => {
    const rand = testRandom(99);
    const z = gaussian(PER, rand);
    const { loss, grad } = await run(gradient, z, 1);
    const [ref] = (await run(forward, z, 1)).loss;
    expect(loss[0]).toBeCloseTo(ref!, 4);
    expect(norm(grad!)).toBeGreaterThan(1e-6);
    for (let k = 0; k < 3; k++) {
      const v = gaussian(PER, rand);
      // Small enough that ReLU and clamp kinks do not bend the difference quotient, large enough for float32.
      const h = (3e-3 * norm(z)) / norm(v);
      const plus = (
        await run(
          forward,
          z.map((a, i) => a + h * v[i]!),
          1,
        )
      ).loss[0]!;
      const minus = (
        await run(
          forward,
          z.map((a, i) => a - h * v[i]!),
          1,
        )
      ).loss[0]!;
      const fd = (plus - minus) / (2 * h);
      const exact = dot(grad!, v);
      expect(Math.abs(fd - exact)).toBeLessThan(2e-2 * (Math.abs(exact) + 1e-2 * norm(grad!) * norm(v)));
    }
  });

  it('gives each image of a batch the gradient it has alone', async () => {
    const rand = testRandom(7);
    const z = gaussian(3 * PER, rand);
    const batch = await run(gradient, z, 3);
    const alone = await run(gradient, z.slice(PER, 2 * PER), 1);
    expect(batch.loss[1]).toBeCloseTo(alone.loss[0]!, 4);
    const g = batch.grad!.slice(PER, 2 * PER);
    const scale = Math.max(...alone.grad!.map(Math.abs));
    expect(Math.max(...g.map((v, i) => Math.abs(v - alone.grad![i]!)))).toBeLessThan(1e-4 * scale);
  });
});
