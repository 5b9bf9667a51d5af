/**
 * The real loading path end to end: catalog → download from a Hub-like loopback server (resolve URLs
 * redirecting to a CDN) → sha256 verification → onnxruntime sessions → CLIP features, on fixture towers.
 * The features are compared with the in-memory fixture models run directly on the same preprocessing.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { clipTextFixture, clipVisionFixture, encodeModel } from '@synood/graph';
import { Tensor, createSession, releaseSession, runSession } from '@synood/onnx';
import { type HttpFixtureServer, startHttpFixtureServer } from '@synood/testing';
import { CLIP_PRESET, encodePng, preprocess } from '@synood/vision';

import {
  ClipImageEncoder,
  ClipTextEncoder,
  ClipTokenizer,
  parseModelCatalog,
  pullModels,
  resolveModelPath,
  verifyModels,
} from '../src';
import { tinyClipTokenizerJson } from './clip-fixtures';

const REV = 'fedcba9876543210fedcba9876543210fedcba98';
const SIZE = 32;
const vision = encodeModel(clipVisionFixture({ seed: 3, imageSize: SIZE })).model;
const text = encodeModel(clipTextFixture({ seed: 4 })).model;
const tokenizer = Buffer.from(JSON.stringify(tinyClipTokenizerJson()));
const FILES: Record<string, Uint8Array> = {
  'onnx/vision_model.onnx': vision,
  'onnx/text_model.onnx': text,
  'tokenizer.json': tokenizer,
};
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

const catalog = parseModelCatalog(
  {
    version: 1,
    models: [
      ['clip.vision', 'onnx/vision_model.onnx'],
      ['clip.text', 'onnx/text_model.onnx'],
      ['clip.tokenizer', 'tokenizer.json'],
    ].map(([role, path]) => ({
      role,
      files: [
        {
          name: 'model',
          source: `hf://acme/tiny-clip@${REV}/${path!}`,
          path: `acme/tiny-clip/${path!}`,
          sha256: sha256(FILES[path!]!),
          size: FILES[path!]!.length,
        },
      ],
    })),
  },
  'e2e catalog',
);

let cdn: HttpFixtureServer;
let hub: HttpFixtureServer;
let cache: string;

beforeAll(async () => {
  cache = await mkdtemp(join(tmpdir(), 'synood-e2e-models-'));
  cdn = await startHttpFixtureServer({
    files: Object.fromEntries(Object.entries(FILES).map(([p, b]) => [`/cdn/${REV}/${p}`, b])),
  });
  hub = await startHttpFixtureServer({
    redirect: (path) => {
      const m = /^\/acme\/tiny-clip\/resolve\/([^/]+)\/(.+)$/.exec(path);
      return m === null ? undefined : `${cdn.url}/cdn/${m[1]!}/${m[2]!}`;
    },
  });
});

afterAll(async () => {
  await hub.close();
  await cdn.close();
  await rm(cache, { recursive: true, force: true });
});

/** A 40×48 RGB image with a known gradient pattern. */
async function testImage(): Promise<Uint8Array> {
  const w = 48;
  const h = 40;
  const pixels = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      pixels[i] = (x * 5) & 0xff;
      pixels[i + 1] = (y * 6) & 0xff;
      pixels[i + 2] = ((x + y) * 3) & 0xff;
    }
  }
  return encodePng({ data: pixels, width: w, height: h });
}

describe('registry → download → verify → session → features', () => {
  it('pulls the towers and tokenizer, verifies them, and embeds exactly as the fixture models do', async () => {
    const report = await pullModels({ catalog, cacheDir: cache, endpoint: hub.url, retryDelayMs: 1 });
    expect(report.files.map((f) => f.outcome)).toEqual(['downloaded', 'downloaded', 'downloaded']);
    const verified = await verifyModels({ catalog, cacheDir: cache });
    expect(verified.files.every((f) => f.status === 'verified')).toBe(true);
    // Every byte came through the Hub's redirect to the CDN.
    expect(hub.requests).toHaveLength(3);
    expect(cdn.requests).toHaveLength(3);

    const where = { catalog, cacheDir: cache };
    const image = await testImage();
    const encoder = await ClipImageEncoder.create(resolveModelPath('clip.vision', undefined, where), {
      session: { intraOpThreads: 1 },
    });
    const tok = await ClipTokenizer.fromFile(resolveModelPath('clip.tokenizer', undefined, where));
    const textEncoder = await ClipTextEncoder.create(resolveModelPath('clip.text', undefined, where), tok, {
      session: { intraOpThreads: 1 },
    });
    const direct = {
      vision: await createSession(vision, { intraOpThreads: 1 }),
      text: await createSession(text, { intraOpThreads: 1 }),
    };
    try {
      const features = await encoder.encodeImages([{ name: 'pattern.png', bytes: image }]);
      expect(features.failures).toEqual([]);
      const pixels = await preprocess(image, 'pattern.png', {
        ...CLIP_PRESET,
        resizeShortSide: SIZE,
        cropSize: SIZE,
      });
      const ref = await runSession(direct.vision, {
        pixel_values: new Tensor('float32', pixels.data, [...pixels.dims]),
      });
      const expected = Array.from(ref.image_embeds!.data as Float32Array);
      expect(Array.from(features.raw.data)).toEqual(expected);
      const n = Math.hypot(...expected);
      features.normalized.data.forEach((v, i) => {
        expect(v).toBeCloseTo(expected[i]! / n, 6);
      });

      const texts = ['a photo of a cat.', 'a cat'];
      const t = await textEncoder.encodeTexts(texts);
      const ids = tok.encode(texts);
      const refText = await runSession(direct.text, {
        input_ids: new Tensor('int64', ids.ids, [ids.count, ids.length]),
      });
      expect(Array.from(t.raw.data)).toEqual(Array.from(refText.text_embeds!.data as Float32Array));
    } finally {
      await encoder.release();
      await textEncoder.release();
      await releaseSession(direct.vision);
      await releaseSession(direct.text);
    }
  });
});
