/**
 * The config hash of every stage of a run (what its done-markers record and its job payloads carry).
 * Each hash covers the stage's own settings and the hashes of the stages whose output it reads, so
 * changing an upstream setting invalidates everything downstream of it and nothing else.
 */
import { type RunSpec, type Stage, stageConfigHash } from '@synood/contracts';

/** The config hash of each stage of a run, the plan included. */
export type RunConfigHashes = Readonly<Record<Stage, string>>;

/**
 * The stage config hashes of `spec`. Deterministic: the same spec gives the same hashes in every
 * process, so the API (plan, resume, status) and the workers agree on what "done" means.
 */
export function runConfigHashes(spec: RunSpec): RunConfigHashes {
  const plan = stageConfigHash(spec, 'selection', { dataset: spec.dataset, sharding: spec.stages.sharding });
  const models = stageConfigHash(spec, 'models');
  const caption = stageConfigHash(spec, 'caption', { plan, models });
  const synthesize = stageConfigHash(spec, 'synthesis', { caption, models });
  const encode = stageConfigHash(spec, 'models', { synthesize });
  const mine = stageConfigHash(spec, 'mining', { plan, models });
  const assign = stageConfigHash(spec, 'score', { encode, mine, stage: 'assign' });
  const trainProjection = stageConfigHash(spec, 'projection', { assign });
  const trainLabels = stageConfigHash(spec, 'labels', { assign });
  const evaluate = stageConfigHash(spec, 'evaluation', {
    trainProjection,
    trainLabels,
    oodSets: spec.oodSets,
    score: spec.stages.score,
  });
  const publish = stageConfigHash(spec, 'evaluation', { evaluate, stage: 'publish' });
  return {
    plan,
    caption,
    synthesize,
    encode,
    mine,
    assign,
    'train-projection': trainProjection,
    'train-labels': trainLabels,
    evaluate,
    publish,
  };
}
