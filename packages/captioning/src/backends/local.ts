/**
 * @file The `local` backend: a vision-language model run in process by `@huggingface/transformers` from
 * an ONNX export in a local folder, never from the network (`env.allowRemoteModels = false`,
 * `local_files_only`).
 *
 * Exports it runs (transformers.js layout: `config.json`, tokenizer and processor files at the top,
 * `onnx/<session><dtype suffix>.onnx` below):
 * - **Florence-2** (`model_type` `florence2`), the default: `onnx-community/Florence-2-base-ft` (or
 *   `onnx-community/Florence-2-base`). Files: `config.json`, `generation_config.json`,
 *   `preprocessor_config.json`, `tokenizer.json`, `tokenizer_config.json`, and `onnx/vision_encoder.onnx`,
 *   `onnx/embed_tokens.onnx`, `onnx/encoder_model.onnx`, `onnx/decoder_model_merged.onnx` (fp32; for
 *   another dtype the same names with its suffix, e.g. `_fp16`, `_q4`, `_quantized`). Florence-2 takes task
 *   tokens, not questions: the default task `<OD>` (object detection) gives the labels of the objects it
 *   finds, which become the answer.
 * - **Qwen2-VL** (`qwen2_vl`, also `qwen2_5_vl`): `onnx-community/Qwen2-VL-2B-Instruct`. Files: the
 *   top-level JSON files above, and `onnx/embed_tokens`, `onnx/vision_encoder`, `onnx/decoder_model_merged`
 *   (+ `.onnx_data` external-data files where its `config.json` sets
 *   `transformers.js_config.use_external_data_format`). Asked the caption question through its chat
 *   template.
 * - **LLaVA** (`llava`): `llava-hf/llava-interleave-qwen-0.5b-hf` (its `onnx/` folder). Same sessions as
 *   Qwen2-VL, plus `processor_config.json`; its chat template comes from `chat_template.json` when the
 *   tokenizer config has none.
 *
 * Download the whole repository folder (e.g. `huggingface-cli download onnx-community/Florence-2-base-ft
 * --local-dir <dir>`, or only the files listed above with `--include`) and give `<dir>` as `modelDir`.
 * {@link checkLocalModelDir} checks exactly the files transformers.js will open and lists every missing
 * one before anything is loaded.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';

import {
  type BackendRecord,
  type CaptionBackend,
  type CaptionItem,
  describeImage,
  imageBytes,
  sniffImageMime,
  throwIfAborted,
} from '../backend';
import { CaptionError, CaptionErrorCode, failureOf, requireArg } from '../errors';
import { captionQuestion, type QuestionOptions } from '../prompt';

/** How the backend talks to a family of models. */
export type LocalFamily = 'florence2' | 'qwen2_vl' | 'llava';

/** `config.json` `model_type` → family, for the model types the local backend runs. */
export const LOCAL_MODEL_TYPES: Readonly<Record<string, LocalFamily>> = Object.freeze({
  florence2: 'florence2',
  qwen2_vl: 'qwen2_vl',
  qwen2_5_vl: 'qwen2_vl',
  llava: 'llava',
});

/** The export to download per family (documented in the file notes). */
export const RECOMMENDED_EXPORTS: Readonly<Record<LocalFamily, string>> = Object.freeze({
  florence2: 'onnx-community/Florence-2-base-ft',
  qwen2_vl: 'onnx-community/Qwen2-VL-2B-Instruct',
  llava: 'llava-hf/llava-interleave-qwen-0.5b-hf',
});

/** transformers.js weight dtypes and the file-name suffix of each (`DEFAULT_DTYPE_SUFFIX_MAPPING`). */
export const LOCAL_DTYPE_SUFFIXES: Readonly<Record<string, string>> = Object.freeze({
  fp32: '',
  fp16: '_fp16',
  int8: '_int8',
  uint8: '_uint8',
  q8: '_quantized',
  q4: '_q4',
  q2: '_q2',
  q1: '_q1',
  q4f16: '_q4f16',
  q2f16: '_q2f16',
  q1f16: '_q1f16',
  bnb4: '_bnb4',
});

/** A weight dtype for every session, or per session (`embed_tokens`, `vision_encoder`, `model`, `decoder_model_merged`). */
export type LocalDtype = string | Readonly<Record<string, string>>;

/** What {@link checkLocalModelDir} found. */
export interface LocalModelCheck {
  /** Absolute folder. */
  readonly dir: string;
  readonly modelType: string;
  readonly family: LocalFamily;
  /** The dtype given to transformers.js. */
  readonly dtype: LocalDtype;
  /** Every file transformers.js will open, relative to `dir`. */
  readonly files: readonly string[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

function missingError(dir: string, missing: readonly string[], hint: string): CaptionError {
  return new CaptionError(
    CaptionErrorCode.ModelMissing,
    `local model folder ${dir} is incomplete; missing ${missing.length} file(s): ${missing.join(', ')}. ${hint}`,
  );
}

function downloadHint(family: LocalFamily | undefined): string {
  const repo = family === undefined ? RECOMMENDED_EXPORTS.florence2 : RECOMMENDED_EXPORTS[family];
  return `Download the export, e.g. huggingface-cli download ${repo} --local-dir <dir>, and pass that folder.`;
}

/** The ONNX sessions transformers.js opens for an image-text-to-text model (its `MODEL_SESSION_CONFIG`). */
function sessionsOf(config: Record<string, unknown>): Record<string, string> {
  const sessions: Record<string, string> = {
    embed_tokens: 'embed_tokens',
    decoder_model_merged: 'decoder_model_merged',
    vision_encoder: 'vision_encoder',
  };
  if (config.is_encoder_decoder === true) {
    sessions.model = 'encoder_model';
  }
  return sessions;
}

function dtypeOf(dtype: LocalDtype, session: string, configDtype: unknown): string {
  let d = typeof dtype === 'string' ? dtype : (dtype[session] ?? 'fp32');
  if (d === 'auto') {
    const fromConfig =
      typeof configDtype === 'string'
        ? configDtype
        : isRecord(configDtype)
          ? configDtype[session]
          : undefined;
    d = typeof fromConfig === 'string' && fromConfig !== 'auto' ? fromConfig : 'fp32';
  }
  if (!(d in LOCAL_DTYPE_SUFFIXES)) {
    throw new CaptionError(
      CaptionErrorCode.BadArgument,
      `dtype ${JSON.stringify(d)} for session ${session} is not one of ${Object.keys(LOCAL_DTYPE_SUFFIXES).join(', ')}`,
    );
  }
  return d;
}

/** External-data chunks of one session file (transformers.js `use_external_data_format`). */
function externalChunks(setting: unknown, fullName: string, session: string): string[] {
  let n = 0;
  if (isRecord(setting)) {
    const v = setting[fullName] ?? setting[session];
    n = v === undefined ? 0 : Number(v);
  } else if (setting !== undefined && setting !== null) {
    n = Number(setting);
  }
  if (!Number.isSafeInteger(n) || n < 0) {
    n = 0;
  }
  return Array.from({ length: n }, (_, i) => `${fullName}_data${i === 0 ? '' : `_${i}`}`);
}

/**
 * Checks a local model folder against what transformers.js will open: `config.json` (its `model_type`
 * must be one of {@link LOCAL_MODEL_TYPES}), the tokenizer and processor files, and the `onnx/` session
 * files of the chosen dtype with their external-data chunks.
 *
 * @param dtype weights to use; @defaultValue `transformers.js_config.dtype` of `config.json`, else `fp32`
 * @throws CaptionError `CAPTION_ERR_MODEL_MISSING` listing every missing file (or the missing folder)
 * and the export to download; `CAPTION_ERR_MODEL_UNSUPPORTED` for another `model_type`;
 * `CAPTION_ERR_MODEL_LOAD` when `config.json` is not JSON; `CAPTION_ERR_BAD_ARGUMENT` for an unknown dtype.
 */
export async function checkLocalModelDir(modelDir: string, dtype?: LocalDtype): Promise<LocalModelCheck> {
  requireArg(modelDir.trim() !== '', 'the local model folder is empty; give the folder of the ONNX export');
  const dir = path.resolve(modelDir);
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) {
    throw new CaptionError(
      CaptionErrorCode.ModelMissing,
      `local model folder ${dir} does not exist or is not a folder. ${downloadHint(undefined)}`,
    );
  }
  const generic = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'preprocessor_config.json'];
  const missingGeneric: string[] = [];
  for (const f of generic) {
    if (!(await exists(path.join(dir, f)))) {
      missingGeneric.push(f);
    }
  }
  if (missingGeneric.includes('config.json')) {
    throw missingError(
      dir,
      missingGeneric,
      `Without config.json the onnx/ files cannot be checked. ${downloadHint(undefined)}`,
    );
  }
  let config: unknown;
  try {
    config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'));
  } catch (err) {
    throw new CaptionError(
      CaptionErrorCode.ModelLoad,
      `${path.join(dir, 'config.json')} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  if (!isRecord(config)) {
    throw new CaptionError(
      CaptionErrorCode.ModelLoad,
      `${path.join(dir, 'config.json')} is not a JSON object`,
    );
  }
  const modelType = typeof config.model_type === 'string' ? config.model_type : '';
  const family = LOCAL_MODEL_TYPES[modelType];
  if (family === undefined) {
    throw new CaptionError(
      CaptionErrorCode.ModelUnsupported,
      `${path.join(dir, 'config.json')} has model_type ${JSON.stringify(modelType)}; the local backend runs ` +
        `${Object.keys(LOCAL_MODEL_TYPES).join(', ')} (e.g. ${Object.values(RECOMMENDED_EXPORTS).join(', ')})`,
    );
  }
  const jsConfig = isRecord(config['transformers.js_config']) ? config['transformers.js_config'] : {};
  const chosen: LocalDtype =
    dtype ??
    (typeof jsConfig.dtype === 'string' || isRecord(jsConfig.dtype)
      ? (jsConfig.dtype as LocalDtype)
      : 'fp32');
  const required = [...generic];
  if (family === 'llava') {
    required.push('processor_config.json');
  }
  for (const [session, base] of Object.entries(sessionsOf(config))) {
    const fullName = `${base}${LOCAL_DTYPE_SUFFIXES[dtypeOf(chosen, session, jsConfig.dtype)]!}.onnx`;
    required.push(`onnx/${fullName}`);
    for (const chunk of externalChunks(jsConfig.use_external_data_format, fullName, session)) {
      required.push(`onnx/${chunk}`);
    }
  }
  const missing: string[] = [];
  for (const f of required) {
    if (!(await exists(path.join(dir, f)))) {
      missing.push(f);
    }
  }
  if (missing.length > 0) {
    throw missingError(dir, missing, downloadHint(family));
  }
  return { dir, modelType, family, dtype: chosen, files: required };
}

/** The parts of `@huggingface/transformers` the backend uses (a seam for tests). */
export interface TransformersRuntime {
  readonly env: {
    allowRemoteModels: boolean;
    allowLocalModels: boolean;
    localModelPath: string;
    useFSCache: boolean;
  };
  readonly AutoProcessor: { from_pretrained(id: string, options: Record<string, unknown>): Promise<unknown> };
  readonly AutoModelForImageTextToText: {
    from_pretrained(id: string, options: Record<string, unknown>): Promise<unknown>;
  };
  readonly RawImage: { fromBlob(blob: Blob): Promise<unknown> };
}

/** A loaded image as the processors take it. */
interface RawImageLike {
  readonly size: [number, number];
}

/** A token tensor as `generate` returns it. */
interface TokenTensor {
  readonly dims: readonly number[];
  slice(...ranges: unknown[]): TokenTensor;
}

type ProcessorFn = (a: unknown, b?: unknown) => Promise<Record<string, unknown>>;

interface ProcessorLike {
  apply_chat_template(messages: unknown, options: Record<string, unknown>): string;
  batch_decode(tokens: TokenTensor, options: { skip_special_tokens: boolean }): string[];
  post_process_generation?(text: string, task: string, size: [number, number]): Record<string, unknown>;
}

interface ModelLike {
  generate(inputs: Record<string, unknown>): Promise<TokenTensor>;
  dispose?(): Promise<unknown>;
}

/** Options of {@link createLocalBackend}. */
export interface LocalBackendOptions {
  /** The export's folder (see the file notes). */
  modelDir: string;
  /** Weights; see {@link checkLocalModelDir}. */
  dtype?: LocalDtype;
  /** onnxruntime device. @defaultValue `'cpu'` */
  device?: 'cpu' | 'cuda';
  /** Tokens generated per image at most. @defaultValue 96 */
  maxNewTokens?: number;
  /** The question of chat models, as options of `captionQuestion` or a function of the class name. */
  question?: QuestionOptions | ((className: string) => string);
  /** Florence-2's task token. @defaultValue `'<OD>'` */
  florenceTask?: string;
  /** The model name recorded. @defaultValue the folder's name */
  model?: string;
  /** Loads `@huggingface/transformers` (tests pass a fake). @defaultValue a dynamic import */
  loadTransformers?: () => Promise<TransformersRuntime>;
}

async function importTransformers(): Promise<TransformersRuntime> {
  // Loaded on demand: the library pulls in onnxruntime and sharp, which the other backends never need.
  return await import('@huggingface/transformers');
}

function isCallable(v: unknown): v is ProcessorFn {
  return typeof v === 'function';
}

/** The `local` backend; create it with {@link createLocalBackend}. */
export class LocalBackend implements CaptionBackend {
  readonly name = 'local';
  readonly state = 'closed' as const;

  private constructor(
    readonly model: string,
    /** The checked folder. */
    readonly check: LocalModelCheck,
    private readonly runtime: TransformersRuntime,
    private readonly processor: ProcessorLike & ProcessorFn,
    private modelInstance: ModelLike | undefined,
    private readonly chatTemplate: string | undefined,
    private readonly options: LocalBackendOptions,
  ) {}

  /** @internal Use {@link createLocalBackend}. */
  static async load(options: LocalBackendOptions): Promise<LocalBackend> {
    const check = await checkLocalModelDir(options.modelDir, options.dtype);
    const maxNewTokens = options.maxNewTokens ?? 96;
    requireArg(
      Number.isSafeInteger(maxNewTokens) && maxNewTokens >= 1,
      `maxNewTokens must be a positive integer, got ${maxNewTokens}`,
    );
    const runtime = await (options.loadTransformers ?? importTransformers)();
    runtime.env.allowRemoteModels = false;
    runtime.env.allowLocalModels = true;
    runtime.env.useFSCache = false;
    runtime.env.localModelPath = `${path.dirname(check.dir)}${path.sep}`;
    const id = path.basename(check.dir);
    const loadOptions = {
      local_files_only: true,
      dtype: check.dtype,
      device: options.device ?? 'cpu',
    };
    let processor: unknown;
    let model: unknown;
    try {
      processor = await runtime.AutoProcessor.from_pretrained(id, { local_files_only: true });
      model = await runtime.AutoModelForImageTextToText.from_pretrained(id, loadOptions);
    } catch (err) {
      throw new CaptionError(
        CaptionErrorCode.ModelLoad,
        `transformers.js could not load ${check.family} model from ${check.dir} (dtype ${JSON.stringify(check.dtype)}): ` +
          (err instanceof Error ? err.message : String(err)),
        { cause: err },
      );
    }
    if (!isCallable(processor) || typeof (model as Partial<ModelLike> | null)?.generate !== 'function') {
      throw new CaptionError(
        CaptionErrorCode.ModelLoad,
        `transformers.js returned no usable processor or model for ${check.dir}`,
      );
    }
    let chatTemplate: string | undefined;
    try {
      const json: unknown = JSON.parse(await readFile(path.join(check.dir, 'chat_template.json'), 'utf8'));
      if (isRecord(json) && typeof json.chat_template === 'string') {
        chatTemplate = json.chat_template;
      }
    } catch {
      chatTemplate = undefined;
    }
    return new LocalBackend(
      options.model ?? id,
      check,
      runtime,
      processor as ProcessorLike & ProcessorFn,
      model as ModelLike,
      chatTemplate,
      options,
    );
  }

  private question(className: string): string {
    const q = this.options.question;
    return typeof q === 'function' ? q(className) : captionQuestion(className, q);
  }

  private live(): ModelLike {
    if (this.modelInstance === undefined) {
      throw new CaptionError(CaptionErrorCode.BadArgument, `the local model ${this.model} was closed`);
    }
    return this.modelInstance;
  }

  /** Captions the items one at a time (the model uses every core). */
  async caption(items: readonly CaptionItem[], signal?: AbortSignal): Promise<BackendRecord[]> {
    const out: BackendRecord[] = [];
    for (const item of items) {
      throwIfAborted(signal, 'captioning');
      const started = performance.now();
      try {
        const raw = await this.captionOne(item);
        out.push({ id: item.id, raw, model: this.model, ms: performance.now() - started, attempts: 1 });
      } catch (err) {
        out.push({
          id: item.id,
          raw: '',
          error: failureOf(err, CaptionErrorCode.Generate),
          ms: performance.now() - started,
          attempts: 1,
        });
      }
    }
    return out;
  }

  private async loadImage(item: CaptionItem): Promise<RawImageLike> {
    const bytes = await imageBytes(item);
    if (sniffImageMime(bytes) === undefined) {
      throw new CaptionError(
        CaptionErrorCode.ImageFormat,
        `image ${describeImage(item)} is not a JPEG, PNG, WebP or GIF file (unknown magic bytes)`,
      );
    }
    try {
      return (await this.runtime.RawImage.fromBlob(new Blob([bytes]))) as RawImageLike;
    } catch (err) {
      throw new CaptionError(
        CaptionErrorCode.ImageFormat,
        `cannot decode image ${describeImage(item)}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }

  private async captionOne(item: CaptionItem): Promise<string> {
    const image = await this.loadImage(item);
    const model = this.live();
    const maxNewTokens = this.options.maxNewTokens ?? 96;
    const p = this.processor;
    try {
      if (this.check.family === 'florence2') {
        const task = this.options.florenceTask ?? '<OD>';
        const inputs = await p(image, task);
        const generated = await model.generate({ ...inputs, max_new_tokens: maxNewTokens });
        const text = p.batch_decode(generated, { skip_special_tokens: false })[0] ?? '';
        const result = p.post_process_generation?.(text, task, image.size)[task];
        // Detection-style tasks give {labels, bboxes}; caption tasks give text.
        if (isRecord(result) && Array.isArray(result.labels)) {
          return [...new Set(result.labels.map(String).filter((l) => l.trim() !== ''))].join(', ');
        }
        return typeof result === 'string' ? result : text;
      }
      const conversation = [
        {
          role: 'user',
          content: [{ type: 'image' }, { type: 'text', text: this.question(item.className) }],
        },
      ];
      const prompt = p.apply_chat_template(conversation, {
        add_generation_prompt: true,
        ...(this.chatTemplate === undefined ? {} : { chat_template: this.chatTemplate }),
      });
      const inputs = this.check.family === 'qwen2_vl' ? await p(prompt, image) : await p(image, prompt);
      const generated = await model.generate({ ...inputs, max_new_tokens: maxNewTokens });
      const promptLength = (inputs.input_ids as TokenTensor | undefined)?.dims.at(-1) ?? 0;
      const answer = generated.slice(null, [promptLength, null]);
      return p.batch_decode(answer, { skip_special_tokens: true })[0] ?? '';
    } catch (err) {
      throw new CaptionError(
        CaptionErrorCode.Generate,
        `${this.model} failed on ${describeImage(item)}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }

  /** Releases the model's sessions. Safe to call twice. */
  async close(): Promise<void> {
    const m = this.modelInstance;
    this.modelInstance = undefined;
    await m?.dispose?.();
  }
}

/**
 * Checks the folder ({@link checkLocalModelDir}) and loads the model with transformers.js, offline.
 *
 * @throws CaptionError `CAPTION_ERR_MODEL_MISSING` / `CAPTION_ERR_MODEL_UNSUPPORTED` from the check,
 * `CAPTION_ERR_MODEL_LOAD` when transformers.js fails to load the export.
 */
export async function createLocalBackend(options: LocalBackendOptions): Promise<LocalBackend> {
  return LocalBackend.load(options);
}
