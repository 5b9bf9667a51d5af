import { describe, expect, it } from '@jest/globals';
import type { FlowJob } from 'bullmq';

import { QueueErrorCode, STAGE_OPTIONS, buildRunFlow, runJobRefs } from '../src';
import { payloadsFor } from './helpers';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

function walk(node: FlowJob, visit: (node: FlowJob, parent?: FlowJob) => void, parent?: FlowJob): void {
  visit(node, parent);
  for (const child of node.children ?? []) {
    walk(child, visit, node);
  }
}

describe('runJobRefs', () => {
  it('lists every job of a 2-shard run, parents before children, with deterministic ids', () => {
    expect(runJobRefs('run-1', 2)).toEqual([
      { stage: 'publish', id: 'run-1.publish' },
      { stage: 'evaluate', id: 'run-1.evaluate', parentId: 'run-1.publish' },
      { stage: 'train-labels', id: 'run-1.train-labels', parentId: 'run-1.evaluate' },
      { stage: 'train-projection', id: 'run-1.train-projection', parentId: 'run-1.train-labels' },
      { stage: 'assign', id: 'run-1.assign', parentId: 'run-1.train-projection' },
      { stage: 'mine', id: 'run-1.mine', parentId: 'run-1.assign' },
      { stage: 'encode', shard: 0, id: 'run-1.encode.00000', parentId: 'run-1.assign' },
      { stage: 'encode', shard: 1, id: 'run-1.encode.00001', parentId: 'run-1.assign' },
      { stage: 'synthesize', shard: 0, id: 'run-1.synthesize.00000', parentId: 'run-1.encode.00000' },
      { stage: 'synthesize', shard: 1, id: 'run-1.synthesize.00001', parentId: 'run-1.encode.00001' },
      { stage: 'caption', shard: 0, id: 'run-1.caption.00000', parentId: 'run-1.synthesize.00000' },
      { stage: 'caption', shard: 1, id: 'run-1.caption.00001', parentId: 'run-1.synthesize.00001' },
    ]);
  });

  it.each([
    ['Bad_Id', 1],
    ['ok-run', 0],
    ['ok-run', 1.5],
    ['ok-run', 100_001],
  ])('rejects run %j with %d shards', (runId, shards) => {
    expect(codeOf(() => runJobRefs(runId, shards))).toBe(QueueErrorCode.Flow);
  });
});

describe('buildRunFlow', () => {
  const flow = buildRunFlow('run-7', 3, payloadsFor('run-7'), { prefix: 'pfx' });

  it('puts publish at the root and chains the run stages down to assign', () => {
    const chain: string[] = [];
    for (let node: FlowJob | undefined = flow; node !== undefined;) {
      chain.push(node.name);
      node = node.children?.length === 1 ? node.children[0] : undefined;
    }
    expect(chain).toEqual(['publish', 'evaluate', 'train-labels', 'train-projection', 'assign']);
  });

  it('gives assign mine and one encode per shard, each encode ← synthesize ← caption', () => {
    let assign: FlowJob | undefined;
    walk(flow, (node) => {
      if (node.name === 'assign') {
        assign = node;
      }
    });
    expect(assign!.children!.map((c) => c.opts!.jobId)).toEqual([
      'run-7.mine',
      'run-7.encode.00000',
      'run-7.encode.00001',
      'run-7.encode.00002',
    ]);
    for (const encode of assign!.children!.slice(1)) {
      const shard = (encode.data as { shard: number }).shard;
      const synthesize = encode.children!;
      expect(synthesize.map((n) => n.opts!.jobId)).toEqual([`run-7.synthesize.0000${shard}`]);
      expect(synthesize[0]!.children!.map((n) => n.opts!.jobId)).toEqual([`run-7.caption.0000${shard}`]);
      expect(synthesize[0]!.children![0]!.children).toBeUndefined();
    }
  });

  it('has 6 + 3 × shards jobs with queue names, payloads, job options and failParentOnFailure on children', () => {
    const nodes: { node: FlowJob; parent?: FlowJob }[] = [];
    walk(flow, (node, parent) => nodes.push({ node, ...(parent ? { parent } : {}) }));
    expect(nodes).toHaveLength(6 + 3 * 3);
    for (const { node, parent } of nodes) {
      const stage = node.name as keyof typeof STAGE_OPTIONS;
      expect(node.queueName).toBe(`synood.${stage}`);
      expect(node.prefix).toBe('pfx');
      expect(node.opts!.attempts).toBe(STAGE_OPTIONS[stage].attempts);
      expect(node.opts!.removeOnComplete).toEqual(STAGE_OPTIONS[stage].removeOnComplete);
      expect(node.opts!.removeOnFail).toEqual(STAGE_OPTIONS[stage].removeOnFail);
      expect(node.opts!.failParentOnFailure).toBe(parent === undefined ? undefined : true);
      expect((node.data as { runId: string; stage: string }).runId).toBe('run-7');
      expect((node.data as { stage: string }).stage).toBe(stage);
    }
    const caption1 = nodes.find((n) => n.node.opts!.jobId === 'run-7.caption.00001')!.node;
    expect(caption1.data).toEqual({
      runId: 'run-7',
      stage: 'caption',
      shard: 1,
      configHash: 'c0c0c0c0c0c0c0c0',
      itemsKey: 'runs/run-7/shards/1.json',
    });
  });

  it('is deterministic', () => {
    expect(buildRunFlow('run-7', 3, payloadsFor('run-7'), { prefix: 'pfx' })).toEqual(flow);
  });

  it('rejects payloads that fail the contracts (a bad config hash)', () => {
    const payloads = payloadsFor('run-8');
    const bad = { ...payloads, configHashes: { ...payloads.configHashes, encode: 'not-hex' } };
    expect(codeOf(() => buildRunFlow('run-8', 1, bad))).toBe(QueueErrorCode.Payload);
  });
});
