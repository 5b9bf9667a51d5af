import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FastifyInstance } from 'fastify';

import { writeFixture } from '@synood/graph';
import { ClipImageEncoder } from '@synood/models';
import {
  type SynoodDetector,
  buildDetector,
  detectorLayout,
  detectorScores,
  encodeDetector,
  initProjectionHead,
  negLabelScores,
  projectFeatures,
  withThreshold,
} from '@synood/ood';
import { type HttpFixtureServer, startHttpFixtureServer } from '@synood/testing';
import { Rng, TypeScriptBackend, randomNormalMatrix } from '@synood/tensor';

import { buildApp } from '../src';
import { type TestEnv, jpeg, openTestEnv } from './helpers';

interface ScoreJson {
  detector: string;
  threshold: number | null;
  results: {
    name: string;
    synoodScore?: number;
    negLabelScore?: number;
    decision?: 'ind' | 'ood' | null;
    topClass?: { index: number; name: string; probability: number };
    error?: { code: string; message: string };
  }[];
}

const DETECTOR_ID = 'r-0123456789ab';
const LABELS = ['cat', 'dog', 'fox'];

let env: TestEnv;
let app: FastifyInstance;
let modelPath: string;
let images: Buffer[];
let detector: SynoodDetector;
let expected: { synood: number[]; negLabel: number[]; top: { index: number; probability: number }[] };
let server: HttpFixtureServer;
const backend = new TypeScriptBackend();
const corrupt = Buffer.from('definitely not an image, just bytes');

/** A multipart/form-data body with one file part per entry. */
function multipart(files: { name: string; bytes: Buffer }[]): { body: Buffer; contentType: string } {
  const boundary = '----synood-test-boundary';
  const parts = files.map((f) =>
    Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="images"; filename="${f.name}"\r\n` +
          'Content-Type: application/octet-stream\r\n\r\n',
      ),
      f.bytes,
      Buffer.from('\r\n'),
    ]),
  );
  return {
    body: Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

beforeAll(async () => {
  env = await openTestEnv('detectors');
  modelPath = await writeFixture('clip-vision', { seed: 11 }, join(env.dir, 'fixtures'));
  images = [await jpeg(40, 30, 7, 0.9), await jpeg(36, 36, 8, 0.2)];

  // Tiny random detector in the fixture's 16-d feature space, with a projection and two fine-tuned rows.
  const rng = new Rng(5);
  const projection = initProjectionHead(16, 3);
  let built = buildDetector({
    indLabels: LABELS,
    indFeatures: randomNormalMatrix(rng, 3, 16),
    negativeLabels: Array.from({ length: 12 }, (_, i) => `neg${i}`),
    negativeFeatures: randomNormalMatrix(rng, 12, 16),
    finetuned: { rows: Int32Array.from([2, 7]), features: randomNormalMatrix(rng, 2, 16) },
    projection,
    groups: 4,
    seed: 9,
    metadata: { createdAt: '2026-01-02T03:04:05.000Z', runId: DETECTOR_ID },
  });

  // Expected values straight from the encoder and the detector math.
  const encoder = await ClipImageEncoder.create(modelPath);
  const features = await encoder.encodeImages(images.map((bytes, i) => ({ name: `img${i}`, bytes })));
  await encoder.release();
  const synood = Array.from(await detectorScores(backend, built, features.raw));
  // The threshold sits between the two scores, so one image is InD and the other OOD.
  built = withThreshold(built, (synood[0]! + synood[1]!) / 2);
  detector = built;
  const negLabel = Array.from(await negLabelScores(backend, features.raw, detectorLayout(built)));
  const projected = await projectFeatures(backend, projection, features.raw);
  const top = [0, 1].map((row) => {
    // softmax over the InD labels of scale · cos(projected feature, label), by hand.
    const f = projected.data.subarray(row * 16, row * 16 + 16);
    const fNorm = Math.hypot(...f);
    const logits = LABELS.map((_, k) => {
      const t = built.indFeatures.data.subarray(k * 16, k * 16 + 16);
      let dot = 0;
      for (let j = 0; j < 16; j++) {
        dot += f[j]! * t[j]!;
      }
      return (built.scale * dot) / (fNorm * Math.hypot(...t));
    });
    const max = Math.max(...logits);
    const exps = logits.map((l) => Math.exp(l - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    const index = exps.indexOf(Math.max(...exps));
    return { index, probability: exps[index]! / sum };
  });
  expected = { synood, negLabel, top };

  const { manifest, data } = encodeDetector(detector);
  await env.store.put(`detectors/${DETECTOR_ID}/detector.json`, Buffer.from(JSON.stringify(manifest)));
  await env.store.put(`detectors/${DETECTOR_ID}/detector.bin`, data);

  server = await startHttpFixtureServer({
    files: { '/a.jpg': images[0]!, '/b.jpg': images[1]!, '/bad.jpg': corrupt },
    redirect: (path) => (path === '/moved.jpg' ? '/b.jpg' : undefined),
  });
  app = await buildApp(
    { ...env.deps, loadImageEncoder: () => ClipImageEncoder.create(modelPath) },
    { runPlanWorker: false, auth: { keys: ['k'] }, urls: { allowPrivate: true, timeoutMs: 5000 } },
  );
});

afterAll(async () => {
  await app.close();
  await server.close();
  await env.close();
});

function expectScored(result: ScoreJson['results'][number], i: number): void {
  expect(result.error).toBeUndefined();
  expect(result.synoodScore).toBeCloseTo(expected.synood[i]!, 6);
  expect(result.negLabelScore).toBeCloseTo(expected.negLabel[i]!, 6);
  expect(result.decision).toBe(expected.synood[i]! >= detector.threshold! ? 'ind' : 'ood');
  expect(result.topClass?.index).toBe(expected.top[i]!.index);
  expect(result.topClass?.name).toBe(LABELS[expected.top[i]!.index]);
  expect(result.topClass?.probability).toBeCloseTo(expected.top[i]!.probability, 5);
}

describe('detectors', () => {
  it('lists detectors and describes one', async () => {
    const list = await app.inject({ method: 'GET', url: '/v1/detectors' });
    expect(list.json()).toEqual({ detectors: [{ id: DETECTOR_ID }] });
    const info = await app.inject({ method: 'GET', url: `/v1/detectors/${DETECTOR_ID}` });
    expect(info.statusCode).toBe(200);
    expect(info.json()).toMatchObject({
      id: DETECTOR_ID,
      dim: 16,
      labels: { ind: 3, negatives: 12, finetuned: 2 },
      threshold: detector.threshold,
      groups: 4,
      scale: 100,
      projection: true,
      createdAt: '2026-01-02T03:04:05.000Z',
    });
    const missing = await app.inject({ method: 'GET', url: '/v1/detectors/r-aaaaaaaaaaaa' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json<{ error: { code: string } }>().error.code).toBe('API_ERR_NOT_FOUND');
  });

  it('scores uploaded images like detectorScores does, and a corrupt upload is a per-image error', async () => {
    // Two images decide on either side of the threshold.
    expect(
      new Set([expected.synood[0]! >= detector.threshold!, expected.synood[1]! >= detector.threshold!]).size,
    ).toBe(2);
    const { body, contentType } = multipart([
      { name: 'first.jpg', bytes: images[0]! },
      { name: 'broken.jpg', bytes: corrupt },
      { name: 'second.jpg', bytes: images[1]! },
    ]);
    const res = await app.inject({
      method: 'POST',
      url: `/v1/detectors/${DETECTOR_ID}/score`,
      headers: { 'x-api-key': 'k', 'content-type': contentType },
      payload: body,
    });
    expect(res.statusCode).toBe(200);
    const json = res.json<ScoreJson>();
    expect(json.detector).toBe(DETECTOR_ID);
    expect(json.threshold).toBe(detector.threshold);
    expect(json.results.map((r) => r.name)).toEqual(['first.jpg', 'broken.jpg', 'second.jpg']);
    expectScored(json.results[0]!, 0);
    expectScored(json.results[2]!, 1);
    expect(json.results[1]!.error?.code).toBe('VISION_ERR_DECODE');
    expect(json.results[1]!.synoodScore).toBeUndefined();
  });

  it('scores images by URL; fetch failures are per-image errors', async () => {
    const res = await app.inject({
      method: 'POST',
      url: `/v1/detectors/${DETECTOR_ID}/score`,
      headers: { 'x-api-key': 'k' },
      payload: {
        urls: [
          `${server.url}/a.jpg`,
          `${server.url}/missing.jpg`,
          `${server.url}/moved.jpg`,
          'ftp://example.com/x.jpg',
        ],
      },
    });
    expect(res.statusCode).toBe(200);
    const results = res.json<ScoreJson>().results;
    expectScored(results[0]!, 0);
    expect(results[1]!.error?.code).toBe('API_ERR_URL_FETCH');
    expect(results[1]!.error?.message).toContain('404');
    expectScored(results[2]!, 1);
    expect(results[3]!.error).toMatchObject({ code: 'API_ERR_URL_FETCH' });
    expect(results[3]!.error?.message).toContain('only http and https');
  });

  it('refuses private addresses unless allowed, and limits sizes', async () => {
    const strict = await buildApp(
      { ...env.deps, loadImageEncoder: () => ClipImageEncoder.create(modelPath) },
      { runPlanWorker: false, auth: { keys: ['k'] }, uploads: { maxFileBytes: 64 } },
    );
    try {
      const res = await strict.inject({
        method: 'POST',
        url: `/v1/detectors/${DETECTOR_ID}/score`,
        headers: { 'x-api-key': 'k' },
        payload: { urls: [`${server.url}/a.jpg`] },
      });
      expect(res.statusCode).toBe(200);
      const [result] = res.json<ScoreJson>().results;
      expect(result!.error?.code).toBe('API_ERR_URL_FETCH');
      expect(result!.error?.message).toContain('private');

      const { body, contentType } = multipart([{ name: 'big.jpg', bytes: images[0]! }]);
      const upload = await strict.inject({
        method: 'POST',
        url: `/v1/detectors/${DETECTOR_ID}/score`,
        headers: { 'x-api-key': 'k', 'content-type': contentType },
        payload: body,
      });
      expect(upload.statusCode).toBe(200);
      expect(upload.json<ScoreJson>().results[0]!.error?.code).toBe('API_ERR_PAYLOAD_TOO_LARGE');
    } finally {
      await strict.close();
    }
  });

  it('rejects a body that is neither an upload nor a URL list, and unknown detectors', async () => {
    const bad = await app.inject({
      method: 'POST',
      url: `/v1/detectors/${DETECTOR_ID}/score`,
      headers: { 'x-api-key': 'k' },
      payload: { images: [] },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ error: { code: string } }>().error.code).toBe('API_ERR_VALIDATION');
    const unknown = await app.inject({
      method: 'POST',
      url: '/v1/detectors/r-bbbbbbbbbbbb/score',
      headers: { 'x-api-key': 'k' },
      payload: { urls: [`${server.url}/a.jpg`] },
    });
    expect(unknown.statusCode).toBe(404);
  });
});
