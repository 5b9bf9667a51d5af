/**
 * @file The start every per-shard stage job shares (caption, synthesize, encode): a done-marker for the same
 * config means nothing is recomputed; otherwise the run spec and the shard's item list are read, both
 * written before the job was enqueued (by the API and the plan stage).
 */
import {
  type RunSpec,
  type ShardItems,
  type ShardPayload,
  type ShardStage,
  type StageResult,
  shardItemsSchema,
} from '@synood/contracts';
import type { StageContext } from '@synood/queue';
import type { ArtifactStore } from '@synood/storage';

import { findDone, readJson, readRunSpec, skippedResult } from './io';

/** Where a shard job's output goes. */
export interface ShardLocation<S extends ShardStage> {
  runId: string;
  stage: S;
  shard: number;
}

/** A shard job to compute: its output location, the run spec and the shard's items. */
export interface OpenShardJob<S extends ShardStage> {
  skipped?: undefined;
  location: ShardLocation<S>;
  spec: RunSpec;
  items: ShardItems;
}

/** A shard job whose done-marker matched: the result to return as it is. */
export interface SkippedShardJob {
  skipped: StageResult;
}

/**
 * Starts a shard job of `stage`: the skipped result when its done-marker matches `payload.configHash`
 * (logged), else the run spec and the shard's item list.
 *
 * @param startedAt `performance.now()` when the job began, for the skipped result's seconds.
 * @throws WorkerError `WORKER_ERR_INPUT` when the run record or the item list is missing or malformed;
 * StorageError when the store is down.
 */
export async function openShardJob<S extends ShardStage>(
  store: ArtifactStore,
  stage: S,
  payload: Pick<ShardPayload, 'runId' | 'shard' | 'configHash' | 'itemsKey'>,
  ctx: Pick<StageContext, 'log'>,
  startedAt: number,
): Promise<OpenShardJob<S> | SkippedShardJob> {
  const { runId, shard } = payload;
  const location: ShardLocation<S> = { runId, stage, shard };
  const done = await findDone(store, location, payload.configHash);
  if (done !== undefined) {
    ctx.log.info({ shard }, `${stage} shard already done for this config: skipped`);
    return { skipped: skippedResult(done, startedAt) };
  }
  const spec = await readRunSpec(store, runId);
  const items = await readJson(
    store,
    payload.itemsKey,
    shardItemsSchema,
    `shard ${shard}'s item list`,
    'the plan stage',
  );
  return { location, spec, items };
}
