/**
 * `synood preprocess`: one image through a model's preprocessing, written as the float32 `.npy` tensor the
 * model would be fed, to compare with a Python pipeline (`np.load` it beside torchvision's output).
 */
import { readFile, writeFile } from 'node:fs/promises';

import { encodeNpy } from '@synood/tensor';
import { CLIP_PRESET, preprocess, type PreprocessPreset, RESNET_PRESET } from '@synood/vision';
import { type Command, Option } from 'commander';

import { CliError, writeOut } from '../program';

/** The presets `synood preprocess --preset` offers. */
export const PREPROCESS_PRESETS: Readonly<Record<string, PreprocessPreset>> = {
  clip: CLIP_PRESET,
  'clip-bilinear': { ...CLIP_PRESET, name: 'clip-bilinear', kernel: 'bilinear' },
  resnet: RESNET_PRESET,
};

interface PreprocessOptions {
  image: string;
  preset: string;
  out: string;
}

function describePreset(p: PreprocessPreset): string {
  return (
    `short side ${p.resizeShortSide} ${p.kernel}${p.antialias ? ' (antialiased)' : ''}, ` +
    `centre crop ${p.cropSize}, mean (${p.mean.join(', ')}), std (${p.std.join(', ')})`
  );
}

/** Registers `synood preprocess --image FILE --preset clip|clip-bilinear|resnet --out T.npy`. */
export function registerPreprocessCommand(program: Command): void {
  program
    .command('preprocess')
    .description("write one image's preprocessed model input ([1, 3, S, S] float32) as .npy")
    .requiredOption('--image <file>', 'image file (JPEG, PNG, WebP, GIF, TIFF, AVIF/HEIC)')
    .requiredOption('--out <file>', '.npy file to write')
    .addOption(
      new Option('--preset <name>', "the model's preprocessing")
        .choices(Object.keys(PREPROCESS_PRESETS))
        .default('clip'),
    )
    .addHelpText(
      'after',
      `\nPresets:\n${Object.entries(PREPROCESS_PRESETS)
        .map(([name, p]) => `  ${name}: ${describePreset(p)}`)
        .join('\n')}`,
    )
    .action(async (opts: PreprocessOptions, command: Command) => {
      const preset = PREPROCESS_PRESETS[opts.preset]!;
      let bytes: Buffer;
      try {
        bytes = await readFile(opts.image);
      } catch (e) {
        const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
        if (code === 'ENOENT') {
          throw new CliError('CLI_ERR_FILE_NOT_FOUND', `${opts.image}: no such file`);
        }
        throw e;
      }
      const tensor = await preprocess(bytes, opts.image, preset);
      await writeFile(opts.out, encodeNpy({ dtype: 'float32', shape: [...tensor.dims], data: tensor.data }));
      writeOut(
        command,
        `wrote ${opts.out}: float32[${tensor.dims.join(', ')}] (preset ${opts.preset}: ${describePreset(preset)})\n`,
      );
    });
}
