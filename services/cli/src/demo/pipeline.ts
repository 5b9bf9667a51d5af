/**
 * The pipeline demo: the whole platform in one process on fixture models and generated data. It picks a
 * Redis (`REDIS_URL` when it answers, else a throwaway `redis-server`), writes and pulls the fixture
 * models, generates the dataset, starts the API and the workers, submits a run over HTTP, follows it
 * stage by stage, then prints the evaluation table, the report path and a scored image.
 */
import { METHOD_NAMES } from '@synood/trainer';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { basename, join, resolve } from 'node:path';

import {
  type EvaluationReport,
  type RunSpecInput,
  type RunStatus,
  evaluationReportSchema,
  runStatusSchema,
} from '@synood/contracts';
import type { LabelCandidate } from '@synood/ood';
import { openQueues, pingRedis } from '@synood/queue';

import { ApiClient, followRun, formatRunStatus } from '../commands/client';
import { startPlatform } from '../platform';
import { CliError } from '../program';
import { DEMO_CLASSES, writeDemoData } from './dataset';
import { DEMO_VAE_SCALE_FACTOR, prepareDemoModels } from './models';

/** Where the demo writes and how it reports. */
export interface PipelineDemoOptions {
  /** Everything goes under this folder. @defaultValue `.synood/demo` */
  out?: string;
  /** Redis to use; when absent, `REDIS_URL` if it answers, else a `redis-server` child. */
  redisUrl?: string;
  /** `REDIS_URL` of the environment (tried before starting a server). */
  envRedisUrl?: string;
  /** BullMQ key prefix. @defaultValue `synood-demo-<random>` (removed at the end) */
  prefix?: string;
  /** The services' log level. @defaultValue `error` */
  logLevel?: string;
  /** onnxruntime intra-op threads per session. @defaultValue 1 */
  threads?: number;
  /** Progress bars (else one line per stage change). @defaultValue false */
  interactive?: boolean;
  /** Seconds between status polls. @defaultValue 0.5 */
  pollSeconds?: number;
  /** Where the results go (stdout). */
  say: (text: string) => void;
  /** Where progress goes (stderr). */
  note: (text: string) => void;
}

/** What the demo produced. */
export interface PipelineDemoResult {
  run: RunStatus;
  report: EvaluationReport;
  /** The metrics table as printed. */
  table: string;
  /** Absolute path of `report.html`. */
  reportPath: string;
  detectorId: string;
  /** The scoring answer for the sample image. */
  score: { name: string; decision?: string | null; synoodScore?: number; topClass?: { name: string } };
}

/** Nouns of the demo's `clip-tags` vocabulary and mining corpus (WordNet is far too big for a demo). */
const DEMO_NOUNS = [
  'apple',
  'bottle',
  'bridge',
  'cloud',
  'chair',
  'desk',
  'door',
  'feather',
  'flower',
  'forest',
  'garden',
  'hammer',
  'island',
  'kettle',
  'ladder',
  'lamp',
  'leaf',
  'mirror',
  'mountain',
  'needle',
  'ocean',
  'pencil',
  'pillow',
  'river',
  'rock',
  'rope',
  'sand',
  'shell',
  'spoon',
  'stone',
  'table',
  'tower',
  'tree',
  'wheel',
];
const DEMO_ADJECTIVES = ['bright', 'dark', 'soft', 'rough', 'tall', 'round', 'quiet', 'wet', 'warm', 'old'];

/** The run spec of the demo: every stage on, sized to finish in a minute or two on two cores. */
export function demoRunSpec(
  train: string,
  oodSets: readonly { name: string; location: string; group: 'near' | 'far' }[],
): RunSpecInput {
  return {
    name: 'synood-demo',
    seed: 0,
    dataset: { location: train, layout: 'imagefolder' },
    oodSets: oodSets.map((s) => ({ ...s, layout: 'flat' as const })),
    stages: {
      selection: { perClass: 8 },
      sharding: { imagesPerShard: 12 },
      caption: { backend: 'clip-tags', maxElements: 3 },
      synthesis: { size: 32, steps: 4, iterations: 2, batchSize: 4 },
      mining: { keepFraction: 0.5 },
      score: { groups: 2 },
      projection: { epochs: 2, batchSize: 8 },
      labels: { epochs: 2, batchSize: 8 },
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const server = createServer();
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        res(port);
      });
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A Redis the demo owns: `stop()` ends it (a no-op for an external one). */
interface DemoRedis {
  url: string;
  stop(): Promise<void>;
}

async function startRedisServer(): Promise<DemoRedis> {
  const port = await freePort();
  let child: ChildProcess;
  try {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
  } catch (error) {
    throw redisMissing((error as Error).message);
  }
  const exited = new Promise<void>((r) =>
    child.once('exit', () => {
      r();
    }),
  );
  const spawnError = new Promise<Error>((r) => child.once('error', r));
  const url = `redis://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  };
  for (let i = 0; i < 50; i++) {
    const failed = await Promise.race([spawnError, sleep(100).then(() => undefined)]);
    if (failed !== undefined) {
      throw redisMissing(failed.message);
    }
    if ((await pingRedis(url, { timeoutMs: 500 })).ok) {
      return { url, stop };
    }
  }
  await stop();
  throw redisMissing(`redis-server on port ${port} did not answer within 5 s`);
}

function redisMissing(why: string): CliError {
  return new CliError(
    'CLI_ERR_REDIS',
    `the demo needs Redis: REDIS_URL did not answer and redis-server could not be started (${why}); ` +
      'install Redis (apt-get install redis-server, brew install redis) or set REDIS_URL to a running one',
  );
}

async function chooseRedis(options: PipelineDemoOptions): Promise<DemoRedis & { started: boolean }> {
  const noop = () => Promise.resolve();
  if (options.redisUrl !== undefined) {
    return { url: options.redisUrl, stop: noop, started: false };
  }
  const url = options.envRedisUrl ?? 'redis://127.0.0.1:6379';
  if ((await pingRedis(url, { timeoutMs: 1000 })).ok) {
    return { url, stop: noop, started: false };
  }
  return { ...(await startRedisServer()), started: true };
}

const pct = (v: number): string => (100 * v).toFixed(2).padStart(8);

/** The evaluation as a text table: one block per OOD set and the average, one row per method. */
export function formatEvaluationTable(
  report: EvaluationReport,
  names: Readonly<Record<string, string>> = {},
): string {
  const label = (m: string) => names[m] ?? m;
  const width = Math.max(6, ...report.methods.map((m) => label(m).length));
  const header = `${'method'.padEnd(width)}    AUROC↑   FPR95↓  AUPR-In AUPR-Out`;
  const lines: string[] = [];
  const block = (
    title: string,
    row: (m: string) => { auroc: number; fpr95: number; auprIn: number; auprOut: number } | undefined,
  ) => {
    lines.push(title, header, '-'.repeat(header.length));
    for (const m of report.methods) {
      const r = row(m);
      if (r !== undefined) {
        lines.push(
          `${label(m).padEnd(width)} ${pct(r.auroc)} ${pct(r.fpr95)} ${pct(r.auprIn)} ${pct(r.auprOut)}`,
        );
      }
    }
    lines.push('');
  };
  for (const set of report.sets) {
    block(
      `${set.name}${set.kind === undefined ? '' : ` (${set.kind})`}, ${set.images} images`,
      (m) => set.metrics[m],
    );
  }
  if (report.sets.length > 1) {
    block('average over the OOD sets', (m) => {
      const rows = report.sets.map((s) => s.metrics[m]).filter((r) => r !== undefined);
      if (rows.length === 0) {
        return undefined;
      }
      const mean = (k: 'auroc' | 'fpr95' | 'auprIn' | 'auprOut') =>
        rows.reduce((a, r) => a + r[k], 0) / rows.length;
      return { auroc: mean('auroc'), fpr95: mean('fpr95'), auprIn: mean('auprIn'), auprOut: mean('auprOut') };
    });
  }
  return lines.join('\n').trimEnd();
}

/**
 * Runs the pipeline demo. Everything is written under `options.out`; the store is emptied first, so every
 * demo computes a fresh run. A Redis server the demo started is stopped, and its queue keys removed, at
 * the end, success or not.
 *
 * @throws CliError `CLI_ERR_REDIS` when no Redis can be had, `CLI_ERR_RUN_FAILED` when the run fails.
 */
export async function runPipelineDemo(options: PipelineDemoOptions): Promise<PipelineDemoResult> {
  const out = resolve(options.out ?? '.synood/demo');
  const { say, note } = options;
  say('synood demo: the whole platform (API, captioner, synthesizer, encoder, trainer) in one process,');
  say('on fixture models with random weights and a generated dataset of coloured shapes.');
  const redis = await chooseRedis(options);
  note(redis.started ? `▸ started redis-server at ${redis.url}\n` : `▸ using Redis at ${redis.url}\n`);
  const prefix = options.prefix ?? `synood-demo-${randomUUID().slice(0, 8)}`;
  try {
    note('▸ writing fixture models and pulling them into the model cache\n');
    const models = await prepareDemoModels(out);
    note(`  catalog ${models.catalogFile}, cache ${models.cacheDir}\n`);
    note('▸ generating the dataset\n');
    const data = await writeDemoData(join(out, 'data'));
    const storeDir = join(out, 'store');
    await rm(storeDir, { recursive: true, force: true });
    const env = {
      REDIS_URL: redis.url,
      SYNOOD_STORAGE_URL: storeDir,
      SYNOOD_MODEL_CATALOG: models.catalogFile,
      SYNOOD_MODEL_CACHE: models.cacheDir,
      SYNOOD_QUEUE_PREFIX: prefix,
      SYNOOD_LOG_LEVEL: options.logLevel ?? 'error',
      SYNOOD_INTRA_OP_THREADS: String(options.threads ?? 1),
      SYNOOD_VAE_SCALE_FACTOR: String(DEMO_VAE_SCALE_FACTOR),
      SYNOOD_CAPTION_BACKENDS: 'clip-tags',
      SYNOOD_ENCODE_BATCH_SIZE: '8',
      SYNOOD_EVAL_BATCH_SIZE: '8',
      SYNOOD_SHUTDOWN_TIMEOUT_MS: '5000',
    };
    const candidates: LabelCandidate[] = [
      ...DEMO_NOUNS.map((text) => ({ text, pos: 'noun' as const })),
      ...DEMO_ADJECTIVES.map((text) => ({ text, pos: 'adj' as const })),
    ];
    note('▸ starting the API and the workers\n');
    const platform = await startPlatform({
      env,
      port: 0,
      host: '127.0.0.1',
      captioner: {
        vocabulary: () => Promise.resolve(DEMO_NOUNS),
        synonyms: () => Promise.resolve((name: string) => [name]),
      },
      encoder: { candidates: () => Promise.resolve(candidates) },
    });
    try {
      const api = new ApiClient(platform.url, undefined);
      const spec = demoRunSpec(data.train, data.oodSets);
      const submitted = runStatusSchema.parse(await api.json('POST', '/v1/runs', spec));
      note(`▸ run ${submitted.id} submitted to ${platform.url}\n`);
      const run = await followRun(api, submitted.id, {
        interactive: options.interactive === true,
        pollSeconds: options.pollSeconds ?? 0.5,
        note: (line) => {
          options.note(`  ${line}`);
        },
      });
      say('');
      say(formatRunStatus(run));
      if (run.state !== 'succeeded') {
        throw new CliError(
          run.error?.code ?? 'CLI_ERR_RUN_FAILED',
          `the demo run ${run.id} ended ${run.state}`,
        );
      }
      const listing = (await api.json(
        'GET',
        `/v1/runs/${encodeURIComponent(run.id)}/artifacts?stage=evaluate`,
      )) as {
        artifacts: { key: string }[];
      };
      const keyOf = (name: string): string => {
        const hit = listing.artifacts.find((a) => basename(a.key) === name);
        if (hit === undefined) {
          throw new CliError('CLI_ERR_RUN_FAILED', `run ${run.id} has no ${name} artifact`);
        }
        return join(storeDir, hit.key);
      };
      const report = evaluationReportSchema.parse(JSON.parse(await readFile(keyOf('metrics.json'), 'utf8')));
      const reportPath = keyOf('report.html');
      const table = formatEvaluationTable(report, METHOD_NAMES);
      say('');
      say(`Evaluation (InD: ${report.ind.images} images of ${DEMO_CLASSES.join(', ')}; percentages):`);
      say(table);
      say('');
      say(`Report:   ${reportPath}`);
      const detectorId = run.id;
      const detector = (await api.json('GET', `/v1/detectors/${encodeURIComponent(detectorId)}`)) as {
        id?: string;
      };
      say(`Detector: ${detector.id ?? detectorId} (threshold ${report.threshold.toFixed(4)})`);
      const form = new FormData();
      form.append('images', new Blob([await readFile(data.sample)]), basename(data.sample));
      const response = await api.request(
        'POST',
        `/v1/detectors/${encodeURIComponent(detectorId)}/score`,
        form,
        false,
      );
      const body = (await response.json()) as { results: PipelineDemoResult['score'][] };
      const score = body.results[0]!;
      say(
        `Scored ${score.name}: ${score.decision ?? 'no decision'}` +
          (score.synoodScore === undefined ? '' : `, SynOOD score ${score.synoodScore.toFixed(4)}`) +
          (score.topClass === undefined ? '' : `, top class ${score.topClass.name}`),
      );
      say('');
      say('These models are tiny fixtures with random weights: the numbers above show that every stage ran,');
      say('not how well SynOOD detects OOD images. For real models, run:');
      say('  node services/cli/bin/synood.js models pull');
      say('then `synood up` and `synood run SPEC` on your own dataset.');
      return { run, report, table, reportPath, detectorId, score };
    } finally {
      await platform.close();
    }
  } finally {
    if (!redis.started) {
      // A shared Redis keeps nothing of the demo: its queues live under a prefix of their own.
      const queues = await openQueues({ redis: redis.url, prefix }).catch(() => undefined);
      await queues?.obliterate().catch(() => undefined);
      await queues?.close();
    }
    await redis.stop();
  }
}
