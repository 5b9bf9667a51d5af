/**
 * `synood caption`: the caption stage on one image. It asks the chosen backend for the scene's elements
 * other than the class, and prints them with the inpainting prompt the synthesis stage would use.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import {
  type CaptionBackend,
  type CaptionRecord,
  captionShard,
  ClipTagsBackend,
  clipImageEmbedder,
  clipTextEmbedder,
  createLocalBackend,
  fileFeatureCache,
  loadWordNetSynonyms,
  OpenAiBackend,
  PROMPT_MODES,
  type PromptMode,
  wordnetTagVocabulary,
} from '@synood/captioning';
import { type Env, processEnv } from '@synood/config';
import {
  ClipImageEncoder,
  ClipTextEncoder,
  ClipTokenizer,
  DEFAULT_MODEL_CATALOG,
  defaultModelCacheDir,
  loadWordNetSources,
  resolveModelPath,
} from '@synood/models';
import type { Command } from 'commander';

import { CliError, writeOut } from '../program';

/** The backends `--backend` accepts. */
export const CAPTION_BACKENDS = ['openai', 'clip-tags', 'local'] as const;

interface CaptionOptions {
  image: string;
  class: string;
  backend: string;
  mode: string;
  endpoint?: string;
  model?: string;
  apiKeyEnv?: string;
  timeoutMs: string;
  modelDir?: string;
  dtype?: string;
  modelsDir?: string;
  clipText?: string;
  clipImage?: string;
  clipTokenizer?: string;
  vocabulary?: string;
  topK: string;
  minScore: string;
  wordnet: boolean;
  json?: boolean;
}

/** What the command needs from outside: the environment (for `--api-key-env`). */
export interface CaptionCommandDeps {
  /** @defaultValue the process environment, through `@synood/config` */
  env?: Env;
}

function positiveInt(text: string, option: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new CliError('CLI_ERR_USAGE', `${option} must be a positive integer, got "${text}"`);
  }
  return n;
}

function finite(text: string, option: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) {
    throw new CliError('CLI_ERR_USAGE', `${option} must be a number, got "${text}"`);
  }
  return n;
}

function apiKeyOf(options: CaptionOptions, env: Env): string | undefined {
  if (options.apiKeyEnv === undefined) {
    return undefined;
  }
  const key = env[options.apiKeyEnv];
  if (key === undefined || key.trim() === '') {
    throw new CliError(
      'CLI_ERR_ENV',
      `--api-key-env names ${options.apiKeyEnv}, but that environment variable is not set`,
    );
  }
  return key.trim();
}

async function readVocabulary(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new CliError('CLI_ERR_FILE_READ', `--vocabulary ${file}: cannot read (${reason})`);
  }
  const words = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (words.length === 0) {
    throw new CliError('CLI_ERR_USAGE', `--vocabulary ${file} holds no tags (one per line)`);
  }
  return words;
}

/** A backend and what to release after it. */
interface OpenedBackend {
  backend: CaptionBackend;
  release: () => Promise<void>;
}

async function openClipTags(options: CaptionOptions): Promise<OpenedBackend> {
  const where = { catalog: DEFAULT_MODEL_CATALOG, cacheDir: options.modelsDir ?? defaultModelCacheDir() };
  const textModel = options.clipText ?? resolveModelPath('clip.text', undefined, where);
  const imageModel = options.clipImage ?? resolveModelPath('clip.vision', undefined, where);
  const tokenizerFile = options.clipTokenizer ?? resolveModelPath('clip.tokenizer', undefined, where);
  const vocabulary =
    options.vocabulary === undefined
      ? wordnetTagVocabulary(await loadWordNetSources())
      : await readVocabulary(options.vocabulary);
  const tokenizer = await ClipTokenizer.fromFile(tokenizerFile);
  const text = await ClipTextEncoder.create(textModel, tokenizer, { padTo: 'longest' });
  let image: ClipImageEncoder;
  try {
    image = await ClipImageEncoder.create(imageModel);
  } catch (err) {
    await text.release();
    throw err;
  }
  const backend = new ClipTagsBackend({
    texts: clipTextEmbedder(text),
    images: clipImageEmbedder(image),
    vocabulary,
    topK: positiveInt(options.topK, '--top-k'),
    minScore: finite(options.minScore, '--min-score'),
    model: options.model ?? path.basename(path.dirname(path.dirname(textModel))),
    cache: fileFeatureCache(path.join(where.cacheDir, 'caption-features')),
  });
  return {
    backend,
    release: async () => {
      await Promise.all([text.release(), image.release()]);
    },
  };
}

async function openBackend(options: CaptionOptions, env: Env): Promise<OpenedBackend> {
  switch (options.backend) {
    case 'openai': {
      if (options.endpoint === undefined || options.model === undefined) {
        throw new CliError('CLI_ERR_USAGE', '--backend openai needs --endpoint URL and --model NAME');
      }
      const apiKey = apiKeyOf(options, env);
      const backend = new OpenAiBackend({
        endpoint: options.endpoint,
        model: options.model,
        timeoutMs: positiveInt(options.timeoutMs, '--timeout-ms'),
        concurrency: 1,
        ...(apiKey === undefined ? {} : { apiKey }),
      });
      return { backend, release: () => backend.close() };
    }
    case 'clip-tags':
      return openClipTags(options);
    case 'local': {
      const modelDir =
        options.modelDir ??
        path.dirname(
          path.dirname(
            resolveModelPath('vlm', undefined, {
              catalog: DEFAULT_MODEL_CATALOG,
              cacheDir: options.modelsDir ?? defaultModelCacheDir(),
            }),
          ),
        );
      const backend = await createLocalBackend({
        modelDir,
        ...(options.dtype === undefined ? {} : { dtype: options.dtype }),
        ...(options.model === undefined ? {} : { model: options.model }),
      });
      return { backend, release: () => backend.close() };
    }
    default:
      throw new CliError(
        'CLI_ERR_USAGE',
        `--backend must be one of ${CAPTION_BACKENDS.join(', ')}, got "${options.backend}"`,
      );
  }
}

/** The human-readable form of a record: aligned labels, the raw answer quoted. */
export function formatCaption(record: CaptionRecord, image: string): string {
  const rows: [string, string][] = [
    ['image', image],
    ['class', record.className],
    ['backend', `${record.backend} (${record.model})`],
    ['mode', record.mode],
    ['elements', record.elements.join(', ')],
    ['prompt', record.prompt],
    ['raw', JSON.stringify(record.raw)],
  ];
  if (record.dropped.length > 0) {
    rows.push(['dropped', record.dropped.map((d) => `${d.item} (${d.reason})`).join(', ')]);
  }
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}\n`).join('');
}

/**
 * Captions one image and returns its record.
 *
 * @throws CliError for bad options; CaptionError from the backend (`CAPTION_ERR_UNAVAILABLE` when the
 * endpoint is down, `CAPTION_ERR_MODEL_MISSING` for an incomplete local model, …).
 */
export async function captionOne(options: CaptionOptions, env: Env): Promise<CaptionRecord> {
  if (!(PROMPT_MODES as readonly string[]).includes(options.mode)) {
    throw new CliError(
      'CLI_ERR_USAGE',
      `--mode must be one of ${PROMPT_MODES.join(', ')}, got "${options.mode}"`,
    );
  }
  const wordnet = options.wordnet ? await loadWordNetSynonyms() : undefined;
  const synonymsOf = wordnet === undefined ? undefined : (c: string): string[] => wordnet.synonymsOf(c);
  const opened = await openBackend(options, env);
  try {
    const [record] = await captionShard(
      [{ id: path.basename(options.image), image: path.resolve(options.image), className: options.class }],
      {
        backend: opened.backend,
        mode: options.mode as PromptMode,
        ...(synonymsOf === undefined ? {} : { synonymsOf }),
      },
    );
    return record!;
  } finally {
    await opened.release();
  }
}

/**
 * Registers `synood caption --image X --class NAME [--backend openai|clip-tags|local] [--endpoint URL
 * --model NAME --api-key-env VAR] [--mode compat|clean] [--json]` on `program`.
 */
export function registerCaptionCommand(program: Command, deps: CaptionCommandDeps = {}): void {
  program
    .command('caption')
    .description(
      'list the elements of one image other than its class, and the inpainting prompt built from them',
    )
    .requiredOption('--image <file>', 'the image (JPEG, PNG, WebP or GIF)')
    .requiredOption('--class <name>', 'its class: the main object, never an element')
    .option('--backend <name>', `one of ${CAPTION_BACKENDS.join(', ')}`, 'clip-tags')
    .option('--mode <mode>', "compat (the answer's first 73 characters) or clean (parsed elements)", 'compat')
    .option(
      '--endpoint <url>',
      'openai: base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1',
    )
    .option('--model <name>', 'openai: the model the server serves; other backends: the name recorded')
    .option(
      '--api-key-env <var>',
      'openai: environment variable holding the API key (sent as a Bearer token)',
    )
    .option('--timeout-ms <n>', 'openai: per-request timeout', '60000')
    .option('--model-dir <dir>', "local: folder of the ONNX export (default: the registry's vlm folder)")
    .option('--dtype <dtype>', 'local: weights to load (fp32, fp16, q8, q4, …)')
    .option('--models-dir <dir>', 'model cache folder (default: the registry cache)')
    .option('--clip-text <file>', "clip-tags: text tower (default: the registry's clip.text)")
    .option('--clip-image <file>', "clip-tags: image tower (default: the registry's clip.vision)")
    .option('--clip-tokenizer <file>', "clip-tags: tokenizer.json (default: the registry's clip.tokenizer)")
    .option('--vocabulary <file>', 'clip-tags: candidate tags, one per line (default: WordNet nouns)')
    .option('--top-k <n>', 'clip-tags: tags kept at most', '8')
    .option('--min-score <x>', 'clip-tags: cosine similarity a tag needs', '0.2')
    .option('--no-wordnet', "do not drop the class name's WordNet synonyms")
    .option('--json', 'print the caption record as one JSON object')
    .addHelpText(
      'after',
      '\nExit status 1 when the image fails; the record (with --json) still goes to stdout.\n' +
        'Local exports: onnx-community/Florence-2-base-ft, onnx-community/Qwen2-VL-2B-Instruct.',
    )
    .action(async (opts: CaptionOptions, command: Command) => {
      const record = await captionOne(opts, deps.env ?? processEnv());
      writeOut(
        command,
        opts.json === true ? `${JSON.stringify(record)}\n` : formatCaption(record, opts.image),
      );
      if (record.error !== undefined) {
        // The image's own code, so the program prints `error [CAPTION_ERR_…]: message` and exits 1.
        throw new CliError(record.error.code, record.error.message);
      }
    });
}
