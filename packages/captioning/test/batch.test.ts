import { afterEach, describe, expect, it } from '@jest/globals';
import { type ChatCompletionsServer, startChatCompletionsServer } from '@synood/testing';

import {
  type BackendRecord,
  type CaptionBackend,
  CaptionError,
  type CaptionItem,
  captionShard,
  OpenAiBackend,
} from '../src';
import { ScriptedBackend, solidPng } from './helpers';

const PIXEL = Buffer.from([0xff, 0xd8, 0xff, 0xe0]);
const item = (id: string, className = 'dog'): CaptionItem => ({ id, image: PIXEL, className });

let server: ChatCompletionsServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function rejection(p: Promise<unknown>): Promise<CaptionError> {
  try {
    await p;
  } catch (err) {
    return err as CaptionError;
  }
  throw new Error('expected a rejection');
}

describe('captionShard', () => {
  it('compat mode: the answer’s first 73 characters, parsed elements, per-image errors in place', async () => {
    const answer =
      ' bamboo, tourists, leaves, railing, rocks, a wooden fence, green grass, trees, a blue sky';
    const backend = new ScriptedBackend({
      a: answer,
      b: { code: 'CAPTION_ERR_TIMEOUT', message: 'b: no complete response' },
    });
    const records = await captionShard([item('a', 'giant panda'), item('b')], { backend });
    const { timings, seconds, ...record } = records[0]!;
    expect(record).toEqual({
      id: 'a',
      className: 'giant panda',
      raw: answer,
      elements: ['bamboo', 'tourists', 'leaves', 'railing', 'rocks', 'wooden fence', 'green grass', 'trees'],
      dropped: [{ item: 'blue sky', reason: 'over-cap' }],
      // Trimmed, then 73 characters: the cut falls inside "trees".
      prompt:
        'A photo only remain bamboo, tourists, leaves, railing, rocks, a wooden fence, green grass, tr.',
      backend: 'scripted',
      model: 'scripted-model',
      mode: 'compat',
    });
    expect([timings.captionMs, timings.attempts]).toEqual([2, 1]);
    expect(timings.parseMs).toBeGreaterThanOrEqual(0);
    expect(seconds).toBeCloseTo((2 + timings.parseMs) / 1000, 9);
    expect(records[1]).toMatchObject({
      id: 'b',
      elements: [],
      prompt: '',
      raw: '',
      error: { code: 'CAPTION_ERR_TIMEOUT', message: 'b: no complete response' },
    });
  });

  it('clean mode: class name, synonyms and class-name words dropped; parser limits apply', async () => {
    const backend = new ScriptedBackend({
      a: 'Dogs, a dog bowl, grass, hound, tennis ball, squeaky toy, leash',
    });
    const records = await captionShard([item('a')], {
      backend,
      mode: 'clean',
      synonymsOf: (c) => (c === 'dog' ? ['hound'] : []),
      parse: { maxElements: 4 },
    });
    expect(records[0]).toMatchObject({
      elements: ['bowl', 'grass', 'tennis ball', 'squeaky toy'],
      prompt: 'A photo only remain bowl, grass, tennis ball, squeaky toy.',
      mode: 'clean',
    });
    expect(records[0]!.dropped.map((d) => `${d.item}:${d.reason}`)).toEqual([
      'dogs:class-name',
      'hound:class-name',
      'leash:over-cap',
    ]);
  });

  it('clean mode fits the prompt to the token budget with the injected counter', async () => {
    const backend = new ScriptedBackend({ a: 'sofa, rug, lamp, window' });
    const words = (t: string): number => t.split(/[\s,.]+/).filter((w) => w !== '').length;
    const records = await captionShard([item('a', 'tabby cat')], {
      backend,
      mode: 'clean',
      countTokens: words,
      maxTokens: 8,
    });
    expect(records[0]!.prompt).toBe('A photo only remain sofa, rug.');
  });

  it('clean mode fails an image whose answer names only the main object', async () => {
    const backend = new ScriptedBackend({ a: 'a dog, Dogs, the dog.', b: 'kennel' });
    const records = await captionShard([item('a'), item('b')], { backend, mode: 'clean' });
    expect(records[0]!.error?.code).toBe('CAPTION_ERR_NO_ELEMENTS');
    expect(records[0]!.error?.message).toContain('"dog" (class-name)');
    expect(records[0]!.raw).toBe('a dog, Dogs, the dog.');
    expect(records[1]!.prompt).toBe('A photo only remain kennel.');
  });

  it('validates the shard before calling the backend', async () => {
    const backend = new ScriptedBackend({});
    expect((await rejection(captionShard([item('a'), item('a')], { backend }))).message).toMatch(
      /appears twice/,
    );
    expect((await rejection(captionShard([item('a', ' ')], { backend }))).code).toBe(
      'CAPTION_ERR_BAD_ARGUMENT',
    );
    const badMode = captionShard([item('a')], { backend, mode: 'fancy' as 'clean' });
    expect((await rejection(badMode)).message).toMatch(/mode must be one of compat, clean/);
    expect(backend.calls).toHaveLength(0);
  });

  it('rejects a backend that loses records', async () => {
    const lossy: CaptionBackend = {
      name: 'lossy',
      model: 'm',
      state: 'closed',
      caption: (): Promise<BackendRecord[]> => Promise.resolve([]),
      close: () => Promise.resolve(),
    };
    expect((await rejection(captionShard([item('a')], { backend: lossy }))).message).toMatch(
      /returned 0 records for 1 images/,
    );
  });

  it('runs an OpenAI-compatible endpoint end to end and records the served model', async () => {
    server = await startChatCompletionsServer({
      fallback: { kind: 'success', content: '1. Sofa\n2. Rug\n3. Cats', model: 'qwen2-vl-2b' },
    });
    const png = await solidPng(5, 5, 5);
    const backend = new OpenAiBackend({ endpoint: server.url, model: 'qwen2-vl' });
    const records = await captionShard([{ id: 'x', image: png, className: 'cat' }], {
      backend,
      mode: 'clean',
    });
    expect(records[0]).toMatchObject({
      elements: ['sofa', 'rug'],
      prompt: 'A photo only remain sofa, rug.',
      backend: 'openai',
      model: 'qwen2-vl-2b',
      timings: { attempts: 1 },
    });
  });

  it('surfaces a down endpoint as one retryable error instead of failing the images', async () => {
    server = await startChatCompletionsServer({ fallback: { kind: 'status', status: 503 } });
    const backend = new OpenAiBackend({
      endpoint: server.url,
      model: 'llava',
      breakerThreshold: 2,
      concurrency: 1,
      sleep: () => Promise.resolve(),
    });
    const err = await rejection(captionShard([item('a'), item('b'), item('c')], { backend }));
    expect(err).toBeInstanceOf(CaptionError);
    expect(err.code).toBe('CAPTION_ERR_UNAVAILABLE');
    expect(err.retryable).toBe(true);
    expect(server.requests).toHaveLength(2);
  });
});
