/**
 * The encoder's handlers on a generated dataset with fixture CLIP towers (file store in a temp folder), and
 * the service through real queues on the loopback Redis.
 */
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ARTIFACTS,
  type StageResult,
  encodeRowsSchema,
  minedNegativesSchema,
  stageConfigHash,
} from '@synood/contracts';
import type { LabelCandidate } from '@synood/ood';
import { enqueueStageJob, openQueues } from '@synood/queue';
import { artifactKey, artifactPrefix, doneMarkerKey } from '@synood/storage';
import { type Matrix, decodeNpy, npyToMatrix } from '@synood/tensor';

import {
  type EncoderDeps,
  WorkerErrorCode,
  checkHandlers,
  createEncoderDeps,
  handleEncode,
  handleMine,
  loadEncoderConfig,
  startEncoder,
  textFeatureKey,
} from '../src';
import {
  type ClipFiles,
  EMBED_DIM,
  REDIS_URL,
  type TinyRun,
  clipFiles,
  fixtureEnv,
  itemsKeyOf,
  makeTinyRun,
  uniquePrefix,
  writeSynthetic,
  handlerContext,
} from './fixtures';

let root: string;
let clip: ClipFiles;
let deps: EncoderDeps;

const NOUNS = ['rock', 'cloud', 'tree', 'chair', 'lamp', 'river', 'sand', 'boat'];
const ADJECTIVES = ['red', 'soft', 'tall', 'quiet'];
const CANDIDATES: LabelCandidate[] = [
  ...NOUNS.map((text) => ({ text, pos: 'noun' as const })),
  ...ADJECTIVES.map((text) => ({ text, pos: 'adj' as const })),
];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'synood-encoder-'));
  clip = await clipFiles(join(root, 'models'));
  const config = loadEncoderConfig(fixtureEnv(join(root, 'store'), clip));
  deps = await createEncoderDeps(config, { candidates: () => Promise.resolve(CANDIDATES) });
});

afterAll(async () => {
  await deps.close();
  await rm(root, { recursive: true, force: true });
});

const context = handlerContext;

async function matrixAt(run: TinyRun, key: string): Promise<Matrix> {
  return npyToMatrix(decodeNpy(await run.store.get(key)));
}

function encodePayload(run: TinyRun, shard = 0) {
  return {
    runId: run.runId,
    stage: 'encode' as const,
    shard,
    configHash: stageConfigHash(run.spec, 'models', 'encode'),
    itemsKey: itemsKeyOf(run.runId, shard),
  };
}

function minePayload(run: TinyRun) {
  return { runId: run.runId, stage: 'mine' as const, configHash: stageConfigHash(run.spec, 'mining') };
}

async function artifactBytes(run: TinyRun, result: StageResult): Promise<string[]> {
  return Promise.all(
    result.artifacts.map(async (a) => Buffer.from(await run.store.get(a.key)).toString('hex')),
  );
}

describe('encode', () => {
  let run: TinyRun;
  let first: StageResult;

  beforeAll(async () => {
    run = await makeTinyRun({ root: join(root, 'encode'), corrupt: true });
    await writeSynthetic(run, 0);
    first = await handleEncode({ ...deps, store: run.store }, encodePayload(run), context());
  });

  it('embeds every readable InD and synthetic image, in item order, as the tower does', async () => {
    const items = run.shards[0]!;
    const good = items.filter((i) => !i.corrupt);
    const rows = encodeRowsSchema.parse(
      JSON.parse(
        Buffer.from(
          await run.store.get(
            artifactKey({ runId: run.runId, stage: 'encode', shard: 0, name: ARTIFACTS.encode.rows }),
          ),
        ).toString(),
      ),
    );
    expect(rows.ind).toEqual(good.map((i) => ({ id: i.id, classIndex: i.classIndex })));
    expect(rows.synthetic).toEqual(items.slice(1).map((i) => ({ id: i.id, classIndex: i.classIndex })));
    const ind = await matrixAt(
      run,
      artifactKey({ runId: run.runId, stage: 'encode', shard: 0, name: ARTIFACTS.encode.ind }),
    );
    expect([ind.rows, ind.cols]).toEqual([good.length, EMBED_DIM]);
    // Each row is what the tower gives for that item's bytes alone.
    for (let r = 0; r < good.length; r++) {
      const alone = await deps.imageEncoder.encodeImages([{ name: good[r]!.key, bytes: good[r]!.bytes }]);
      expect(Array.from(ind.data.subarray(r * EMBED_DIM, (r + 1) * EMBED_DIM))).toEqual(
        Array.from(alone.raw.data),
      );
    }
    const syn = await matrixAt(
      run,
      artifactKey({ runId: run.runId, stage: 'encode', shard: 0, name: ARTIFACTS.encode.synthetic }),
    );
    expect([syn.rows, syn.cols]).toEqual([items.length - 1, EMBED_DIM]);
  });

  it('records the corrupt image as an item failure with its code, and counts the unmade synthetic one as skipped', () => {
    const corrupt = run.shards[0]!.find((i) => i.corrupt)!;
    expect(first.status).toBe('completed');
    expect(first.counts).toEqual({ processed: 5 + 5, failed: 1, skipped: 1 });
    expect(first.failures).toEqual([
      {
        item: corrupt.id,
        code: 'VISION_ERR_DECODE',
        message: expect.stringContaining('InD image') as unknown as string,
      },
    ]);
    expect(first.artifacts.map((a) => a.key.split('/').pop())).toEqual([
      'ind.npy',
      'synthetic.npy',
      'rows.json',
    ]);
  });

  it('skips a second run of the same job without recomputing', async () => {
    const again = await handleEncode({ ...deps, store: run.store }, encodePayload(run), context());
    expect(again.status).toBe('skipped');
    expect(again.counts).toEqual({ processed: 0, failed: 0, skipped: 12 });
    expect(again.artifacts).toEqual(first.artifacts);
  });

  it('recomputes identical bytes after a crash between the artifacts and the marker', async () => {
    const before = await artifactBytes(run, first);
    await run.store.delete(doneMarkerKey(artifactPrefix({ runId: run.runId, stage: 'encode', shard: 0 })));
    const ctx = context();
    const redo = await handleEncode({ ...deps, store: run.store }, encodePayload(run), ctx);
    expect(redo.status).toBe('completed');
    expect(await artifactBytes(run, redo)).toEqual(before);
    expect(ctx.reports.at(-1)).toEqual({ done: 11, total: 11 });
  });

  it('redoes the work when the config hash changes', async () => {
    const changed = await handleEncode(
      { ...deps, store: run.store },
      { ...encodePayload(run), configHash: 'abcdefabcdefabcd' },
      context(),
    );
    expect(changed.status).toBe('completed');
  });

  it('fails with WORKER_ERR_INPUT when the synthesize output is missing', async () => {
    const other = await makeTinyRun({ root: join(root, 'encode-missing') });
    await expect(
      handleEncode({ ...deps, store: other.store }, encodePayload(other), context()),
    ).rejects.toMatchObject({
      code: WorkerErrorCode.Input,
      message: expect.stringContaining('synthesize stage'),
    });
  });

  it('stops at the next batch when the run is cancelled', async () => {
    const other = await makeTinyRun({ root: join(root, 'encode-cancel') });
    await writeSynthetic(other, 0);
    const controller = new AbortController();
    const ctx = context(controller.signal, () => {
      controller.abort(new Error('cancelled'));
    });
    await expect(handleEncode({ ...deps, store: other.store }, encodePayload(other), ctx)).rejects.toThrow(
      'cancelled',
    );
    expect(
      await other.store.exists(
        doneMarkerKey(artifactPrefix({ runId: other.runId, stage: 'encode', shard: 0 })),
      ),
    ).toBe(false);
  });
});

/** Text features of `prompts`, normalised, as the tower gives them. */
async function normalisedText(prompts: string[]): Promise<Matrix> {
  return (await deps.textEncoder.encodeTexts(prompts)).normalized;
}

function dot(a: Matrix, i: number, b: Matrix, j: number): number {
  let s = 0;
  for (let k = 0; k < a.cols; k++) {
    s += a.data[i * a.cols + k]! * b.data[j * b.cols + k]!;
  }
  return s;
}

describe('mine', () => {
  const spec = { stages: { mining: { keepFraction: 0.5 } } };
  let run: TinyRun;
  let first: StageResult;
  let encoded: number;
  let counted: EncoderDeps;

  beforeAll(async () => {
    run = await makeTinyRun({ root: join(root, 'mine'), spec });
    encoded = 0;
    const tower = deps.textEncoder;
    counted = {
      ...deps,
      store: run.store,
      textEncoder: {
        encodeTexts: (texts: readonly string[], options?: Parameters<typeof tower.encodeTexts>[1]) => {
          encoded += texts.length;
          return tower.encodeTexts(texts, options);
        },
      } as unknown as EncoderDeps['textEncoder'],
    };
    first = await handleMine(counted, minePayload(run), context());
  });

  it('keeps, per part of speech, the candidates with the lowest 95th-percentile cosine to the classes', async () => {
    const prompts = [...NOUNS.map((n) => `the nice ${n}`), ...ADJECTIVES.map((a) => `This is a ${a} photo`)];
    const cand = await normalisedText(prompts);
    const ind = await normalisedText(['the nice cat', 'the nice dog']);
    // Two classes: the 0.95 quantile with linear interpolation is lo + 0.95·(hi − lo).
    const q = prompts.map((_, i) => {
      const a = dot(cand, i, ind, 0);
      const b = dot(cand, i, ind, 1);
      return Math.min(a, b) + 0.95 * Math.abs(a - b);
    });
    const lowest = (from: number, to: number, keep: number): string[] =>
      prompts
        .map((p, i) => ({ p, i }))
        .slice(from, to)
        .sort((x, y) => q[x.i]! - q[y.i]! || x.i - y.i)
        .slice(0, keep)
        .map((x) => x.p);
    const expected = [...lowest(0, 8, 4), ...lowest(8, 12, 2)];
    const negatives = minedNegativesSchema.parse(
      JSON.parse(
        Buffer.from(
          await run.store.get(
            artifactKey({ runId: run.runId, stage: 'mine', name: ARTIFACTS.mine.negatives }),
          ),
        ).toString(),
      ),
    );
    expect(negatives).toEqual({
      labels: expected,
      pos: ['noun', 'noun', 'noun', 'noun', 'adj', 'adj'],
      candidates: 12,
    });

    const negText = await matrixAt(
      run,
      artifactKey({ runId: run.runId, stage: 'mine', name: ARTIFACTS.mine.negativeText }),
    );
    const direct = await normalisedText(expected);
    expect([negText.rows, negText.cols]).toEqual([6, EMBED_DIM]);
    negText.data.forEach((v, i) => {
      expect(v).toBeCloseTo(direct.data[i]!, 5);
    });
    const indText = await matrixAt(
      run,
      artifactKey({ runId: run.runId, stage: 'mine', name: ARTIFACTS.mine.indText }),
    );
    indText.data.forEach((v, i) => {
      expect(v).toBeCloseTo(ind.data[i]!, 5);
    });
    const raw = await matrixAt(
      run,
      artifactKey({ runId: run.runId, stage: 'mine', name: 'negatives-text-raw.npy' }),
    );
    const rawDirect = (await deps.textEncoder.encodeTexts(expected)).raw;
    raw.data.forEach((v, i) => {
      expect(v).toBeCloseTo(rawDirect.data[i]!, 5);
    });
    expect(first.counts).toEqual({ processed: 14, failed: 0, skipped: 0 });
  });

  it('caches the candidate features per text model and prompt list', async () => {
    expect(encoded).toBe(14);
    const prompts = [...NOUNS.map((n) => `the nice ${n}`), ...ADJECTIVES.map((a) => `This is a ${a} photo`)];
    expect(await run.store.exists(textFeatureKey(deps.textModelId, prompts))).toBe(true);
    const other = await makeTinyRun({ root: join(root, 'mine'), spec });
    const result = await handleMine({ ...counted, store: run.store }, minePayload(other), context());
    expect(result.status).toBe('completed');
    // Only the two class prompts went through the tower; the output is the same.
    expect(encoded).toBe(16);
    expect(await artifactBytes(run, result)).toEqual(await artifactBytes(run, first));
  });

  it('skips when done, and recomputes identical bytes after a lost marker', async () => {
    const again = await handleMine(counted, minePayload(run), context());
    expect(again.status).toBe('skipped');
    const before = await artifactBytes(run, first);
    await run.store.delete(doneMarkerKey(artifactPrefix({ runId: run.runId, stage: 'mine' })));
    const redo = await handleMine(counted, minePayload(run), context());
    expect(redo.status).toBe('completed');
    expect(await artifactBytes(run, redo)).toEqual(before);
  });
});

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
      });
    })
      .on('error', reject)
      .end();
  });
}

describe('the service', () => {
  it('runs an encode job from the queue and exposes the stage metrics', async () => {
    const run = await makeTinyRun({ root: join(root, 'service') });
    await writeSynthetic(run, 0);
    const prefix = uniquePrefix('encoder');
    const service = await startEncoder(
      { ...deps, store: run.store },
      { redis: REDIS_URL, prefix, metricsServer: { port: 0, host: '127.0.0.1' }, closeDeps: false },
    );
    const queues = await openQueues({ redis: REDIS_URL, prefix });
    try {
      const finished = new Promise<string>((resolve) => {
        service.workers
          .find((w) => w.stage === 'encode')!
          .onJob((e) => {
            resolve(e.outcome);
          });
      });
      await enqueueStageJob(queues, encodePayload(run));
      expect(await finished).toBe('completed');
      const scrape = await get(`${service.metricsServer!.url}/metrics`);
      expect(scrape.status).toBe(200);
      expect(scrape.body).toMatch(
        /synood_stage_job_duration_seconds_count\{stage="encode",status="completed",service="encoder"\} 1/,
      );
      expect(scrape.body).toMatch(
        /synood_stage_items_total\{stage="encode",outcome="processed",service="encoder"\} 11/,
      );
      expect(scrape.body).toMatch(
        /synood_onnx_run_seconds_count\{model="clip.vision",service="encoder"\} [1-9]/,
      );
      const ready = await get(`${service.metricsServer!.url}/readyz`);
      expect(JSON.parse(ready.body)).toEqual({ status: 'ok', service: 'encoder', paused: [] });
    } finally {
      await service.close();
      await queues.obliterate();
      await queues.close();
    }
  });

  it('refuses to start with a handler gap, a duplicate or a foreign stage', () => {
    const noop = () => Promise.reject(new Error('unused'));
    expect(() => {
      checkHandlers('encoder', [{ stage: 'encode', handler: noop }]);
    }).toThrow(/stage mine has no handler/);
    expect(() => {
      checkHandlers('encoder', [
        { stage: 'encode', handler: noop },
        { stage: 'encode', handler: noop },
        { stage: 'mine', handler: noop },
        { stage: 'evaluate', handler: noop },
      ]);
    }).toThrow(/stage encode has 2 handlers; stage evaluate belongs to the trainer service, not encoder/);
  });

  it('fails fast naming every missing model file', async () => {
    const config = loadEncoderConfig({
      ...fixtureEnv(join(root, 'store'), clip),
      SYNOOD_CLIP_VISION_MODEL: join(root, 'nope', 'vision.onnx'),
      SYNOOD_CLIP_TOKENIZER: join(root, 'nope', 'tokenizer.json'),
    });
    await expect(createEncoderDeps(config)).rejects.toMatchObject({
      code: WorkerErrorCode.ModelMissing,
      message: expect.stringMatching(/clip\.vision: .*vision\.onnx; clip\.tokenizer: .*tokenizer\.json/),
    });
  });

  it('lists every bad variable in one configuration error', () => {
    let error: unknown;
    try {
      loadEncoderConfig({ REDIS_URL: 'http://x', SYNOOD_METRICS_PORT: 'abc', SYNOOD_ENCODE_BATCH_SIZE: '0' });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'CONFIG_ERR_INVALID' });
    const variables = (error as { issues: { variable: string }[] }).issues.map((i) => i.variable).sort();
    expect(variables).toEqual(['REDIS_URL', 'SYNOOD_ENCODE_BATCH_SIZE', 'SYNOOD_METRICS_PORT']);
  });
});
