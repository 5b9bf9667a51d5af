import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type DetectorManifest, decodeDetector } from '@synood/ood';
import { OrtLinalgBackend } from '@synood/onnx';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatDemoTable } from '../src/commands/demo';
import { runFeatureSpaceDemo } from '../src/demo/feature-space';

describe('feature-space demo', () => {
  let backend: OrtLinalgBackend;
  let dir: string;
  beforeAll(async () => {
    backend = await OrtLinalgBackend.create({ intraOpThreads: 1 });
    dir = await mkdtemp(join(tmpdir(), 'synood-demo-'));
  });
  afterAll(async () => {
    await backend.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs every stage, prints every method, and writes a calibrated detector bundle atomically', async () => {
    const stages: string[] = [];
    const result = await runFeatureSpaceDemo(backend, dir, {
      stage: (s) => stages.push(s),
      step: () => undefined,
    });
    expect(stages).toEqual([
      'generate features',
      'assign negatives',
      'train projection',
      'train labels',
      'evaluate',
      'publish',
    ]);
    const byMethod = new Map(result.rows.map((r) => [r.method, r]));
    expect([...byMethod.keys()]).toEqual([
      'MCM',
      'NegLabel',
      'SynOOD (projection only)',
      'SynOOD (label fine-tuning only)',
      'SynOOD (projection + labels)',
    ]);
    expect(byMethod.get('SynOOD (projection + labels)')!.auroc).toBeGreaterThan(
      byMethod.get('NegLabel')!.auroc + 0.1,
    );
    // Calibrated on training InD: about 95% of held-out InD passes.
    expect(result.acceptedInd).toBeGreaterThan(0.85);
    expect(result.acceptedOod).toBeLessThan(result.acceptedInd);
    // Only the finished bundle is visible, no temporary folder.
    expect(await readdir(dir)).toEqual(['detector']);
    const manifest = JSON.parse(
      await readFile(join(result.detectorDir, 'detector.json'), 'utf8'),
    ) as DetectorManifest;
    const detector = decodeDetector(manifest, await readFile(join(result.detectorDir, 'detector.bin')));
    expect(detector.threshold).toBe(result.threshold);
    expect(detector.projection).not.toBeNull();
    expect(formatDemoTable(result.rows).split('\n')).toHaveLength(7);
  });
});
