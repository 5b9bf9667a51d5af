/**
 * The encoder and trainer services in one process through real queues (loopback Redis): a run flow of
 * encode (2 shards) and mine under assign → train-projection → train-labels → evaluate → publish, built as
 * the API builds it minus the caption and synthesize jobs (the synthesize output is written by the test).
 * The published detector must decode and score, and the corrupt image must end as an item failure.
 *
 * The encoder is imported from its sources by path: services are not `@synood/*` path-mapped packages.
 */
import { request } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ARTIFACTS,
  type RunSpec,
  detectorPrefix,
  evaluationReportSchema,
  stageConfigHash,
} from '@synood/contracts';
import { type DetectorManifest, type LabelCandidate, decodeDetector, detectorScores } from '@synood/ood';
import { type FlowStage, type StageJobEvent, flowTree, openQueues, runJobs } from '@synood/queue';
import { artifactKey } from '@synood/storage';
import { encodePng } from '@synood/vision';

import { createEncoderDeps, loadEncoderConfig, startEncoder } from '../../encoder/src';
import { createTrainerDeps, loadTrainerConfig, startTrainer } from '../src';
import {
  EMBED_DIM,
  REDIS_URL,
  type TinyRun,
  clipFiles,
  fixtureEnv,
  itemsKeyOf,
  makeTinyRun,
  patternImage,
  uniquePrefix,
  writeSynthetic,
} from './fixtures';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'synood-pipeline-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function configHashes(spec: RunSpec): Record<FlowStage, string> {
  return {
    caption: stageConfigHash(spec, 'caption'),
    synthesize: stageConfigHash(spec, 'synthesis'),
    encode: stageConfigHash(spec, 'models', 'encode'),
    mine: stageConfigHash(spec, 'mining'),
    assign: stageConfigHash(spec, 'models', 'assign'),
    'train-projection': stageConfigHash(spec, 'projection'),
    'train-labels': stageConfigHash(spec, 'labels'),
    evaluate: stageConfigHash(spec, 'evaluation'),
    publish: stageConfigHash(spec, 'score'),
  };
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve(Buffer.concat(chunks).toString());
      });
    })
      .on('error', reject)
      .end();
  });
}

describe('encode → mine → assign → train-projection → train-labels → evaluate → publish', () => {
  it('runs through real queues and publishes a detector that decodes and scores', async () => {
    const clip = await clipFiles(join(root, 'models'));
    const oodDir = join(root, 'ood');
    await mkdir(oodDir, { recursive: true });
    await writeFile(join(oodDir, 'o1.png'), await encodePng(patternImage(50)));
    await writeFile(join(oodDir, 'o2.png'), await encodePng(patternImage(61)));
    await writeFile(join(oodDir, 'broken.png'), 'not a png');
    const run: TinyRun = await makeTinyRun({
      root: join(root, 'run'),
      perClass: 3,
      shardSize: 3,
      corrupt: true,
      spec: {
        oodSets: [{ name: 'far', location: oodDir, layout: 'flat', group: 'far' }],
        stages: {
          mining: { keepFraction: 0.5 },
          score: { groups: 2 },
          projection: { epochs: 1, batchSize: 8 },
          labels: { epochs: 1, batchSize: 4 },
        },
      },
    });
    await writeSynthetic(run, 0);
    await writeSynthetic(run, 1);
    const env = fixtureEnv(run.store.root, clip);
    const candidates: LabelCandidate[] = [
      ...['rock', 'cloud', 'tree', 'chair', 'lamp', 'river'].map((text) => ({ text, pos: 'noun' as const })),
      ...['red', 'soft', 'tall', 'quiet'].map((text) => ({ text, pos: 'adj' as const })),
    ];
    const encoderDeps = await createEncoderDeps(loadEncoderConfig(env), {
      candidates: () => Promise.resolve(candidates),
    });
    const trainerDeps = await createTrainerDeps(loadTrainerConfig(env));
    const prefix = uniquePrefix('pipeline');
    const encoder = await startEncoder(encoderDeps, { redis: REDIS_URL, prefix, metricsServer: false });
    const trainer = await startTrainer(trainerDeps, {
      redis: REDIS_URL,
      prefix,
      metricsServer: { port: 0, host: '127.0.0.1' },
    });
    const queues = await openQueues({ redis: REDIS_URL, prefix });
    try {
      const events: StageJobEvent[] = [];
      const finished = new Promise<StageJobEvent>((resolve) => {
        for (const worker of [...encoder.workers, ...trainer.workers]) {
          worker.onJob((event) => {
            events.push(event);
            if (event.stage === 'publish' || (event.outcome === 'failed' && event.willRetry !== true)) {
              resolve(event);
            }
          });
        }
      });
      const jobs = runJobs(run.runId, 2, {
        configHashes: configHashes(run.spec),
        itemsKey: (i) => itemsKeyOf(run.runId, i),
      }).filter((j) => j.stage !== 'caption' && j.stage !== 'synthesize');
      await queues.flows.add(flowTree(jobs, { prefix }));
      const last = await finished;
      expect([last.stage, last.outcome, last.error]).toEqual(['publish', 'completed', undefined]);
      expect(events.map((e) => e.stage).sort()).toEqual(
        [
          'assign',
          'encode',
          'encode',
          'evaluate',
          'mine',
          'publish',
          'train-labels',
          'train-projection',
        ].sort(),
      );

      const folder = detectorPrefix(run.runId);
      const manifest = JSON.parse(
        Buffer.from(await run.store.get(`${folder}/detector.json`)).toString(),
      ) as DetectorManifest;
      const detector = decodeDetector(manifest, await run.store.get(`${folder}/detector.bin`));
      expect(detector.indLabels).toEqual(['cat', 'dog']);
      expect(detector.indFeatures.cols).toBe(EMBED_DIM);
      // keepFraction 0.5 keeps 3 of the 6 nouns and 2 of the 4 adjectives.
      expect(detector.negativeLabels).toHaveLength(5);
      expect(detector.projection?.dim).toBe(EMBED_DIM);
      const report = evaluationReportSchema.parse(
        JSON.parse(
          Buffer.from(
            await run.store.get(
              artifactKey({ runId: run.runId, stage: 'evaluate', name: ARTIFACTS.evaluate.metrics }),
            ),
          ).toString(),
        ),
      );
      expect(detector.threshold).toBe(report.threshold);
      expect(report.ind.images).toBe(5);
      expect(report.sets).toHaveLength(1);
      expect(report.sets[0]!.images).toBe(2);
      const ood = await encoderDeps.imageEncoder.encodeImages([
        { name: 'o1.png', bytes: await encodePng(patternImage(50)) },
      ]);
      const scores = await detectorScores(trainerDeps.backend, detector, ood.raw);
      expect(scores[0]).toBeGreaterThan(0);
      expect(scores[0]).toBeLessThan(1);

      const metrics = await get(`${trainer.metricsServer!.url}/metrics`);
      for (const stage of ['assign', 'train-projection', 'train-labels', 'evaluate', 'publish']) {
        expect(metrics).toContain(
          `synood_stage_job_duration_seconds_count{stage="${stage}",status="completed",service="trainer"} 1`,
        );
      }
      expect(metrics).toContain(
        'synood_stage_items_total{stage="evaluate",outcome="failed",service="trainer"} 1',
      );
    } finally {
      await Promise.all([encoder.close(), trainer.close()]);
      await queues.obliterate();
      await queues.close();
    }
  });
});
