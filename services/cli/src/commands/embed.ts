/**
 * `synood embed images|texts`: CLIP features of a folder of images or a file of prompts, written as a
 * float32 `.npy` matrix (one row per image or prompt) with a JSON sidecar `<out>.json` naming each row.
 */
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, relative, sep } from 'node:path';

import {
  type ClipImageFailure,
  ClipImageEncoder,
  type ClipImageFeatures,
  ClipTextEncoder,
  ClipTokenizer,
} from '@synood/models';
import { encodeNpy, type Matrix } from '@synood/tensor';
import { type Command, InvalidArgumentError, Option } from 'commander';

import { CliError, writeOut } from '../program';

/** File extensions `embed images` picks up (formats sharp decodes), lower-case. */
export const IMAGE_EXTENSIONS: readonly string[] = [
  '.jpg',
  '.jpeg',
  '.png',
  '.webp',
  '.gif',
  '.tif',
  '.tiff',
  '.avif',
  '.heic',
  '.heif',
];

/** The sidecar written next to the features: what each row is, and what could not be embedded. */
export interface EmbedSidecar {
  readonly kind: 'images' | 'texts';
  readonly model: string;
  /** Rows × columns of the matrix in the `.npy`. */
  readonly shape: readonly [number, number];
  /** Whether rows are L2-normalised (the default) or the tower's raw output (`--raw`). */
  readonly normalized: boolean;
  /** `images`: file paths relative to `--input`, in row order. */
  readonly files?: readonly string[];
  /** `images`: files that could not be read or decoded. */
  readonly failures?: readonly { file: string; code: string; message: string }[];
  /** `texts`: the input lines, in row order. */
  readonly labels?: readonly string[];
  /** `texts`: the prompts embedded (labels through the template), in row order. */
  readonly prompts?: readonly string[];
  /** `texts`: rows whose prompt was cut to 77 tokens. */
  readonly truncated?: readonly number[];
}

/** Parses a positive integer option value (commander reports the error as a usage error). */
export function positiveInt(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  }
  return n;
}

function errnoOf(e: unknown): string | undefined {
  // Duck-typed, not instanceof Error: fs errors may come from another realm (jest's sandbox).
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Every image file under `dir` (recursively, not into linked folders; an imagefolder `<class>/<image>`
 * layout works), by extension, hidden files and folders skipped, sorted by relative path so the row order is reproducible.
 *
 * @throws {@link CliError} `CLI_ERR_FILE_NOT_FOUND` when `dir` does not exist, `CLI_ERR_NOT_A_DIRECTORY`.
 */
export async function listImages(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'ENOENT') {
      throw new CliError('CLI_ERR_FILE_NOT_FOUND', `${dir}: no such directory`);
    }
    if (code === 'ENOTDIR') {
      throw new CliError('CLI_ERR_NOT_A_DIRECTORY', `${dir} is a file; --input takes a folder of images`);
    }
    throw e;
  }
  return (
    entries
      // Symbolic links are kept (datasets are often linked in); a dangling one is reported as unreadable.
      .filter(
        (e) => (e.isFile() || e.isSymbolicLink()) && IMAGE_EXTENSIONS.includes(extname(e.name).toLowerCase()),
      )
      .map((e) => relative(dir, join(e.parentPath, e.name)))
      .filter((rel) => !rel.split(sep).some((part) => part.startsWith('.')))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  );
}

/**
 * Prompts from a text file: one label per line, surrounding whitespace trimmed, blank lines and lines
 * starting with `#` skipped.
 *
 * @throws {@link CliError} `CLI_ERR_FILE_NOT_FOUND`, `CLI_ERR_NO_TEXTS`.
 */
export async function readLabels(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') {
      throw new CliError('CLI_ERR_FILE_NOT_FOUND', `${file}: no such file`);
    }
    throw e;
  }
  const labels = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (labels.length === 0) {
    throw new CliError('CLI_ERR_NO_TEXTS', `${file} has no lines to embed (only blank lines or # comments)`);
  }
  return labels;
}

/**
 * Fills a prompt template: every `{}` becomes the label (Python's `'a photo of a {}.'.format(label)`).
 *
 * @throws {@link CliError} `CLI_ERR_USAGE` when the template has no `{}`.
 */
export function applyTemplate(template: string, label: string): string {
  if (!template.includes('{}')) {
    throw new CliError('CLI_ERR_USAGE', `--template "${template}" has no {} to put the label in`);
  }
  return template.split('{}').join(label);
}

/** Writes `bytes` to `file` through a temporary file and a rename, so a reader never sees half a file. */
async function writeAtomic(file: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Writes the features `.npy` and its `<out>.json` sidecar. */
export async function writeFeatures(out: string, features: Matrix, sidecar: EmbedSidecar): Promise<void> {
  await writeAtomic(
    out,
    encodeNpy({ dtype: 'float32', shape: [features.rows, features.cols], data: features.data }),
  );
  await writeAtomic(`${out}.json`, `${JSON.stringify(sidecar, null, 2)}\n`);
}

function failureLines(failures: readonly ClipImageFailure[], dir: string): string {
  return failures.map((f) => `  ${relative(dir, f.name)}: [${f.error.code}] ${f.error.message}\n`).join('');
}

interface ImagesOptions {
  input: string;
  out: string;
  model: string;
  batchSize: number;
  threads?: number;
  raw?: boolean;
  interpolation: 'bicubic' | 'bilinear';
}

interface TextsOptions {
  input: string;
  out: string;
  model: string;
  tokenizer: string;
  template: string;
  batchSize: number;
  threads?: number;
  raw?: boolean;
  padTo: 'context' | 'longest';
}

const threadsOption = (): Option =>
  new Option('--threads <n>', 'onnxruntime intra-op threads (default: one per physical core)').argParser(
    positiveInt,
  );

async function embedImages(opts: ImagesOptions, command: Command): Promise<void> {
  const files = await listImages(opts.input);
  if (files.length === 0) {
    throw new CliError(
      'CLI_ERR_NO_IMAGES',
      `${opts.input} has no image files (${IMAGE_EXTENSIONS.join(' ')}), looked at recursively`,
    );
  }
  const encoder = await ClipImageEncoder.create(opts.model, {
    session: opts.threads === undefined ? {} : { intraOpThreads: opts.threads },
    kernel: opts.interpolation,
  });
  let features: ClipImageFeatures;
  try {
    features = await encoder.encodeImages(
      files.map((f) => join(opts.input, f)),
      {
        batchSize: opts.batchSize,
        onBatch: (done, total) => {
          writeOut(command, `  ${done}/${total} images\n`);
        },
      },
    );
  } finally {
    await encoder.release();
  }
  if (features.raw.rows === 0) {
    throw new CliError(
      'CLI_ERR_NO_IMAGES',
      `none of the ${files.length} images in ${opts.input} could be embedded:\n${failureLines(features.failures, opts.input)}`,
    );
  }
  const matrix = opts.raw === true ? features.raw : features.normalized;
  await writeFeatures(opts.out, matrix, {
    kind: 'images',
    model: opts.model,
    shape: [matrix.rows, matrix.cols],
    normalized: opts.raw !== true,
    files: features.names.map((n) => relative(opts.input, n)),
    failures: features.failures.map((f) => ({
      file: relative(opts.input, f.name),
      code: f.error.code,
      message: f.error.message,
    })),
  });
  writeOut(
    command,
    `embedded ${matrix.rows} of ${files.length} images → ${opts.out} (${matrix.rows} × ${matrix.cols} float32, ` +
      `${opts.raw === true ? 'raw' : 'L2-normalised'}); rows listed in ${opts.out}.json\n`,
  );
  if (features.failures.length > 0) {
    writeOut(
      command,
      `${features.failures.length} image(s) skipped:\n${failureLines(features.failures, opts.input)}`,
    );
  }
}

async function embedTexts(opts: TextsOptions, command: Command): Promise<void> {
  const labels = await readLabels(opts.input);
  const prompts = labels.map((l) => applyTemplate(opts.template, l));
  const tokenizer = await ClipTokenizer.fromFile(opts.tokenizer);
  const encoder = await ClipTextEncoder.create(opts.model, tokenizer, {
    session: opts.threads === undefined ? {} : { intraOpThreads: opts.threads },
    padTo: opts.padTo,
  });
  let features;
  try {
    features = await encoder.encodeTexts(prompts, {
      batchSize: opts.batchSize,
      onBatch: (done, total) => {
        writeOut(command, `  ${done}/${total} prompts\n`);
      },
    });
  } finally {
    await encoder.release();
  }
  const matrix = opts.raw === true ? features.raw : features.normalized;
  await writeFeatures(opts.out, matrix, {
    kind: 'texts',
    model: opts.model,
    shape: [matrix.rows, matrix.cols],
    normalized: opts.raw !== true,
    labels,
    prompts,
    truncated: features.truncated,
  });
  writeOut(
    command,
    `embedded ${matrix.rows} prompts → ${opts.out} (${matrix.rows} × ${matrix.cols} float32, ` +
      `${opts.raw === true ? 'raw' : 'L2-normalised'}); prompts listed in ${opts.out}.json\n`,
  );
  if (features.truncated.length > 0) {
    writeOut(
      command,
      `${features.truncated.length} prompt(s) were cut to ${tokenizer.contextLength} tokens: rows ${features.truncated.join(', ')}\n`,
    );
  }
}

/**
 * Registers `synood embed images --input DIR --out F.npy --model vision.onnx` and
 * `synood embed texts --input FILE --out F.npy --model text.onnx --tokenizer tokenizer.json`.
 */
export function registerEmbedCommand(program: Command): void {
  const embed = program
    .command('embed')
    .description('CLIP features of images or prompts, written as a float32 .npy matrix with a JSON sidecar');
  embed
    .command('images')
    .description(
      'embed every image file under a folder with a CLIP vision tower (pixel_values → image_embeds)',
    )
    .requiredOption('--input <dir>', 'folder of images, searched recursively (imagefolder layouts work)')
    .requiredOption('--out <file>', 'features .npy to write; <file>.json lists the image of each row')
    .requiredOption(
      '--model <file>',
      'CLIP vision tower .onnx (e.g. an Optimum CLIPVisionModelWithProjection export)',
    )
    .addOption(new Option('--batch-size <n>', 'images per model run').argParser(positiveInt).default(32))
    .addOption(
      new Option('--interpolation <kernel>', 'resize kernel (NegLabel evaluation uses bilinear)')
        .choices(['bicubic', 'bilinear'])
        .default('bicubic'),
    )
    .addOption(threadsOption())
    .option('--raw', 'write the raw image_embeds instead of L2-normalised rows')
    .addHelpText(
      'after',
      "\nPreprocessing is clip.load's: short side resized to the model input (bicubic), centre crop, CLIP mean/std.\n" +
        'Images that cannot be read or decoded are skipped and listed in the sidecar; the command fails only\n' +
        'when none can be embedded.',
    )
    .action(async (opts: ImagesOptions, command: Command) => {
      await embedImages(opts, command);
    });
  embed
    .command('texts')
    .description(
      'embed prompts (one label per line, through --template) with a CLIP text tower (input_ids → text_embeds)',
    )
    .requiredOption('--input <file>', 'labels, one per line; blank lines and # comments are skipped')
    .requiredOption('--out <file>', 'features .npy to write; <file>.json lists the prompt of each row')
    .requiredOption(
      '--model <file>',
      'CLIP text tower .onnx (e.g. an Optimum CLIPTextModelWithProjection export)',
    )
    .requiredOption('--tokenizer <file>', "the checkpoint's tokenizer.json")
    .option('--template <text>', 'prompt template; {} is replaced by each label', '{}')
    .addOption(new Option('--batch-size <n>', 'prompts per model run').argParser(positiveInt).default(64))
    .addOption(
      new Option(
        '--pad-to <mode>',
        'pad each batch to 77 tokens (context) or to its longest prompt (longest: same features from a causal tower, faster)',
      )
        .choices(['context', 'longest'])
        .default('context'),
    )
    .addOption(threadsOption())
    .option('--raw', 'write the raw text_embeds instead of L2-normalised rows')
    .action(async (opts: TextsOptions, command: Command) => {
      await embedTexts(opts, command);
    });
}
