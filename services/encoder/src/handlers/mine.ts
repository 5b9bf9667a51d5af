/**
 * The mine stage (design §2, stage 4): NegLabel's negative labels for the run's classes. The WordNet
 * candidates (nouns and adjectives, design §4) are filled into their templates and encoded with the CLIP
 * text tower, the InD class names into the InD template, and `mineNegativeLabels` keeps, per part of
 * speech, the `keepFraction` candidates least similar to any class at the `percentile` quantile.
 *
 * Cache: the candidate features depend on the text tower, the templates and the corpus, not on the class
 * set, and they are the expensive part (tens of thousands of prompts). They are stored once under
 * `cache/text-features/<key>.npy` in the artifact store (the key hashes the model bytes and every prompt),
 * so every later run on the same backbone only encodes its class names.
 *
 * Output (`ARTIFACTS.mine`): `negatives.json` (the prompts, nouns then adjectives, and their parts of
 * speech), `ind-text.npy` and `negatives-text.npy` (L2-normalised text features), and
 * {@link MINE_RAW_NEGATIVES} (the raw features, which label fine-tuning starts from, design §4).
 */
import { createHash } from 'node:crypto';

import { ARTIFACTS, type MinedNegatives, type StageResult, planSchema } from '@synood/contracts';
import { candidatePrompts, mineNegativeLabels } from '@synood/ood';
import type { PayloadOf, StageContext } from '@synood/queue';
import { StorageError, StorageErrorCode } from '@synood/storage';
import { type Matrix, concatRows, decodeNpy, gatherRows, l2NormalizeRows, npyToMatrix } from '@synood/tensor';

import type { EncoderDeps } from '../deps';
import {
  WorkerError,
  WorkerErrorCode,
  StageOutput,
  findDone,
  npyBytes,
  readJson,
  readRunSpec,
  skippedResult,
  stageKey,
} from '@synood/service-kit';

/**
 * Raw (unnormalised) text features of the negatives, rows as in `negatives.json`. Not in `ARTIFACTS.mine`
 * of the contracts yet; the trainer reads it under this name.
 */
export const MINE_RAW_NEGATIVES = ARTIFACTS.mine.negativeTextRaw;

/** Folder of the candidate text-feature cache in the artifact store. */
export const TEXT_FEATURE_CACHE_PREFIX = 'cache/text-features';

/** `template` with its `{}` replaced by `text`. */
export function fillTemplate(template: string, text: string): string {
  const at = template.indexOf('{}');
  return at < 0 ? template : template.slice(0, at) + text + template.slice(at + 2);
}

/** Cache key of the features of `prompts` under the text model `modelId`. */
export function textFeatureKey(modelId: string, prompts: readonly string[]): string {
  const h = createHash('sha256');
  h.update(`${modelId}\n${prompts.length}\n`);
  for (const p of prompts) {
    h.update(`${p}\n`);
  }
  return `${TEXT_FEATURE_CACHE_PREFIX}/${h.digest('hex').slice(0, 32)}.npy`;
}

/** Encodes `prompts` in runs of the configured batch size, reporting progress after each. */
async function encodePrompts(
  deps: EncoderDeps,
  prompts: readonly string[],
  ctx: StageContext,
  progress: (done: number) => Promise<void>,
): Promise<Matrix> {
  const parts: Matrix[] = [];
  const clipRun = deps.metrics.onnxRun.bind({ model: 'clip.text' });
  for (let start = 0; start < prompts.length; start += deps.batch.texts) {
    ctx.signal.throwIfAborted();
    const chunk = prompts.slice(start, start + deps.batch.texts);
    const t0 = performance.now();
    const features = await deps.textEncoder.encodeTexts(chunk, { batchSize: deps.batch.texts });
    clipRun.observe((performance.now() - t0) / 1000);
    parts.push(features.raw);
    await progress(start + chunk.length);
  }
  return concatRows(parts);
}

/** The candidate features from the cache, or encoded and stored there. */
async function candidateFeatures(
  deps: EncoderDeps,
  prompts: readonly string[],
  ctx: StageContext,
  progress: (done: number) => Promise<void>,
): Promise<Matrix> {
  const key = textFeatureKey(deps.textModelId, prompts);
  try {
    const cached = npyToMatrix(decodeNpy(await deps.store.get(key)), key);
    if (cached.rows === prompts.length && cached.cols > 0) {
      ctx.log.info({ key, prompts: prompts.length }, 'candidate text features from the cache');
      await progress(prompts.length);
      return cached;
    }
  } catch (error) {
    // A missing entry is the normal miss; a corrupt one is recomputed and overwritten. An outage is not a miss.
    if (error instanceof StorageError && error.code !== StorageErrorCode.NotFound) {
      throw error;
    }
  }
  const features = await encodePrompts(deps, prompts, ctx, progress);
  await deps.store.put(key, npyBytes(features), { contentType: 'application/octet-stream' });
  return features;
}

/** Runs the mine job of a run; see the file comment. */
export async function handleMine(
  deps: EncoderDeps,
  payload: PayloadOf<'mine'>,
  ctx: StageContext,
): Promise<StageResult> {
  const t0 = performance.now();
  const { runId } = payload;
  const location = { runId, stage: 'mine' as const };
  const done = await findDone(deps.store, location, payload.configHash);
  if (done !== undefined) {
    ctx.log.info({}, 'mine already done for this config: skipped');
    return skippedResult(done, t0);
  }
  const spec = await readRunSpec(deps.store, runId);
  const cfg = spec.stages.mining;
  const plan = await readJson(
    deps.store,
    stageKey({ runId, stage: 'plan' }, ARTIFACTS.plan.plan),
    planSchema,
    `run ${runId}'s plan`,
    'the plan stage',
  );
  const candidates = await deps.candidates({ lemmas: cfg.lemmas, lowercase: cfg.lowercase });
  if (candidates.length === 0) {
    throw new WorkerError(WorkerErrorCode.Config, 'the negative-label candidate corpus is empty');
  }
  const templates = { noun: cfg.nounTemplate, adj: cfg.adjectiveTemplate };
  const prompts = candidatePrompts(candidates, templates);
  const indPrompts = plan.classes.map((c) => fillTemplate(cfg.indTemplate, c));
  const total = prompts.length + indPrompts.length;

  const candidateRaw = await candidateFeatures(deps, prompts, ctx, (n) => ctx.progress({ done: n, total }));
  const indRaw = await encodePrompts(deps, indPrompts, ctx, (n) =>
    ctx.progress({ done: prompts.length + n, total }),
  );
  ctx.signal.throwIfAborted();
  const mined = await mineNegativeLabels({
    candidates,
    candidateFeatures: candidateRaw,
    indFeatures: indRaw,
    backend: deps.backend,
    percentile: cfg.percentile,
    keepFraction: cfg.keepFraction,
    templates,
  });
  if (mined.labels.length === 0) {
    throw new WorkerError(
      WorkerErrorCode.Config,
      `mining kept no negative label out of ${candidates.length} candidates with keepFraction ` +
        `${cfg.keepFraction}; raise stages.mining.keepFraction or use a larger corpus`,
    );
  }
  const negatives: MinedNegatives = {
    labels: mined.labels.map((l) => l.prompt),
    pos: mined.labels.map((l) => l.pos),
    candidates: candidates.length,
  };
  const negativeRaw = gatherRows(
    candidateRaw,
    mined.labels.map((l) => l.candidateIndex),
  );

  const out = new StageOutput(deps.store, location, payload.configHash, t0);
  await out.putJson(ARTIFACTS.mine.negatives, negatives);
  await out.putMatrix(ARTIFACTS.mine.indText, l2NormalizeRows(indRaw));
  await out.putMatrix(ARTIFACTS.mine.negativeText, l2NormalizeRows(negativeRaw));
  await out.putMatrix(MINE_RAW_NEGATIVES, negativeRaw);
  ctx.log.info(
    { candidates: candidates.length, nouns: mined.nounCount, adjectives: mined.adjCount },
    'negative labels mined',
  );
  return out.finish({ processed: total, failed: 0, skipped: 0 }, [], {
    nouns: mined.nounCount,
    adjectives: mined.adjCount,
  });
}
