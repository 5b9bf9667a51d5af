import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { evaluationReportSchema } from '@synood/contracts';
import { GraphBuilder, type Model, clipVisionFixture, encodeModel } from '@synood/graph';
import { ClipImageEncoder } from '@synood/models';
import {
  type OodMetrics,
  type ProjectionHead,
  type SynoodDetector,
  buildDetector,
  detectorScores,
  encodeDetector,
  initProjectionHead,
  mcmScores,
  oodMetrics,
  thresholdAtTpr,
} from '@synood/ood';
import { type Matrix, Rng, TypeScriptBackend, randomNormalMatrix } from '@synood/tensor';
import { type RgbImage, encodePng } from '@synood/vision';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  EVAL_METHODS,
  type EvalMethod,
  type EvalReport,
  parseOodArg,
  registerEvalCommand,
} from '../src/commands/eval';
import { type CliRun, runCli } from './support/run-cli';

const MEAN = [0.48145466, 0.4578275, 0.40821073];
const STD = [0.26862954, 0.26130258, 0.27577711];

const run = (args: string[]): Promise<CliRun> => runCli(registerEvalCommand, args);

/** pixel_values [n, 3, 16, 16] → GlobalAveragePool → Flatten → image_embeds [n, 3]: per-channel means. */
function channelMeanModel(): Model {
  const b = new GraphBuilder('channel_mean');
  const x = b.input('pixel_values', 'float32', ['batch_size', 3, 16, 16]);
  const pooled = b.node('GlobalAveragePool', [x]);
  b.output(b.node('Flatten', [pooled], { axis: 1 }, { output: 'image_embeds' }), 'float32', [
    'batch_size',
    3,
  ]);
  return b.toModel(17);
}

type Rgb = readonly [number, number, number];

function solid(side: number, rgb: Rgb): RgbImage {
  return { width: side, height: side, data: new Uint8Array(side * side * 3).map((_, i) => rgb[i % 3]!) };
}

function noise(width: number, height: number, rng: Rng): RgbImage {
  return {
    width,
    height,
    data: Uint8Array.from({ length: width * height * 3 }, () => Math.floor(rng.uniform() * 256)),
  };
}

async function writeImage(file: string, image: RgbImage): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, await encodePng(image));
}

async function writeBundle(detector: SynoodDetector, dir: string): Promise<void> {
  const { manifest, data } = encodeDetector(detector);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'detector.bin'), data);
  await writeFile(join(dir, 'detector.json'), JSON.stringify(manifest));
}

// ── Hand arithmetic, independent of @synood/ood ────────────────────────────────────────────────────────

/** The channel-mean tower's output for a solid colour: CLIP normalisation of each channel value. */
const feature = (rgb: Rgb): number[] => rgb.map((v, c) => (v / 255 - MEAN[c]!) / STD[c]!);
const unit = (v: readonly number[]): number[] => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};
const dot = (a: readonly number[], b: readonly number[]): number => a.reduce((s, x, i) => s + x * b[i]!, 0);
const logSumExp = (xs: readonly number[]): number => {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
};
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const matrixOf = (rows: readonly (readonly number[])[]): Matrix => ({
  rows: rows.length,
  cols: rows[0]!.length,
  data: Float32Array.from(rows.flat()),
});

/**
 * The grouped NegLabel score with one negative per group: mean over negatives n of
 * σ(log Σ_k e^{s·cos(x, t_k)} − s·cos(x, n)).
 */
function negLabelByHand(x: readonly number[], ind: number[][], negatives: number[][], scale: number): number {
  const u = unit(x);
  const lseInd = logSumExp(ind.map((t) => scale * dot(u, t)));
  return negatives.reduce((s, n) => s + sigmoid(lseInd - scale * dot(u, n)), 0) / negatives.length;
}

/** MCM with τ = 1: the largest softmax of the cosines to the InD labels. */
function mcmByHand(x: readonly number[], ind: number[][]): number {
  const u = unit(x);
  const cos = ind.map((t) => dot(u, t));
  const max = Math.max(...cos);
  return 1 / cos.reduce((s, c) => s + Math.exp(c - max), 0);
}

function expectMetrics(actual: OodMetrics | undefined, expected: OodMetrics, digits = 12): void {
  expect(actual).toBeDefined();
  expect(actual!.auroc).toBeCloseTo(expected.auroc, digits);
  expect(actual!.fpr95).toBeCloseTo(expected.fpr95, digits);
  expect(actual!.auprIn).toBeCloseTo(expected.auprIn, digits);
  expect(actual!.auprOut).toBeCloseTo(expected.auprOut, digits);
}

const pct = (v: number): string => (100 * v).toFixed(2);

// ── The hand-built case ───────────────────────────────────────────────────────────────────────────────

const RED: Rgb = [255, 0, 0];
const YELLOW: Rgb = [255, 255, 0];
const ORANGE: Rgb = [255, 128, 0];
const CRIMSON: Rgb = [220, 20, 60];
const PURPLE: Rgb = [128, 0, 128];
const BLUE: Rgb = [0, 0, 255];
const GREEN: Rgb = [0, 255, 0];
const CYAN: Rgb = [0, 255, 255];
const OLIVE: Rgb = [105, 105, 15];

/** Logit scale small enough that no score saturates to 1 in float32. */
const SCALE = 2;
/** The projection below adds relu(β) to every raw feature: W = 0 and γ = 0 make LayerNorm's output β. */
const BETA = [0.5, 0, 0];

function translationHead(): ProjectionHead {
  return {
    dim: 3,
    weight: new Float32Array(9),
    bias: new Float32Array(3),
    gamma: new Float32Array(3),
    beta: Float32Array.from(BETA),
    lnEps: 1e-5,
  };
}

/**
 * InD labels red and yellow, negatives blue and green with green's vector replaced by the fine-tuned cyan;
 * two groups of one negative each, so the grouping permutation does not change any score.
 */
function handDetector(projection: ProjectionHead | null, threshold: number | null): SynoodDetector {
  return buildDetector({
    indLabels: ['red', 'yellow'],
    indFeatures: matrixOf([feature(RED), feature(YELLOW)]),
    negativeLabels: ['blue', 'green'],
    negativeFeatures: matrixOf([feature(BLUE), feature(GREEN)]),
    finetuned: { rows: Int32Array.of(1), features: matrixOf([feature(CYAN)]) },
    projection,
    scale: SCALE,
    groups: 2,
    seed: 7,
    threshold,
    metadata: { backbone: 'channel-mean fixture' },
  });
}

const IND_LABELS = [unit(feature(RED)), unit(feature(YELLOW))];
const NEGATIVES = [unit(feature(BLUE)), unit(feature(CYAN))];
const projected = (rgb: Rgb): number[] => feature(rgb).map((v, i) => v + Math.max(0, BETA[i]!));
const byHand = {
  synood: (rgb: Rgb) => negLabelByHand(projected(rgb), IND_LABELS, NEGATIVES, SCALE),
  'synood-labels': (rgb: Rgb) => negLabelByHand(feature(rgb), IND_LABELS, NEGATIVES, SCALE),
  mcm: (rgb: Rgb) => mcmByHand(feature(rgb), IND_LABELS),
} as const;

const IND_COLOURS = [RED, ORANGE, CRIMSON];
const NEAR_COLOURS = [CRIMSON, PURPLE];
const FAR_COLOURS = [BLUE, CYAN];

describe('synood eval', () => {
  let dir: string;
  let vision: string;
  let bundle: string;
  let plainBundle: string;
  let ind: string;
  let near: string;
  let far: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'synood-eval-'));
    vision = join(dir, 'vision.onnx');
    await writeFile(vision, encodeModel(channelMeanModel()).model);
    bundle = join(dir, 'detector');
    await writeBundle(handDetector(translationHead(), 0.965), bundle);
    plainBundle = join(dir, 'plain');
    await writeBundle(handDetector(null, null), plainBundle);
    // InD in an imagefolder layout, plus a file that is no PNG (counted, never fatal).
    ind = join(dir, 'ind');
    await writeImage(join(ind, 'a', 'red.png'), solid(16, RED));
    await writeImage(join(ind, 'b', 'orange.png'), solid(16, ORANGE));
    await writeImage(join(ind, 'crimson.png'), solid(16, CRIMSON));
    await writeFile(join(ind, 'broken.png'), 'not a png');
    near = join(dir, 'near');
    await writeImage(join(near, 'crimson.png'), solid(16, CRIMSON));
    await writeImage(join(near, 'purple.png'), solid(16, PURPLE));
    far = join(dir, 'far');
    await writeImage(join(far, 'blue.png'), solid(16, BLUE));
    await writeImage(join(far, 'cyan.png'), solid(16, CYAN));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the hand-built case orders its scores as the hand counts below assume', () => {
    // synood and synood-labels: orange > red > crimson (InD) > purple (near) > cyan > blue (far).
    for (const method of ['synood', 'synood-labels'] as const) {
      const s = byHand[method];
      expect(s(ORANGE)).toBeGreaterThan(s(RED));
      expect(s(RED)).toBeGreaterThan(s(CRIMSON));
      expect(s(CRIMSON)).toBeGreaterThan(s(PURPLE));
      expect(s(PURPLE)).toBeGreaterThan(s(CYAN));
      expect(s(CYAN)).toBeGreaterThan(s(BLUE));
    }
    // mcm: purple > crimson > cyan > red > blue > orange.
    const m = byHand.mcm;
    expect(m(PURPLE)).toBeGreaterThan(m(CRIMSON));
    expect(m(CRIMSON)).toBeGreaterThan(m(CYAN));
    expect(m(CYAN)).toBeGreaterThan(m(RED));
    expect(m(RED)).toBeGreaterThan(m(BLUE));
    expect(m(BLUE)).toBeGreaterThan(m(ORANGE));
    // The projection changes the scores, so synood and synood-labels are different methods here.
    expect(Math.abs(byHand.synood(PURPLE) - byHand['synood-labels'](PURPLE))).toBeGreaterThan(0.05);
  });

  it('prints and writes the metrics of every method, set, group and the mean, as counted by hand', async () => {
    const json = join(dir, 'report.json');
    const r = await run([
      'eval',
      '--detector',
      bundle,
      '--ind',
      ind,
      '--ood',
      `near=${near}:near`,
      '--ood',
      `far=${far}:far`,
      '--model',
      vision,
      '--batch-size',
      '2',
      '--json',
      json,
    ]);
    expect(r.err).not.toContain('error');
    expect(r.code).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as EvalReport;

    // Hand counts (InD: orange, red, crimson; near: crimson (the same image, a tie), purple; far: cyan, blue).
    // synood / synood-labels, near: of 3·2 pairs InD wins 5 and ties 1 → AUROC 5.5/6. At recall 1 (the
    // recall nearest 95% with 3 InD images) the threshold is crimson, reached by 1 of 2 OOD → FPR95 1/2.
    // AUPR-In: orange, red at precision 1, then the tie group {crimson, crimson} at 3/4 → (1 + 1 + 3/4)/3.
    // AUPR-Out (OOD positive, from the lowest score): purple at precision 1, the tie at 2/3 → (1 + 2/3)/2.
    const nearSynood = { auroc: 11 / 12, fpr95: 1 / 2, auprIn: 11 / 12, auprOut: 5 / 6 };
    // far: every InD image above every OOD image.
    const perfect = { auroc: 1, fpr95: 0, auprIn: 1, auprOut: 1 };
    // mcm, near: purple is above every InD image; crimson above red and orange and tied with crimson
    // → AUROC 0.5/6. far: cyan is below crimson only, blue below crimson and red → AUROC 3/6. Both OOD are
    // above orange, the recall-1 threshold → FPR95 1 in both sets.
    // AUPR-In near: purple (N), crimson tie {P, N} at 1/3 recall and precision 1/3, red 2/3 at 2/4,
    // orange 3/3 at 3/5 → (1/3 + 1/2 + 3/5)/3. far: crimson P (1), cyan N, red P at 2/3, blue N,
    // orange P at 3/5 → (1 + 2/3 + 3/5)/3.
    // AUPR-Out near (lowest first): orange P, red P, {crimson P, crimson N} at 1/4, purple N at 2/5
    // → (1/4 + 2/5)/2. far: orange P, blue N at 1/2, red P, cyan N at 2/4 → (1/2 + 1/2)/2.
    const nearMcm = {
      auroc: 1 / 12,
      fpr95: 1,
      auprIn: (1 / 3 + 1 / 2 + 3 / 5) / 3,
      auprOut: (1 / 4 + 2 / 5) / 2,
    };
    const farMcm = { auroc: 1 / 2, fpr95: 1, auprIn: (1 + 2 / 3 + 3 / 5) / 3, auprOut: 1 / 2 };
    const expected: Record<EvalMethod, { near: OodMetrics; far: OodMetrics }> = {
      synood: { near: nearSynood, far: perfect },
      'synood-labels': { near: nearSynood, far: perfect },
      mcm: { near: nearMcm, far: farMcm },
    };

    expect(report.methods).toEqual(['synood', 'synood-labels', 'mcm']);
    expect(report.ind).toMatchObject({ name: 'ind', dir: ind, listed: 4, images: 3 });
    expect(report.ind.failures).toEqual([
      expect.objectContaining({ file: 'broken.png', code: 'VISION_ERR_DECODE' }),
    ]);
    expect(report.failures).toBe(1);
    expect(report.sets.map((s) => [s.name, s.kind, s.listed, s.images])).toEqual([
      ['near', 'near', 2, 2],
      ['far', 'far', 2, 2],
    ]);
    for (const m of EVAL_METHODS) {
      const e = expected[m];
      expectMetrics(report.sets[0]!.metrics[m], e.near);
      expectMetrics(report.sets[1]!.metrics[m], e.far);
      expectMetrics(report.groups.find((g) => g.group === 'near')!.metrics[m], e.near);
      expectMetrics(report.groups.find((g) => g.group === 'far')!.metrics[m], e.far);
      const mean = {
        auroc: (e.near.auroc + e.far.auroc) / 2,
        fpr95: (e.near.fpr95 + e.far.fpr95) / 2,
        auprIn: (e.near.auprIn + e.far.auprIn) / 2,
        auprOut: (e.near.auprOut + e.far.auprOut) / 2,
      };
      expectMetrics(report.average.metrics[m], mean);
      // The same numbers from the hand-computed scores through oodMetrics.
      const scores = (colours: Rgb[]) => colours.map(byHand[m]);
      expectMetrics(report.sets[0]!.metrics[m], oodMetrics(scores(IND_COLOURS), scores(NEAR_COLOURS)));
      expectMetrics(report.sets[1]!.metrics[m], oodMetrics(scores(IND_COLOURS), scores(FAR_COLOURS)));
    }
    expect(report.groups.map((g) => [g.group, g.sets])).toEqual([
      ['near', ['near']],
      ['far', ['far']],
    ]);
    expect(report.average.sets).toEqual(['near', 'far']);

    // 95% of 3 InD images rounds up to all 3: the threshold is the lowest InD score, crimson's. The
    // bundle's 0.965 accepts red (0.9688) and orange (0.9783) but not crimson (0.9579).
    expect(report.tpr).toBe(0.95);
    expect(report.threshold).toBeCloseTo(byHand.synood(CRIMSON), 6);
    expect(report.detector).toMatchObject({
      dim: 3,
      indLabels: 2,
      negatives: 2,
      finetuned: 1,
      groups: 2,
      scale: SCALE,
      projection: true,
      threshold: 0.965,
      metadata: { backbone: 'channel-mean fixture' },
    });
    expect(report.bundleTpr).toBeCloseTo(2 / 3, 12);
    // The evaluate stage's metrics.json readers accept the report.
    expect(evaluationReportSchema.safeParse(report).success).toBe(true);

    // The table: one row per set and method, then the group means and the overall mean, in %.
    const line = (set: string, method: string) =>
      r.out.split('\n').find((l) => l.startsWith(`${set} `) && l.includes(` ${method} `));
    const cells = (m: OodMetrics) => [m.auroc, m.fpr95, m.auprIn, m.auprOut].map(pct);
    expect(line('near', 'synood')!.trim().split(/\s+/)).toEqual([
      'near',
      'near',
      '2',
      'synood',
      ...cells(nearSynood),
    ]);
    expect(line('far', 'mcm')!.trim().split(/\s+/)).toEqual(['far', 'far', '2', 'mcm', ...cells(farMcm)]);
    expect(line('near mean', 'mcm')!.trim().split(/\s+/)).toEqual(['near', 'mean', 'mcm', ...cells(nearMcm)]);
    const meanSynood = {
      auroc: (11 / 12 + 1) / 2,
      fpr95: 1 / 4,
      auprIn: (11 / 12 + 1) / 2,
      auprOut: (5 / 6 + 1) / 2,
    };
    expect(line('mean', 'synood')!.trim().split(/\s+/)).toEqual(['mean', 'synood', ...cells(meanSynood)]);
    expect(r.out).toContain('1 unreadable image(s) skipped (InD 1, OOD 0)');
    const printed = /threshold at 95% InD TPR \(synood\): ([0-9.]+); the bundle's is 0\.9650000 \(\+/.exec(
      r.out,
    );
    expect(Number(printed?.[1])).toBeCloseTo(byHand.synood(CRIMSON), 6);
    expect(r.out).toContain('which accepts 66.67% of these InD images');
    expect(r.out).toContain(`report → ${json}`);
    // Progress goes to stderr, batch by batch.
    expect(r.err).toContain('  InD: 4/4 images');
  });

  it('takes detector.json itself, drops synood-labels for a bundle without projection and honours --tpr', async () => {
    const json = join(dir, 'plain.json');
    const r = await run([
      'eval',
      '--detector',
      join(plainBundle, 'detector.json'),
      '--ind',
      ind,
      '--ood',
      `far=${far}`,
      '--model',
      vision,
      '--tpr',
      '0.5',
      '--json',
      json,
    ]);
    expect(r.code).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as EvalReport;
    expect(report.methods).toEqual(['synood', 'mcm']);
    expect(report.detector.projection).toBe(false);
    expect(report.sets[0]!.kind).toBeUndefined();
    expect(report.groups).toEqual([]);
    // Without the projection, synood is the labels-only score.
    const s = byHand['synood-labels'];
    expectMetrics(report.sets[0]!.metrics.synood, oodMetrics(IND_COLOURS.map(s), FAR_COLOURS.map(s)));
    // ⌈0.5·3⌉ = 2: the second-highest InD score, red's (orange > red > crimson).
    expect(report.threshold).toBeCloseTo(s(RED), 6);
    expect(report.bundleTpr).toBeNull();
    expect(r.out).toContain('threshold at 50% InD TPR (synood)');
    expect(r.out).toContain('the bundle stores no threshold');
    expect(r.out).not.toContain('synood-labels');
  });

  it('synood-labels is the bundle without its projection: an image the projection lifts among the InD scores', async () => {
    // The projection adds relu(β) = (0.5, 0, 0) to olive's raw feature and lifts its synood score between
    // crimson's and red's; without it olive scores below every InD image.
    expect(byHand.synood(OLIVE)).toBeGreaterThan(byHand.synood(CRIMSON));
    expect(byHand.synood(OLIVE)).toBeLessThan(byHand.synood(RED));
    expect(byHand['synood-labels'](OLIVE)).toBeLessThan(byHand['synood-labels'](CRIMSON));
    const olive = join(dir, 'olive');
    await writeImage(join(olive, 'olive.png'), solid(16, OLIVE));
    const json = join(dir, 'olive.json');
    const r = await run([
      'eval',
      '--detector',
      bundle,
      '--ind',
      ind,
      '--ood',
      `olive=${olive}`,
      '--model',
      vision,
      '--json',
      json,
    ]);
    expect(r.code).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as EvalReport;
    // synood: olive is below orange and red, above crimson → AUROC 2/3; the recall-1 threshold (crimson)
    // lets it through → FPR95 1; AUPR-In: orange, red at precision 1, crimson at 3/4 → (1 + 1 + 3/4)/3;
    // AUPR-Out: olive first from the bottom after crimson → precision 1/2 at recall 1.
    expectMetrics(report.sets[0]!.metrics.synood, {
      auroc: 2 / 3,
      fpr95: 1,
      auprIn: 11 / 12,
      auprOut: 1 / 2,
    });
    expectMetrics(report.sets[0]!.metrics['synood-labels'], { auroc: 1, fpr95: 0, auprIn: 1, auprOut: 1 });
    expectMetrics(report.sets[0]!.metrics.mcm, oodMetrics(IND_COLOURS.map(byHand.mcm), [byHand.mcm(OLIVE)]));
  });

  it('evaluates the sets of a preset under --root, skipping the missing ones with a warning', async () => {
    const root = join(dir, 'clip-ood');
    await writeImage(join(root, 'iNaturalist', 'images', 'x.png'), solid(16, PURPLE));
    await writeImage(join(root, 'dtd', 'images', 'banded', 'y.png'), solid(16, BLUE));
    await writeFile(join(root, 'dtd', 'images', 'banded', 'z.jpg'), 'not a jpeg');
    // A set folder without images is evaluated (and reported without metrics), not skipped.
    await mkdir(join(root, 'Places', 'images'), { recursive: true });
    const json = join(dir, 'preset.json');
    const r = await run([
      'eval',
      '--detector',
      bundle,
      '--ind',
      ind,
      '--preset',
      'clip-ood',
      '--root',
      root,
      '--ood',
      `extra=${near}:near`,
      '--model',
      vision,
      '--json',
      json,
    ]);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`warning: clip-ood set SUN: ${root}/SUN/images is not a folder; skipped`);
    expect(r.err).toContain(
      `warning: OOD set Places: ${root}/Places/images has no image files; it gets no metrics`,
    );
    const report = JSON.parse(await readFile(json, 'utf8')) as EvalReport;
    expect(report.sets.map((s) => [s.name, s.kind, s.dir, s.listed, s.images])).toEqual([
      ['iNaturalist', 'far', `${root}/iNaturalist/images`, 1, 1],
      ['Places', 'far', `${root}/Places/images`, 0, 0],
      ['Textures', 'far', `${root}/dtd/images`, 2, 1],
      ['extra', 'near', near, 2, 2],
    ]);
    expect(report.sets[1]!.metrics).toEqual({});
    expect(report.sets[2]!.failures).toEqual([
      expect.objectContaining({ file: join('banded', 'z.jpg'), code: 'VISION_ERR_DECODE' }),
    ]);
    expect(report.failures).toBe(2);
    expect(report.skipped).toEqual([{ name: 'SUN', dir: `${root}/SUN/images`, kind: 'far' }]);
    // One purple against InD: below all three → AUROC 1; one blue: the same. Far mean 1, near as before.
    expectMetrics(report.sets[0]!.metrics.synood, { auroc: 1, fpr95: 0, auprIn: 1, auprOut: 1 });
    expect(report.groups.map((g) => [g.group, g.sets])).toEqual([
      ['near', ['extra']],
      ['far', ['iNaturalist', 'Textures']],
    ]);
    expectMetrics(report.groups[1]!.metrics.synood, { auroc: 1, fpr95: 0, auprIn: 1, auprOut: 1 });
    expect(report.average.metrics.synood!.auroc).toBeCloseTo((1 + 1 + 11 / 12) / 3, 12);
    expect(r.out).toContain(`skipped   SUN (${root}/SUN/images not found)`);
    expect(r.out).toMatch(/^Places +far +0 +synood +\(no image of the set could be embedded\)$/m);
    expect(r.out).toContain('2 unreadable image(s) skipped (InD 1, OOD 1)');
  });

  describe('errors', () => {
    const base = (): string[] => ['eval', '--ind', ind, '--ood', `far=${far}`, '--model', vision];

    it('a missing bundle names detector.json and the publish stage', async () => {
      const missing = join(dir, 'nope');
      let r = await run([...base(), '--detector', missing]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(
        /^error \[CLI_ERR_DETECTOR_NOT_FOUND\]: .*nope: no such folder or file; .*detector\.json .*publish stage/,
      );
      const empty = join(dir, 'empty-bundle');
      await mkdir(empty, { recursive: true });
      r = await run([...base(), '--detector', empty]);
      expect(r.code).toBe(1);
      expect(r.err).toContain(
        `error [CLI_ERR_DETECTOR_NOT_FOUND]: ${join(empty, 'detector.json')}: no such file`,
      );
      expect(r.err).toContain('publish stage');
    });

    it('an incomplete, corrupt or foreign bundle is CLI_ERR_BAD_DETECTOR naming the file', async () => {
      const half = join(dir, 'half');
      await mkdir(half, { recursive: true });
      await writeFile(join(half, 'detector.json'), await readFile(join(bundle, 'detector.json')));
      let r = await run([...base(), '--detector', half]);
      expect(r.code).toBe(1);
      expect(r.err).toContain(
        `error [CLI_ERR_BAD_DETECTOR]: ${join(half, 'detector.bin')}: no such file, the bundle is incomplete`,
      );

      const corrupt = join(dir, 'corrupt');
      await mkdir(corrupt, { recursive: true });
      await writeFile(join(corrupt, 'detector.json'), await readFile(join(bundle, 'detector.json')));
      const data = await readFile(join(bundle, 'detector.bin'));
      data[5] = data[5]! ^ 0xff;
      await writeFile(join(corrupt, 'detector.bin'), data);
      r = await run([...base(), '--detector', corrupt]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(
        /^error \[CLI_ERR_BAD_DETECTOR\]: .*corrupt\/detector\.json \+ detector\.bin: detector data checksum/,
      );

      const foreign = join(dir, 'foreign');
      await mkdir(foreign, { recursive: true });
      await writeFile(join(foreign, 'detector.json'), '{"format": "something-else"}');
      r = await run([...base(), '--detector', foreign]);
      expect(r.err).toContain('error [CLI_ERR_BAD_DETECTOR]');
      expect(r.err).toContain('is not a detector manifest');
      await writeFile(join(foreign, 'detector.json'), '{not json');
      r = await run([...base(), '--detector', foreign]);
      expect(r.err).toContain(`error [CLI_ERR_BAD_DETECTOR]: ${join(foreign, 'detector.json')} is not JSON`);
    });

    it('an --ind folder without images, or with none readable, is CLI_ERR_NO_IMAGES', async () => {
      const none = join(dir, 'no-images');
      await mkdir(none, { recursive: true });
      await writeFile(join(none, 'notes.txt'), 'no image here');
      let r = await run([
        'eval',
        '--detector',
        bundle,
        '--ind',
        none,
        '--ood',
        `far=${far}`,
        '--model',
        vision,
      ]);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`error [CLI_ERR_NO_IMAGES]: --ind ${none} has no image files`);
      await writeFile(join(none, 'bad.jpg'), 'not a jpeg');
      r = await run(['eval', '--detector', bundle, '--ind', none, '--ood', `far=${far}`, '--model', vision]);
      expect(r.code).toBe(1);
      expect(r.err).toContain('error [CLI_ERR_NO_IMAGES]: none of the 1 images under --ind');
      r = await run([
        'eval',
        '--detector',
        bundle,
        '--ind',
        join(dir, 'absent'),
        '--ood',
        `far=${far}`,
        '--model',
        vision,
      ]);
      expect(r.err).toContain('error [CLI_ERR_FILE_NOT_FOUND]: --ind: ');
    });

    it('bad --ood syntax, an unknown preset and a missing set are usage errors naming the argument', async () => {
      let r = await run(['eval', '--detector', bundle, '--ind', ind, '--ood', far, '--model', vision]);
      expect(r.code).toBe(2);
      expect(r.err).toContain(
        `error [CLI_ERR_USAGE]: option '--ood <name=dir[:near|far]>' argument '${far}' is invalid`,
      );
      expect(r.err).toContain('expected NAME=DIR or NAME=DIR:near|far');
      r = await run([
        'eval',
        '--detector',
        bundle,
        '--ind',
        ind,
        '--preset',
        'imagenet-o',
        '--root',
        dir,
        '--model',
        vision,
      ]);
      expect(r.code).toBe(2);
      expect(r.err).toContain(
        "error [CLI_ERR_USAGE]: option '--preset <name>' argument 'imagenet-o' is invalid",
      );
      expect(r.err).toContain('clip-ood, openood-v1.5');
      r = await run(['eval', '--detector', bundle, '--ind', ind, '--preset', 'clip-ood', '--model', vision]);
      expect(r.code).toBe(2);
      expect(r.err).toContain('--preset clip-ood needs --root');
      r = await run(['eval', '--detector', bundle, '--ind', ind, '--model', vision]);
      expect(r.code).toBe(2);
      expect(r.err).toContain('error [CLI_ERR_USAGE]: no OOD set: give --ood NAME=DIR');
      r = await run([...base(), '--detector', bundle, '--ood', `far=${near}`]);
      expect(r.code).toBe(2);
      expect(r.err).toContain('OOD set name "far" is given twice');
      r = await run([...base(), '--detector', bundle, '--ood', `gone=${join(dir, 'gone')}:far`]);
      expect(r.code).toBe(1);
      expect(r.err).toContain(
        `error [CLI_ERR_FILE_NOT_FOUND]: OOD set gone: ${join(dir, 'gone')}: no such directory`,
      );
    });

    it('OOD sets without a single embeddable image, or --root without --preset, fail', async () => {
      const blank = join(dir, 'blank');
      await mkdir(blank, { recursive: true });
      await writeFile(join(blank, 'bad.png'), 'not a png');
      let r = await run([
        'eval',
        '--detector',
        bundle,
        '--ind',
        ind,
        '--ood',
        `blank=${blank}`,
        '--model',
        vision,
      ]);
      expect(r.code).toBe(1);
      expect(r.err).toContain(
        'error [CLI_ERR_NO_IMAGES]: no OOD set has an image that could be embedded (blank: 1 listed)',
      );
      r = await run([...base(), '--detector', bundle, '--root', dir]);
      expect(r.code).toBe(2);
      expect(r.err).toContain('error [CLI_ERR_USAGE]: --root names the folder of a --preset');
    });

    it('a preset with none of its folders under --root is CLI_ERR_NO_OOD_SETS', async () => {
      const r = await run([
        'eval',
        '--detector',
        bundle,
        '--ind',
        ind,
        '--preset',
        'openood-v1.5',
        '--root',
        join(dir, 'empty-root'),
        '--model',
        vision,
      ]);
      expect(r.code).toBe(1);
      expect(r.err).toContain('warning: openood-v1.5 set SSB-hard');
      expect(r.err).toContain(
        `error [CLI_ERR_NO_OOD_SETS]: none of the openood-v1.5 sets is under ${join(dir, 'empty-root')} ` +
          '(looked for ssb_hard, ninco, inaturalist, textures, openimage_o)',
      );
    });

    it('a model whose features are not the detector size is CLI_ERR_MODEL_MISMATCH', async () => {
      const wide = join(dir, 'wide');
      const rng = new Rng(3);
      await writeBundle(
        buildDetector({
          indLabels: ['a'],
          indFeatures: randomNormalMatrix(rng, 1, 4),
          negativeLabels: ['b', 'c'],
          negativeFeatures: randomNormalMatrix(rng, 2, 4),
          groups: 1,
        }),
        wide,
      );
      const r = await run([...base(), '--detector', wide]);
      expect(r.code).toBe(1);
      expect(r.err).toContain(
        `error [CLI_ERR_MODEL_MISMATCH]: ${vision} gives 3-d features but the detector`,
      );
      expect(r.err).toContain('is 4-d');
    });
  });

  it('parseOodArg reads the group only as a suffix', () => {
    expect(parseOodArg('a=/x/y')).toEqual({ name: 'a', dir: '/x/y' });
    expect(parseOodArg('a=/x:y/z:near')).toEqual({ name: 'a', dir: '/x:y/z', group: 'near' });
    expect(parseOodArg('a=b=c:far')).toEqual({ name: 'a', dir: 'b=c', group: 'far' });
    expect(() => parseOodArg('=dir')).toThrow('expected NAME=DIR');
    expect(() => parseOodArg('name=')).toThrow('expected NAME=DIR');
    expect(() => parseOodArg('name=:far')).toThrow('expected NAME=DIR');
  });
});

describe('synood eval on a ViT-shaped CLIP tower', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'synood-eval-vit-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('matches detectorScores and mcmScores run directly on the same features (another backend)', async () => {
    const vision = join(dir, 'vision.onnx');
    await writeFile(vision, encodeModel(clipVisionFixture({ seed: 5 })).model);
    const rng = new Rng(11);
    const detector = buildDetector({
      indLabels: ['a', 'b', 'c', 'd'],
      indFeatures: randomNormalMatrix(rng, 4, 16),
      negativeLabels: Array.from({ length: 23 }, (_, i) => `n${i}`),
      negativeFeatures: randomNormalMatrix(rng, 23, 16),
      finetuned: { rows: Int32Array.of(2, 9), features: randomNormalMatrix(rng, 2, 16) },
      projection: initProjectionHead(16, 4),
      scale: 100,
      groups: 5,
      seed: 'vit',
      threshold: 0.5,
    });
    const bundle = join(dir, 'detector');
    await writeBundle(detector, bundle);
    const sizes = [
      [32, 32],
      [40, 32],
      [32, 48],
    ] as const;
    const write = async (folder: string, n: number) => {
      const files: string[] = [];
      for (let i = 0; i < n; i++) {
        const [w, h] = sizes[i % sizes.length]!;
        files.push(join(dir, folder, `${String(i).padStart(2, '0')}.png`));
        await writeImage(files[i]!, noise(w, h, rng));
      }
      return files;
    };
    const indFiles = await write('ind', 12);
    const setA = await write('a', 7);
    const setB = await write('b', 5);
    const json = join(dir, 'report.json');
    const r = await run([
      'eval',
      '--detector',
      bundle,
      '--ind',
      join(dir, 'ind'),
      '--ood',
      `a=${join(dir, 'a')}:near`,
      '--ood',
      `b=${join(dir, 'b')}:far`,
      '--model',
      vision,
      '--batch-size',
      '5',
      '--threads',
      '1',
      '--json',
      json,
    ]);
    expect(r.err).not.toContain('error');
    expect(r.code).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as EvalReport;

    const encoder = await ClipImageEncoder.create(vision, { session: { intraOpThreads: 1 } });
    const backend = new TypeScriptBackend();
    const scoresOf = async (files: string[]) => {
      const f = (await encoder.encodeImages(files)).raw;
      return {
        synood: await detectorScores(backend, detector, f),
        'synood-labels': await detectorScores(backend, { ...detector, projection: null }, f),
        mcm: await mcmScores(backend, f, detector.indFeatures, 1),
      };
    };
    try {
      const indScores = await scoresOf(indFiles);
      const sets = [await scoresOf(setA), await scoresOf(setB)];
      for (const method of ['synood', 'synood-labels', 'mcm'] as const) {
        for (let s = 0; s < 2; s++) {
          expectMetrics(report.sets[s]!.metrics[method], oodMetrics(indScores[method], sets[s]![method]), 9);
        }
      }
      expect(report.threshold).toBeCloseTo(thresholdAtTpr(indScores.synood, 0.95), 5);
      expect(report.bundleTpr).toBeCloseTo(indScores.synood.filter((v) => v >= 0.5).length / 12, 12);
    } finally {
      await encoder.release();
    }
  });
});
