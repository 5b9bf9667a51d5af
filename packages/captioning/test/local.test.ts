import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import {
  type CaptionError,
  checkLocalModelDir,
  captionQuestion,
  createLocalBackend,
  type TransformersRuntime,
} from '../src';
import { solidPng } from './helpers';

let root = '';
let png: Buffer = Buffer.alloc(0);
let counter = 0;

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'synood-caption-local-'));
  png = await solidPng(1, 2, 3);
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

const TOP_FILES = ['tokenizer.json', 'tokenizer_config.json', 'preprocessor_config.json'];

/** A model folder with `config` as config.json and the given other files (empty contents). */
function folder(config: Record<string, unknown> | string | undefined, files: readonly string[]): string {
  const dir = path.join(root, `model-${counter++}`);
  mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  if (config !== undefined) {
    writeFileSync(
      path.join(dir, 'config.json'),
      typeof config === 'string' ? config : JSON.stringify(config),
    );
  }
  for (const f of files) {
    writeFileSync(path.join(dir, f), '{}');
  }
  return dir;
}

async function rejection(p: Promise<unknown>): Promise<CaptionError> {
  try {
    await p;
  } catch (err) {
    return err as CaptionError;
  }
  throw new Error('expected a rejection');
}

const FLORENCE = { model_type: 'florence2', is_encoder_decoder: true };
const FLORENCE_ONNX = [
  'onnx/embed_tokens.onnx',
  'onnx/decoder_model_merged.onnx',
  'onnx/vision_encoder.onnx',
  'onnx/encoder_model.onnx',
];

describe('checkLocalModelDir', () => {
  it('fails with CAPTION_ERR_MODEL_MISSING when the folder does not exist', async () => {
    const missing = path.join(root, 'no-such-model');
    const err = await rejection(checkLocalModelDir(missing));
    expect(err.code).toBe('CAPTION_ERR_MODEL_MISSING');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(`${missing} does not exist`);
    expect(err.message).toContain('huggingface-cli download onnx-community/Florence-2-base-ft');
  });

  it('lists every missing top-level file of an empty folder', async () => {
    const dir = folder(undefined, []);
    const err = await rejection(checkLocalModelDir(dir));
    expect(err.code).toBe('CAPTION_ERR_MODEL_MISSING');
    expect(err.message).toContain(
      'missing 4 file(s): config.json, tokenizer.json, tokenizer_config.json, preprocessor_config.json',
    );
  });

  it('lists the onnx/ sessions an image-text-to-text model needs (encoder-decoder adds encoder_model)', async () => {
    const dir = folder(FLORENCE, TOP_FILES);
    const err = await rejection(checkLocalModelDir(dir));
    expect(err.code).toBe('CAPTION_ERR_MODEL_MISSING');
    expect(err.message).toContain(`missing 4 file(s): ${FLORENCE_ONNX.join(', ')}`);
    const partial = folder(FLORENCE, [...TOP_FILES, 'onnx/embed_tokens.onnx', 'onnx/vision_encoder.onnx']);
    const err2 = await rejection(checkLocalModelDir(partial));
    expect(err2.message).toContain(
      'missing 2 file(s): onnx/decoder_model_merged.onnx, onnx/encoder_model.onnx',
    );
  });

  it('passes a complete Florence-2 folder and reports what transformers.js will open', async () => {
    const dir = folder(FLORENCE, [...TOP_FILES, ...FLORENCE_ONNX]);
    const check = await checkLocalModelDir(dir);
    expect(check).toEqual({
      dir,
      modelType: 'florence2',
      family: 'florence2',
      dtype: 'fp32',
      files: ['config.json', ...TOP_FILES, ...FLORENCE_ONNX],
    });
  });

  it('uses the dtype suffixes, per session or from the config', async () => {
    const dir = folder({ model_type: 'qwen2_vl', 'transformers.js_config': { dtype: 'q4f16' } }, TOP_FILES);
    const fromConfig = await rejection(checkLocalModelDir(dir));
    expect(fromConfig.message).toContain(
      'onnx/embed_tokens_q4f16.onnx, onnx/decoder_model_merged_q4f16.onnx, onnx/vision_encoder_q4f16.onnx',
    );
    const perSession = await rejection(
      checkLocalModelDir(dir, { embed_tokens: 'q8', decoder_model_merged: 'q4', vision_encoder: 'fp16' }),
    );
    expect(perSession.message).toContain(
      'onnx/embed_tokens_quantized.onnx, onnx/decoder_model_merged_q4.onnx, onnx/vision_encoder_fp16.onnx',
    );
    const unknown = await rejection(checkLocalModelDir(dir, 'fp8'));
    expect(unknown.code).toBe('CAPTION_ERR_BAD_ARGUMENT');
  });

  it('requires the external-data chunks the config declares', async () => {
    const all = folder(
      { model_type: 'qwen2_vl', 'transformers.js_config': { use_external_data_format: true } },
      [...TOP_FILES, 'onnx/embed_tokens.onnx', 'onnx/decoder_model_merged.onnx', 'onnx/vision_encoder.onnx'],
    );
    const err = await rejection(checkLocalModelDir(all));
    expect(err.message).toContain(
      'missing 3 file(s): onnx/embed_tokens.onnx_data, onnx/decoder_model_merged.onnx_data, onnx/vision_encoder.onnx_data',
    );
    const some = folder(
      {
        model_type: 'qwen2_5_vl',
        'transformers.js_config': { use_external_data_format: { 'decoder_model_merged.onnx': 2 } },
      },
      [...TOP_FILES, 'onnx/embed_tokens.onnx', 'onnx/decoder_model_merged.onnx', 'onnx/vision_encoder.onnx'],
    );
    const err2 = await rejection(checkLocalModelDir(some));
    expect(err2.message).toContain(
      'missing 2 file(s): onnx/decoder_model_merged.onnx_data, onnx/decoder_model_merged.onnx_data_1',
    );
    expect(err2.message).toContain('onnx-community/Qwen2-VL-2B-Instruct');
  });

  it('requires processor_config.json for LLaVA', async () => {
    const dir = folder({ model_type: 'llava' }, [
      ...TOP_FILES,
      'onnx/embed_tokens.onnx',
      'onnx/decoder_model_merged.onnx',
      'onnx/vision_encoder.onnx',
    ]);
    const err = await rejection(checkLocalModelDir(dir));
    expect(err.message).toContain('missing 1 file(s): processor_config.json');
  });

  it('names unsupported architectures and unreadable configs', async () => {
    const bert = await rejection(checkLocalModelDir(folder({ model_type: 'bert' }, TOP_FILES)));
    expect(bert.code).toBe('CAPTION_ERR_MODEL_UNSUPPORTED');
    expect(bert.message).toContain(
      'model_type "bert"; the local backend runs florence2, qwen2_vl, qwen2_5_vl, llava',
    );
    const broken = await rejection(checkLocalModelDir(folder('{"model_type": ', TOP_FILES)));
    expect(broken.code).toBe('CAPTION_ERR_MODEL_LOAD');
    expect(broken.message).toContain('config.json is not valid JSON');
  });
});

interface FakeCalls {
  processorArgs: unknown[][];
  chat: { conversation: unknown; options: Record<string, unknown> }[];
  from: { kind: string; id: string; options: Record<string, unknown> }[];
  slices: unknown[][];
  decodeOptions: unknown[];
}

/** A transformers.js stand-in: records calls, answers `answer`, and shapes tensors as the real one does. */
function fakeRuntime(
  answer: string,
  options: { labels?: string[]; failGenerate?: boolean; failLoad?: boolean } = {},
): { runtime: TransformersRuntime; calls: FakeCalls } {
  const calls: FakeCalls = { processorArgs: [], chat: [], from: [], slices: [], decodeOptions: [] };
  const tensor = (dims: number[]): { dims: number[]; slice: (...r: unknown[]) => unknown } => ({
    dims,
    slice: (...ranges: unknown[]) => {
      calls.slices.push(ranges);
      return tensor([1, 3]);
    },
  });
  const processor = Object.assign(
    (a: unknown, b?: unknown) => {
      calls.processorArgs.push([a, b]);
      return Promise.resolve({ input_ids: tensor([1, 7]), pixel_values: tensor([1, 3, 4, 4]) });
    },
    {
      apply_chat_template: (conversation: unknown, opts: Record<string, unknown>) => {
        calls.chat.push({ conversation, options: opts });
        return 'PROMPT<image>';
      },
      batch_decode: (_t: unknown, opts: unknown) => {
        calls.decodeOptions.push(opts);
        return [answer];
      },
      post_process_generation: (text: string, task: string) => ({
        [task]: options.labels === undefined ? text : { labels: options.labels, bboxes: [] },
      }),
    },
  );
  const model = {
    generate: () =>
      options.failGenerate === true
        ? Promise.reject(new Error('ORT run failed'))
        : Promise.resolve(tensor([1, 10])),
  };
  const runtime: TransformersRuntime = {
    env: { allowRemoteModels: true, allowLocalModels: false, localModelPath: '/models/', useFSCache: true },
    AutoProcessor: {
      from_pretrained: (id, opts) => {
        calls.from.push({ kind: 'processor', id, options: opts });
        return Promise.resolve(processor);
      },
    },
    AutoModelForImageTextToText: {
      from_pretrained: (id, opts) => {
        calls.from.push({ kind: 'model', id, options: opts });
        return options.failLoad === true
          ? Promise.reject(new Error('protobuf parsing failed'))
          : Promise.resolve(model);
      },
    },
    RawImage: {
      fromBlob: async (blob: Blob) => {
        const bytes = new Uint8Array(await blob.arrayBuffer());
        return { size: [8, 8], bytes: bytes.length };
      },
    },
  };
  return { runtime, calls };
}

const QWEN_FILES = [
  ...TOP_FILES,
  'onnx/embed_tokens.onnx',
  'onnx/decoder_model_merged.onnx',
  'onnx/vision_encoder.onnx',
];

describe('createLocalBackend', () => {
  it('checks the folder before loading anything', async () => {
    let loaded = false;
    const err = await rejection(
      createLocalBackend({
        modelDir: path.join(root, 'absent'),
        loadTransformers: () => {
          loaded = true;
          return Promise.resolve(fakeRuntime('').runtime);
        },
      }),
    );
    expect(err.code).toBe('CAPTION_ERR_MODEL_MISSING');
    expect(loaded).toBe(false);
  });

  it('loads offline from the folder and asks a chat model the caption question (Qwen2-VL order: text, image)', async () => {
    const dir = folder({ model_type: 'qwen2_vl' }, QWEN_FILES);
    const { runtime, calls } = fakeRuntime(' table, lamp\n');
    const backend = await createLocalBackend({
      modelDir: dir,
      loadTransformers: () => Promise.resolve(runtime),
    });
    expect(runtime.env).toEqual({
      allowRemoteModels: false,
      allowLocalModels: true,
      localModelPath: `${root}${path.sep}`,
      useFSCache: false,
    });
    expect(calls.from).toEqual([
      { kind: 'processor', id: path.basename(dir), options: { local_files_only: true } },
      {
        kind: 'model',
        id: path.basename(dir),
        options: { local_files_only: true, dtype: 'fp32', device: 'cpu' },
      },
    ]);
    const records = await backend.caption([{ id: 'a', image: png, className: 'tabby cat' }]);
    expect(records[0]).toMatchObject({
      id: 'a',
      raw: ' table, lamp\n',
      model: path.basename(dir),
      attempts: 1,
    });
    expect(calls.chat[0]!.conversation).toEqual([
      { role: 'user', content: [{ type: 'image' }, { type: 'text', text: captionQuestion('tabby cat') }] },
    ]);
    expect(calls.chat[0]!.options).toEqual({ add_generation_prompt: true });
    expect(calls.processorArgs[0]![0]).toBe('PROMPT<image>');
    // Only the generated tokens are decoded: the prompt's 7 tokens are sliced off.
    expect(calls.slices).toEqual([[null, [7, null]]]);
    expect(calls.decodeOptions).toEqual([{ skip_special_tokens: true }]);
    await backend.close();
    await backend.close();
  });

  it('passes LLaVA its image first and the chat template from chat_template.json', async () => {
    const dir = folder({ model_type: 'llava' }, [...QWEN_FILES, 'processor_config.json']);
    writeFileSync(path.join(dir, 'chat_template.json'), JSON.stringify({ chat_template: '{{ messages }}' }));
    const { runtime, calls } = fakeRuntime('rug');
    const backend = await createLocalBackend({
      modelDir: dir,
      loadTransformers: () => Promise.resolve(runtime),
    });
    await backend.caption([{ id: 'a', image: png, className: 'dog' }]);
    expect(calls.chat[0]!.options).toEqual({ add_generation_prompt: true, chat_template: '{{ messages }}' });
    expect(calls.processorArgs[0]![1]).toBe('PROMPT<image>');
  });

  it('runs Florence-2 on its task token and answers the distinct detected labels', async () => {
    const dir = folder(FLORENCE, [...TOP_FILES, ...FLORENCE_ONNX]);
    const { runtime, calls } = fakeRuntime('<s>dog<loc_1>…</s>', {
      labels: ['dog', 'table', 'table', 'lamp', ' '],
    });
    const backend = await createLocalBackend({
      modelDir: dir,
      loadTransformers: () => Promise.resolve(runtime),
    });
    const records = await backend.caption([{ id: 'a', image: png, className: 'dog' }]);
    expect(records[0]!.raw).toBe('dog, table, lamp');
    expect(calls.processorArgs[0]![1]).toBe('<OD>');
    expect(calls.decodeOptions).toEqual([{ skip_special_tokens: false }]);
    const caption = fakeRuntime('a dog lying on a wooden floor next to a sofa');
    const captioner = await createLocalBackend({
      modelDir: dir,
      florenceTask: '<MORE_DETAILED_CAPTION>',
      loadTransformers: () => Promise.resolve(caption.runtime),
    });
    const described = await captioner.caption([{ id: 'a', image: png, className: 'dog' }]);
    expect(described[0]!.raw).toBe('a dog lying on a wooden floor next to a sofa');
  });

  it('records bad images and failed generations per image', async () => {
    const dir = folder({ model_type: 'qwen2_vl' }, QWEN_FILES);
    const ok = fakeRuntime('x');
    const backend = await createLocalBackend({
      modelDir: dir,
      loadTransformers: () => Promise.resolve(ok.runtime),
    });
    const records = await backend.caption([
      { id: 'text', image: Buffer.from('hello'), className: 'dog' },
      { id: 'gone', image: path.join(root, 'missing.png'), className: 'dog' },
      { id: 'fine', image: png, className: 'dog' },
    ]);
    expect(records.map((r) => r.error?.code ?? r.raw)).toEqual([
      'CAPTION_ERR_IMAGE_FORMAT',
      'CAPTION_ERR_IMAGE_READ',
      'x',
    ]);
    const failing = fakeRuntime('x', { failGenerate: true });
    const broken = await createLocalBackend({
      modelDir: dir,
      loadTransformers: () => Promise.resolve(failing.runtime),
    });
    const [record] = await broken.caption([{ id: 'a', image: png, className: 'dog' }]);
    expect(record!.error?.code).toBe('CAPTION_ERR_GENERATE');
    expect(record!.error?.message).toContain('ORT run failed');
  });

  it('wraps a failed model load in CAPTION_ERR_MODEL_LOAD', async () => {
    const dir = folder({ model_type: 'qwen2_vl' }, QWEN_FILES);
    const { runtime } = fakeRuntime('x', { failLoad: true });
    const err = await rejection(
      createLocalBackend({ modelDir: dir, loadTransformers: () => Promise.resolve(runtime) }),
    );
    expect(err.code).toBe('CAPTION_ERR_MODEL_LOAD');
    expect(err.message).toContain('protobuf parsing failed');
  });
});
