/**
 * The trainer's handlers on hand-made 4-d features whose expected results can be worked out on paper:
 * the nearest negatives, the training targets, and the zero-shot baselines' metrics. OOD images go through
 * a table-driven stand-in for the CLIP image tower, so the evaluation's scores are known exactly.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ARTIFACTS,
  type Stage,
  type StageResult,
  assignmentSchema,
  type EvaluationReport,
  detectorPrefix,
  evaluationReportSchema,
  stageConfigHash,
} from '@synood/contracts';
import type { ClipImageEncoder } from '@synood/models';
import {
  type DetectorManifest,
  decodeDetector,
  detectorScores,
  finetuneLabels,
  oodMetrics,
  trainProjection,
} from '@synood/ood';
import type { StageContext } from '@synood/queue';
import { artifactKey, artifactPrefix, doneMarkerKey, sha256Of } from '@synood/storage';
import {
  type Matrix,
  TypeScriptBackend,
  decodeNpy,
  deriveSeed,
  l2NormalizeRows,
  npyToMatrix,
} from '@synood/tensor';

import {
  type TrainerDeps,
  createTrainerDeps,
  handleAssign,
  handleEvaluate,
  handlePublish,
  handleTrainLabels,
  handleTrainProjection,
  checkHandlers,
  consumedStages,
  loadTrainerConfig,
  trainerHandlers,
} from '../src';
import type { ReportData } from '../src/report';
import {
  type TinyRun,
  clipFiles,
  fixtureEnv,
  makeTinyRun,
  mat,
  writeEncoded,
  writeMined,
  writeSynthetic,
  handlerContext,
} from './fixtures';

const D = 4;
const e = (i: number): number[] => Array.from({ length: D }, (_, k) => (k === i ? 1 : 0));
const norm = (v: number[]): number[] => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};
const add = (a: number[], b: number[]): number[] => a.map((x, i) => x + b[i]!);

const IND_TEXT = [e(0), e(1)];
const NEG_TEXT = [e(2), e(3), norm(add(e(0), e(2))), norm(add(e(1), e(3)))];
const NEG_RAW = NEG_TEXT.map((r) => r.map((x) => 2 * x));
const IND = [
  [1, 0, 0, 0.1],
  [0.9, 0.1, 0, 0],
  [0, 1, 0.1, 0],
  [0.1, 1, 0, 0],
];
const SYN = [
  [0.3, 0, 3, 0],
  [0, 0.05, 0, 1],
  [1, 0, 1, 0],
  [0, -0.2, 1, 0],
];
/** Worked out by hand from the cosines (see the assign test). */
const NEAREST = [0, 1, 2, 0];
/** Features the stand-in tower returns per OOD image. */
const OOD: Record<string, number[]> = {
  'a.png': [0, 0, 1, 0.2],
  'b.png': [0.2, 0.1, 0, 1],
  'x.jpg': [0.7, 0.3, 0.5, 0],
  'y.jpg': [0.3, 0.8, 0, 0.4],
};

let root: string;
let oodDir: string;
let deps: TrainerDeps;
let run: TinyRun;
const results: Partial<Record<Stage, StageResult>> = {};

/** A stand-in for the CLIP image tower: features from {@link OOD} by file name; `corrupt*` fails to decode. */
const tableEncoder = {
  encodeImages(inputs: readonly { name: string }[]) {
    const indices: number[] = [];
    const rows: number[][] = [];
    const failures: { index: number; name: string; error: { code: string; message: string } }[] = [];
    inputs.forEach((input, index) => {
      const file = input.name.split('/').pop()!;
      const f = OOD[file];
      if (f === undefined) {
        failures.push({
          index,
          name: input.name,
          error: { code: 'VISION_ERR_DECODE', message: `cannot decode ${file}` },
        });
      } else {
        indices.push(index);
        rows.push(f);
      }
    });
    const raw = mat(rows, D);
    return Promise.resolve({
      raw,
      normalized: l2NormalizeRows(raw),
      indices,
      names: indices.map((i) => inputs[i]!.name),
      failures,
    });
  },
} as unknown as ClipImageEncoder;

const context = handlerContext;

const HASH_PART = {
  assign: 'models',
  'train-projection': 'projection',
  'train-labels': 'labels',
  evaluate: 'evaluation',
  publish: 'score',
} as const;

function payload<S extends keyof typeof HASH_PART>(stage: S, on: TinyRun = run) {
  return { runId: on.runId, stage, configHash: stageConfigHash(on.spec, HASH_PART[stage], stage) };
}

const HANDLERS = {
  assign: handleAssign,
  'train-projection': handleTrainProjection,
  'train-labels': handleTrainLabels,
  evaluate: handleEvaluate,
  publish: handlePublish,
} as const;

async function runStage(stage: keyof typeof HANDLERS, on: TinyRun = run): Promise<StageResult> {
  const handler = HANDLERS[stage] as (
    d: TrainerDeps,
    p: ReturnType<typeof payload>,
    c: StageContext,
  ) => Promise<StageResult>;
  return handler({ ...deps, store: on.store, imageEncoder: tableEncoder }, payload(stage, on), context());
}

/** A caption that must come out escaped in the report. */
const HOSTILE_CAPTION = ['<script>alert("x")</script>', 'sand & sea'];

/** The hand-made encode and mine outputs of a run (two shards of two items), plus synthesis and captions. */
async function writeUpstream(on: TinyRun): Promise<void> {
  const [s0, s1] = on.shards as [TinyRun['shards'][number], TinyRun['shards'][number]];
  const rowsOf = (items: typeof s0) => items.map((i) => ({ id: i.id, classIndex: i.classIndex }));
  await writeEncoded(
    on,
    0,
    { rows: rowsOf(s0), features: IND.slice(0, 2) },
    { rows: rowsOf(s0), features: SYN.slice(0, 2) },
    D,
  );
  await writeEncoded(
    on,
    1,
    { rows: rowsOf(s1), features: IND.slice(2) },
    { rows: rowsOf(s1), features: SYN.slice(2) },
    D,
  );
  await writeMined(on, {
    labels: ['the nice rock', 'the nice sand', 'the nice tree', 'This is a red photo'],
    pos: ['noun', 'noun', 'noun', 'adj'],
    indText: IND_TEXT,
    negativeText: NEG_TEXT,
    negativeRaw: NEG_RAW,
  });
  for (const shard of [0, 1]) {
    await writeSynthetic(on, shard);
    const captions = on.shards[shard]!.map((item) =>
      JSON.stringify({
        id: item.id,
        elements: HOSTILE_CAPTION,
        prompt: `A photo only remain ${HOSTILE_CAPTION.join(', ')}.`,
        raw: HOSTILE_CAPTION.join(', '),
        backend: 'clip-tags',
        model: 'fixture',
        seconds: 0.5,
      }),
    );
    await on.store.put(
      artifactKey({ runId: on.runId, stage: 'caption', shard, name: ARTIFACTS.caption.captions }),
      Buffer.from(captions.map((l) => `${l}\n`).join('')),
    );
  }
  // A caption marker with the timing the report turns into throughput: 2 items in 4 s.
  await on.store.put(
    doneMarkerKey(artifactPrefix({ runId: on.runId, stage: 'caption', shard: 0 })),
    Buffer.from(
      JSON.stringify({
        runId: on.runId,
        stage: 'caption',
        shard: 0,
        configHash: 'abcdefabcdefabcd',
        artifacts: [],
        failures: [],
        counts: { processed: 2, failed: 0, skipped: 0 },
        seconds: 4,
        createdAt: new Date(0).toISOString(),
      }),
    ),
  );
}

async function read(key: string): Promise<Uint8Array> {
  return run.store.get(key);
}

async function readMatrix(key: string): Promise<Matrix> {
  return npyToMatrix(decodeNpy(await read(key)));
}

const key = (stage: Stage, name: string): string => artifactKey({ runId: run.runId, stage, name });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'synood-trainer-'));
  const clip = await clipFiles(join(root, 'models'));
  deps = await createTrainerDeps(loadTrainerConfig(fixtureEnv(join(root, 'store'), clip)));
  oodDir = join(root, 'ood');
  await mkdir(join(oodDir, 'far'), { recursive: true });
  await mkdir(join(oodDir, 'near'), { recursive: true });
  for (const f of ['a.png', 'b.png', 'corrupt.png']) {
    await writeFile(join(oodDir, 'far', f), 'bytes the stand-in tower never decodes');
  }
  for (const f of ['x.jpg', 'y.jpg']) {
    await writeFile(join(oodDir, 'near', f), 'bytes');
  }
  await writeFile(join(oodDir, 'near', 'list.txt'), '# near-OOD images\nx.jpg 0\ny.jpg 1\n');
  run = await makeTinyRun({
    root: join(root, 'run'),
    perClass: 2,
    shardSize: 2,
    spec: {
      oodSets: [
        { name: 'far-set', location: join(oodDir, 'far'), layout: 'flat', group: 'far' },
        { name: 'near-set', location: join(oodDir, 'near', 'list.txt'), layout: 'list', group: 'near' },
      ],
      stages: {
        projection: { epochs: 2, batchSize: 3 },
        labels: { epochs: 2, batchSize: 2 },
        score: { groups: 2 },
      },
    },
  });
  await writeUpstream(run);
  for (const stage of ['assign', 'train-projection', 'train-labels', 'evaluate', 'publish'] as const) {
    results[stage] = await runStage(stage);
  }
});

afterAll(async () => {
  await deps.close();
  await rm(root, { recursive: true, force: true });
});

describe('assign', () => {
  it('gives each synthetic image its nearest negative by cosine, in shard order, and Y*⁻ ascending', async () => {
    // s0 = (0.3, 0, 3, 0): cos to e2 = 3/√9.09 ≈ 0.995 beats (e0+e2)/√2 at ≈ 0.774. s1: e3 (0.999) beats
    // (e1+e3)/√2 (0.742). s2 = e0 + e2 is exactly (e0+e2)/√2. s3 = (0, −0.2, 1, 0): e2 at 0.981.
    const assignment = assignmentSchema.parse(
      JSON.parse(Buffer.from(await read(key('assign', ARTIFACTS.assign.assignment))).toString()),
    );
    expect(assignment).toEqual({ nearest: NEAREST, subset: [0, 1, 2] });
    expect(results.assign!.counts).toEqual({ processed: 4, failed: 0, skipped: 0 });
  });
});

describe('train-projection and train-labels', () => {
  it('trains the head on InD (class) then synthetic (K + position in Y*⁻) targets over InD prompts + Y*⁻', async () => {
    const expected = await trainProjection(
      deps.backend,
      {
        features: mat([...IND, ...SYN]),
        targets: Int32Array.from([0, 0, 1, 1, 2 + 0, 2 + 1, 2 + 2, 2 + 0]),
        classFeatures: mat([...IND_TEXT, ...NEG_TEXT.slice(0, 3)]),
      },
      {
        epochs: 2,
        batchSize: 3,
        lr: 1e-3,
        minLr: 1e-5,
        weightDecay: 1e-5,
        scale: 100,
        seed: deriveSeed(7, 'train-projection'),
      },
    );
    const stored = await readMatrix(key('train-projection', ARTIFACTS['train-projection'].projection));
    expect([stored.rows, stored.cols]).toEqual([D + 3, D]);
    const h = expected.head;
    expect(Array.from(stored.data)).toEqual([...h.weight, ...h.bias, ...h.gamma, ...h.beta]);
  });

  it('fine-tunes the Y*⁻ rows from their raw features against the synthetic images', async () => {
    const expected = await finetuneLabels(
      deps.backend,
      { features: mat(SYN), targets: Int32Array.from(NEAREST), labelFeatures: mat(NEG_RAW.slice(0, 3)) },
      {
        epochs: 2,
        batchSize: 2,
        lr: 2e-2,
        minLr: 0,
        momentum: 0.9,
        weightDecay: 1e-5,
        scale: 100,
        seed: deriveSeed(7, 'train-labels'),
      },
    );
    const stored = await readMatrix(key('train-labels', ARTIFACTS['train-labels'].labels));
    expect([stored.rows, stored.cols]).toEqual([3, D]);
    expect(Array.from(stored.data)).toEqual(Array.from(expected.labels.data));
  });
});

/** AUROC by pair counting, ties ½ (Mann–Whitney), InD positive. */
function aurocByPairs(ind: number[], ood: number[]): number {
  let s = 0;
  for (const a of ind) {
    for (const b of ood) {
      s += a > b ? 1 : a === b ? 0.5 : 0;
    }
  }
  return s / (ind.length * ood.length);
}

/** 100·cos to each InD prompt (e0, e1). */
function zeroShotLogits(f: number[]): number[] {
  const n = Math.hypot(...f);
  return [(100 * f[0]!) / n, (100 * f[1]!) / n];
}

describe('evaluate', () => {
  it('scores every OOD set with SynOOD and the baselines, with the metrics of the hand-computed scores', async () => {
    const report = evaluationReportSchema.parse(
      JSON.parse(Buffer.from(await read(key('evaluate', ARTIFACTS.evaluate.metrics))).toString()),
    );
    expect(report.methods).toEqual([
      'synood',
      'synood-projection',
      'synood-labels',
      'neglabel',
      'mcm',
      'msp',
      'energy',
      'max-logit',
    ]);
    expect(report.ind).toEqual({ name: 'ind', images: 4 });
    expect(report.sets.map((s) => [s.name, s.kind, s.images])).toEqual([
      ['far-set', 'far', 2],
      ['near-set', 'near', 2],
    ]);
    const maxLogit = (f: number[]): number => Math.max(...zeroShotLogits(f));
    // MCM: max softmax of the plain cosines (τ = 1).
    const mcm = (f: number[]): number => {
      const [a, b] = zeroShotLogits(f).map((l) => l / 100) as [number, number];
      return 1 / (1 + Math.exp(-Math.abs(a - b)));
    };
    const sets = { 'far-set': [OOD['a.png']!, OOD['b.png']!], 'near-set': [OOD['x.jpg']!, OOD['y.jpg']!] };
    for (const set of report.sets) {
      const ood = sets[set.name as keyof typeof sets];
      expect(set.metrics['max-logit']!.auroc).toBeCloseTo(
        aurocByPairs(IND.map(maxLogit), ood.map(maxLogit)),
        6,
      );
      expect(set.metrics.mcm!.auroc).toBeCloseTo(aurocByPairs(IND.map(mcm), ood.map(mcm)), 6);
      for (const m of report.methods) {
        const row = set.metrics[m]!;
        for (const v of [row.auroc, row.fpr95, row.auprIn, row.auprOut]) {
          expect(v).toBeGreaterThanOrEqual(0);
          expect(v).toBeLessThanOrEqual(1);
        }
      }
    }
  });

  it('records the undecodable OOD image as an item failure', () => {
    expect(results.evaluate!.failures).toEqual([
      { item: 'far-set/corrupt.png', code: 'VISION_ERR_DECODE', message: 'cannot decode corrupt.png' },
    ]);
    expect(results.evaluate!.counts).toEqual({ processed: 8, failed: 1, skipped: 0 });
  });

  it('writes a self-contained HTML report with a table per set and the near/far means', async () => {
    const html = Buffer.from(await read(key('evaluate', ARTIFACTS.evaluate.report))).toString();
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('far-set (far-OOD): 2 images');
    expect(html).toContain('near-set (near-OOD): 2 images');
    expect(html).toContain('Near-OOD mean (near-set)');
    expect(html).toContain('Far-OOD mean (far-set)');
    expect(html).toContain('Mean over 2 OOD sets');
    // The summary, one per set, the overall, near and far means.
    expect(
      (html.match(/<table[ >]/g) ?? []).length -
        (html.match(/<table id="(timings|models|model-files)"/g) ?? []).length,
    ).toBe(6);
    expect(html).not.toMatch(/<script|<link|https?:/);
    expect(html.match(/src="([^"]*)"/g)?.every((m) => m.startsWith('src="data:image/jpeg;base64,'))).toBe(
      true,
    );
  });
});

describe('the report', () => {
  it('stores report.json with the pairs, captions, loss trajectories, histories and timings', async () => {
    const data = JSON.parse(
      Buffer.from(await read(key('evaluate', ARTIFACTS.evaluate.reportData))).toString(),
    ) as ReportData;
    // writeSynthetic fails the first item of each shard on purpose: one pair per shard remains.
    expect(data.pairs.map((p) => [p.id, p.className, p.caption, p.losses])).toEqual([
      [run.shards[0]![1]!.id, 'cat', HOSTILE_CAPTION.join(', '), [1, 0.5]],
      [run.shards[1]![1]!.id, 'dog', HOSTILE_CAPTION.join(', '), [1, 0.5]],
    ]);
    for (const p of data.pairs) {
      expect(p.ind).toMatch(/^data:image\/jpeg;base64,/);
      expect(p.synthetic).toMatch(/^data:image\/jpeg;base64,/);
    }
    // 8 training samples in batches of 3 for 2 epochs; 4 synthetic images in batches of 2 for 2 epochs.
    expect(data.training.projection!.steps).toHaveLength(2 * 3);
    expect(data.training.projection!.epochs.map((e) => e.epoch)).toEqual([0, 1]);
    expect(data.training.labels!.steps).toHaveLength(2 * 2);
    const caption = data.stages.find((t) => t.stage === 'caption')!;
    expect(caption).toMatchObject({ markers: 1, seconds: 4, processed: 2, perSecond: 0.5 });
    const evaluate = data.stages.find((t) => t.stage === 'evaluate')!;
    expect(evaluate.processed).toBe(8);
    expect(data.stages.find((t) => t.stage === 'train-projection')!.seconds).toBeGreaterThan(0);
    expect(data.plots.map((p) => [p.set, p.roc.map((c) => c.method), p.histogram.method])).toEqual([
      ['far-set', ['synood', 'neglabel', 'mcm'], 'synood'],
      ['near-set', ['synood', 'neglabel', 'mcm'], 'synood'],
    ]);
    expect(data.config.oodSets.map((s) => s.name)).toEqual(['far-set', 'near-set']);
    expect(data.models.spec.clip).toBe('clip-vit-b16');
    expect(data.models.service.map((m) => m.role)).toEqual(['clip.vision']);
  });

  it('renders every part of it, with the captions escaped', async () => {
    const html = Buffer.from(await read(key('evaluate', ARTIFACTS.evaluate.report))).toString();
    const summary = /<table id="summary"[^>]*>([\s\S]*?)<\/table>/.exec(html)![1]!;
    expect(summary.match(/<tr data-method="/g)).toHaveLength(8);
    expect(html.match(/data-kind="roc"/g)).toHaveLength(2);
    expect(html.match(/data-kind="histogram"/g)).toHaveLength(2);
    expect(html.match(/data-kind="training"/g)).toHaveLength(2);
    expect(html.match(/<img src="data:image\/jpeg;base64,/g)).toHaveLength(4);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;, sand &amp; sea');
    expect(html).not.toContain('<script');
    expect(html).toContain('&quot;name&quot;: &quot;far-set&quot;');
  });
});

/** L2 norm to 1. */
function unit(v: readonly number[]): number[] {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

/** f̂ = normalise(f + ReLU(γ·LN(W f + b) + β)) with the head's `.npy` rows (W, b, γ, β), ε = 1e-5. */
function projectByHand(f: readonly number[], head: Matrix): number[] {
  const row = (r: number): number[] => Array.from(head.data.subarray(r * D, (r + 1) * D));
  const z = Array.from({ length: D }, (_, k) => row(k).reduce((a, w, j) => a + w * f[j]!, 0) + row(D)[k]!);
  const mu = z.reduce((a, b) => a + b, 0) / D;
  const variance = z.reduce((a, b) => a + (b - mu) ** 2, 0) / D;
  const y = z.map((v, k) => row(D + 1)[k]! * ((v - mu) / Math.sqrt(variance + 1e-5)) + row(D + 2)[k]!);
  return unit(f.map((v, k) => v + Math.max(0, y[k]!)));
}

/** NegLabel's grouped score: mean over groups of Σe^{InD} / (Σe^{InD} + Σe^{group}), cosines × scale. */
function negLabelByHand(
  f: readonly number[],
  negatives: readonly (readonly number[])[],
  permutation: readonly number[],
  groups: number,
  scale: number,
): number {
  const x = unit(f);
  const e = (t: readonly number[]): number => Math.exp(scale * x.reduce((a, v, k) => a + v * unit(t)[k]!, 0));
  const ind = IND_TEXT.reduce((a, t) => a + e(t), 0);
  const size = Math.floor(negatives.length / groups);
  let s = 0;
  for (let g = 0; g < groups; g++) {
    const neg = permutation.slice(g * size, (g + 1) * size).reduce((a, j) => a + e(negatives[j]!), 0);
    s += ind / (ind + neg);
  }
  return s / groups;
}

describe('evaluation methods against scores computed by hand', () => {
  // A logit scale of 2 keeps every score far from saturation, so no tie depends on rounding.
  let low: TinyRun;
  let report: EvaluationReport;
  let permutation: number[];

  beforeAll(async () => {
    low = await makeTinyRun({
      root: join(root, 'low-scale'),
      perClass: 2,
      shardSize: 2,
      spec: {
        oodSets: [
          { name: 'far-set', location: join(oodDir, 'far'), layout: 'flat', group: 'far' },
          { name: 'near-set', location: join(oodDir, 'near', 'list.txt'), layout: 'list', group: 'near' },
        ],
        stages: {
          projection: { epochs: 2, batchSize: 3 },
          labels: { epochs: 2, batchSize: 2 },
          score: { groups: 2, scale: 2 },
        },
      },
    });
    await writeUpstream(low);
    for (const stage of ['assign', 'train-projection', 'train-labels', 'evaluate', 'publish'] as const) {
      await runStage(stage, low);
    }
    const at = (stage: Stage, name: string): string => artifactKey({ runId: low.runId, stage, name });
    report = evaluationReportSchema.parse(
      JSON.parse(Buffer.from(await low.store.get(at('evaluate', ARTIFACTS.evaluate.metrics))).toString()),
    );
    const folder = detectorPrefix(low.runId);
    const detector = decodeDetector(
      JSON.parse(Buffer.from(await low.store.get(`${folder}/detector.json`)).toString()) as DetectorManifest,
      await low.store.get(`${folder}/detector.bin`),
    );
    permutation = Array.from(detector.permutation);
  });

  it('gives every NegLabel-form method (Table 4) the AUROC of its hand-computed scores', async () => {
    const at = (stage: Stage, name: string): string => artifactKey({ runId: low.runId, stage, name });
    const head = npyToMatrix(
      decodeNpy(await low.store.get(at('train-projection', ARTIFACTS['train-projection'].projection))),
    );
    const labels = npyToMatrix(
      decodeNpy(await low.store.get(at('train-labels', ARTIFACTS['train-labels'].labels))),
    );
    // Y*⁻ = negatives 0, 1, 2 (the assign test): their rows are replaced by the fine-tuned vectors.
    const tuned = NEG_TEXT.map((t, j) => (j < 3 ? Array.from(labels.data.subarray(j * D, (j + 1) * D)) : t));
    const scorers: Record<string, (f: readonly number[]) => number> = {
      synood: (f) => negLabelByHand(projectByHand(f, head), tuned, permutation, 2, 2),
      'synood-projection': (f) => negLabelByHand(projectByHand(f, head), NEG_TEXT, permutation, 2, 2),
      'synood-labels': (f) => negLabelByHand(f, tuned, permutation, 2, 2),
      neglabel: (f) => negLabelByHand(f, NEG_TEXT, permutation, 2, 2),
    };
    const sets = { 'far-set': [OOD['a.png']!, OOD['b.png']!], 'near-set': [OOD['x.jpg']!, OOD['y.jpg']!] };
    for (const set of report.sets) {
      const ood = sets[set.name as keyof typeof sets];
      for (const [method, score] of Object.entries(scorers)) {
        const indScores = IND.map(score);
        const oodScores = ood.map(score);
        expect(set.metrics[method]!.auroc).toBeCloseTo(aurocByPairs(indScores, oodScores), 9);
        // The other three metrics, cross-checked with the metric functions on the hand scores.
        const expected = oodMetrics(indScores, oodScores);
        expect(set.metrics[method]!.fpr95).toBeCloseTo(expected.fpr95, 9);
        expect(set.metrics[method]!.auprIn).toBeCloseTo(expected.auprIn, 9);
        expect(set.metrics[method]!.auprOut).toBeCloseTo(expected.auprOut, 9);
      }
    }
    // The ablations really differ from the full method somewhere (they are not three copies of one score).
    const far = sets['far-set'];
    expect(new Set(Object.values(scorers).map((s) => s(far[0]!).toFixed(9))).size).toBe(4);
  });

  it('reports the near, far and overall means as plain means of the set rows', () => {
    const [far, near] = report.sets as [EvaluationReport['sets'][number], EvaluationReport['sets'][number]];
    expect(report.groups!.map((g) => [g.group, g.sets])).toEqual([
      ['near', ['near-set']],
      ['far', ['far-set']],
    ]);
    expect(report.average!.sets).toEqual(['far-set', 'near-set']);
    for (const m of report.methods) {
      expect(report.groups![0]!.metrics[m]).toEqual(near.metrics[m]);
      expect(report.groups![1]!.metrics[m]).toEqual(far.metrics[m]);
      for (const k of ['auroc', 'fpr95', 'auprIn', 'auprOut'] as const) {
        expect(report.average!.metrics[m]![k]).toBeCloseTo(
          (far.metrics[m]![k] + near.metrics[m]![k]) / 2,
          12,
        );
      }
    }
  });
});

describe('publish', () => {
  it('writes a detector bundle that decodes to the trained parts and the evaluated threshold', async () => {
    const folder = detectorPrefix(run.runId);
    const manifestBytes = await read(`${folder}/detector.json`);
    const data = await read(`${folder}/detector.bin`);
    const detector = decodeDetector(
      JSON.parse(Buffer.from(manifestBytes).toString()) as DetectorManifest,
      data,
    );
    const report = evaluationReportSchema.parse(
      JSON.parse(Buffer.from(await read(key('evaluate', ARTIFACTS.evaluate.metrics))).toString()),
    );
    expect(detector.threshold).toBe(report.threshold);
    expect(detector.indLabels).toEqual(['cat', 'dog']);
    expect(detector.negativeLabels).toEqual([
      'the nice rock',
      'the nice sand',
      'the nice tree',
      'This is a red photo',
    ]);
    expect(Array.from(detector.finetunedRows)).toEqual([0, 1, 2]);
    expect(detector.groups).toBe(2);
    const labels = l2NormalizeRows(await readMatrix(key('train-labels', ARTIFACTS['train-labels'].labels)));
    Array.from(detector.negativeFeatures.data.subarray(0, 3 * D)).forEach((v, i) => {
      expect(v).toBeCloseTo(labels.data[i]!, 6);
    });
    Array.from(detector.negativeFeatures.data.subarray(3 * D)).forEach((v, i) => {
      expect(v).toBeCloseTo(NEG_TEXT[3]![i]!, 6);
    });
    const head = await readMatrix(key('train-projection', ARTIFACTS['train-projection'].projection));
    expect(Array.from(detector.projection!.weight)).toEqual(Array.from(head.data.subarray(0, D * D)));
    // With 4 InD images at 95% TPR, ⌈3.8⌉ = 4 must pass: the threshold is the lowest InD score, here
    // recomputed on the pure-TypeScript backend.
    const indScores = await detectorScores(new TypeScriptBackend(), detector, mat(IND));
    expect(detector.threshold!).toBeCloseTo(Math.min(...indScores), 5);

    const ref = JSON.parse(
      Buffer.from(await read(key('publish', ARTIFACTS.publish.detector))).toString(),
    ) as Record<string, unknown>;
    expect(ref).toMatchObject({
      id: run.runId,
      prefix: folder,
      manifest: {
        key: `${folder}/detector.json`,
        sha256: sha256Of(manifestBytes),
        size: manifestBytes.byteLength,
      },
      data: { key: `${folder}/detector.bin`, sha256: sha256Of(data), size: data.byteLength },
      negatives: 4,
      finetuned: 3,
      groups: 2,
    });
  });
});

describe('done-markers', () => {
  const stages = ['assign', 'train-projection', 'train-labels', 'evaluate', 'publish'] as const;

  it('skips every stage whose marker matches, without rewriting anything', async () => {
    for (const stage of stages) {
      const again = await runStage(stage);
      expect([stage, again.status]).toEqual([stage, 'skipped']);
      expect(again.artifacts).toEqual(results[stage]!.artifacts);
    }
  });

  it('recomputes identical bytes after a crash between the artifacts and the marker', async () => {
    for (const stage of stages) {
      // The report shows the upstream stages' timings, which this very loop re-records: it alone may differ.
      const stable = (artifacts: readonly { key: string }[]) =>
        artifacts.filter((a) => !/\/report\.(json|html)$/.test(a.key));
      const before = await Promise.all(
        stable(results[stage]!.artifacts).map(async (a) => sha256Of(await read(a.key))),
      );
      await run.store.delete(doneMarkerKey(artifactPrefix({ runId: run.runId, stage })));
      const redo = await runStage(stage);
      expect([stage, redo.status]).toEqual([stage, 'completed']);
      expect(redo.artifacts.map((a) => a.key)).toEqual(results[stage]!.artifacts.map((a) => a.key));
      const after = await Promise.all(stable(redo.artifacts).map(async (a) => sha256Of(await read(a.key))));
      expect([stage, after]).toEqual([stage, before]);
    }
  });

  it('fails with WORKER_ERR_INPUT naming the missing upstream artifact', async () => {
    const other = await makeTinyRun({ root: join(root, 'empty') });
    await expect(
      handleAssign(
        { ...deps, store: other.store },
        { runId: other.runId, stage: 'assign', configHash: 'abcdefabcdefabcd' },
        context(),
      ),
    ).rejects.toMatchObject({ code: 'WORKER_ERR_INPUT', message: expect.stringContaining('encode stage') });
  });
});

describe('the handler registry', () => {
  it('has exactly one handler per trainer stage', () => {
    expect(consumedStages('trainer')).toEqual([
      'assign',
      'train-projection',
      'train-labels',
      'evaluate',
      'publish',
    ]);
    expect(trainerHandlers(deps).map((h) => h.stage)).toEqual(consumedStages('trainer'));
    expect(() => {
      checkHandlers('trainer', trainerHandlers(deps));
    }).not.toThrow();
    expect(() => {
      checkHandlers('trainer', trainerHandlers(deps).slice(1));
    }).toThrow(/stage assign has no handler/);
  });
});
