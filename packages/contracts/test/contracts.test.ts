import { describe, expect, it } from '@jest/globals';
import { DEFAULT_LABEL_FINETUNING, DEFAULT_PROJECTION_TRAINING } from '@synood/ood';
import {
  ERROR_CODES,
  RUN_STAGES,
  SHARD_STAGES,
  STAGES,
  SynoodError,
  canonicalJson,
  doneMarkerSchema,
  isShardStage,
  jobId,
  parseRunSpec,
  queueName,
  shardPayloadSchema,
  specHash,
  stageConfigHash,
  stagePayloadSchema,
} from '../src';

const minimal = { dataset: { location: 's3://bucket/imagenet/train' } };

describe('stages', () => {
  it('partition into per-shard and per-run stages, with deterministic queue names and job ids', () => {
    expect([...SHARD_STAGES, ...RUN_STAGES].sort()).toEqual([...STAGES].sort());
    expect(isShardStage('synthesize')).toBe(true);
    expect(isShardStage('assign')).toBe(false);
    expect(queueName('train-labels')).toBe('synood.train-labels');
    expect(jobId('r-1', 'caption', 7)).toBe('r-1.caption.00007');
    expect(jobId('r-1', 'publish')).toBe('r-1.publish');
    expect(() => jobId('r-1', 'encode')).toThrow(/needs a non-negative integer shard index/);
  });
});

describe('parseRunSpec', () => {
  it('fills the design §4 defaults', () => {
    const spec = parseRunSpec(minimal);
    expect(spec.seed).toBe(0);
    expect(spec.dataset.layout).toBe('imagefolder');
    expect(spec.stages.selection.perClass).toBe(50);
    expect(spec.stages.sharding.imagesPerShard).toBe(64);
    expect(spec.stages.synthesis).toMatchObject({
      scheduler: 'pndm',
      steps: 20,
      strength: 0.6,
      guidance: 8,
      iterations: 3,
      stepSize: 5,
      loss: 'code',
      margin: -5,
      size: 512,
      jpegQuality: 75,
    });
    expect(spec.stages.mining).toMatchObject({
      percentile: 0.95,
      keepFraction: 0.15,
      nounTemplate: 'the nice {}',
      adjectiveTemplate: 'This is a {} photo',
    });
    expect(spec.stages.score).toEqual({ scale: 100, groups: 100 });
    expect(spec.stages.projection).toMatchObject({ epochs: 3, batchSize: 128, lr: 1e-3, minLr: 1e-5 });
    expect(spec.stages.labels).toMatchObject({ epochs: 5, lr: 0.02, momentum: 0.9, minLr: 0 });
    // The trainer defaults and the spec defaults cannot drift apart.
    expect(spec.stages.projection.lr).toBe(DEFAULT_PROJECTION_TRAINING.lr);
    expect(spec.stages.labels.weightDecay).toBe(DEFAULT_LABEL_FINETUNING.weightDecay);
    expect(spec.models).toMatchObject({ clip: 'clip-vit-b16', executionProvider: 'cpu', fp16: false });
  });

  it('reports every bad field with its path at once', () => {
    let error: unknown;
    try {
      parseRunSpec({
        dataset: { location: 'http://example.com/x', layout: 'jsonl' },
        stages: { synthesis: { size: 500, strength: 1.5 } },
        oodSets: [
          { name: 'SUN', location: '/data/sun' },
          { name: 'SUN', location: '/data/sun2' },
        ],
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SynoodError);
    const e = error as SynoodError;
    expect(e.code).toBe('SPEC_ERR_INVALID');
    expect(e.status).toBe(400);
    expect(e.issues!.map((i) => i.path).sort()).toEqual([
      'dataset.location',
      'dataset.manifest',
      'oodSets.1.name',
      'stages.synthesis.size',
      'stages.synthesis.strength',
    ]);
    expect(e.message).toContain('stages.synthesis.size: ');
    expect(e.toBody().code).toBe('SPEC_ERR_INVALID');
  });
});

describe('hashes', () => {
  it('canonical JSON ignores key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { y: 1, x: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[2,{"x":2,"y":1}]},"b":1}',
    );
  });

  it('the spec hash is the idempotency key: defaults spelled out or not, same hash; model versions count', () => {
    const explicit = parseRunSpec({ ...minimal, seed: 0, stages: { score: { groups: 100 } } });
    const implicit = parseRunSpec(minimal);
    expect(specHash(explicit)).toBe(specHash(implicit));
    expect(specHash(implicit)).toMatch(/^[0-9a-f]{64}$/);
    expect(specHash(implicit, { clip: 'sha256:aa' })).not.toBe(specHash(implicit, { clip: 'sha256:bb' }));
    expect(specHash(parseRunSpec({ ...minimal, seed: 1 }))).not.toBe(specHash(implicit));
  });

  it('a stage config hash changes only with that stage (and the seed)', () => {
    const a = parseRunSpec(minimal);
    const b = parseRunSpec({ ...minimal, stages: { labels: { epochs: 6 } } });
    expect(stageConfigHash(a, 'projection')).toBe(stageConfigHash(b, 'projection'));
    expect(stageConfigHash(a, 'labels')).not.toBe(stageConfigHash(b, 'labels'));
    expect(stageConfigHash(a, 'labels')).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('payloads', () => {
  it('accepts shard and run payloads and rejects pixels or bad ids', () => {
    const shard = {
      runId: 'run-1',
      stage: 'synthesize',
      shard: 3,
      configHash: 'a'.repeat(16),
      itemsKey: 'runs/run-1/plan/3.json',
    };
    expect(shardPayloadSchema.parse(shard)).toEqual(shard);
    expect(
      stagePayloadSchema.safeParse({ runId: 'run-1', stage: 'publish', configHash: 'b'.repeat(16) }).success,
    ).toBe(true);
    expect(stagePayloadSchema.safeParse({ ...shard, runId: 'Run 1' }).success).toBe(false);
    expect(
      stagePayloadSchema.safeParse({ runId: 'run-1', stage: 'caption', configHash: 'b'.repeat(16) }).success,
    ).toBe(false);
  });

  it('done-markers carry artifacts with checksums', () => {
    const marker = {
      runId: 'run-1',
      stage: 'encode',
      shard: 0,
      configHash: 'c'.repeat(16),
      artifacts: [{ key: 'runs/run-1/encode/00000/features.npy', size: 10, sha256: 'd'.repeat(64) }],
      failures: [{ item: 'n01440764/x.JPEG', code: 'ITEM_ERR_IMAGE', message: 'truncated JPEG' }],
      createdAt: '2026-11-24T07:00:00.000Z',
    };
    expect(doneMarkerSchema.parse(marker)).toEqual(marker);
    expect(
      doneMarkerSchema.safeParse({ ...marker, artifacts: [{ key: 'k', size: 1, sha256: 'xyz' }] }).success,
    ).toBe(false);
  });

  it('every error code has a status', () => {
    for (const [code, { status }] of Object.entries(ERROR_CODES)) {
      expect(status).toBeGreaterThanOrEqual(400);
      expect(code).toMatch(/^[A-Z]+_ERR_[A-Z_]+$/);
    }
  });
});
