import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type InferenceSession, Tensor, releaseSession, runSession } from '@synood/onnx';
import { Rng } from '@synood/tensor';

import {
  InpaintingPipeline,
  type InpaintingModels,
  SynOodSynthesizer,
  imagesFromUnit,
  synthesisSeeds,
} from '../src';
import { fakeTokenizer, guidanceSession, handAlphas, releaseAll, sdSessions, testImage } from './helpers';

const ALPHA = handAlphas();
const alpha = (t: number): number => (t < 0 ? ALPHA[0]! : ALPHA[t]!);

let models: InpaintingModels;
let grad: InferenceSession;

beforeAll(async () => {
  models = await sdSessions();
  grad = await guidanceSession([4, 16, 16]);
});

afterAll(async () => {
  await releaseAll(models);
  await releaseSession(grad);
});

const SIZE = { width: 32, height: 32 } as const;

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i]! - b[i]!));
  }
  return m;
}

async function textStates(prompt: string): Promise<Float32Array> {
  const { ids } = fakeTokenizer.encodeIds([prompt]);
  const r = await runSession(models.textEncoder, {
    input_ids: new Tensor(
      'int32',
      Int32Array.from(ids as BigInt64Array, (v) => Number(v)),
      [1, 77],
    ),
  });
  return r.last_hidden_state!.data as Float32Array;
}

describe('InpaintingPipeline on fixtures', () => {
  it('draws the posterior sample mean + exp(½·logvar)·n, scaled by 0.18215', async () => {
    const p = new InpaintingPipeline(models, fakeTokenizer, SIZE);
    const pixels = p.preprocess([testImage(40, 30)]);
    // Preprocessing: a 32×32 image passes the resize unchanged; byte v maps to 2·v/255 − 1.
    const square = testImage(32, 32, 1);
    const px = p.preprocess([square]);
    expect(px[5]).toBeCloseTo((2 * square.data[15]!) / 255 - 1, 6);
    expect(px[1024 + 5]).toBeCloseTo((2 * square.data[16]!) / 255 - 1, 6);
    const got = await p.encodeImages(pixels, 1, [new Rng('posterior')]);
    expect(got.shape).toEqual([4, 16, 16]);
    const params = (
      await runSession(models.vaeEncoder, { sample: new Tensor('float32', pixels, [1, 3, 32, 32]) })
    ).latent_parameters!.data as Float32Array;
    const rng = new Rng('posterior');
    const expected = Array.from({ length: 1024 }, (_, k) => {
      const n = rng.normal();
      const logvar = Math.min(Math.max(params[1024 + k]!, -30), 20);
      return 0.18215 * (params[k]! + Math.exp(logvar / 2) * n);
    });
    expect(maxDiff(got.data, expected)).toBeLessThan(1e-6);
  });

  it('encodes the grey masked image once per seed', async () => {
    const p = new InpaintingPipeline(models, fakeTokenizer, SIZE);
    const a = await p.maskedImageLatents('m');
    expect(await p.maskedImageLatents('m')).toBe(a);
    const zeros = await p.encodeImages(new Float32Array(3 * 1024), 1, [new Rng('m')]);
    expect(Array.from(a.data)).toEqual(Array.from(zeros.data));
  });

  it('denoises as diffusers: CFG over [uncond, cond], 9-channel input, PLMS steps (hand-computed)', async () => {
    // 20 steps at strength 0.05: ⌊20·0.05⌋ = 1, t_start = 19, so the chain is timesteps[19:] = [51, 1].
    const p = new InpaintingPipeline(models, fakeTokenizer, { ...SIZE, strength: 0.05 });
    expect(p.timesteps).toEqual([51, 1]);
    const prompt = 'A photo only remain grass.';
    const masked = await p.maskedImageLatents('m');
    const cond = await p.encodePrompts([prompt]);
    const xT = new Float32Array(1024);
    new Rng('xT').fillNormal(xT);
    const got = await p.denoise({ data: xT, count: 1, shape: [4, 16, 16] }, cond, masked);

    const uncondStates = await textStates('');
    const condStates = await textStates(prompt);
    const epsAt = async (x: ArrayLike<number>, t: number): Promise<number[]> => {
      const sample = new Float32Array(2 * 9 * 256);
      for (let row = 0; row < 2; row++) {
        for (let k = 0; k < 1024; k++) {
          sample[row * 2304 + k] = x[k]!;
          sample[row * 2304 + 1280 + k] = masked.data[k]!;
        }
        sample.fill(1, row * 2304 + 1024, row * 2304 + 1280);
      }
      const context = new Float32Array(2 * 77 * 16);
      context.set(uncondStates, 0);
      context.set(condStates, 77 * 16);
      const out = (
        await runSession(models.unet, {
          sample: new Tensor('float32', sample, [2, 9, 16, 16]),
          timestep: new Tensor('int64', BigInt64Array.from([BigInt(t)]), [1]),
          encoder_hidden_states: new Tensor('float32', context, [2, 77, 16]),
        })
      ).out_sample!.data as Float32Array;
      return Array.from({ length: 1024 }, (_, k) => out[k]! + 8 * (out[1024 + k]! - out[k]!));
    };
    // Reference §3.2's update.
    const update = (x: ArrayLike<number>, eps: number[], t: number, prev: number): number[] => {
      const at = alpha(t);
      const ap = alpha(prev);
      const denom = at * Math.sqrt(1 - ap) + Math.sqrt(at * (1 - at) * ap);
      return eps.map((e, k) => Math.sqrt(ap / at) * x[k]! - ((ap - at) * e) / denom);
    };
    const e0 = await epsAt(xT, 51);
    const x1 = update(xT, e0, 51, 1);
    const e1 = await epsAt(Float32Array.from(x1), 1);
    // PLMS call 1: (ε₁ + ε₀)/2, redoing 51 → 1 from the stored sample.
    const x2 = update(
      xT,
      e0.map((e, k) => (e + e1[k]!) / 2),
      51,
      1,
    );
    expect(maxDiff(got, x2)).toBeLessThan(1e-4);
  });

  it('feeds int64 vectors, float32 vectors and scalar timesteps alike', async () => {
    const request = {
      image: testImage(32, 32),
      prompt: 'A photo only remain sky.',
      posteriorSeed: 'p',
      noiseSeed: 'n',
    };
    const reference = await new InpaintingPipeline(models, fakeTokenizer, SIZE).inpaint([request], 'm');
    for (const unet of [{ timestepDtype: 'float32' as const }, { scalarTimestep: true }]) {
      const variant = await sdSessions(unet);
      try {
        const [image] = await new InpaintingPipeline(variant, fakeTokenizer, SIZE).inpaint([request], 'm');
        expect(maxDiff(image!.data, reference[0]!.data)).toBeLessThanOrEqual(1);
      } finally {
        await releaseAll(variant);
      }
    }
    expect(reference[0]!.width).toBe(32);
  });

  it('runs without guidance at scale ≤ 1 and differs from the guided result', async () => {
    const request = { image: testImage(32, 32), prompt: 'x', posteriorSeed: 'p', noiseSeed: 'n' };
    const guided = await new InpaintingPipeline(models, fakeTokenizer, SIZE).inpaint([request], 'm');
    const plain = await new InpaintingPipeline(models, fakeTokenizer, { ...SIZE, guidanceScale: 1 }).inpaint(
      [request],
      'm',
    );
    expect(Buffer.from(plain[0]!.data).equals(Buffer.from(guided[0]!.data))).toBe(false);
  });

  it('applies ε ← ε − r·∂L/∂z between restarts from the original latents (pieces by hand)', async () => {
    const p = new InpaintingPipeline(models, fakeTokenizer, SIZE);
    const image = testImage(32, 32, 2);
    const prompt = 'A photo only remain leaf.';
    const [r] = await new SynOodSynthesizer(p, grad, { iterations: 2, seed: 5 }).synthesize([
      { id: 'img', image, prompt },
    ]);
    const seeds = synthesisSeeds(5, 'img');
    const latents = await p.encodeImages(p.preprocess([image]), 1, [new Rng(seeds.posterior)]);
    const eps = new Float32Array(1024);
    new Rng(seeds.noise).fillNormal(eps);
    const cond = await p.encodePrompts([prompt]);
    const masked = await p.maskedImageLatents(seeds.maskedImage);
    const a601 = alpha(601);
    const start = (e: Float32Array): Float32Array =>
      Float32Array.from(latents.data, (v, k) => Math.sqrt(a601) * v + Math.sqrt(1 - a601) * e[k]!);
    const z0 = await p.denoise({ ...latents, data: start(eps) }, cond, masked);
    const out = await runSession(grad, {
      latent_sample: new Tensor(
        'float32',
        Float32Array.from(z0, (v) => v / 0.18215),
        [1, 4, 16, 16],
      ),
    });
    expect(r!.losses).toEqual([(out.loss!.data as Float32Array)[0]]);
    const g = out.grad!.data as Float32Array;
    const eps1 = Float32Array.from(eps, (e, k) => e - 5 * g[k]!);
    const z1 = await p.denoise({ ...latents, data: start(eps1) }, cond, masked);
    const [expected] = await p.decode({ ...latents, data: z1 });
    expect(Array.from(r!.image.data)).toEqual(Array.from(expected!.data));
  });

  it('rejects models that do not fit their role, and bad sizes', () => {
    expect(() => new InpaintingPipeline({ ...models, unet: models.vaeDecoder }, fakeTokenizer, SIZE)).toThrow(
      expect.objectContaining({ code: 'DIFFUSION_ERR_MODEL' }),
    );
    expect(
      () => new InpaintingPipeline({ ...models, textEncoder: models.unet }, fakeTokenizer, SIZE),
    ).toThrow(expect.objectContaining({ code: 'DIFFUSION_ERR_MODEL' }));
    expect(() => new InpaintingPipeline(models, fakeTokenizer, { width: 30, height: 32 })).toThrow(
      expect.objectContaining({ code: 'DIFFUSION_ERR_ARGUMENT' }),
    );
  });
});

describe('imagesFromUnit', () => {
  it('maps [-1, 1] to bytes with clamping and round-half-even', () => {
    // Channel planes of a 2×1 image: x = 0 → 127.5 → 128 (even); −1 → 0; 1 → 255; 3 → clamp → 255;
    // −0.5 → 63.75 → 64; 0.2 → 153.
    const x = new Float32Array([0, -1, 1, 3, -0.5, 0.2]);
    const [img] = imagesFromUnit(x, 1, 1, 2);
    expect(Array.from(img!.data)).toEqual([128, 255, 64, 0, 255, 153]);
  });
});
