/**
 * The caption stage (design §2 stage 1, §4): for every InD image of a shard, the context elements other
 * than its main object, from the backend the run picks (`clip-tags` by default, an OpenAI-compatible
 * endpoint, or a local VLM), and the inpainting prompt `A photo only remain <elements>.` in the run's
 * prompt mode (`compat`: the answer's first 73 characters; `clean`: parsed elements fitted to 77 tokens).
 *
 * Output: `captions.jsonl`, one record per item in shard order (`captionRecordSchema`, plus the class name,
 * the prompt mode, the dropped answer items and, for `clip-tags`, the scored tags). An image that is
 * missing, does not decode or gets no usable answer is a record with `error` and an item failure; a model
 * server that is down fails the job with the retryable `CAPTION_ERR_UNAVAILABLE` (the queue retries it and
 * the backend's breaker pauses the worker).
 */
import { type CaptionItem, type CaptionRecord as BackendCaption, captionShard } from '@synood/captioning';
import { ARTIFACTS, type CaptionRecord, type StageResult, planSchema } from '@synood/contracts';
import type { PayloadOf, StageContext } from '@synood/queue';

import type { CaptionerDeps } from '../deps';
import {
  readImages,
  type ItemFailure,
  StageOutput,
  readJson,
  stageKey,
  openShardJob,
} from '@synood/service-kit';

/** A line of `captions.jsonl`: the contracts' record and what helps debugging a prompt. */
export type CaptionLine = CaptionRecord & {
  className: string;
  mode: string;
  dropped: readonly { item: string; reason: string }[];
  tags?: readonly { text: string; score: number }[];
};

function lineOf(record: BackendCaption): CaptionLine {
  return {
    id: record.id,
    elements: [...record.elements],
    prompt: record.prompt,
    raw: record.raw,
    backend: record.backend,
    model: record.model,
    seconds: record.seconds,
    ...(record.error === undefined
      ? {}
      : { error: { code: record.error.code, message: record.error.message } }),
    className: record.className,
    mode: record.mode,
    dropped: record.dropped.map((d) => ({ item: d.item, reason: d.reason })),
    ...(record.tags === undefined
      ? {}
      : { tags: record.tags.map((t) => ({ text: t.text, score: t.score })) }),
  };
}

/** Runs one caption job; see the file comment. */
export async function handleCaption(
  deps: CaptionerDeps,
  payload: PayloadOf<'caption'>,
  ctx: StageContext,
): Promise<StageResult> {
  const t0 = performance.now();
  const { runId, shard } = payload;
  const job = await openShardJob(deps.store, 'caption', payload, ctx, t0);
  if (job.skipped !== undefined) {
    return job.skipped;
  }
  const { location, spec, items } = job;
  const cfg = spec.stages.caption;
  const plan = await readJson(
    deps.store,
    stageKey({ runId, stage: 'plan' }, ARTIFACTS.plan.plan),
    planSchema,
    `run ${runId}'s plan`,
    'the plan stage',
  );
  const backend = await deps.backend(cfg);
  const synonymsOf = await deps.synonyms();
  const dataset = deps.stores.open(spec.dataset.location);
  const lines: CaptionLine[] = [];
  const total = items.items.length;
  for (let start = 0; start < total; start += deps.batchSize) {
    ctx.signal.throwIfAborted();
    const batch = items.items.slice(start, start + deps.batchSize);
    const read = await readImages(batch.map((item) => ({ id: item.id, store: dataset, key: item.key })));
    const byIndex = new Map<number, CaptionLine>();
    for (const f of read.failures) {
      const item = batch[f.index]!;
      byIndex.set(f.index, {
        id: item.id,
        elements: [],
        prompt: '',
        raw: '',
        backend: backend.name,
        model: backend.model,
        seconds: 0,
        error: { code: f.code, message: f.message },
        className: plan.classes[item.classIndex] ?? String(item.classIndex),
        mode: cfg.promptMode,
        dropped: [],
      });
    }
    const captionItems: CaptionItem[] = read.images.map((img) => {
      const item = batch[img.index]!;
      const className = plan.classes[item.classIndex] ?? String(item.classIndex);
      // Given per item too, so that taggers skip the synonyms as well as the parser does.
      return { id: item.id, image: img.bytes, className, synonyms: synonymsOf(className) };
    });
    if (captionItems.length > 0) {
      const records = await captionShard(captionItems, {
        backend,
        mode: cfg.promptMode,
        parse: { maxElements: cfg.maxElements },
        synonymsOf,
        ...(deps.countTokens === undefined ? {} : { countTokens: deps.countTokens }),
        signal: ctx.signal,
      });
      records.forEach((record, i) => byIndex.set(read.images[i]!.index, lineOf(record)));
    }
    for (let i = 0; i < batch.length; i++) {
      lines.push(byIndex.get(i)!);
    }
    await ctx.progress({ done: Math.min(start + deps.batchSize, total), total });
  }

  const failures: ItemFailure[] = lines
    .filter((l) => l.error !== undefined)
    .map((l) => ({ item: l.id, code: l.error!.code, message: l.error!.message }));
  const out = new StageOutput(deps.store, location, payload.configHash, t0);
  await out.putJsonl(ARTIFACTS.caption.captions, lines);
  ctx.log.info(
    { shard, images: total, failed: failures.length, backend: backend.name },
    'caption shard finished',
  );
  return out.finish({ processed: total - failures.length, failed: failures.length, skipped: 0 }, failures, {
    backend: backend.name,
    model: backend.model,
  });
}
