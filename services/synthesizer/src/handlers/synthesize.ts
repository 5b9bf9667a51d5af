/**
 * The synthesize stage (design §2 stage 2, §4): for every InD image of a shard with a caption, a
 * near-boundary OOD image by SynOOD's gradient-guided SD 2 inpainting with the caption's prompt, batched by
 * `stages.synthesis.batchSize`. Every random draw is seeded from (run seed, image id), so an image comes out
 * the same whatever the sharding, the batching or the worker.
 *
 * Output (`ARTIFACTS.synthesize`): `images/<id>.jpg` per made image and `synthetic.jsonl`, one
 * `SyntheticRecord` per item in shard order (the image name, the loss of each guided iteration, the noise
 * seed). An image that is missing or does not decode is a record with `error` and an item failure; an item
 * whose caption failed is a record with the caption's error, counted as skipped (the caption stage already
 * reported it).
 */
import {
  ARTIFACTS,
  type ShardItems,
  type StageResult,
  type SyntheticRecord,
  captionRecordSchema,
} from '@synood/contracts';
import { type SynthesisRequest, synthesisSeeds } from '@synood/diffusion';
import type { PayloadOf, StageContext } from '@synood/queue';
import { decodeImage } from '@synood/vision';

import type { SynthesizerDeps } from '../deps';
import {
  codeAndMessage,
  readImages,
  type ItemFailure,
  StageOutput,
  readJsonl,
  stageKey,
  openShardJob,
} from '@synood/service-kit';

/** Runs one synthesize job; see the file comment. */
export async function handleSynthesize(
  deps: SynthesizerDeps,
  payload: PayloadOf<'synthesize'>,
  ctx: StageContext,
): Promise<StageResult> {
  const t0 = performance.now();
  const { runId, shard } = payload;
  const job = await openShardJob(deps.store, 'synthesize', payload, ctx, t0);
  if (job.skipped !== undefined) {
    return job.skipped;
  }
  const { location, spec, items } = job;
  const cfg = spec.stages.synthesis;
  const captions = new Map(
    (
      await readJsonl(
        deps.store,
        stageKey({ runId, stage: 'caption', shard }, ARTIFACTS.caption.captions),
        captionRecordSchema,
        `caption shard ${shard}'s captions`,
        'the caption stage',
      )
    ).map((c) => [c.id, c]),
  );
  const synthesizer = await deps.synthesizer(cfg, spec.seed);
  const dataset = deps.stores.open(spec.dataset.location);
  const out = new StageOutput(deps.store, location, payload.configHash, t0);

  const records = new Map<string, SyntheticRecord>();
  const failures: ItemFailure[] = [];
  let skipped = 0;
  const fail = (
    item: ShardItems['items'][number],
    code: string,
    message: string,
    upstream: boolean,
  ): void => {
    records.set(item.id, {
      id: item.id,
      classIndex: item.classIndex,
      losses: [],
      seed: synthesisSeeds(spec.seed, item.id).noise,
      seconds: 0,
      error: { code, message },
    });
    if (upstream) {
      skipped++;
    } else {
      failures.push({ item: item.id, code, message });
    }
  };

  const todo = items.items.filter((item) => {
    const caption = captions.get(item.id);
    if (caption === undefined) {
      fail(item, 'CAPTION_ERR_MISSING', `no caption record for ${item.id} in caption shard ${shard}`, true);
      return false;
    }
    if (caption.error !== undefined || caption.prompt === '') {
      fail(
        item,
        caption.error?.code ?? 'CAPTION_ERR_NO_ELEMENTS',
        `no prompt: ${caption.error?.message ?? 'empty'}`,
        true,
      );
      return false;
    }
    return true;
  });
  const total = items.items.length;
  let handled = total - todo.length;
  for (let start = 0; start < todo.length; start += cfg.batchSize) {
    ctx.signal.throwIfAborted();
    const batch = todo.slice(start, start + cfg.batchSize);
    const read = await readImages(batch.map((item) => ({ id: item.id, store: dataset, key: item.key })));
    for (const f of read.failures) {
      fail(batch[f.index]!, f.code, f.message, false);
    }
    const requests: SynthesisRequest[] = [];
    const requested: ShardItems['items'] = [];
    for (const img of read.images) {
      const item = batch[img.index]!;
      try {
        const image = await decodeImage(img.bytes, item.key);
        requests.push({ id: item.id, image, prompt: captions.get(item.id)!.prompt });
        requested.push(item);
      } catch (error) {
        const { code, message } = codeAndMessage(error, 'VISION_ERR_DECODE');
        fail(item, code, message, false);
      }
    }
    if (requests.length > 0) {
      const results = await synthesizer.synthesize(requests);
      for (let i = 0; i < results.length; i++) {
        const r = results[i]!;
        const item = requested[i]!;
        const name = ARTIFACTS.synthesize.image(item.id);
        await out.put(name, r.bytes, 'image/jpeg');
        records.set(item.id, {
          id: item.id,
          classIndex: item.classIndex,
          image: name,
          losses: r.losses,
          seed: r.seeds.noise,
          seconds: r.timings.totalMs / 1000,
        });
      }
    }
    handled += batch.length;
    await ctx.progress({ done: handled, total });
  }

  const lines = items.items.map((item) => records.get(item.id)!);
  await out.putJsonl(ARTIFACTS.synthesize.manifest, lines);
  const made = lines.filter((l) => l.image !== undefined).length;
  ctx.log.info({ shard, made, failed: failures.length, skipped }, 'synthesize shard finished');
  return out.finish({ processed: made, failed: failures.length, skipped }, failures);
}
