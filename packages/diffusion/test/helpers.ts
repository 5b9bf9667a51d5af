/**
 * Fixture wiring shared by the model tests: tiny SD components and a ResNet classifier as onnxruntime
 * sessions, a stand-in tokenizer and a synthetic test image.
 */
import {
  type SdFixtureOptions,
  modelToBytes,
  resnetClassifierFixture,
  sdTextEncoderFixture,
  unetFixture,
  vaeDecoderFixture,
  vaeEncoderFixture,
} from '@synood/graph';
import { type InferenceSession, createSession, releaseSession } from '@synood/onnx';
import type { RgbImage } from '@synood/vision';

import { type InpaintingModels, type PromptTokenizer, buildGuidanceModel } from '../src';

/** One intra-op thread per session: the suite shares two cores with other work. */
export const SESSION = { intraOpThreads: 1 } as const;

/** Tiny SD parts: VAE factor 2, base width 8, text width 16. */
export const SD: SdFixtureOptions = { width: 8, groups: 2, factor: 2, hidden: 16, heads: 2 };

/** A CLIP-shaped stand-in: start 49406, one id per code point (mod 1000), end 49407, pad 0, 77 per row. */
export const fakeTokenizer: PromptTokenizer = {
  encodeIds(texts) {
    const length = 77;
    const ids = new BigInt64Array(texts.length * length);
    texts.forEach((text, r) => {
      const body = Array.from(text)
        .slice(0, length - 2)
        .map((ch) => BigInt(ch.codePointAt(0)! % 1000));
      ids.set([49406n, ...body, 49407n], r * length);
    });
    return { ids, length };
  },
};

/** A w×h test image with smooth gradients and a bright square, different per `variant`. */
export function testImage(width: number, height: number, variant = 0): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 3 * (y * width + x);
      const square = x > width / 4 && x < width / 2 && y > height / 3 && y < (2 * height) / 3;
      data[i] = (x * 255) / (width - 1);
      data[i + 1] = square ? 250 : (y * 200) / (height - 1) + 20 * variant;
      data[i + 2] = (128 + 40 * Math.sin((x + y + 7 * variant) / 3)) | 0;
    }
  }
  return { width, height, data };
}

/** The four SD sessions of the tiny fixtures; `unet` options override {@link SD}. */
export async function sdSessions(unet: SdFixtureOptions = {}): Promise<InpaintingModels> {
  const [textEncoder, vaeEncoder, vaeDecoder, unetSession] = await Promise.all([
    createSession(modelToBytes(sdTextEncoderFixture(SD)), SESSION),
    createSession(modelToBytes(vaeEncoderFixture(SD)), SESSION),
    createSession(modelToBytes(vaeDecoderFixture(SD)), SESSION),
    createSession(modelToBytes(unetFixture({ ...SD, ...unet })), SESSION),
  ]);
  return { textEncoder, vaeEncoder, vaeDecoder, unet: unetSession };
}

/** The gradient model (decoder → ResNet preprocessing → tiny ResNet → code loss) as a session. */
export async function guidanceSession(
  latentShape: readonly [number, number, number],
  batch: number | 'dynamic' = 'dynamic',
  classifierSeed = 0,
): Promise<InferenceSession> {
  const model = buildGuidanceModel({
    classifier: resnetClassifierFixture({ seed: classifierSeed, width: 4 }),
    decoder: vaeDecoderFixture(SD),
    latentShape,
    batch,
  });
  return createSession(modelToBytes(model), SESSION);
}

/** Releases every session of a models object. */
export async function releaseAll(models: InpaintingModels): Promise<void> {
  await Promise.all(Object.values(models).map((s: InferenceSession) => releaseSession(s)));
}

/** ᾱ by hand from the scaled-linear formula: β_i = (√β₀ + i·(√β₉₉₉ − √β₀)/999)², ᾱ_t = Π (1 − β_i). */
export function handAlphas(): number[] {
  const s0 = Math.sqrt(0.00085);
  const s1 = Math.sqrt(0.012);
  const out: number[] = [];
  let prod = 1;
  for (let i = 0; i < 1000; i++) {
    const root = s0 + ((s1 - s0) * i) / 999;
    prod = prod * (1 - root * root);
    out.push(prod);
  }
  return out;
}
