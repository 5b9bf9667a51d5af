/**
 * `synood eval`: a published detector bundle evaluated locally (no Redis, no API) on a folder of InD images
 * and one or more OOD image sets, with the scoring of the evaluate stage: `synood` (the bundle as published:
 * projection, fine-tuned negatives, grouped NegLabel score), `synood-labels` (the same bundle without its
 * projection; only when it has one) and `mcm` (max softmax over the bundle's InD text features, τ = 1).
 * Prints AUROC, FPR95, AUPR-In and AUPR-Out per set, per near/far group and over all sets, and the
 * threshold at the InD true-positive rate beside the one stored in the bundle.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';

import { OOD_PRESET_FOLDERS, OOD_PRESET_NAMES, type OodPresetName, expandOodPreset } from '@synood/contracts';
import { type ClipImageFailure, ClipImageEncoder } from '@synood/models';
import { OrtLinalgBackend } from '@synood/onnx';
import {
  DETECTOR_FORMAT,
  type DetectorManifest,
  type OodMetrics,
  type SynoodDetector,
  decodeDetector,
  detectorLayout,
  detectorScores,
  mcmScores,
  oodMetrics,
  thresholdAtTpr,
} from '@synood/ood';
import type { LinalgBackend, Matrix } from '@synood/tensor';
import { DETECTOR_FILES } from '@synood/trainer';
import { Presets, SingleBar } from 'cli-progress';
import { type Command, InvalidArgumentError, Option } from 'commander';

import { CliError, writeErr, writeOut } from '../program';
import { IMAGE_EXTENSIONS, listImages, positiveInt } from './embed';

/** The methods `synood eval` scores, in report order (`synood-labels` only for a bundle with a projection). */
export const EVAL_METHODS = ['synood', 'synood-labels', 'mcm'] as const;

/** One of {@link EVAL_METHODS}. */
export type EvalMethod = (typeof EVAL_METHODS)[number];

/** A near/far OOD group (OpenOOD's grouping). */
export type OodGroup = 'near' | 'far';

/** An OOD set as given on the command line (`--ood NAME=DIR[:near|far]`) or taken from a preset. */
export interface EvalOodSet {
  readonly name: string;
  readonly dir: string;
  readonly group?: OodGroup;
}

/** An image that could not be read or decoded. */
export interface EvalFailure {
  /** Path relative to its set's folder. */
  readonly file: string;
  readonly code: string;
  readonly message: string;
}

/** The images of one side of the evaluation: how many were listed and embedded, and which failed. */
export interface EvalImages {
  readonly name: string;
  readonly dir: string;
  /** Image files found under `dir`. */
  readonly listed: number;
  /** Images embedded and scored. */
  readonly images: number;
  readonly failures: readonly EvalFailure[];
}

/** One OOD set of the report; `metrics` is empty when none of its images could be embedded. */
export interface EvalSetReport extends EvalImages {
  /** The set's group (`kind`, as in the evaluate stage's `metrics.json`). */
  readonly kind?: OodGroup;
  readonly metrics: Partial<Record<EvalMethod, OodMetrics>>;
}

/** Plain means of the metrics over some sets, per method. */
export interface EvalMeans {
  /** The sets averaged, in report order. */
  readonly sets: readonly string[];
  readonly metrics: Partial<Record<EvalMethod, OodMetrics>>;
}

/**
 * The `--json` report. Its `methods`, `sets` (`name`, `kind`, `images`, `metrics`), `ind`, `threshold`,
 * `groups` and `average` have the shape of the evaluate stage's `metrics.json` (`EvaluationReport`), so the
 * same tools read both; the rest is what a local evaluation adds.
 */
export interface EvalReport {
  readonly methods: readonly EvalMethod[];
  readonly detector: {
    /** The manifest read. */
    readonly manifest: string;
    readonly dim: number;
    readonly indLabels: number;
    readonly negatives: number;
    readonly finetuned: number;
    readonly groups: number;
    readonly scale: number;
    readonly projection: boolean;
    /** The threshold stored in the bundle (the publish stage's, from the run's InD images), or null. */
    readonly threshold: number | null;
    readonly metadata: Readonly<Record<string, unknown>>;
  };
  /** The CLIP vision tower that embedded the images. */
  readonly model: string;
  readonly ind: EvalImages;
  readonly sets: readonly EvalSetReport[];
  /** Preset sets whose folder was not found. */
  readonly skipped: readonly { readonly name: string; readonly dir: string; readonly kind?: OodGroup }[];
  /** Means per group, near before far; only groups with a scored set. */
  readonly groups: readonly (EvalMeans & { readonly group: OodGroup })[];
  /** Mean over every scored set. */
  readonly average: EvalMeans;
  /** The InD true-positive rate of `threshold`. */
  readonly tpr: number;
  /** The `synood` score at `tpr` on these InD images (images scoring ≥ it are called InD). */
  readonly threshold: number;
  /** Share of these InD images the bundle's stored threshold accepts, or null when it has none. */
  readonly bundleTpr: number | null;
  /** Unreadable images, InD and OOD together. */
  readonly failures: number;
}

interface EvalOptions {
  detector: string;
  ind: string;
  ood?: EvalOodSet[];
  preset?: OodPresetName;
  root?: string;
  model: string;
  batchSize: number;
  tpr: number;
  json?: string;
  threads?: number;
}

const OOD_FORM = 'NAME=DIR or NAME=DIR:near|far (e.g. textures=/data/dtd/images:far)';

/**
 * Parses one `--ood` value, `NAME=DIR[:near|far]`; the group suffix is read only at the end, so a folder
 * may contain `:` elsewhere.
 *
 * @throws InvalidArgumentError (a usage error naming the argument) for any other form.
 */
export function parseOodArg(value: string): EvalOodSet {
  const eq = value.indexOf('=');
  const name = eq < 0 ? '' : value.slice(0, eq).trim();
  const rest = eq < 0 ? '' : value.slice(eq + 1);
  const grouped = /^(.*):(near|far)$/.exec(rest);
  const dir = grouped === null ? rest : grouped[1]!;
  if (name === '' || dir === '') {
    throw new InvalidArgumentError(`expected ${OOD_FORM}`);
  }
  return grouped === null ? { name, dir } : { name, dir, group: grouped[2] as OodGroup };
}

/** Parses `--tpr`: a fraction in (0, 1]. */
function fraction(value: string): number {
  const n = /^(?:\d+(?:\.\d*)?|\.\d+)$/.test(value) ? Number(value) : NaN;
  if (!(n > 0 && n <= 1)) {
    throw new InvalidArgumentError(`expected a fraction in (0, 1], got "${value}"`);
  }
  return n;
}

function errnoOf(e: unknown): string | undefined {
  // Duck-typed, not instanceof Error: fs errors may come from another realm (jest's sandbox).
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

function messageOf(e: unknown): string {
  const message = typeof e === 'object' && e !== null ? (e as { message?: unknown }).message : undefined;
  return typeof message === 'string' ? message : String(e);
}

const PUBLISHED_BY =
  'a detector bundle is the folder holding detector.json and detector.bin that the publish stage of a synood run writes (detectors/<run id>/ in the run store)';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isStrings = (v: unknown): boolean => Array.isArray(v) && v.every((s) => typeof s === 'string');

/** The fields `decodeDetector` reads, checked so that a malformed manifest is reported, not a TypeError. */
function manifestProblem(m: Record<string, unknown>): string | undefined {
  if (m.format !== DETECTOR_FORMAT) {
    return `it is not a detector manifest (format is ${JSON.stringify(m.format)}, expected "${DETECTOR_FORMAT}")`;
  }
  for (const key of ['formatVersion', 'dim', 'scale', 'groups', 'byteLength'] as const) {
    if (typeof m[key] !== 'number') {
      return `its ${key} is not a number`;
    }
  }
  if (m.threshold !== null && typeof m.threshold !== 'number') {
    return 'its threshold is neither a number nor null';
  }
  if (!isRecord(m.labels) || !isStrings(m.labels.ind) || !isStrings(m.labels.negatives)) {
    return 'its labels are not {ind: string[], negatives: string[]}';
  }
  if (m.projection !== null && !(isRecord(m.projection) && typeof m.projection.lnEps === 'number')) {
    return 'its projection is neither null nor {lnEps}';
  }
  if (!Array.isArray(m.arrays) || !m.arrays.every((a) => isRecord(a) && Array.isArray(a.shape))) {
    return 'its arrays are not a list of {name, dtype, shape, byteOffset, byteLength}';
  }
  if (typeof m.checksum !== 'string' || !isRecord(m.metadata)) {
    return 'it lacks its checksum or metadata';
  }
  return undefined;
}

/**
 * Reads a published bundle: `path` is its folder or the `detector.json` in it; `detector.bin` is read
 * from beside the manifest. Format, version, sizes and checksum are checked.
 *
 * @throws {@link CliError} `CLI_ERR_DETECTOR_NOT_FOUND` when the folder or manifest does not exist,
 *   `CLI_ERR_BAD_DETECTOR` when the bundle is incomplete (no `detector.bin`), not JSON, or fails the checks.
 */
export async function readDetectorBundle(
  path: string,
): Promise<{ manifest: string; detector: SynoodDetector }> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (e) {
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') {
      throw new CliError('CLI_ERR_DETECTOR_NOT_FOUND', `${path}: no such folder or file; ${PUBLISHED_BY}`);
    }
    throw e;
  }
  const manifestFile = isDir ? join(path, DETECTOR_FILES.manifest) : path;
  const dataFile = join(dirname(manifestFile), DETECTOR_FILES.data);
  let text: string;
  try {
    text = await readFile(manifestFile, 'utf8');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') {
      throw new CliError('CLI_ERR_DETECTOR_NOT_FOUND', `${manifestFile}: no such file; ${PUBLISHED_BY}`);
    }
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CliError(
      'CLI_ERR_BAD_DETECTOR',
      `${manifestFile} is not JSON (${messageOf(e)}); ${PUBLISHED_BY}`,
    );
  }
  const problem = isRecord(parsed) ? manifestProblem(parsed) : 'it is not a JSON object';
  if (problem !== undefined) {
    throw new CliError('CLI_ERR_BAD_DETECTOR', `${manifestFile}: ${problem}; ${PUBLISHED_BY}`);
  }
  let data: Uint8Array;
  try {
    data = await readFile(dataFile);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') {
      throw new CliError(
        'CLI_ERR_BAD_DETECTOR',
        `${dataFile}: no such file, the bundle is incomplete; the publish stage of a synood run writes ${DETECTOR_FILES.data} beside ${DETECTOR_FILES.manifest}`,
      );
    }
    throw e;
  }
  try {
    return { manifest: manifestFile, detector: decodeDetector(parsed as DetectorManifest, data) };
  } catch (e) {
    throw new CliError('CLI_ERR_BAD_DETECTOR', `${manifestFile} + ${DETECTOR_FILES.data}: ${messageOf(e)}`);
  }
}

async function isDirectory(dir: string): Promise<boolean> {
  try {
    return (await stat(dir)).isDirectory();
  } catch (e) {
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') {
      return false;
    }
    throw e;
  }
}

/**
 * The OOD sets to evaluate: the preset's (those whose folder exists under `root`) first, then the `--ood`
 * ones. A missing preset folder is warned about and skipped; a missing `--ood` folder is an error later.
 *
 * @throws {@link CliError} `CLI_ERR_USAGE` for no set at all, `--preset` without `--root` (or the reverse)
 *   or a repeated name; `CLI_ERR_NO_OOD_SETS` when no preset folder exists and no `--ood` set is given.
 */
async function resolveSets(
  opts: EvalOptions,
  command: Command,
): Promise<{ sets: EvalOodSet[]; skipped: EvalOodSet[] }> {
  if ((opts.preset === undefined) !== (opts.root === undefined)) {
    throw new CliError(
      'CLI_ERR_USAGE',
      opts.preset === undefined
        ? '--root names the folder of a --preset; give --preset clip-ood|openood-v1.5 too'
        : `--preset ${opts.preset} needs --root, the folder its sets are under`,
    );
  }
  const explicit = opts.ood ?? [];
  if (opts.preset === undefined && explicit.length === 0) {
    throw new CliError(
      'CLI_ERR_USAGE',
      `no OOD set: give --ood ${OOD_FORM} (repeatable) and/or --preset ${OOD_PRESET_NAMES.join('|')} --root DIR`,
    );
  }
  const sets: EvalOodSet[] = [];
  const skipped: EvalOodSet[] = [];
  if (opts.preset !== undefined && opts.root !== undefined) {
    for (const s of expandOodPreset({ name: opts.preset, root: opts.root })) {
      const set: EvalOodSet = {
        name: s.name,
        dir: s.location,
        ...(s.group === undefined ? {} : { group: s.group }),
      };
      if (await isDirectory(set.dir)) {
        sets.push(set);
      } else {
        skipped.push(set);
        writeErr(command, `warning: ${opts.preset} set ${set.name}: ${set.dir} is not a folder; skipped\n`);
      }
    }
    if (sets.length === 0 && explicit.length === 0) {
      const folders = OOD_PRESET_FOLDERS[opts.preset].map((f) => f.folder).join(', ');
      throw new CliError(
        'CLI_ERR_NO_OOD_SETS',
        `none of the ${opts.preset} sets is under ${opts.root} (looked for ${folders})`,
      );
    }
  }
  const names = new Set(sets.map((s) => s.name));
  for (const set of explicit) {
    if (names.has(set.name)) {
      throw new CliError(
        'CLI_ERR_USAGE',
        `OOD set name "${set.name}" is given twice${opts.preset === undefined ? '' : ` (--preset ${opts.preset} has it too)`}; set names must be unique`,
      );
    }
    names.add(set.name);
    sets.push(set);
  }
  return { sets, skipped };
}

/** Every method's scores of raw CLIP features (higher = more InD). */
type Scorer = (features: Matrix) => Promise<Partial<Record<EvalMethod, Float64Array>>>;

function scorerOf(backend: LinalgBackend, detector: SynoodDetector): Scorer {
  // The projection does not enter the label layout, so the ablation shares it (and the grouping).
  const layout = detectorLayout(detector);
  const labelsOnly: SynoodDetector | undefined =
    detector.projection === null ? undefined : { ...detector, projection: null };
  return async (features) => ({
    synood: await detectorScores(backend, detector, features, layout),
    ...(labelsOnly === undefined
      ? {}
      : { 'synood-labels': await detectorScores(backend, labelsOnly, features, layout) }),
    mcm: await mcmScores(backend, features, detector.indFeatures, 1),
  });
}

function failuresOf(failures: readonly ClipImageFailure[], dir: string): EvalFailure[] {
  return failures.map((f) => ({ file: relative(dir, f.name), code: f.error.code, message: f.error.message }));
}

const pct = (v: number): string => (100 * v).toFixed(2).padStart(7);

function metricsCells(m: OodMetrics): string {
  return `${pct(m.auroc)}  ${pct(m.fpr95)}  ${pct(m.auprIn)}  ${pct(m.auprOut)}`;
}

/** The human-readable report: what was evaluated, the metrics table (percentages), the thresholds. */
export function formatEvalReport(report: EvalReport): string {
  const d = report.detector;
  const lines: string[] = [
    `detector  ${d.manifest} (${d.dim}-d; ${d.indLabels} InD labels, ${d.negatives} negatives of which ${d.finetuned} fine-tuned, ` +
      `${d.groups} groups, scale ${d.scale}, ${d.projection ? 'projection' : 'no projection'})`,
    `model     ${report.model}`,
    `InD       ${report.ind.images} images from ${report.ind.dir}`,
    ...report.sets.map(
      (s, i) =>
        (i === 0 ? 'OOD' : '').padEnd(10) +
        `${s.name}${s.kind === undefined ? '' : ` (${s.kind})`}: ${s.images} images from ${s.dir}`,
    ),
  ];
  if (report.skipped.length > 0) {
    lines.push(`skipped   ${report.skipped.map((s) => `${s.name} (${s.dir} not found)`).join(', ')}`);
  }
  const methods = report.methods;
  const rows: [string, string, string, EvalMethod, OodMetrics | undefined][] = [];
  for (const s of report.sets) {
    for (const m of methods) {
      rows.push([s.name, s.kind ?? '', String(s.images), m, s.metrics[m]]);
    }
  }
  for (const g of report.groups) {
    for (const m of methods) {
      rows.push([`${g.group} mean`, '', '', m, g.metrics[m]]);
    }
  }
  for (const m of methods) {
    rows.push(['mean', '', '', m, report.average.metrics[m]]);
  }
  const wSet = Math.max('OOD set'.length, ...rows.map((r) => r[0].length));
  const wMethod = Math.max('method'.length, ...methods.map((m) => m.length));
  const header = `${'OOD set'.padEnd(wSet)}  group  images  ${'method'.padEnd(wMethod)}   AUROC↑   FPR95↓  AUPR-In  AUPR-Out`;
  lines.push('', header, '-'.repeat(header.length));
  for (const [set, group, images, method, metrics] of rows) {
    lines.push(
      `${set.padEnd(wSet)}  ${group.padEnd(5)}  ${images.padStart(6)}  ${method.padEnd(wMethod)} ` +
        (metrics === undefined ? '  (no image of the set could be embedded)' : metricsCells(metrics)),
    );
  }
  lines.push(
    '',
    'Metrics in %, InD the positive class; FPR95 at 95% InD recall; means weigh every set the same.',
  );
  const oodFailures = report.sets.reduce((n, s) => n + s.failures.length, 0);
  if (report.failures > 0) {
    lines.push(
      `${report.failures} unreadable image(s) skipped (InD ${report.ind.failures.length}, OOD ${oodFailures})` +
        '; the --json report lists them',
    );
  }
  const tpr = `${+(100 * report.tpr).toFixed(4)}%`;
  const stored =
    d.threshold === null || report.bundleTpr === null
      ? 'the bundle stores no threshold'
      : `the bundle's is ${d.threshold.toPrecision(7)} (${d.threshold - report.threshold >= 0 ? '+' : ''}` +
        `${(d.threshold - report.threshold).toPrecision(3)}), which accepts ${(100 * report.bundleTpr).toFixed(2)}% of these InD images`;
  lines.push(`threshold at ${tpr} InD TPR (synood): ${report.threshold.toPrecision(7)}; ${stored}`);
  return `${lines.join('\n')}\n`;
}

function meanOf(rows: readonly OodMetrics[]): OodMetrics {
  const mean = (key: keyof OodMetrics): number => rows.reduce((s, r) => s + r[key], 0) / rows.length;
  return { auroc: mean('auroc'), fpr95: mean('fpr95'), auprIn: mean('auprIn'), auprOut: mean('auprOut') };
}

function meansOver(methods: readonly EvalMethod[], sets: readonly EvalSetReport[]): EvalMeans {
  const metrics: Partial<Record<EvalMethod, OodMetrics>> = {};
  for (const method of methods) {
    metrics[method] = meanOf(sets.map((s) => s.metrics[method]!));
  }
  return { sets: sets.map((s) => s.name), metrics };
}

/**
 * Plain means (each set weighs the same, as the papers' "Average") per near/far group and over every
 * scored set, per method.
 */
function means(
  methods: readonly EvalMethod[],
  sets: readonly EvalSetReport[],
): Pick<EvalReport, 'groups' | 'average'> {
  const scored = sets.filter((s) => s.images > 0);
  const groups = (['near', 'far'] as const).flatMap((group) => {
    const members = scored.filter((s) => s.kind === group);
    return members.length === 0 ? [] : [{ group, ...meansOver(methods, members) }];
  });
  return { groups, average: meansOver(methods, scored) };
}

/** Image files of a folder given by `option`, with the option named when the folder is missing. */
async function listFor(option: string, dir: string): Promise<string[]> {
  try {
    return await listImages(dir);
  } catch (e) {
    if (e instanceof CliError) {
      throw new CliError(
        e.code,
        e.code === 'CLI_ERR_NOT_A_DIRECTORY'
          ? `${option}: ${dir} is a file, not a folder of images`
          : `${option}: ${e.message}`,
      );
    }
    throw e;
  }
}

/** Runs `synood eval`; see the file comment. */
export async function runEval(opts: EvalOptions, command: Command): Promise<EvalReport> {
  // Everything that can fail on the arguments fails before the model is loaded.
  const { manifest, detector } = await readDetectorBundle(opts.detector);
  const indFiles = await listFor('--ind', opts.ind);
  if (indFiles.length === 0) {
    throw new CliError(
      'CLI_ERR_NO_IMAGES',
      `--ind ${opts.ind} has no image files (${IMAGE_EXTENSIONS.join(' ')}), looked at recursively`,
    );
  }
  const { sets, skipped } = await resolveSets(opts, command);
  const listed: { set: EvalOodSet; files: string[] }[] = [];
  for (const set of sets) {
    listed.push({ set, files: await listFor(`OOD set ${set.name}`, set.dir) });
  }
  for (const { set, files } of listed) {
    if (files.length === 0) {
      writeErr(command, `warning: OOD set ${set.name}: ${set.dir} has no image files; it gets no metrics\n`);
    }
  }

  const session = opts.threads === undefined ? {} : { intraOpThreads: opts.threads };
  const encoder = await ClipImageEncoder.create(opts.model, { session });
  let backend: OrtLinalgBackend | undefined;
  try {
    backend = await OrtLinalgBackend.create({ executionProvider: 'cpu', ...session });
    const score = scorerOf(backend, detector);
    // A bar on a terminal; in logs, a line every tenth of a set (per-batch lines flood them on large sets).
    const interactive = process.stderr.isTTY;
    let bar: SingleBar | undefined;
    let lastTenth = -1;
    const progress = (name: string, done: number, total: number): void => {
      if (interactive) {
        if (bar === undefined) {
          bar = new SingleBar(
            { format: `  ${name} {bar} {value}/{total} images`, hideCursor: true },
            Presets.shades_classic,
          );
          bar.start(total, 0);
        }
        bar.update(done);
        return;
      }
      const tenth = Math.floor((10 * done) / total);
      if (done === total || tenth > lastTenth) {
        lastTenth = done === total ? -1 : tenth;
        writeErr(command, `  ${name}: ${done}/${total} images\n`);
      }
    };
    const embed = async (name: string, dir: string, files: readonly string[]) => {
      const features = await encoder.encodeImages(
        files.map((f) => join(dir, f)),
        {
          batchSize: opts.batchSize,
          onBatch: (done, total) => {
            progress(name, done, total);
          },
        },
      );
      bar?.stop();
      bar = undefined;
      if (features.raw.rows > 0 && features.raw.cols !== detector.indFeatures.cols) {
        throw new CliError(
          'CLI_ERR_MODEL_MISMATCH',
          `${opts.model} gives ${features.raw.cols}-d features but the detector ${manifest} is ${detector.indFeatures.cols}-d; ` +
            'evaluate it with the CLIP backbone it was trained on',
        );
      }
      return features;
    };

    const indFeatures = await embed('InD', opts.ind, indFiles);
    const ind: EvalImages = {
      name: 'ind',
      dir: opts.ind,
      listed: indFiles.length,
      images: indFeatures.raw.rows,
      failures: failuresOf(indFeatures.failures, opts.ind),
    };
    if (indFeatures.raw.rows === 0) {
      throw new CliError(
        'CLI_ERR_NO_IMAGES',
        `none of the ${indFiles.length} images under --ind ${opts.ind} could be embedded (first: ${ind.failures[0]?.file ?? '-'}: ${ind.failures[0]?.message ?? '-'})`,
      );
    }
    const indScores = await score(indFeatures.raw);
    const methods = EVAL_METHODS.filter((m) => indScores[m] !== undefined);

    const reports: EvalSetReport[] = [];
    for (const { set, files } of listed) {
      const features = files.length === 0 ? undefined : await embed(set.name, set.dir, files);
      const metrics: Partial<Record<EvalMethod, OodMetrics>> = {};
      if (features !== undefined && features.raw.rows > 0) {
        const oodScores = await score(features.raw);
        for (const m of methods) {
          metrics[m] = oodMetrics(indScores[m]!, oodScores[m]!);
        }
      }
      reports.push({
        name: set.name,
        ...(set.group === undefined ? {} : { kind: set.group }),
        dir: set.dir,
        listed: files.length,
        images: features?.raw.rows ?? 0,
        failures: failuresOf(features?.failures ?? [], set.dir),
        metrics,
      });
    }
    if (reports.every((r) => r.images === 0)) {
      throw new CliError(
        'CLI_ERR_NO_IMAGES',
        `no OOD set has an image that could be embedded (${reports.map((r) => `${r.name}: ${r.listed} listed`).join(', ')})`,
      );
    }

    const synood = indScores.synood!;
    const stored = detector.threshold;
    return {
      methods,
      detector: {
        manifest,
        dim: detector.indFeatures.cols,
        indLabels: detector.indLabels.length,
        negatives: detector.negativeLabels.length,
        finetuned: detector.finetunedRows.length,
        groups: detector.groups,
        scale: detector.scale,
        projection: detector.projection !== null,
        threshold: stored,
        metadata: detector.metadata,
      },
      model: opts.model,
      ind,
      sets: reports,
      skipped: skipped.map((s) => ({
        name: s.name,
        dir: s.dir,
        ...(s.group === undefined ? {} : { kind: s.group }),
      })),
      ...means(methods, reports),
      tpr: opts.tpr,
      threshold: thresholdAtTpr(synood, opts.tpr),
      bundleTpr: stored === null ? null : synood.filter((v) => v >= stored).length / synood.length,
      failures: ind.failures.length + reports.reduce((n, r) => n + r.failures.length, 0),
    };
  } finally {
    await Promise.all([encoder.release(), backend?.dispose()]);
  }
}

function collectOod(value: string, previous: EvalOodSet[] | undefined): EvalOodSet[] {
  return [...(previous ?? []), parseOodArg(value)];
}

/**
 * Registers `synood eval --detector DIR --ind DIR (--ood NAME=DIR[:near|far]… | --preset P --root DIR)
 * --model vision.onnx`.
 */
export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description(
      'evaluate a published detector bundle locally on InD and OOD image folders (AUROC, FPR95, AUPR-In, AUPR-Out)',
    )
    .requiredOption(
      '--detector <dir>',
      'the bundle: a folder with detector.json + detector.bin, or its detector.json',
    )
    .requiredOption('--ind <dir>', 'InD images, searched recursively (imagefolder layouts work)')
    .addOption(
      new Option(
        '--ood <name=dir[:near|far]>',
        'an OOD set: its name, its folder (searched recursively), its group; repeatable',
      ).argParser(collectOod),
    )
    .addOption(
      new Option('--preset <name>', 'the OOD sets of a benchmark under --root').choices(OOD_PRESET_NAMES),
    )
    .option('--root <dir>', "the folder holding the --preset's sets (<root>/<folder> each)")
    .requiredOption(
      '--model <file>',
      'CLIP vision tower .onnx the detector was trained with (e.g. an Optimum CLIPVisionModelWithProjection export)',
    )
    .addOption(new Option('--batch-size <n>', 'images per model run').argParser(positiveInt).default(32))
    .addOption(
      new Option('--tpr <fraction>', 'InD true-positive rate of the printed threshold')
        .argParser(fraction)
        .default(0.95),
    )
    .option(
      '--json <file>',
      'also write the full report (per set and method, counts, unreadable images) as JSON',
    )
    .addOption(
      new Option('--threads <n>', 'onnxruntime intra-op threads (default: one per physical core)').argParser(
        positiveInt,
      ),
    )
    .addHelpText(
      'after',
      '\nMethods: synood (the bundle as published), synood-labels (its fine-tuned labels without the projection;\n' +
        'bundles with a projection only), mcm (max softmax over the InD labels, τ = 1), scored as the evaluate\n' +
        'stage does. Presets: clip-ood (<root>/iNaturalist/images, SUN/images, Places/images, dtd/images) and\n' +
        'openood-v1.5 (<root>/ssb_hard, ninco [near]; inaturalist, textures, openimage_o [far]); a preset set\n' +
        'whose folder is missing is skipped with a warning. Unreadable images are counted and listed, never fatal.',
    )
    .action(async (opts: EvalOptions, command: Command) => {
      const report = await runEval(opts, command);
      if (opts.json !== undefined) {
        await writeFile(opts.json, `${JSON.stringify(report, null, 2)}\n`);
      }
      writeOut(command, formatEvalReport(report));
      if (opts.json !== undefined) {
        writeOut(command, `report → ${opts.json}\n`);
      }
    });
}
