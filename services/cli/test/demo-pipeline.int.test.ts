/**
 * The pipeline demo in-process against the test Redis: fixture models pulled through the registry, the
 * generated dataset, the API and the four workers, a run over HTTP to a published detector.
 */
import { METHOD_NAMES } from '@synood/trainer';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import { type PipelineDemoResult, runPipelineDemo } from '../src/demo/pipeline';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

let root: string;
let result: PipelineDemoResult;
const said: string[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'synood-demo-pipeline-'));
  result = await runPipelineDemo({
    out: root,
    redisUrl: REDIS_URL,
    prefix: `test-demo-${randomUUID().slice(0, 8)}`,
    logLevel: 'fatal',
    pollSeconds: 0.2,
    say: (text) => said.push(text),
    note: () => undefined,
  });
}, 180_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('synood demo (pipeline)', () => {
  it('runs every stage to success', () => {
    expect(result.run.state).toBe('succeeded');
    expect(result.run.stages.length).toBeGreaterThan(0);
    for (const stage of result.run.stages) {
      expect([stage.stage, stage.state]).toEqual([stage.stage, 'done']);
    }
    // 3 classes × 8 images in shards of 12: two shards through caption, synthesize and encode.
    const encode = result.run.stages.find((s) => s.stage === 'encode');
    expect(encode?.jobs).toMatchObject({ done: 2, total: 2 });
  });

  it('publishes a detector and scores an image with a decision', () => {
    expect(result.detectorId).toBe(result.run.id);
    expect(['ind', 'ood']).toContain(result.score.decision);
    expect(result.score.name).toBe('000.png');
  });

  it('prints the metrics table with a row per method and set', () => {
    const output = said.join('\n');
    expect(result.report.sets.map((s) => s.name).sort()).toEqual(['speckles', 'stripes']);
    expect(result.report.ind.images).toBe(24);
    for (const method of result.report.methods) {
      // Labels are padded to the column width and followed by at least the column gap, so "SynOOD" does
      // not also match "SynOOD (projection only)".
      const label = METHOD_NAMES[method] ?? method;
      const rows = output.split('\n').filter((l) => l.startsWith(`${label}  `));
      // One row per OOD set and one for the average.
      expect([method, rows.length]).toEqual([method, 3]);
    }
    expect(output).toContain('models pull');
    expect(output).toContain(`Detector: ${result.detectorId}`);
  });

  it('writes report.html under the output folder', async () => {
    expect(result.reportPath.startsWith(root)).toBe(true);
    expect(result.reportPath.endsWith('report.html')).toBe(true);
    await expect(access(result.reportPath)).resolves.toBeUndefined();
  });
});
