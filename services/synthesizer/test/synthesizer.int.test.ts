/**
 * The synthesizer's handler on a generated dataset with the tiny SD, VAE, UNet and ResNet fixtures
 * (`@synood/graph`), and the service through real queues on the loopback Redis.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ARTIFACTS,
  type StageResult,
  type SyntheticRecord,
  stageConfigHash,
  syntheticRecordSchema,
} from '@synood/contracts';
import { synthesisSeeds } from '@synood/diffusion';
import { enqueueStageJob, openQueues } from '@synood/queue';
import { artifactKey, artifactPrefix, doneMarkerKey, sha256Of } from '@synood/storage';
import { decodeImage } from '@synood/vision';

import {
  type SynthesizerDeps,
  WorkerErrorCode,
  checkHandlers,
  createSynthesizerDeps,
  handleSynthesize,
  loadPromptTokenizer,
  loadSynthesizerConfig,
  startSynthesizer,
} from '../src';
import {
  REDIS_URL,
  type TinyRun,
  itemsKeyOf,
  makeTinyRun,
  sdEnv,
  sdFiles,
  tinyClipTokenizerJson,
  uniquePrefix,
  writeCaptions,
  handlerContext,
} from './fixtures';

const SYNTHESIS = { size: 32, steps: 4, iterations: 2, batchSize: 2 };

let root: string;
let deps: SynthesizerDeps;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'synood-synthesizer-'));
  const sd = await sdFiles(join(root, 'models'));
  deps = await createSynthesizerDeps(loadSynthesizerConfig(sdEnv(join(root, 'store'), sd)));
});

afterAll(async () => {
  await (deps as SynthesizerDeps | undefined)?.close();
  await rm(root, { recursive: true, force: true });
});

const context = handlerContext;

function payload(run: TinyRun, shard = 0) {
  return {
    runId: run.runId,
    stage: 'synthesize' as const,
    shard,
    configHash: stageConfigHash(run.spec, 'synthesis'),
    itemsKey: itemsKeyOf(run.runId, shard),
  };
}

async function records(run: TinyRun): Promise<SyntheticRecord[]> {
  const text = Buffer.from(
    await run.store.get(
      artifactKey({ runId: run.runId, stage: 'synthesize', shard: 0, name: ARTIFACTS.synthesize.manifest }),
    ),
  ).toString();
  return text
    .trim()
    .split('\n')
    .map((l) => syntheticRecordSchema.parse(JSON.parse(l)));
}

/** The records without their timing field, the only one that may differ between two computations. */
const withoutSeconds = (lines: SyntheticRecord[]) =>
  lines.map((line) => Object.fromEntries(Object.entries(line).filter(([k]) => k !== 'seconds')));

describe('synthesize', () => {
  let run: TinyRun;
  let first: StageResult;
  let ctx: ReturnType<typeof context>;

  beforeAll(async () => {
    run = await makeTinyRun({
      root: join(root, 'run'),
      corrupt: true,
      spec: { stages: { synthesis: SYNTHESIS } },
    });
    await writeCaptions(run, 0);
    ctx = context();
    first = await handleSynthesize({ ...deps, store: run.store }, payload(run), ctx);
  });

  it('makes a 32×32 JPEG per captioned readable image, records losses and seeds, in item order', async () => {
    const items = run.shards[0]!;
    const lines = await records(run);
    expect(lines.map((l) => l.id)).toEqual(items.map((i) => i.id));
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      const line = lines[i]!;
      if (i === 0) {
        expect(line.error).toEqual({ code: 'CAPTION_ERR_NO_ELEMENTS', message: 'no prompt: no tag' });
        continue;
      }
      if (item.corrupt) {
        expect(line.error?.code).toBe('VISION_ERR_DECODE');
        expect(line.image).toBeUndefined();
        continue;
      }
      expect(line.image).toBe(`images/${item.id}.jpg`);
      // Two iterations: the first one's gradient is used, the output's is never computed.
      expect(line.losses).toHaveLength(1);
      expect(line.seed).toBe(synthesisSeeds(7, item.id).noise);
      const bytes = await run.store.get(
        artifactKey({ runId: run.runId, stage: 'synthesize', shard: 0, name: line.image! }),
      );
      const decoded = await decodeImage(bytes, line.image!);
      expect([decoded.format, decoded.width, decoded.height]).toEqual(['jpeg', 32, 32]);
    }
    expect(ctx.reports.at(-1)).toEqual({ done: 6, total: 6 });
  });

  it('counts the corrupt image as an item failure and the uncaptioned one as skipped', () => {
    const corrupt = run.shards[0]!.find((i) => i.corrupt)!;
    expect(first.counts).toEqual({ processed: 4, failed: 1, skipped: 1 });
    expect(first.failures.map((f) => [f.item, f.code])).toEqual([[corrupt.id, 'VISION_ERR_DECODE']]);
  });

  it('gives an image the same bytes alone as in its batch: draws depend on (run seed, image id) only', async () => {
    const item = run.shards[0]![3]!;
    const synthesizer = await deps.synthesizer(run.spec.stages.synthesis, run.spec.seed);
    const image = await decodeImage(item.bytes, item.key);
    const [alone] = await synthesizer.synthesize([
      { id: item.id, image, prompt: 'A photo only remain grass, fence.' },
    ]);
    const stored = await run.store.get(
      artifactKey({
        runId: run.runId,
        stage: 'synthesize',
        shard: 0,
        name: ARTIFACTS.synthesize.image(item.id),
      }),
    );
    expect(sha256Of(alone!.bytes)).toBe(sha256Of(stored));
  });

  it('skips when done, and recomputes identical images after a lost marker', async () => {
    const again = await handleSynthesize({ ...deps, store: run.store }, payload(run), context());
    expect(again.status).toBe('skipped');
    const images = first.artifacts.filter((a) => a.key.endsWith('.jpg'));
    const before = await Promise.all(images.map(async (a) => sha256Of(await run.store.get(a.key))));
    const manifest = withoutSeconds(await records(run));
    await run.store.delete(
      doneMarkerKey(artifactPrefix({ runId: run.runId, stage: 'synthesize', shard: 0 })),
    );
    const redo = await handleSynthesize({ ...deps, store: run.store }, payload(run), context());
    expect(redo.status).toBe('completed');
    expect(await Promise.all(images.map(async (a) => sha256Of(await run.store.get(a.key))))).toEqual(before);
    expect(withoutSeconds(await records(run))).toEqual(manifest);
  });

  it('fails with WORKER_ERR_INPUT when the captions are missing', async () => {
    const other = await makeTinyRun({
      root: join(root, 'no-captions'),
      spec: { stages: { synthesis: SYNTHESIS } },
    });
    await expect(
      handleSynthesize({ ...deps, store: other.store }, payload(other), context()),
    ).rejects.toMatchObject({
      code: WorkerErrorCode.Input,
      message: expect.stringContaining('caption stage'),
    });
  });

  it('fails with WORKER_ERR_CONFIG for an image size the VAE cannot take', async () => {
    await expect(deps.synthesizer({ ...run.spec.stages.synthesis, size: 33 }, 7)).rejects.toMatchObject({
      code: WorkerErrorCode.Config,
    });
  });
});

describe('the prompt tokenizer', () => {
  it('reads SD 2’s vocab.json + merges.txt folder as the same tokenizer as its tokenizer.json', async () => {
    const json = tinyClipTokenizerJson() as { model: { vocab: Record<string, number> } };
    const dir = join(root, 'sd-tokenizer');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'vocab.json'), JSON.stringify(json.model.vocab));
    await writeFile(join(dir, 'merges.txt'), '#version: 0.2\n');
    await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(json));
    const fromFolder = (await loadPromptTokenizer(dir)).encodeIds(['A photo of a cat']);
    const fromJson = (await loadPromptTokenizer(join(dir, 'tokenizer.json'))).encodeIds(['A photo of a cat']);
    // Start, the letters a, p-h-o-t-o, o-f, a, c-a-t (word-final letters in the 26–51 range), end; then
    // padding: '!' is not in the tiny vocabulary, so the folder form pads with id 0 as SD 2 does.
    const body = [26, 15, 7, 14, 19, 26 + 14, 14, 26 + 5, 26, 2, 0, 26 + 19];
    expect(Array.from(fromFolder.ids.slice(0, 14), Number)).toEqual([49406, ...body, 49407]);
    expect(fromFolder.length).toBe(77);
    expect(Array.from(fromFolder.ids.slice(14), Number).every((id) => id === 0)).toBe(true);
    expect(Array.from(fromJson.ids.slice(0, 14), Number)).toEqual(
      Array.from(fromFolder.ids.slice(0, 14), Number),
    );
  });
});

describe('the service', () => {
  it('runs a synthesize job from the queue', async () => {
    const run = await makeTinyRun({
      root: join(root, 'service'),
      perClass: 1,
      spec: { stages: { synthesis: SYNTHESIS } },
    });
    await writeCaptions(run, 0);
    const prefix = uniquePrefix('synthesizer');
    const service = await startSynthesizer(
      { ...deps, store: run.store },
      { redis: REDIS_URL, prefix, metricsServer: false, closeDeps: false },
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
      expect((await records(run)).filter((r) => r.image !== undefined)).toHaveLength(1);
    } finally {
      await service.close();
      await queues.obliterate();
      await queues.close();
    }
  });

  it('has exactly one handler for the synthesize stage', () => {
    expect(() => {
      checkHandlers('synthesizer', []);
    }).toThrow(/stage synthesize has no handler/);
  });
});
