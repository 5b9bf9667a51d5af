/**
 * `synood graph grad`: builds the synthesis stage's gradient model (latent or image → per-image loss and
 * its gradient) from ONNX files, as a standard ONNX model any execution provider runs.
 */
import { mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  type LossHead,
  type Model,
  GraphError,
  LOSS_HEADS,
  buildSynthesisGradientModel,
  readModel,
  writeModel,
} from '@synood/graph';
import type { Command } from 'commander';
import { CliError, writeOut } from '../program';

interface GradOptions {
  classifier: string;
  decoder?: string;
  preprocess: string;
  loss: string;
  margin?: string;
  temperature?: string;
  batch: string;
  inputShape?: string;
  out: string;
}

/** Initializers above this size go to `<out>.data` beside the model (real VAE/ResNet weights). */
const EXTERNALIZE_ABOVE = 1024;

function number(text: string, option: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v)) {
    throw new CliError('CLI_ERR_USAGE', `${option} must be a number, got "${text}"`);
  }
  return v;
}

function lossHead(options: GradOptions): LossHead {
  const margin = options.margin === undefined ? undefined : number(options.margin, '--margin');
  if (options.loss === 'code') {
    if (options.temperature !== undefined) {
      throw new CliError('CLI_ERR_USAGE', '--temperature applies to --loss energy only');
    }
    return margin === undefined ? { kind: 'code' } : { kind: 'code', margin };
  }
  if (options.loss === 'energy') {
    const temperature =
      options.temperature === undefined ? undefined : number(options.temperature, '--temperature');
    return {
      kind: 'energy',
      ...(margin === undefined ? {} : { margin }),
      ...(temperature === undefined ? {} : { temperature }),
    };
  }
  throw new CliError(
    'CLI_ERR_USAGE',
    `--loss must be one of ${LOSS_HEADS.join(', ')}, got "${options.loss}"`,
  );
}

function batchOption(text: string): number | 'dynamic' {
  if (text === 'dynamic') {
    return text;
  }
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new CliError('CLI_ERR_USAGE', `--batch must be a positive integer or "dynamic", got "${text}"`);
  }
  return n;
}

function shapeOption(text: string | undefined): number[] | undefined {
  if (text === undefined) {
    return undefined;
  }
  const dims = text.split(/[,x]/).map((d) => Number(d.trim()));
  if (dims.length === 0 || !dims.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw new CliError(
      'CLI_ERR_USAGE',
      `--input-shape must be positive integers like 4,64,64, got "${text}"`,
    );
  }
  return dims;
}

async function load(path: string, option: string): Promise<Model> {
  try {
    return await readModel(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CliError('CLI_ERR_NOT_FOUND', `${option} ${path}: no such file`);
    }
    if (err instanceof GraphError) {
      throw new CliError(err.code, `${option} ${path}: ${err.message}`);
    }
    throw err;
  }
}

/**
 * Writes a model (and its external data) to `out` atomically: both files are written into a temporary
 * folder beside `out` and renamed into place, data first, so a reader never sees a model without its data.
 */
async function writeAtomically(out: string, model: Model): Promise<void> {
  const tmp = await mkdtemp(join(dirname(out), `.${basename(out)}.tmp-`));
  try {
    const externalFile = `${basename(out)}.data`;
    await writeModel(join(tmp, basename(out)), model, { externalizeAbove: EXTERNALIZE_ABOVE, externalFile });
    const data = await stat(join(tmp, externalFile)).then(
      () => true,
      () => false,
    );
    if (data) {
      await rename(join(tmp, externalFile), join(dirname(out), externalFile));
    }
    await rename(join(tmp, basename(out)), out);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Registers `synood graph` and its subcommand `grad`. */
export function registerGraphCommand(program: Command): void {
  const graph = program.command('graph').description('ONNX graph tools');
  graph
    .command('grad')
    .description(
      'build the synthesis gradient model: [decoder →] clamp → preprocessing → classifier → loss, with inputs ' +
        'gradients as standard ONNX ops (outputs: loss [N], grad)',
    )
    .requiredOption('--classifier <file>', 'classifier ONNX ([N,3,H,W] image → [N,K] logits)')
    .option(
      '--decoder <file>',
      'VAE decoder ONNX (latent → [N,3,H,W] image in [-1,1]); its input becomes the model input',
    )
    .option(
      '--preprocess <kind>',
      'preprocessing between the [0,1] image and the classifier: resnet or none',
      'resnet',
    )
    .option('--loss <head>', `loss head: ${LOSS_HEADS.join(' or ')}`, 'code')
    .option('--margin <m>', 'loss margin (code: m, energy: m_out)')
    .option('--temperature <tau>', 'energy loss temperature τ')
    .option('--batch <n>', 'fixed batch size, or "dynamic" (a Loop over the images)', 'dynamic')
    .option(
      '--input-shape <dims>',
      'per-image input dims when the model declares symbolic ones, e.g. 4,64,64',
    )
    .requiredOption('--out <file>', 'where to write the gradient model (external data in <file>.data)')
    .action(async (options: GradOptions, command: Command) => {
      if (options.preprocess !== 'resnet' && options.preprocess !== 'none') {
        throw new CliError(
          'CLI_ERR_USAGE',
          `--preprocess must be resnet or none, got "${options.preprocess}"`,
        );
      }
      const loss = lossHead(options);
      const batch = batchOption(options.batch);
      const inputShape = shapeOption(options.inputShape);
      const classifier = await load(options.classifier, '--classifier');
      const decoder = options.decoder === undefined ? undefined : await load(options.decoder, '--decoder');
      let model: Model;
      try {
        model = buildSynthesisGradientModel({
          classifier,
          ...(decoder === undefined ? {} : { decoder }),
          preprocess: options.preprocess,
          loss,
          batch,
          ...(inputShape === undefined ? {} : { inputShape }),
        });
      } catch (err) {
        if (err instanceof GraphError) {
          throw new CliError(err.code, err.message);
        }
        throw err;
      }
      await writeAtomically(options.out, model);
      const input = model.graph.inputs[0]!;
      writeOut(
        command,
        `wrote ${options.out}: input ${input.name} [${(input.dims ?? []).join(', ')}] → ` +
          `${model.graph.outputs.map((o) => `${o.name} [${(o.dims ?? []).join(', ')}]`).join(', ')}\n`,
      );
    });
}
