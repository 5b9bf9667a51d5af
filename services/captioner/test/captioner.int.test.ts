/**
 * The captioner's handler on a generated dataset: the `clip-tags` backend on the fixture CLIP towers
 * (expected tags recomputed here from the towers' cosines), the `openai` backend against a loopback
 * chat-completions server, and the service through real queues on the loopback Redis.
 */
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ARTIFACTS, type StageResult, captionRecordSchema, stageConfigHash } from '@synood/contracts';
import { ClipImageEncoder, ClipTextEncoder, ClipTokenizer } from '@synood/models';
import { enqueueStageJob, openQueues } from '@synood/queue';
import { artifactKey, artifactPrefix, doneMarkerKey } from '@synood/storage';
import { type ChatCompletionsServer, startChatCompletionsServer } from '@synood/testing';

import {
  type CaptionLine,
  type CaptionerDeps,
  WorkerErrorCode,
  backendDown,
  checkHandlers,
  createCaptionerDeps,
  handleCaption,
  loadCaptionerConfig,
  startCaptioner,
} from '../src';
import {
  type ClipFiles,
  REDIS_URL,
  type TinyRun,
  clipFiles,
  fixtureEnv,
  itemsKeyOf,
  makeTinyRun,
  uniquePrefix,
  handlerContext,
} from './fixtures';

const VOCABULARY = ['rock', 'cloud', 'tree', 'lamp', 'cat', 'kitty'];
const SYNONYMS: Record<string, string[]> = { cat: ['kitty'] };

let root: string;
let clip: ClipFiles;
let deps: CaptionerDeps;
let chat: ChatCompletionsServer;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'synood-captioner-'));
  clip = await clipFiles(join(root, 'models'));
  chat = await startChatCompletionsServer({
    fallback: { kind: 'success', content: 'tree, a cat, sky, green grass' },
  });
  const config = loadCaptionerConfig({
    ...fixtureEnv(join(root, 'store'), clip),
    SYNOOD_CAPTION_BATCH_SIZE: '4',
  });
  deps = await createCaptionerDeps(config, {
    vocabulary: () => Promise.resolve(VOCABULARY),
    synonyms: () => Promise.resolve((c: string) => SYNONYMS[c] ?? []),
  });
});

afterAll(async () => {
  // Guarded: a failed setup must still close what it opened, or jest waits on the open handles.
  await (deps as CaptionerDeps | undefined)?.close();
  await (chat as ChatCompletionsServer | undefined)?.close();
  await rm(root, { recursive: true, force: true });
});

const context = handlerContext;

function payload(run: TinyRun, shard = 0) {
  return {
    runId: run.runId,
    stage: 'caption' as const,
    shard,
    configHash: stageConfigHash(run.spec, 'caption'),
    itemsKey: itemsKeyOf(run.runId, shard),
  };
}

async function captionLines(run: TinyRun, shard = 0): Promise<CaptionLine[]> {
  const text = Buffer.from(
    await run.store.get(
      artifactKey({ runId: run.runId, stage: 'caption', shard, name: ARTIFACTS.caption.captions }),
    ),
  ).toString();
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as CaptionLine);
}

const withoutSeconds = (lines: CaptionLine[]) =>
  lines.map((line) => Object.fromEntries(Object.entries(line).filter(([k]) => k !== 'seconds')));

describe('clip-tags', () => {
  let run: TinyRun;
  let first: StageResult;

  beforeAll(async () => {
    run = await makeTinyRun({
      root: join(root, 'tags'),
      corrupt: true,
      spec: { stages: { caption: { maxElements: 3 } } },
    });
    first = await handleCaption({ ...deps, store: run.store }, payload(run), context());
  });

  it('tags each image with its most similar vocabulary words, never its class or synonyms', async () => {
    const tokenizer = await ClipTokenizer.fromFile(clip.tokenizer);
    const text = await ClipTextEncoder.create(clip.text, tokenizer, { session: { intraOpThreads: 1 } });
    const image = await ClipImageEncoder.create(clip.vision, { session: { intraOpThreads: 1 } });
    try {
      const words = (await text.encodeTexts(VOCABULARY.map((w) => `a photo of a ${w}.`))).normalized;
      const lines = await captionLines(run);
      const items = run.shards[0]!;
      expect(lines.map((l) => l.id)).toEqual(items.map((i) => i.id));
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        const line = captionRecordSchema.parse(lines[i]);
        if (item.corrupt) {
          expect(line.error?.code).toBe('VISION_ERR_DECODE');
          expect(line.prompt).toBe('');
          continue;
        }
        const f = (await image.encodeImages([{ name: item.key, bytes: item.bytes }])).normalized;
        const className = run.classes[item.classIndex]!;
        const excluded = new Set([className, ...(SYNONYMS[className] ?? [])]);
        // Cosines to every word, best first; the class's names are skipped; 3 at most, those under the
        // 0.2 similarity floor dropped except the best one.
        const ranked = VOCABULARY.map((w, k) => ({
          w,
          s: Array.from({ length: f.cols }, (_, d) => f.data[d]! * words.data[k * f.cols + d]!).reduce(
            (a, b) => a + b,
            0,
          ),
        }))
          .filter((t) => !excluded.has(t.w))
          .sort((a, b) => b.s - a.s)
          .slice(0, 3)
          .filter((t, rank) => t.s >= 0.2 || rank < 1)
          .map((t) => t.w);
        expect(line.raw).toBe(ranked.join(', '));
        expect(line.elements).toEqual(ranked);
        // compat mode: the answer's first 73 characters in the released code's sentence.
        expect(line.prompt).toBe(`A photo only remain ${ranked.join(', ').slice(0, 73)}.`);
        expect(line.backend).toBe('clip-tags');
      }
    } finally {
      await text.release();
      await image.release();
    }
  });

  it('counts the corrupt image as an item failure, not a failed shard', () => {
    const corrupt = run.shards[0]!.find((i) => i.corrupt)!;
    expect(first.status).toBe('completed');
    expect(first.counts).toEqual({ processed: 5, failed: 1, skipped: 0 });
    expect(first.failures).toEqual([
      { item: corrupt.id, code: 'VISION_ERR_DECODE', message: expect.any(String) as unknown as string },
    ]);
  });

  it('skips a second run and recomputes the same records after a lost marker', async () => {
    const again = await handleCaption({ ...deps, store: run.store }, payload(run), context());
    expect(again.status).toBe('skipped');
    const before = withoutSeconds(await captionLines(run));
    await run.store.delete(doneMarkerKey(artifactPrefix({ runId: run.runId, stage: 'caption', shard: 0 })));
    const ctx = context();
    const redo = await handleCaption({ ...deps, store: run.store }, payload(run), ctx);
    expect(redo.status).toBe('completed');
    // Only the timing field may differ between two computations.
    expect(withoutSeconds(await captionLines(run))).toEqual(before);
    expect(ctx.reports).toEqual([
      { done: 4, total: 6 },
      { done: 6, total: 6 },
    ]);
  });
});

describe('openai', () => {
  it('asks the endpoint about every readable image and builds clean prompts without the class name', async () => {
    const run = await makeTinyRun({
      root: join(root, 'openai'),
      perClass: 1,
      spec: {
        stages: {
          caption: { backend: 'openai', endpoint: chat.url, model: 'tiny-vlm', promptMode: 'clean' },
        },
      },
    });
    const before = chat.requests.length;
    const result = await handleCaption({ ...deps, store: run.store }, payload(run), context());
    expect(result.counts).toEqual({ processed: 2, failed: 0, skipped: 0 });
    const sent = chat.requests.slice(before);
    expect(sent).toHaveLength(2);
    expect(
      sent.every(
        (r) => r.model === 'tiny-vlm' && (r.imageUrls[0] ?? '').startsWith('data:image/png;base64,'),
      ),
    ).toBe(true);
    const [cat, dog] = await captionLines(run);
    expect(cat!.elements).toEqual(['tree', 'sky', 'green grass']);
    expect(cat!.prompt).toBe('A photo only remain tree, sky, green grass.');
    expect(dog!.elements).toEqual(['tree', 'cat', 'sky', 'green grass']);
    expect(dog!.mode).toBe('clean');
  });

  it('fails the job with WORKER_ERR_CONFIG when no endpoint is known, or the backend is not served', async () => {
    const noEndpoint = await makeTinyRun({
      root: join(root, 'openai-none'),
      spec: { stages: { caption: { backend: 'openai' } } },
    });
    await expect(
      handleCaption({ ...deps, store: noEndpoint.store }, payload(noEndpoint), context()),
    ).rejects.toMatchObject({
      code: WorkerErrorCode.Config,
      message: expect.stringContaining('SYNOOD_CAPTION_ENDPOINT'),
    });
    const local = await makeTinyRun({
      root: join(root, 'local'),
      spec: { stages: { caption: { backend: 'local' } } },
    });
    await expect(
      handleCaption({ ...deps, store: local.store }, payload(local), context()),
    ).rejects.toMatchObject({
      code: WorkerErrorCode.Config,
      message: expect.stringContaining('the local backend'),
    });
  });

  it('pauses on a backend whose breaker is open and cooling down, and resumes for the probe', () => {
    expect(backendDown({ state: 'open', retryAfterMs: 1000 } as never)).toBe(true);
    expect(backendDown({ state: 'open', retryAfterMs: 0 } as never)).toBe(false);
    expect(backendDown({ state: 'closed' } as never)).toBe(false);
  });
});

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve(Buffer.concat(chunks).toString());
      });
    })
      .on('error', reject)
      .end();
  });
}

describe('the service', () => {
  it('runs a caption job from the queue and exposes the stage metrics', async () => {
    const run = await makeTinyRun({ root: join(root, 'service') });
    const prefix = uniquePrefix('captioner');
    const service = await startCaptioner(
      { ...deps, store: run.store },
      { redis: REDIS_URL, prefix, metricsServer: { port: 0, host: '127.0.0.1' }, closeDeps: false },
    );
    const queues = await openQueues({ redis: REDIS_URL, prefix });
    try {
      const finished = new Promise<string>((resolve) => {
        service.workers[0]!.onJob((e) => {
          resolve(e.outcome);
        });
      });
      await enqueueStageJob(queues, payload(run));
      expect(await finished).toBe('completed');
      const metrics = await get(`${service.metricsServer!.url}/metrics`);
      expect(metrics).toContain(
        'synood_stage_job_duration_seconds_count{stage="caption",status="completed",service="captioner"} 1',
      );
      expect(metrics).toContain(
        'synood_stage_items_total{stage="caption",outcome="processed",service="captioner"} 6',
      );
    } finally {
      await service.close();
      await queues.obliterate();
      await queues.close();
    }
  });

  it('has exactly one handler for the caption stage', () => {
    expect(() => {
      checkHandlers('captioner', []);
    }).toThrow(/stage caption has no handler/);
  });
});
