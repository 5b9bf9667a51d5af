/**
 * The encode stage (design §2, stage 3): CLIP image features of a shard's InD images (from the dataset's
 * store) and of its synthetic images (from the synthesize stage's folder), computed once so that training
 * never runs the image tower again (design §4).
 *
 * Output (`ARTIFACTS.encode`): `ind.npy` and `synthetic.npy` (raw float32 features, one row per embedded
 * image), `rows.json` (which item each row is, and the images that failed). An image that is missing or
 * does not decode is an item failure with its code; a synthetic image that its own stage failed to make is
 * counted as skipped (the synthesize stage already reported it).
 */
import { ARTIFACTS, type EncodeRows, type StageResult, syntheticRecordSchema } from '@synood/contracts';
import type { PayloadOf, StageContext } from '@synood/queue';

import type { EncoderDeps } from '../deps';
import {
  type ImageSource,
  embedImages,
  type ItemFailure,
  StageOutput,
  readJsonl,
  stageKey,
  openShardJob,
} from '@synood/service-kit';

/** Runs one encode job; see the file comment. */
export async function handleEncode(
  deps: EncoderDeps,
  payload: PayloadOf<'encode'>,
  ctx: StageContext,
): Promise<StageResult> {
  const t0 = performance.now();
  const { runId, shard } = payload;
  const job = await openShardJob(deps.store, 'encode', payload, ctx, t0);
  if (job.skipped !== undefined) {
    return job.skipped;
  }
  const { location, spec, items } = job;
  const synthLocation = { runId, stage: 'synthesize' as const, shard };
  const synthetic = await readJsonl(
    deps.store,
    stageKey(synthLocation, ARTIFACTS.synthesize.manifest),
    syntheticRecordSchema,
    `synthesize shard ${shard}'s manifest`,
    'the synthesize stage',
  );
  const dataset = deps.stores.open(spec.dataset.location);
  const indSources: ImageSource[] = items.items.map((item) => ({
    id: item.id,
    store: dataset,
    key: item.key,
  }));
  const made = synthetic.filter((r) => r.image !== undefined && r.error === undefined);
  const synthSources: ImageSource[] = made.map((r) => ({
    id: r.id,
    store: deps.store,
    key: stageKey(synthLocation, r.image!),
  }));
  const total = indSources.length + synthSources.length;
  const clipRun = deps.metrics.onnxRun.bind({ model: 'clip.vision' });
  const observeRun = (seconds: number): void => {
    clipRun.observe(seconds);
  };

  const ind = await embedImages(deps.imageEncoder, indSources, {
    batchSize: deps.batch.images,
    signal: ctx.signal,
    progress: (n) => ctx.progress({ done: n, total }),
    observeRun,
  });
  const syn = await embedImages(deps.imageEncoder, synthSources, {
    batchSize: deps.batch.images,
    signal: ctx.signal,
    progress: (n) => ctx.progress({ done: indSources.length + n, total }),
    observeRun,
  });

  const rows: EncodeRows = {
    ind: ind.indices.map((i) => ({ id: items.items[i]!.id, classIndex: items.items[i]!.classIndex })),
    synthetic: syn.indices.map((i) => ({ id: made[i]!.id, classIndex: made[i]!.classIndex })),
    failures: [
      ...ind.failures.map((f) => ({ id: f.item, code: f.code, message: `InD image: ${f.message}` })),
      ...syn.failures.map((f) => ({ id: f.item, code: f.code, message: `synthetic image: ${f.message}` })),
    ],
  };
  const failures: ItemFailure[] = rows.failures.map((f) => ({
    item: f.id,
    code: f.code,
    message: f.message,
  }));

  const out = new StageOutput(deps.store, location, payload.configHash, t0);
  await out.putMatrix(ARTIFACTS.encode.ind, ind.features);
  await out.putMatrix(ARTIFACTS.encode.synthetic, syn.features);
  await out.putJson(ARTIFACTS.encode.rows, rows);
  ctx.log.info(
    { shard, ind: rows.ind.length, synthetic: rows.synthetic.length, failed: failures.length },
    'encode shard finished',
  );
  return out.finish(
    {
      processed: rows.ind.length + rows.synthetic.length,
      failed: failures.length,
      skipped: synthetic.length - made.length,
    },
    failures,
  );
}
