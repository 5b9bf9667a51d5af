/**
 * Fixtures the worker services' tests share: tiny CLIP towers from `@synood/graph`, a tiny CLIP tokenizer (the pattern
 * of `packages/models/test/clip-fixtures.ts`), a generated imagefolder dataset with one corrupt file, and a
 * run laid out in a `FileStore` as the plan and synthesize stages would leave it.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import {
  ARTIFACTS,
  type RunSpec,
  type RunSpecInput,
  itemIdOf,
  parseRunSpec,
  runRecordKey,
  shardName,
} from '@synood/contracts';
import { writeFixture } from '@synood/graph';
import { type StageContext, silentLogger } from '@synood/queue';
import { clipLetterVocab, clipTokenizerJson } from '@synood/models';
import { FileStore, artifactKey } from '@synood/storage';
import { type RgbImage, encodeJpeg, encodePng } from '@synood/vision';

/** Redis of the integration tests. */
// eslint-disable-next-line no-restricted-properties -- test support: the integration tests' Redis
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A queue prefix no other test uses. */
export function uniquePrefix(name: string): string {
  return `test-${name}-${randomUUID().slice(0, 8)}`;
}

/** Image side of the fixture vision tower. */
export const IMAGE_SIZE = 32;
/** Embedding size of the fixture towers. */
export const EMBED_DIM = 16;

/** A CLIP-style tokenizer.json over letters, with CLIP's start and end ids (see the models tests). */
export function tinyClipTokenizerJson(): Record<string, unknown> {
  return clipTokenizerJson(clipLetterVocab(), []);
}

/** Paths of the fixture CLIP towers and tokenizer. */
export interface ClipFiles {
  vision: string;
  text: string;
  tokenizer: string;
}

/** Writes (or reuses) the fixture towers and writes the tokenizer into `dir`. */
export async function clipFiles(dir: string): Promise<ClipFiles> {
  await mkdir(dir, { recursive: true });
  const tokenizer = join(dir, 'tokenizer.json');
  await writeFile(tokenizer, JSON.stringify(tinyClipTokenizerJson()));
  return {
    vision: await writeFixture('clip-vision', { seed: 3, imageSize: IMAGE_SIZE, embedDim: EMBED_DIM }),
    text: await writeFixture('clip-text', { seed: 4, embedDim: EMBED_DIM }),
    tokenizer,
  };
}

/** The environment of a service on the fixtures: file store at `storageDir`, no metrics listener. */
export function fixtureEnv(
  storageDir: string,
  clip: ClipFiles,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    SYNOOD_STORAGE_URL: storageDir,
    SYNOOD_CLIP_VISION_MODEL: clip.vision,
    SYNOOD_CLIP_TEXT_MODEL: clip.text,
    SYNOOD_CLIP_TOKENIZER: clip.tokenizer,
    SYNOOD_INTRA_OP_THREADS: '1',
    SYNOOD_ENCODE_BATCH_SIZE: '2',
    SYNOOD_TEXT_BATCH_SIZE: '4',
    SYNOOD_LOG_LEVEL: 'fatal',
    SYNOOD_METRICS_PORT: '0',
    ...extra,
  };
}

/** A w×h RGB image whose pixels depend on `seed`: distinct images give distinct features. */
export function patternImage(seed: number, width = 40, height = 36): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = (x * (5 + seed) + seed * 17) & 0xff;
      data[i + 1] = (y * (3 + 2 * seed)) & 0xff;
      data[i + 2] = ((x + y) * (seed + 1) * 7) & 0xff;
    }
  }
  return { width, height, data };
}

/** One image of the generated dataset. */
export interface DatasetItem {
  id: string;
  key: string;
  classIndex: number;
  /** The file's bytes as written. */
  bytes: Uint8Array;
  corrupt: boolean;
}

/** A run laid out in a file store. */
export interface TinyRun {
  runId: string;
  spec: RunSpec;
  store: FileStore;
  datasetDir: string;
  classes: string[];
  /** Items of each shard, in shard order. */
  shards: DatasetItem[][];
}

/** Options of {@link makeTinyRun}. */
export interface TinyRunOptions {
  root: string;
  runId?: string;
  classes?: string[];
  /** Images per class (the last image of class 0 is corrupt when `corrupt` is set). */
  perClass?: number;
  shardSize?: number;
  corrupt?: boolean;
  spec?: Partial<RunSpecInput>;
}

/**
 * Writes an imagefolder dataset (`<class>/<n>.png` or `.jpg`, one corrupt `.jpg` when asked), the run record,
 * the plan and the shard item lists, as the API's plan stage leaves them.
 */
export async function makeTinyRun(options: TinyRunOptions): Promise<TinyRun> {
  const runId = options.runId ?? `run-${randomUUID().slice(0, 8)}`;
  const classes = options.classes ?? ['cat', 'dog'];
  const perClass = options.perClass ?? 3;
  const datasetDir = join(options.root, 'dataset');
  const store = new FileStore(join(options.root, 'store'));
  const items: DatasetItem[] = [];
  for (let c = 0; c < classes.length; c++) {
    await mkdir(join(datasetDir, classes[c]!), { recursive: true });
    for (let n = 0; n < perClass; n++) {
      const corrupt = options.corrupt === true && c === 0 && n === perClass - 1;
      const png = n % 2 === 0;
      const key = `${classes[c]!}/${n}.${png ? 'png' : 'jpg'}`;
      const image = patternImage(c * 10 + n + 1);
      const bytes = corrupt
        ? Buffer.from('this is not an image')
        : png
          ? await encodePng(image)
          : await encodeJpeg(image, 90);
      await writeFile(join(datasetDir, key), bytes);
      items.push({ id: itemIdOf(c, key), key, classIndex: c, bytes, corrupt });
    }
  }
  const shardSize = options.shardSize ?? items.length;
  const shards: DatasetItem[][] = [];
  for (let s = 0; s < items.length; s += shardSize) {
    shards.push(items.slice(s, s + shardSize));
  }
  const spec = parseRunSpec({
    seed: 7,
    dataset: { location: datasetDir },
    ...options.spec,
  });
  const now = new Date(0).toISOString();
  await store.put(
    runRecordKey(runId),
    Buffer.from(
      JSON.stringify({
        id: runId,
        specHash: 'f'.repeat(64),
        spec,
        state: 'running',
        createdAt: now,
        updatedAt: now,
        shards: shards.length,
      }),
    ),
  );
  await store.put(
    artifactKey({ runId, stage: 'plan', name: ARTIFACTS.plan.plan }),
    Buffer.from(
      JSON.stringify({
        classes,
        shards: shards.length,
        shardSize,
        selected: items.length,
        listed: items.length,
        skipped: [],
      }),
    ),
  );
  for (let s = 0; s < shards.length; s++) {
    await store.put(
      itemsKeyOf(runId, s),
      Buffer.from(
        JSON.stringify({
          shard: s,
          items: shards[s]!.map((i) => ({ id: i.id, key: i.key, classIndex: i.classIndex })),
        }),
      ),
    );
  }
  return { runId, spec, store, datasetDir, classes, shards };
}

/** Key of a shard's item list, as the plan stage writes it. */
export function itemsKeyOf(runId: string, shard: number): string {
  return artifactKey({ runId, stage: 'plan', name: ARTIFACTS.plan.shard(shard) });
}

/**
 * Writes a synthesize shard's output: a JPEG per item (a new pattern), except the first item, whose record
 * carries an error and no image.
 */
export async function writeSynthetic(run: TinyRun, shard: number): Promise<{ made: DatasetItem[] }> {
  const lines: string[] = [];
  const made: DatasetItem[] = [];
  const items = run.shards[shard]!;
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if (i === 0) {
      lines.push(
        JSON.stringify({
          id: item.id,
          classIndex: item.classIndex,
          losses: [],
          seed: '7:synthesize',
          seconds: 0,
          error: { code: 'DIFFUSION_ERR_TEST', message: 'failed on purpose' },
        }),
      );
      continue;
    }
    const name = ARTIFACTS.synthesize.image(item.id);
    const bytes = await encodeJpeg(patternImage(100 + i * 3, 32, 32), 75);
    await run.store.put(artifactKey({ runId: run.runId, stage: 'synthesize', shard, name }), bytes);
    made.push({ ...item, bytes, corrupt: false });
    lines.push(
      JSON.stringify({
        id: item.id,
        classIndex: item.classIndex,
        image: name,
        losses: [1, 0.5],
        seed: `7:${item.id}`,
        seconds: 0.1,
      }),
    );
  }
  await run.store.put(
    artifactKey({ runId: run.runId, stage: 'synthesize', shard, name: ARTIFACTS.synthesize.manifest }),
    Buffer.from(lines.map((l) => `${l}\n`).join('')),
  );
  return { made };
}

/** The zero-padded shard folder name. */
export { shardName };

/** A handler context outside the queue: records progress, never aborted unless given a signal. */
export function handlerContext(
  signal: AbortSignal = new AbortController().signal,
  onProgress: () => void = () => undefined,
): StageContext & { reports: { done: number; total: number }[] } {
  const reports: { done: number; total: number }[] = [];
  return {
    jobId: 'test',
    attempt: 1,
    signal,
    log: silentLogger,
    reports,
    progress: (p) => {
      reports.push(p);
      onProgress();
      signal.throwIfAborted();
      return Promise.resolve();
    },
  };
}
