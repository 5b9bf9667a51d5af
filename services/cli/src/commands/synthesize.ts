/**
 * `synood synthesize`: SynOOD's gradient-guided inpainting for one image (reference §3, design §4), from
 * ONNX files of the SD inpainting roles, a CLIP `tokenizer.json` and the OOD classifier (or a gradient
 * model prebuilt by `synood graph grad`).
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';

import {
  DiffusionError,
  InpaintingPipeline,
  PROMPT_MODES,
  type PromptMode,
  type PromptTokenizer,
  SCHEDULER_KINDS,
  type SchedulerKind,
  SynOodSynthesizer,
  type SynthesisFormat,
  type SynthesisProgress,
  type SynthesisResult,
  buildGuidanceModel,
  inpaintPrompt,
  synthesisSeeds,
} from '@synood/diffusion';
import { GraphError, modelToBytes, readModel } from '@synood/graph';
import { ClipTokenizer } from '@synood/models';
import { type InferenceSession, type SessionConfig, createSession, releaseSession } from '@synood/onnx';
import { decodeImage } from '@synood/vision';
import { Presets, SingleBar } from 'cli-progress';
import type { Command } from 'commander';

import { CliError, writeOut } from '../program';

interface SynthesizeOptions {
  image: string;
  prompt?: string;
  caption?: string;
  promptMode: string;
  out: string;
  id?: string;
  steps: string;
  strength: string;
  guidance: string;
  iterations: string;
  lr: string;
  seed: string;
  size: string;
  scheduler: string;
  quality: string;
  unet: string;
  vaeEncoder: string;
  vaeDecoder: string;
  textEncoder: string;
  tokenizer: string;
  padId: string;
  classifier?: string;
  gradient?: string;
  device: string;
  threads?: string;
  json?: string;
}

/** Defaults of `synood synthesize`, for callers that know better (tests, the demo). */
export interface SynthesizeCommandDefaults {
  /** Show a progress bar. @defaultValue whether stderr is a terminal */
  readonly interactive?: boolean;
}

function usage(message: string): CliError {
  return new CliError('CLI_ERR_USAGE', message);
}

function integer(text: string, option: string, min: number): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(v) || v < min) {
    throw usage(`${option} must be an integer ≥ ${min}, got "${text}"`);
  }
  return v;
}

function real(text: string, option: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v)) {
    throw usage(`${option} must be a number, got "${text}"`);
  }
  return v;
}

function outputFormat(out: string): SynthesisFormat {
  const ext = extname(out).toLowerCase();
  if (ext === '.png') {
    return 'png';
  }
  if (ext === '.jpg' || ext === '.jpeg') {
    return 'jpeg';
  }
  throw usage(`--out must end in .jpg, .jpeg or .png (the output format), got "${out}"`);
}

/** The SD 2 tokenizer as the pipeline's {@link PromptTokenizer}. */
function promptTokenizer(tokenizer: ClipTokenizer): PromptTokenizer {
  return {
    encodeIds: (texts) => {
      const t = tokenizer.encode(texts);
      return { ids: t.ids, length: t.length };
    },
  };
}

/** Re-throws package errors with their codes as CLI errors naming `what`. */
function coded(what: string, err: unknown): never {
  if (err instanceof DiffusionError || err instanceof GraphError) {
    throw new CliError(err.code, `${what}: ${err.message}`);
  }
  if ((err as NodeJS.ErrnoException | null)?.code === 'ENOENT') {
    throw new CliError('CLI_ERR_NOT_FOUND', `${what}: no such file`);
  }
  throw err;
}

async function open(path: string, option: string, config: SessionConfig): Promise<InferenceSession> {
  try {
    // Checked first so that a missing file is reported as such, not as an onnxruntime load failure.
    await stat(path);
    return await createSession(path, config);
  } catch (err) {
    return coded(`${option} ${path}`, err);
  }
}

/** One-line summary of a result. */
export function formatSynthesisSummary(out: string, r: SynthesisResult): string {
  const losses = r.losses.map((l) => l.toFixed(4)).join(' → ');
  return (
    `wrote ${out} (${r.image.width}×${r.image.height} ${r.format.toUpperCase()}, ${r.bytes.length} bytes) in ` +
    `${(r.timings.totalMs / 1000).toFixed(2)} s; loss per iteration: ${losses || '-'}`
  );
}

/** Registers `synood synthesize`. */
export function registerSynthesizeCommand(program: Command, defaults: SynthesizeCommandDefaults = {}): void {
  program
    .command('synthesize')
    .description(
      'turn one image into a near-boundary OOD image: SD inpainting with the noise refined by the gradient ' +
        'of the OOD loss (SynOOD); defaults are the reference settings',
    )
    .requiredOption('--image <file>', 'input image (JPEG, PNG, WebP, …)')
    .option('--prompt <text>', 'the inpainting prompt, used verbatim')
    .option('--caption <text>', 'contextual elements; the prompt becomes "A photo only remain <elements>."')
    .option('--prompt-mode <mode>', `how --caption enters the prompt: ${PROMPT_MODES.join(' or ')}`, 'compat')
    .requiredOption('--out <file>', 'output image; .jpg/.jpeg for JPEG, .png for PNG')
    .option('--id <id>', 'image id that, with --seed, fixes every random draw (default: the file name)')
    .option('--steps <n>', 'num_inference_steps', '20')
    .option('--strength <s>', 'strength in (0, 1]', '0.6')
    .option('--guidance <g>', 'classifier-free guidance scale (≤ 1: off)', '8')
    .option('--iterations <n>', 'denoising passes; the noise is refined between them', '3')
    .option('--lr <r>', 'per-image step size r in ε ← ε − r·∂L/∂z', '5')
    .option('--seed <seed>', 'run seed', '0')
    .option('--size <px>', 'square working size, a multiple of 8', '512')
    .option('--scheduler <kind>', `scheduler: ${SCHEDULER_KINDS.join(' or ')}`, 'pndm')
    .option('--quality <q>', 'JPEG quality', '75')
    .requiredOption('--unet <file>', '9-channel inpainting UNet ONNX')
    .requiredOption('--vae-encoder <file>', 'VAE encoder ONNX')
    .requiredOption('--vae-decoder <file>', 'VAE decoder ONNX')
    .requiredOption('--text-encoder <file>', 'text encoder ONNX')
    .requiredOption('--tokenizer <file>', "the text encoder's tokenizer.json")
    .option(
      '--pad-id <id>',
      "token id after the end token (SD 2's OpenCLIP tokenizer pads with '!', id 0)",
      '0',
    )
    .option('--classifier <file>', 'OOD classifier ONNX ([N,3,H,W] → logits, e.g. torchvision ResNet50)')
    .option('--gradient <file>', 'a gradient model from `synood graph grad` instead of --classifier')
    .option('--device <ep>', 'execution provider: cpu or cuda', 'cpu')
    .option('--threads <n>', 'onnxruntime intra-op threads (default: one per core)')
    .option('--json <file>', 'also write the result (losses, seeds, timings) as JSON')
    .action(async (options: SynthesizeOptions, command: Command) => {
      if ((options.prompt === undefined) === (options.caption === undefined)) {
        throw usage('give exactly one of --prompt and --caption');
      }
      if ((options.classifier === undefined) === (options.gradient === undefined)) {
        throw usage('give exactly one of --classifier and --gradient');
      }
      if (!(SCHEDULER_KINDS as readonly string[]).includes(options.scheduler)) {
        throw usage(`--scheduler must be one of ${SCHEDULER_KINDS.join(', ')}, got "${options.scheduler}"`);
      }
      if (options.device !== 'cpu' && options.device !== 'cuda') {
        throw usage(`--device must be cpu or cuda, got "${options.device}"`);
      }
      const steps = integer(options.steps, '--steps', 1);
      const strength = real(options.strength, '--strength');
      const guidanceScale = real(options.guidance, '--guidance');
      const iterations = integer(options.iterations, '--iterations', 1);
      const stepSize = real(options.lr, '--lr');
      const size = integer(options.size, '--size', 8);
      if (size % 8 !== 0) {
        throw usage(`--size must be a multiple of 8, got ${size}`);
      }
      const quality = integer(options.quality, '--quality', 1);
      const padId = integer(options.padId, '--pad-id', 0);
      const seed = /^\d+$/.test(options.seed) ? integer(options.seed, '--seed', 0) : options.seed;
      const format = outputFormat(options.out);
      const config: SessionConfig = {
        executionProvider: options.device,
        ...(options.threads === undefined
          ? {}
          : { intraOpThreads: integer(options.threads, '--threads', 1) }),
      };

      const tokenizer = await ClipTokenizer.fromFile(options.tokenizer, { padId });
      let prompt: string;
      if (options.prompt !== undefined) {
        prompt = options.prompt;
      } else {
        if (!(PROMPT_MODES as readonly string[]).includes(options.promptMode)) {
          throw usage(`--prompt-mode must be one of ${PROMPT_MODES.join(', ')}, got "${options.promptMode}"`);
        }
        try {
          prompt = inpaintPrompt(options.caption!, options.promptMode as PromptMode, {
            countTokens: (t) => tokenizer.contentIds(t).length,
            contextLength: tokenizer.contextLength,
          });
        } catch (err) {
          return coded('--caption', err);
        }
      }
      let bytes: Buffer;
      try {
        bytes = await readFile(options.image);
      } catch (err) {
        return coded(`--image ${options.image}`, err);
      }
      const image = await decodeImage(bytes, options.image);
      const id = options.id ?? basename(options.image);

      const opened: InferenceSession[] = [];
      const track = async (p: Promise<InferenceSession>): Promise<InferenceSession> => {
        const s = await p;
        opened.push(s);
        return s;
      };
      const interactive = defaults.interactive ?? process.stderr.isTTY;
      let bar: SingleBar | undefined;
      try {
        const models = {
          textEncoder: await track(open(options.textEncoder, '--text-encoder', config)),
          vaeEncoder: await track(open(options.vaeEncoder, '--vae-encoder', config)),
          vaeDecoder: await track(open(options.vaeDecoder, '--vae-decoder', config)),
          unet: await track(open(options.unet, '--unet', config)),
        };
        let pipeline: InpaintingPipeline;
        try {
          pipeline = new InpaintingPipeline(models, promptTokenizer(tokenizer), {
            width: size,
            height: size,
            steps,
            strength,
            guidanceScale,
            scheduler: options.scheduler as SchedulerKind,
          });
        } catch (err) {
          return coded('inpainting pipeline', err);
        }
        let gradient: InferenceSession;
        if (options.gradient !== undefined) {
          gradient = await track(open(options.gradient, '--gradient', config));
        } else {
          // The latent dims come from the VAE encoder itself, so any VAE factor works.
          const { shape } = await pipeline.maskedImageLatents(synthesisSeeds(seed, id).maskedImage);
          let model: Uint8Array;
          try {
            model = modelToBytes(
              buildGuidanceModel({
                classifier: await readModel(options.classifier!),
                decoder: await readModel(options.vaeDecoder),
                latentShape: shape,
              }),
            );
          } catch (err) {
            return coded('building the gradient model from --classifier and --vae-decoder', err);
          }
          gradient = await track(createSession(model, config));
        }
        let synthesizer: SynOodSynthesizer;
        try {
          synthesizer = new SynOodSynthesizer(pipeline, gradient, {
            seed,
            iterations,
            stepSize,
            format,
            quality,
          });
        } catch (err) {
          return coded('synthesis', err);
        }
        const perChain = pipeline.timesteps.length;
        const total = iterations * perChain + (iterations - 1) + 1;
        let done = 0;
        const onProgress = (p: SynthesisProgress): void => {
          if (p.phase === 'encode') {
            return;
          }
          done = p.phase === 'denoise' ? p.iteration * (perChain + 1) + p.step! : done + 1;
          if (interactive) {
            bar ??= new SingleBar(
              {
                format: '  {bar} {value}/{total} | iteration {iteration}/{iterations} {phase}',
                hideCursor: true,
              },
              Presets.shades_classic,
            );
            if (done === 1) {
              bar.start(total, 0, { iteration: 1, iterations, phase: p.phase });
            }
            bar.update(done, { iteration: p.iteration + 1, phase: p.phase });
          }
        };
        let result: SynthesisResult;
        try {
          [result] = (await synthesizer.synthesize([{ id, image, prompt }], onProgress)) as [SynthesisResult];
        } catch (err) {
          return coded('synthesis', err);
        }
        bar?.stop();
        bar = undefined;
        await writeFile(options.out, result.bytes);
        if (options.json !== undefined) {
          const manifest = {
            id: result.id,
            out: options.out,
            format: result.format,
            width: result.image.width,
            height: result.image.height,
            prompt,
            losses: result.losses,
            seeds: result.seeds,
            timings: result.timings,
          };
          await writeFile(options.json, `${JSON.stringify(manifest, null, 2)}\n`);
        }
        writeOut(command, `${formatSynthesisSummary(options.out, result)}\n`);
      } finally {
        bar?.stop();
        for (const s of opened) {
          await releaseSession(s);
        }
      }
    });
}
