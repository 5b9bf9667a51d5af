/**
 * The distributed platform end to end (issue 7 acceptance): the API and the four worker services each as
 * its own process (their built `dist/` entry points), configured only by environment, against the test
 * Redis and an s3rver on loopback. A run is submitted over HTTP and followed to a published detector that
 * scores an uploaded image; every worker's `/metrics` then shows its stage histograms.
 *
 * The same run is the fault test: the synthesizer's storage goes through a proxy that slows each request
 * down, and the process is SIGKILLed once a shard has written part of its output but no done-marker. A
 * fresh synthesizer (short lock, so the dead job's lock expires in seconds and the stalled-job check puts
 * it back) finishes the run, and the stored artifacts are checked against the done-markers: one marker
 * per shard, every artifact named once, nothing lost, nothing extra, checksums matching the objects.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import {
  ARTIFACTS,
  type RunStatus,
  SHARD_STAGES,
  STAGES,
  STAGE_SERVICE,
  captionRecordSchema,
  encodeRowsSchema,
  runStatusSchema,
  syntheticRecordSchema,
} from '@synood/contracts';
import { type RunQueues, openQueues } from '@synood/queue';

import { DEMO_CLASSES, type DemoData, writeDemoData } from '../src/demo/dataset';
import { DEMO_VAE_SCALE_FACTOR, prepareDemoModels } from '../src/demo/models';
import { demoRunSpec } from '../src/demo/pipeline';
import {
  type DelayProxy,
  type ServiceProcess,
  bounded,
  freePort,
  spawnService,
  stageJobCounts,
  startDelayProxy,
  waitFor,
  waitHealthy,
  writeTinyWordNet,
} from './support/cluster';
import { type S3rverProcess, startS3rver } from '@synood/testing';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const BUCKET = 'synood-cluster';
/** Key prefix of the artifact store inside the bucket. */
const STORE_PREFIX = 'artifacts';
/** s3rver's built-in credentials. */
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };
/** Delay per storage request of the first synthesizer: a shard's ~30 requests then take seconds. */
const SLOW_STORAGE_MS = 100;

const WORKERS = ['captioner', 'synthesizer', 'encoder', 'trainer'] as const;
type Worker = (typeof WORKERS)[number];

const REPO = resolve(__dirname, '../../..');
const ENTRY: Record<'api' | Worker, string> = {
  api: join(REPO, 'services/api/dist/server.js'),
  captioner: join(REPO, 'services/captioner/dist/main.js'),
  synthesizer: join(REPO, 'services/synthesizer/dist/main.js'),
  encoder: join(REPO, 'services/encoder/dist/main.js'),
  trainer: join(REPO, 'services/trainer/dist/main.js'),
};
const missing = Object.values(ENTRY).filter((f) => !existsSync(f));
if (missing.length > 0) {
  console.warn(
    `cluster.int.test.ts skipped: the services are not built (${missing.join(', ')} missing); ` +
      'run `npx turbo run build` first (CI builds them before the CLI tests)',
  );
}
const describeBuilt = missing.length === 0 ? describe : describe.skip;

/** The `clip-tags` vocabulary and mining corpus, written as a tiny WordNet (`SYNOOD_WORDNET_DIR`). */
const NOUNS = [
  'apple',
  'bottle',
  'bridge',
  'chair',
  'cloud',
  'desk',
  'door',
  'feather',
  'flower',
  'hammer',
  'kettle',
  'ladder',
  'lamp',
  'leaf',
  'mirror',
  'needle',
  'pencil',
  'pillow',
  'river',
  'rock',
  'rope',
  'shell',
  'spoon',
  'stone',
  'table',
  'tower',
  'wheel',
];
const ADJECTIVES = ['bright', 'dark', 'soft', 'rough', 'tall', 'round', 'quiet', 'wet', 'warm', 'old'];

interface Artifact {
  key: string;
  size: number;
}

interface MarkerRecord {
  key: string;
  size: number;
  sha256: string;
}

/** What the fault injection saw. */
interface KillRecord {
  shard: number;
  jobId: string;
  /** Objects of the shard's folder stored when the process was killed. */
  partialKeys: string[];
  /** BullMQ state of the job right after the kill (its lock outlives the process). */
  stateAfterKill: string;
}

let root: string | undefined;
let s3: S3rverProcess | undefined;
let proxy: DelayProxy | undefined;
let queues: RunQueues | undefined;
let data: DemoData;
let apiUrl: string;
const spawned: ServiceProcess[] = [];
const workers = new Map<Worker, ServiceProcess>();
let run: RunStatus;
let kill: KillRecord;

let commonEnv: Record<string, string>;

async function startWorker(name: Worker, extra: Record<string, string> = {}): Promise<ServiceProcess> {
  const port = await freePort();
  const service = spawnService(
    name,
    ENTRY[name],
    { ...commonEnv, SYNOOD_METRICS_PORT: String(port), ...extra },
    port,
  );
  spawned.push(service);
  workers.set(name, service);
  await waitHealthy(service, `http://127.0.0.1:${port}/healthz`, 60_000);
  return service;
}

async function getRun(id: string): Promise<RunStatus> {
  const response = await fetch(`${apiUrl}/v1/runs/${encodeURIComponent(id)}`);
  expect(response.status).toBe(200);
  return runStatusSchema.parse(await response.json());
}

/** Every stored object of the run, through `GET /v1/runs/:id/artifacts` (all pages). */
async function listArtifacts(id: string): Promise<Artifact[]> {
  const out: Artifact[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ limit: '5000', ...(cursor === null ? {} : { cursor }) });
    const response = await fetch(`${apiUrl}/v1/runs/${encodeURIComponent(id)}/artifacts?${query.toString()}`);
    expect(response.status).toBe(200);
    const page = (await response.json()) as { artifacts: Artifact[]; nextCursor: string | null };
    out.push(...page.artifacts);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return out;
}

/** An object's bytes, read from s3rver directly (anonymous GET), not through the code under test. */
async function objectBytes(key: string): Promise<Buffer> {
  const path = [STORE_PREFIX, ...key.split('/')].map(encodeURIComponent).join('/');
  const response = await fetch(`${s3!.endpoint}/${BUCKET}/${path}`);
  if (response.status !== 200) {
    throw new Error(`GET ${key} from s3rver answered ${response.status}`);
  }
  return Buffer.from(await response.arrayBuffer());
}

const shardFolder = (runId: string, stage: string, shard: number): string =>
  `runs/${runId}/${stage}/${String(shard).padStart(5, '0')}/`;

/** Waits until a synthesize job is active and has stored part of its shard, then SIGKILLs its process. */
async function killSynthesizerMidShard(runId: string): Promise<KillRecord> {
  const queue = queues!.queue('synthesize');
  const victim = workers.get('synthesizer')!;
  const found = await waitFor(
    'a synthesize job with part of its output stored',
    async () => {
      const [job] = await queue.getActive();
      if (job?.id === undefined) {
        return undefined;
      }
      const shard = (job.data as { shard: number }).shard;
      const folder = shardFolder(runId, 'synthesize', shard);
      const keys = (await listArtifacts(runId)).map((a) => a.key).filter((k) => k.startsWith(folder));
      return keys.length > 0 && !keys.some((k) => basename(k) === '_DONE.json')
        ? { job, shard, folder }
        : undefined;
    },
    90_000,
    50,
  );
  victim.child.kill('SIGKILL');
  await victim.exited;
  const partialKeys = (await listArtifacts(runId))
    .map((a) => a.key)
    .filter((k) => k.startsWith(found.folder));
  return {
    shard: found.shard,
    jobId: found.job.id!,
    partialKeys,
    stateAfterKill: await queue.getJobState(found.job.id!),
  };
}

beforeAll(async () => {
  if (missing.length > 0) {
    return;
  }
  root = await mkdtemp(join(tmpdir(), 'synood-cluster-'));
  s3 = await startS3rver(join(root, 's3'), BUCKET);
  proxy = await startDelayProxy(s3.endpoint, SLOW_STORAGE_MS);
  const models = await prepareDemoModels(join(root, 'demo'));
  data = await writeDemoData(join(root, 'data'));
  const wordnet = await writeTinyWordNet(join(root, 'wordnet'), NOUNS, ADJECTIVES);
  const prefix = `test-cluster-${randomUUID().slice(0, 8)}`;
  queues = await openQueues({ redis: REDIS_URL, prefix });
  commonEnv = {
    ...CREDENTIALS,
    REDIS_URL,
    SYNOOD_QUEUE_PREFIX: prefix,
    SYNOOD_STORAGE_URL: `s3://${BUCKET}/${STORE_PREFIX}`,
    SYNOOD_S3_ENDPOINT: s3.endpoint,
    SYNOOD_S3_REGION: 'us-east-1',
    SYNOOD_S3_FORCE_PATH_STYLE: 'true',
    SYNOOD_MODEL_CATALOG: models.catalogFile,
    SYNOOD_MODEL_CACHE: models.cacheDir,
    SYNOOD_WORDNET_DIR: wordnet,
    SYNOOD_LOG_LEVEL: 'warn',
    SYNOOD_INTRA_OP_THREADS: '1',
    SYNOOD_VAE_SCALE_FACTOR: String(DEMO_VAE_SCALE_FACTOR),
    SYNOOD_CAPTION_BACKENDS: 'clip-tags',
    SYNOOD_ENCODE_BATCH_SIZE: '8',
    SYNOOD_EVAL_BATCH_SIZE: '8',
    SYNOOD_METRICS_HOST: '127.0.0.1',
    SYNOOD_DEPENDENCY_INTERVAL_MS: '1000',
    SYNOOD_SHUTDOWN_TIMEOUT_MS: '2000',
  };
  // A crashed synthesizer's job comes back once its lock expired and a stalled check ran: seconds here,
  // not the stage table's 15 minutes.
  const shortLock = { SYNOOD_LOCK_DURATION_MS: '4000', SYNOOD_STALLED_INTERVAL_MS: '1000' };

  const apiPort = await freePort();
  const api = spawnService(
    'api',
    ENTRY.api,
    {
      ...commonEnv,
      SYNOOD_API_PORT: String(apiPort),
      SYNOOD_API_HOST: '127.0.0.1',
      SYNOOD_API_ALLOW_ANONYMOUS: 'true',
    },
    apiPort,
  );
  spawned.push(api);
  apiUrl = `http://127.0.0.1:${apiPort}`;
  await Promise.all([
    waitHealthy(api, `${apiUrl}/readyz`, 60_000),
    startWorker('captioner'),
    startWorker('synthesizer', { ...shortLock, SYNOOD_S3_ENDPOINT: proxy.endpoint }),
    startWorker('encoder'),
    startWorker('trainer'),
  ]);

  const submitted = await fetch(`${apiUrl}/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(demoRunSpec(data.train, data.oodSets)),
  });
  expect(submitted.status).toBe(201);
  const runId = runStatusSchema.parse(await submitted.json()).id;

  kill = await killSynthesizerMidShard(runId);
  await startWorker('synthesizer', shortLock);

  run = await waitFor(
    `run ${runId} to finish`,
    async () => {
      const status = await getRun(runId);
      return ['succeeded', 'failed', 'cancelled'].includes(status.state) ? status : undefined;
    },
    150_000,
    250,
  );
  if (run.state !== 'succeeded') {
    const tails = spawned.map((s) => `--- ${s.name} ---\n${s.tail()}`).join('\n');
    throw new Error(`run ${runId} ended ${run.state}: ${JSON.stringify(run.error)}\n${tails}`);
  }
}, 280_000);

afterAll(async () => {
  // Every step is bounded (the s3rver and service stops SIGKILL on their own after 5 s), so the hook
  // always ends inside its timeout and leaves no process behind.
  await bounded(
    'stopping the services',
    Promise.allSettled(spawned.map((s) => s.stop('SIGTERM', 5000))),
    10_000,
  );
  if (queues !== undefined) {
    const open = queues;
    await bounded('removing the test queues', open.obliterate(), 10_000);
    await bounded('closing the queues', open.close(), 5000);
  }
  if (proxy !== undefined) {
    await bounded('closing the delay proxy', proxy.close(), 5000);
  }
  if (s3 !== undefined) {
    await bounded('stopping s3rver', s3.stop(), 10_000);
  }
  if (root !== undefined) {
    await rm(root, { recursive: true, force: true });
  }
}, 60_000);

describeBuilt('cluster: the API and every worker as its own process', () => {
  it('runs every stage of a run submitted over HTTP to success', () => {
    expect(run.state).toBe('succeeded');
    expect(run.stages.map((s) => s.stage).sort()).toEqual([...STAGES].sort());
    for (const stage of run.stages) {
      expect([stage.stage, stage.state]).toEqual([stage.stage, 'done']);
      expect([stage.stage, stage.jobs.done]).toEqual([stage.stage, stage.jobs.total]);
    }
    // 3 classes × 8 images in shards of 12: two shards through each shard stage.
    for (const stage of SHARD_STAGES) {
      expect(run.stages.find((s) => s.stage === stage)?.jobs).toEqual({ done: 2, total: 2 });
    }
  });

  it('publishes a detector that scores an uploaded image through the API', async () => {
    const form = new FormData();
    form.append('images', new Blob([await readFile(data.sample)]), basename(data.sample));
    const response = await fetch(`${apiUrl}/v1/detectors/${encodeURIComponent(run.id)}/score`, {
      method: 'POST',
      body: form,
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      results: {
        name?: string;
        synoodScore?: number;
        negLabelScore?: number;
        decision?: string | null;
        topClass?: { name: string; probability: number };
      }[];
    };
    expect(body.results).toHaveLength(1);
    const [result] = body.results;
    expect(result!.name).toBe(basename(data.sample));
    expect(Number.isFinite(result!.synoodScore)).toBe(true);
    expect(Number.isFinite(result!.negLabelScore)).toBe(true);
    expect(['ind', 'ood']).toContain(result!.decision);
    expect(DEMO_CLASSES as readonly string[]).toContain(result!.topClass!.name);
    expect(result!.topClass!.probability).toBeGreaterThan(0);
    expect(result!.topClass!.probability).toBeLessThanOrEqual(1);
  });

  it("exposes each worker's stage duration histograms with a count for every stage it ran", async () => {
    for (const name of WORKERS) {
      const service = workers.get(name)!;
      expect([name, service.alive()]).toEqual([name, true]);
      const response = await fetch(`http://127.0.0.1:${service.port}/metrics`);
      expect(response.status).toBe(200);
      const counts = stageJobCounts(await response.text());
      const own = STAGES.filter((s) => STAGE_SERVICE[s] === name);
      for (const stage of own) {
        // The restarted synthesizer ran at least the shard its predecessor died on.
        expect([name, stage, (counts.get(stage) ?? 0) > 0]).toEqual([name, stage, true]);
      }
      // A worker's registry holds only its own stages.
      expect([name, [...counts.keys()].filter((s) => !(own as string[]).includes(s))]).toEqual([name, []]);
    }
  });
});

describeBuilt('fault: a synthesizer SIGKILLed mid-shard and restarted', () => {
  it('was killed while its job was active with part of the shard stored and no done-marker', () => {
    expect(kill.stateAfterKill).toBe('active');
    expect(kill.partialKeys.length).toBeGreaterThan(0);
    expect(kill.partialKeys.some((k) => basename(k) === '_DONE.json')).toBe(false);
  });

  it('completed the killed job on the restarted worker', async () => {
    const job = await queues!.queue('synthesize').getJob(kill.jobId);
    expect(await job!.getState()).toBe('completed');
    // Put back by the stalled-job check once the dead process's lock expired: not failed and retried.
    expect(job!.stalledCounter).toBe(1);
    expect(job!.failedReason).toBeUndefined();
  });

  it('leaves one done-marker per shard and every artifact exactly once, with matching checksums', async () => {
    const listed = await listArtifacts(run.id);
    const keys = listed.map((a) => a.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.filter((k) => k.includes('.synood-tmp'))).toEqual([]);
    const sizes = new Map(listed.map((a) => [a.key, a.size]));
    const itemIds: Record<string, string[]> = { caption: [], synthesize: [], encode: [] };

    for (const stage of SHARD_STAGES) {
      const stageFolder = `runs/${run.id}/${stage}/`;
      const shards = new Set(keys.filter((k) => k.startsWith(stageFolder)).map((k) => k.split('/')[3]!));
      expect([stage, [...shards].sort()]).toEqual([stage, ['00000', '00001']]);
      for (let shard = 0; shard < 2; shard++) {
        const folder = shardFolder(run.id, stage, shard);
        const inFolder = keys.filter((k) => k.startsWith(folder));
        const markers = inFolder.filter((k) => basename(k) === '_DONE.json');
        expect([folder, markers]).toEqual([folder, [`${folder}_DONE.json`]]);
        const marker = JSON.parse((await objectBytes(markers[0]!)).toString('utf8')) as {
          artifacts: MarkerRecord[];
        };
        const recorded = marker.artifacts.map((a) => a.key);
        expect(new Set(recorded).size).toBe(recorded.length);
        // Nothing lost (every recorded artifact is stored) and nothing extra (no object of an
        // abandoned attempt beside them).
        expect([...inFolder].sort()).toEqual([...recorded, markers[0]!].sort());
        for (const record of marker.artifacts) {
          const bytes = await objectBytes(record.key);
          expect([record.key, bytes.length, sizes.get(record.key)]).toEqual([
            record.key,
            record.size,
            record.size,
          ]);
          expect([record.key, createHash('sha256').update(bytes).digest('hex')]).toEqual([
            record.key,
            record.sha256,
          ]);
        }

        const names = recorded.map((k) => k.slice(folder.length)).sort();
        const lines = async (key: string): Promise<unknown[]> =>
          (await objectBytes(key))
            .toString('utf8')
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => JSON.parse(l) as unknown);
        if (stage === 'caption') {
          expect(names).toEqual([ARTIFACTS.caption.captions]);
          const records = (await lines(`${folder}${ARTIFACTS.caption.captions}`)).map((r) =>
            captionRecordSchema.parse(r),
          );
          itemIds.caption!.push(...records.map((r) => r.id));
        } else if (stage === 'synthesize') {
          const records = (await lines(`${folder}${ARTIFACTS.synthesize.manifest}`)).map((r) =>
            syntheticRecordSchema.parse(r),
          );
          expect(records.filter((r) => r.error !== undefined)).toEqual([]);
          expect(names).toEqual(
            [ARTIFACTS.synthesize.manifest, ...records.map((r) => ARTIFACTS.synthesize.image(r.id))].sort(),
          );
          itemIds.synthesize!.push(...records.map((r) => r.id));
        } else {
          expect(names).toEqual(
            [ARTIFACTS.encode.ind, ARTIFACTS.encode.synthetic, ARTIFACTS.encode.rows].sort(),
          );
          const rows = encodeRowsSchema.parse(
            JSON.parse((await objectBytes(`${folder}${ARTIFACTS.encode.rows}`)).toString('utf8')),
          );
          expect(rows.failures).toEqual([]);
          expect(rows.synthetic.map((r) => r.id).sort()).toEqual(rows.ind.map((r) => r.id).sort());
          itemIds.encode!.push(...rows.ind.map((r) => r.id));
        }
      }
    }
    // Every selected image (3 classes × 8) went through each shard stage exactly once.
    for (const stage of SHARD_STAGES) {
      const ids = itemIds[stage]!;
      expect([stage, ids.length, new Set(ids).size]).toEqual([stage, 24, 24]);
    }
    expect([...itemIds.synthesize!].sort()).toEqual([...itemIds.caption!].sort());
    expect([...itemIds.encode!].sort()).toEqual([...itemIds.caption!].sort());
  });
});
