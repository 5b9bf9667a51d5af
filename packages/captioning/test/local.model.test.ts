/**
 * The `local` backend's loading path through the real `@huggingface/transformers`, as far as fixtures
 * allow without a real vision-language model: a Florence-2-shaped folder with a real (tiny) tokenizer and
 * processor config, whose ONNX sessions are either not ONNX at all or valid models with the wrong inputs.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { env } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { buildModel } from '@synood/onnx';

import { type CaptionError, createLocalBackend } from '../src';
import { solidPng } from './helpers';

let root = '';

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'synood-caption-transformers-'));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

const SESSIONS = ['embed_tokens', 'decoder_model_merged', 'vision_encoder', 'encoder_model'];

/** A Florence-2 folder in the transformers.js layout whose onnx/ files hold `onnx`. */
function florenceFolder(name: string, onnx: Uint8Array | string): string {
  const dir = path.join(root, name);
  mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  const json = (file: string, value: unknown): void => {
    writeFileSync(path.join(dir, file), JSON.stringify(value));
  };
  json('config.json', {
    model_type: 'florence2',
    architectures: ['Florence2ForConditionalGeneration'],
    is_encoder_decoder: true,
    text_config: { model_type: 'florence2_language', d_model: 8, encoder_layers: 1, decoder_layers: 1 },
    vision_config: {},
  });
  json('preprocessor_config.json', {
    processor_class: 'Florence2Processor',
    image_processor_type: 'CLIPImageProcessor',
    do_resize: true,
    size: { height: 8, width: 8 },
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: [0.5, 0.5, 0.5],
    image_std: [0.5, 0.5, 0.5],
  });
  json('tokenizer.json', {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab: { '<unk>': 0, table: 1 }, unk_token: '<unk>' },
  });
  json('tokenizer_config.json', { tokenizer_class: 'BartTokenizer' });
  for (const s of SESSIONS) {
    writeFileSync(path.join(dir, 'onnx', `${s}.onnx`), onnx);
  }
  return dir;
}

describe('LocalBackend with @huggingface/transformers', () => {
  it('reports an export whose ONNX files do not parse as CAPTION_ERR_MODEL_LOAD, offline', async () => {
    const dir = florenceFolder('Florence-2-broken', 'not an onnx model');
    let err: CaptionError | undefined;
    try {
      await createLocalBackend({ modelDir: dir });
    } catch (e) {
      err = e as CaptionError;
    }
    expect(err?.code).toBe('CAPTION_ERR_MODEL_LOAD');
    expect(err?.message).toContain(path.join(dir, 'onnx'));
    expect(err?.message).toMatch(/Protobuf parsing failed/);
    // The library was told never to reach the network, and where the models live.
    expect(env.allowRemoteModels).toBe(false);
    expect(env.localModelPath).toBe(`${root}${path.sep}`);
  });

  it('loads a folder of valid sessions and turns a failed generation into a per-image error', async () => {
    const identity = buildModel({
      nodes: [{ opType: 'Identity', inputs: ['x'], outputs: ['y'] }],
      inputs: [{ name: 'x', dims: [1] }],
      outputs: [{ name: 'y', dims: [1] }],
    });
    const dir = florenceFolder('Florence-2-wrong-io', identity);
    const backend = await createLocalBackend({ modelDir: dir, maxNewTokens: 4 });
    expect(backend.model).toBe('Florence-2-wrong-io');
    expect(backend.check.family).toBe('florence2');
    const records = await backend.caption([{ id: 'a', image: await solidPng(9, 9, 9), className: 'dog' }]);
    expect(records).toHaveLength(1);
    expect(records[0]!.error?.code).toBe('CAPTION_ERR_GENERATE');
    expect(records[0]!.error?.message).toContain('Florence-2-wrong-io failed on a (');
    await backend.close();
  });
});
