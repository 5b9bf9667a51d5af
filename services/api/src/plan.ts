/**
 * @file The plan stage (design §2, stage 0), run by a worker inside the API process: list the dataset,
 * measure every image's information richness (encoded bytes ÷ pixels, from the file size and its
 * header), keep the top k per class, cut the selection into shards in a deterministic order, write
 * `plan.json` and every `shards/<n>.json`, then the plan's done-marker, and enqueue the run's flow.
 *
 * An image that cannot be read or has no known class is recorded in the plan's `skipped` list (and, when
 * unreadable, as a coded item failure); it never fails the run. A dataset left with no usable image
 * fails the plan permanently, with the skip reasons in the message.
 */
import {
  ARTIFACTS,
  type Plan,
  type RunSpec,
  type ShardItems,
  type StageResult,
  SynoodError,
  itemIdOf,
  planSchema,
  shardItemsSchema,
} from '@synood/contracts';
import { selectInD } from '@synood/ood';
import {
  type FlowStage,
  FLOW_STAGES,
  type RunQueues,
  type StageContext,
  type StageHandler,
  enqueueRun,
} from '@synood/queue';
import {
  type ArtifactRecord,
  type ArtifactStore,
  type DatasetImage,
  StorageError,
  StorageErrorCode,
  artifactKey,
  artifactPrefix,
  listImageFolder,
  putWithChecksum,
  readClassNames,
  readDoneMarker,
  readJsonlManifest,
  writeDoneMarker,
} from '@synood/storage';
import { informationRichnessOf } from '@synood/vision';

import { describeError, platformCode } from './errors';
import { runConfigHashes } from './runs/hashes';
import { jsonBytes, readRunRecord, writeRunRecord } from './runs/records';

/** What the plan handler needs. */
export interface PlanDeps {
  /** The artifact store (run records, plan output). */
  store: ArtifactStore;
  /** Producer queues: the run's flow is enqueued through them. */
  queues: RunQueues;
  /** Opens the store a spec's dataset location names; the handler closes it when done. */
  openStore: (location: string) => ArtifactStore;
  /** Images read and measured at once. @defaultValue 16 */
  readConcurrency?: number;
}

/** One image that the plan could not use, as item failures record it. */
export interface PlanFailure {
  item: string;
  code: string;
  message: string;
}

/** What {@link computePlan} decides. */
export interface ComputedPlan {
  plan: Plan;
  shards: ShardItems[];
  /** Unreadable images (also listed in `plan.skipped`). */
  failures: PlanFailure[];
}

/** Reports progress in images; may throw to stop (cancellation). */
export type PlanProgress = (done: number, total: number) => Promise<void>;

/** Images between two progress reports. */
const PROGRESS_EVERY = 64;

interface Measured {
  key: string;
  classIndex: number;
  fileBytes: number;
  width: number;
  height: number;
}

/** Class list and a lookup from dataset class name (folder, label or WordNet id) to class index. */
async function resolveClasses(
  dataset: ArtifactStore,
  spec: RunSpec,
  images: readonly DatasetImage[],
): Promise<{ classes: string[]; indexOf: Map<string, number> }> {
  const indexOf = new Map<string, number>();
  const file = spec.dataset.classNames;
  if (file === undefined) {
    // No class file: the dataset's own class names, sorted (torchvision ImageFolder's order).
    const classes = [...new Set(images.map((i) => i.className))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    classes.forEach((name, i) => indexOf.set(name, i));
    return { classes, indexOf };
  }
  const entries = readClassNames(Buffer.from(await dataset.get(file)).toString('utf8'), file);
  entries.forEach((entry, i) => {
    // WordNet ids first (ImageNet folders are wnids); display names and synonyms map to their first class.
    if (entry.wnid !== undefined) {
      indexOf.set(entry.wnid, i);
    }
  });
  entries.forEach((entry, i) => {
    for (const name of entry.names) {
      if (!indexOf.has(name)) {
        indexOf.set(name, i);
      }
    }
  });
  if (entries.length === 0) {
    throw new SynoodError('SPEC_ERR_INVALID', `class-name file ${file} lists no classes`, [
      { path: 'dataset.classNames', message: 'the file lists no classes' },
    ]);
  }
  return { classes: entries.map((e) => e.name), indexOf };
}

function isNotFound(error: unknown): boolean {
  return error instanceof StorageError && error.code === StorageErrorCode.NotFound;
}

/**
 * Measures one image: its size from the bytes, its dimensions from the header. Returns the failure
 * instead for an image that is gone or undecodable; a store that is down throws (the job retries).
 */
async function measure(
  dataset: ArtifactStore,
  image: DatasetImage,
  classIndex: number,
): Promise<Measured | PlanFailure> {
  let bytes: Uint8Array;
  try {
    bytes = await dataset.get(image.key);
  } catch (error) {
    if (isNotFound(error)) {
      return { item: image.key, code: 'ITEM_ERR_IMAGE', message: `listed but gone: ${describeError(error)}` };
    }
    throw error;
  }
  try {
    const info = await informationRichnessOf(bytes, image.key);
    return { key: image.key, classIndex, fileBytes: info.fileBytes, width: info.width, height: info.height };
  } catch (error) {
    return { item: image.key, code: platformCode(error) ?? 'ITEM_ERR_IMAGE', message: describeError(error) };
  }
}

/**
 * Plans a run over the dataset in `dataset`: listing, measuring (bounded concurrency), selection of
 * the top `spec.stages.selection.perClass` images per class by bytes per pixel (`selectInD`), and
 * shards of `spec.stages.sharding.imagesPerShard` images in class order, then rank within the class.
 * The order depends only on the dataset's content, never on listing or read order.
 */
export async function computePlan(
  dataset: ArtifactStore,
  spec: RunSpec,
  options: { concurrency?: number; progress?: PlanProgress } = {},
): Promise<ComputedPlan> {
  const images =
    spec.dataset.layout === 'jsonl'
      ? await readJsonlManifest(dataset, spec.dataset.manifest!)
      : await listImageFolder(dataset, '');
  const { classes, indexOf } = await resolveClasses(dataset, spec, images);
  const skipped: { key: string; reason: string }[] = [];
  const known: { image: DatasetImage; classIndex: number }[] = [];
  for (const image of images) {
    const classIndex = indexOf.get(image.className);
    if (classIndex === undefined) {
      skipped.push({
        key: image.key,
        reason: `class ${JSON.stringify(image.className)} is not in the class-name file ${spec.dataset.classNames ?? ''}`,
      });
    } else {
      known.push({ image, classIndex });
    }
  }

  const measured: Measured[] = [];
  const failures: PlanFailure[] = [];
  const concurrency = options.concurrency ?? 16;
  let next = 0;
  let done = 0;
  let reported = 0;
  const lane = async (): Promise<void> => {
    while (next < known.length) {
      const { image, classIndex } = known[next++]!;
      const result = await measure(dataset, image, classIndex);
      if ('item' in result) {
        failures.push(result);
      } else {
        measured.push(result);
      }
      done++;
      if (options.progress !== undefined && done - reported >= PROGRESS_EVERY) {
        reported = done;
        await options.progress(done, known.length);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, known.length)) }, lane));
  await options.progress?.(known.length, known.length);

  failures.sort((a, b) => (a.item < b.item ? -1 : a.item > b.item ? 1 : 0));
  for (const f of failures) {
    skipped.push({ key: f.item, reason: `${f.code}: ${f.message}` });
  }
  skipped.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

  const ranked = selectInD(
    measured.map((m) => ({
      id: m.key,
      className: String(m.classIndex),
      fileBytes: m.fileBytes,
      width: m.width,
      height: m.height,
    })),
    spec.stages.selection.perClass,
  );
  const selected = ranked
    .map((r) => ({ key: r.id, classIndex: Number(r.className), rank: r.rank }))
    .sort((a, b) => a.classIndex - b.classIndex || a.rank - b.rank);
  const size = spec.stages.sharding.imagesPerShard;
  const shards: ShardItems[] = [];
  for (let start = 0; start < selected.length; start += size) {
    shards.push({
      shard: shards.length,
      items: selected.slice(start, start + size).map((s) => ({
        id: itemIdOf(s.classIndex, s.key),
        key: s.key,
        classIndex: s.classIndex,
      })),
    });
  }
  const plan: Plan = {
    classes,
    shards: shards.length,
    shardSize: size,
    selected: selected.length,
    listed: images.length,
    skipped,
  };
  return { plan: planSchema.parse(plan), shards, failures };
}

/** Key of the run's plan (`runs/<id>/plan/plan.json`). */
export function planKey(runId: string): string {
  return artifactKey({ runId, stage: 'plan', name: ARTIFACTS.plan.plan });
}

/** Key of shard `shard`'s item list (the `itemsKey` of its jobs). */
export function shardItemsKey(runId: string, shard: number): string {
  return artifactKey({ runId, stage: 'plan', name: ARTIFACTS.plan.shard(shard) });
}

/** The flow stages' config hashes of a run. */
export function flowConfigHashes(spec: RunSpec): Record<FlowStage, string> {
  const hashes = runConfigHashes(spec);
  return Object.fromEntries(FLOW_STAGES.map((s) => [s, hashes[s]])) as Record<FlowStage, string>;
}

/** Writes the plan's artifacts, then its done-marker (last). */
async function writePlan(
  store: ArtifactStore,
  runId: string,
  computed: ComputedPlan,
): Promise<ArtifactRecord[]> {
  const artifacts: ArtifactRecord[] = [];
  for (const shard of computed.shards) {
    artifacts.push(
      await putWithChecksum(
        store,
        shardItemsKey(runId, shard.shard),
        jsonBytes(shardItemsSchema.parse(shard)),
        {
          contentType: 'application/json',
        },
      ),
    );
  }
  artifacts.push(
    await putWithChecksum(store, planKey(runId), jsonBytes(computed.plan), {
      contentType: 'application/json',
    }),
  );
  return artifacts;
}

function resultOf(
  status: 'completed' | 'skipped',
  plan: Plan,
  failures: readonly PlanFailure[],
  artifacts: readonly ArtifactRecord[],
  t0: number,
): StageResult {
  return {
    status,
    counts: {
      processed: plan.selected,
      failed: failures.length,
      skipped: plan.skipped.length - failures.length,
    },
    artifacts: artifacts.map((a) => ({ key: a.key, size: a.size, sha256: a.sha256 })),
    failures: failures.map((f) => ({ ...f })),
    seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * The plan stage's handler. Idempotent: a plan whose done-marker matches the config hash is read back
 * instead of recomputed, and enqueueing the flow again adds nothing (deterministic job ids). A run
 * cancelled while it planned is left unqueued.
 */
export function createPlanHandler(deps: PlanDeps): StageHandler<'plan'> {
  return async (payload, ctx: StageContext) => {
    const t0 = performance.now();
    const { runId, configHash } = payload;
    const record = await readRunRecord(deps.store, runId);
    if (record === undefined) {
      throw new SynoodError('RUN_ERR_STAGE_FAILED', `run ${runId} has no record in ${deps.store.url}`);
    }
    const prefix = artifactPrefix({ runId, stage: 'plan' });
    const marker = await readDoneMarker(deps.store, prefix, configHash, { verifyArtifacts: true });
    let plan: Plan;
    let failures: PlanFailure[];
    let artifacts: ArtifactRecord[];
    let status: 'completed' | 'skipped';
    if (marker !== undefined) {
      plan = planSchema.parse(JSON.parse(Buffer.from(await deps.store.get(planKey(runId))).toString('utf8')));
      failures = (marker.failures as PlanFailure[] | undefined) ?? [];
      artifacts = marker.artifacts;
      status = 'skipped';
    } else {
      const dataset = deps.openStore(record.spec.dataset.location);
      let computed: ComputedPlan;
      try {
        computed = await computePlan(dataset, record.spec, {
          ...(deps.readConcurrency === undefined ? {} : { concurrency: deps.readConcurrency }),
          progress: (done, total) => ctx.progress({ done, total }),
        });
      } finally {
        await dataset.close();
      }
      if (computed.shards.length === 0) {
        await deps.store.put(planKey(runId), jsonBytes(computed.plan), { contentType: 'application/json' });
        const reasons = computed.plan.skipped.slice(0, 3).map((s) => `${s.key}: ${s.reason}`);
        throw new SynoodError(
          'SPEC_ERR_INVALID',
          `dataset ${record.spec.dataset.location} has no usable image: ${computed.plan.listed} listed, ` +
            `${computed.plan.skipped.length} skipped${reasons.length > 0 ? ` (${reasons.join('; ')})` : ''}`,
          [{ path: 'dataset.location', message: 'no usable image in the dataset' }],
        );
      }
      artifacts = await writePlan(deps.store, runId, computed);
      plan = computed.plan;
      failures = computed.failures;
      status = 'completed';
      await writeDoneMarker(deps.store, prefix, {
        runId,
        stage: 'plan',
        configHash,
        artifacts,
        failures,
        counts: resultOf(status, plan, failures, artifacts, t0).counts,
        createdAt: new Date().toISOString(),
      });
    }
    if (failures.length > 0) {
      ctx.log.warn({ unreadable: failures.length }, 'plan skipped unreadable images');
    }

    // Re-read: a cancel may have landed while the dataset was measured.
    const latest = (await readRunRecord(deps.store, runId)) ?? record;
    if (latest.state === 'cancelled') {
      ctx.log.info({}, 'run was cancelled while planning: its flow is not enqueued');
      return resultOf(status, plan, failures, artifacts, t0);
    }
    if (latest.shards !== plan.shards || latest.state === 'queued') {
      await writeRunRecord(deps.store, {
        ...latest,
        shards: plan.shards,
        state: latest.state === 'queued' ? 'running' : latest.state,
        updatedAt: new Date().toISOString(),
      });
    }
    await enqueueRun(deps.queues, {
      runId,
      shards: plan.shards,
      payloads: { configHashes: flowConfigHashes(record.spec), itemsKey: (n) => shardItemsKey(runId, n) },
    });
    ctx.log.info({ shards: plan.shards, selected: plan.selected }, 'run planned and its flow enqueued');
    return resultOf(status, plan, failures, artifacts, t0);
  };
}
