import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { releaseSession, type InferenceSession } from '@synood/onnx';
import { decodeImage } from '@synood/vision';

import {
  InpaintingPipeline,
  SynOodSynthesizer,
  type InpaintingModels,
  type SynthesisRequest,
  type SynthesisResult,
  synthesisSeeds,
} from '../src';
import { fakeTokenizer, guidanceSession, releaseAll, sdSessions, testImage } from './helpers';

let models: InpaintingModels;
let grad: InferenceSession;
let gradFixed2: InferenceSession;

const requests: SynthesisRequest[] = [
  { id: 'n01/a.JPEG', image: testImage(40, 30, 0), prompt: 'A photo only remain grass, fence.' },
  { id: 'n01/b.JPEG', image: testImage(24, 36, 1), prompt: 'A photo only remain sky.' },
  { id: 'n02/c.JPEG', image: testImage(32, 32, 2), prompt: 'A photo only remain bamboo, leaf, railing.' },
];

beforeAll(async () => {
  models = await sdSessions();
  // 32² images, VAE factor 2: latents [4, 16, 16].
  grad = await guidanceSession([4, 16, 16]);
  gradFixed2 = await guidanceSession([4, 16, 16], 2);
});

afterAll(async () => {
  await releaseAll(models);
  await releaseSession(grad);
  await releaseSession(gradFixed2);
});

const pipelineOf = (): InpaintingPipeline =>
  new InpaintingPipeline(models, fakeTokenizer, { width: 32, height: 32 });

describe('SynOOD guided synthesis on fixtures', () => {
  it('lowers the loss at every iteration and returns a decodable JPEG of the configured size', async () => {
    const s = new SynOodSynthesizer(pipelineOf(), grad, { finalLoss: true, iterations: 4, seed: 3 });
    const [r] = await s.synthesize([requests[0]!]);
    expect(r!.losses).toHaveLength(4);
    for (let k = 1; k < 4; k++) {
      expect(r!.losses[k]!).toBeLessThan(r!.losses[k - 1]!);
    }
    expect(r!.losses[3]!).toBeGreaterThan(0);
    const decoded = await decodeImage(r!.bytes, 'out.jpg');
    expect([decoded.format, decoded.width, decoded.height]).toEqual(['jpeg', 32, 32]);
    expect(r!.seeds).toEqual(synthesisSeeds(3, 'n01/a.JPEG'));
    expect(r!.timings.totalMs).toBeGreaterThan(0);
  });

  it('a larger step lowers the loss further (the gradient is informative)', async () => {
    const run = async (stepSize: number): Promise<number[]> =>
      (
        await new SynOodSynthesizer(pipelineOf(), grad, { finalLoss: true, stepSize }).synthesize([
          requests[0]!,
        ])
      )[0]!.losses;
    const small = await run(5);
    const large = await run(200);
    expect(large[0]).toBe(small[0]);
    expect(small[0]! - small[2]!).toBeGreaterThan(0);
    expect(large[0]! - large[2]!).toBeGreaterThan(10 * (small[0]! - small[2]!));
  });

  it('leaves out the unused last gradient unless the final loss is asked for', async () => {
    const [r] = await new SynOodSynthesizer(pipelineOf(), grad).synthesize([requests[1]!]);
    expect(r!.losses).toHaveLength(2);
  });

  it('is deterministic for a seed and changes with the seed', async () => {
    const a = await new SynOodSynthesizer(pipelineOf(), grad, { seed: 7 }).synthesize([requests[0]!]);
    const b = await new SynOodSynthesizer(pipelineOf(), grad, { seed: 7 }).synthesize([requests[0]!]);
    const c = await new SynOodSynthesizer(pipelineOf(), grad, { seed: 8 }).synthesize([requests[0]!]);
    expect(Buffer.compare(a[0]!.bytes, b[0]!.bytes)).toBe(0);
    expect(a[0]!.losses).toEqual(b[0]!.losses);
    expect(Buffer.from(a[0]!.image.data).equals(Buffer.from(c[0]!.image.data))).toBe(false);
  });

  it('gives every image of a batch what it gets alone (dynamic and fixed-batch gradient models)', async () => {
    const config = { seed: 11, format: 'png', finalLoss: true } as const;
    const alone: SynthesisResult[] = [];
    for (const r of requests) {
      alone.push((await new SynOodSynthesizer(pipelineOf(), grad, config).synthesize([r]))[0]!);
    }
    const batched = await new SynOodSynthesizer(pipelineOf(), grad, config).synthesize(requests);
    // A fixed batch of 2 runs 3 images as 2 + (1 padded to 2).
    const fixed = await new SynOodSynthesizer(pipelineOf(), gradFixed2, config).synthesize(requests);
    // The default (dynamic) gradient model runs a batch-1 graph per image: bit-identical.
    batched.forEach((r, i) => {
      expect(r.id).toBe(requests[i]!.id);
      expect(Buffer.from(r.image.data).equals(Buffer.from(alone[i]!.image.data))).toBe(true);
      expect(r.losses).toEqual(alone[i]!.losses);
    });
    // A fixed-batch graph sums in another order: equal up to float32 rounding.
    fixed.forEach((r, i) => {
      expect(r.id).toBe(requests[i]!.id);
      const maxPixelDiff = r.image.data.reduce(
        (m, v, k) => Math.max(m, Math.abs(v - alone[i]!.image.data[k]!)),
        0,
      );
      expect(maxPixelDiff).toBeLessThanOrEqual(1);
      r.losses.forEach((l, k) => {
        expect(Math.abs(l - alone[i]!.losses[k]!) / alone[i]!.losses[k]!).toBeLessThan(1e-5);
      });
    });
  });

  it('runs concurrent calls on one pipeline independently', async () => {
    const p = pipelineOf();
    const s = new SynOodSynthesizer(p, grad, { seed: 2 });
    const sequential = [await s.synthesize([requests[0]!]), await s.synthesize([requests[1]!])];
    const concurrent = await Promise.all([s.synthesize([requests[0]!]), s.synthesize([requests[1]!])]);
    concurrent.forEach((r, i) => {
      expect(Buffer.compare(r[0]!.bytes, sequential[i]![0]!.bytes)).toBe(0);
    });
  });

  it('names a gradient model built for another latent size', async () => {
    const s = new SynOodSynthesizer(
      new InpaintingPipeline(models, fakeTokenizer, { width: 16, height: 16 }),
      grad,
    );
    await expect(s.synthesize([requests[0]!])).rejects.toMatchObject({
      code: 'DIFFUSION_ERR_MODEL',
      message: expect.stringContaining('latentShape [4, 8, 8]') as unknown,
    });
  });

  it('rejects empty batches and repeated ids', async () => {
    const s = new SynOodSynthesizer(pipelineOf(), grad);
    await expect(s.synthesize([])).rejects.toMatchObject({ code: 'DIFFUSION_ERR_ARGUMENT' });
    await expect(s.synthesize([requests[0]!, requests[0]!])).rejects.toMatchObject({
      code: 'DIFFUSION_ERR_ARGUMENT',
    });
  });
});
