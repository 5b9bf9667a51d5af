import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { type ChatCompletionsServer, type ChatReply, startChatCompletionsServer } from '@synood/testing';

import {
  CaptionError,
  type CaptionItem,
  captionQuestion,
  OpenAiBackend,
  type OpenAiBackendOptions,
  parseRetryAfter,
} from '../src';
import { solidJpeg, solidPng } from './helpers';

let server: ChatCompletionsServer | undefined;
let dir = '';
let png: Buffer = Buffer.alloc(0);
let jpegPath = '';
let jpeg: Buffer = Buffer.alloc(0);

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'synood-caption-openai-'));
  png = await solidPng(10, 200, 30);
  jpeg = await solidJpeg(200, 10, 30);
  jpegPath = path.join(dir, 'n02084071_1.JPEG');
  writeFileSync(jpegPath, jpeg);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(replies: ChatReply[] = [], fallback?: ChatReply): Promise<ChatCompletionsServer> {
  server = await startChatCompletionsServer({ replies, ...(fallback === undefined ? {} : { fallback }) });
  return server;
}

/** A fake clock and a sleep that only records the delays it was asked for. */
function timeControl(): {
  now: () => number;
  advance: (ms: number) => void;
  sleep: (ms: number) => Promise<void>;
  delays: number[];
} {
  let t = 1_000_000;
  const delays: number[] = [];
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
    delays,
  };
}

function backend(url: string, options: Partial<OpenAiBackendOptions> = {}): OpenAiBackend {
  return new OpenAiBackend({ endpoint: url, model: 'llava-test', ...options });
}

const item = (id: string, image: Buffer | string = png, className = 'dog'): CaptionItem => ({
  id,
  image,
  className,
});

async function codeOf(p: Promise<unknown>): Promise<{ code: string; retryable: boolean }> {
  try {
    await p;
  } catch (err) {
    const e = err as CaptionError;
    return { code: e.code, retryable: e.retryable };
  }
  throw new Error('expected a rejection');
}

describe('OpenAiBackend: requests', () => {
  it('sends each image as a base64 data URL with the question and model, and records the answers', async () => {
    const s = await start([
      { kind: 'success', content: 'leash, grass, fence' },
      { kind: 'success', content: 'sofa, rug', model: 'llava-v1.5-7b' },
    ]);
    const b = backend(s.url, { apiKey: 'sk-test', concurrency: 1 });
    const records = await b.caption([item('a'), item('b', jpegPath, 'tabby cat')]);
    expect(records.map((r) => [r.id, r.raw, r.model, r.attempts, r.error])).toEqual([
      ['a', 'leash, grass, fence', 'llava-test', 1, undefined],
      ['b', 'sofa, rug', 'llava-v1.5-7b', 1, undefined],
    ]);
    expect(s.requests).toHaveLength(2);
    const [r1, r2] = s.requests;
    expect(r1!.path).toBe('/v1/chat/completions');
    expect(r1!.model).toBe('llava-test');
    expect(r1!.headers.authorization).toBe('Bearer sk-test');
    expect(r1!.imageUrls).toEqual([`data:image/png;base64,${png.toString('base64')}`]);
    expect(r1!.texts).toEqual([captionQuestion('dog')]);
    expect(r2!.imageUrls).toEqual([`data:image/jpeg;base64,${jpeg.toString('base64')}`]);
    expect(r2!.texts).toEqual([captionQuestion('tabby cat')]);
    const body = r1!.body as { max_tokens: number; temperature: number; stream: boolean };
    expect([body.max_tokens, body.temperature, body.stream]).toEqual([128, 0, false]);
  });

  it('sends no Authorization header without an API key, a system prompt and extra fields when given', async () => {
    const s = await start();
    const b = backend(`${s.url}/chat/completions`, {
      systemPrompt: 'You list objects.',
      extraBody: { top_p: 0.5, model: 'ignored' },
      question: (c) => `around the ${c}?`,
    });
    await b.caption([item('a')]);
    const req = s.requests[0]!;
    expect(req.headers.authorization).toBeUndefined();
    expect(req.model).toBe('llava-test');
    expect(req.texts).toEqual(['You list objects.', 'around the dog?']);
    expect((req.body as { top_p: number }).top_p).toBe(0.5);
  });

  it('keeps at most `concurrency` requests in flight', async () => {
    const s = await start([], { kind: 'success', content: 'x', delayMs: 40 });
    const b = backend(s.url, { concurrency: 2 });
    const records = await b.caption(['a', 'b', 'c', 'd', 'e', 'f'].map((id) => item(id)));
    expect(records.map((r) => r.id)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(s.maxInFlight).toBe(2);
  });
});

describe('OpenAiBackend: retries', () => {
  it('honours Retry-After on 429, then succeeds', async () => {
    const s = await start([
      { kind: 'status', status: 429, retryAfter: 2 },
      { kind: 'success', content: 'bench, path' },
    ]);
    const t = timeControl();
    const records = await backend(s.url, { sleep: t.sleep, now: t.now }).caption([item('a')]);
    expect(records[0]).toMatchObject({ raw: 'bench, path', attempts: 2 });
    expect(t.delays).toEqual([2000]);
    expect(s.requests).toHaveLength(2);
  });

  it('backs off with full jitter on 5xx and network resets: random · min(max, base · 2^k)', async () => {
    const s = await start([
      { kind: 'status', status: 500 },
      { kind: 'reset' },
      { kind: 'status', status: 503 },
      { kind: 'success', content: 'shelf' },
    ]);
    const t = timeControl();
    const b = backend(s.url, {
      sleep: t.sleep,
      now: t.now,
      random: () => 0.5,
      backoffBaseMs: 100,
      backoffMaxMs: 300,
    });
    const records = await b.caption([item('a')]);
    expect(records[0]).toMatchObject({ raw: 'shelf', attempts: 4 });
    // 0.5 · 100, 0.5 · 200, 0.5 · min(300, 400).
    expect(t.delays).toEqual([50, 100, 150]);
  });

  it('records a per-image error when retries run out before the breaker opens', async () => {
    const s = await start([
      { kind: 'status', status: 502 },
      { kind: 'status', status: 502 },
    ]);
    const t = timeControl();
    const records = await backend(s.url, { sleep: t.sleep, maxRetries: 1, concurrency: 1 }).caption([
      item('a'),
      item('b'),
    ]);
    expect(records[0]!.error?.code).toBe('CAPTION_ERR_SERVER');
    expect(records[0]!.error?.message).toMatch(/HTTP 502.*gave up after 2 attempts/);
    expect(records[0]!.attempts).toBe(2);
    expect(records[1]).toMatchObject({ raw: 'tree, sky, grass', attempts: 1 });
  });

  it('times out a hanging request on every attempt and records CAPTION_ERR_TIMEOUT', async () => {
    const s = await start([{ kind: 'hang' }, { kind: 'hang' }]);
    const t = timeControl();
    const records = await backend(s.url, { timeoutMs: 150, maxRetries: 1, sleep: t.sleep }).caption([
      item('a'),
    ]);
    expect(records[0]!.error?.code).toBe('CAPTION_ERR_TIMEOUT');
    expect(records[0]!.error?.message).toMatch(/within 150 ms/);
    expect(records[0]!.attempts).toBe(2);
    expect(s.requests).toHaveLength(2);
  });

  it('reports an unreachable endpoint as CAPTION_ERR_NETWORK', async () => {
    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => {
        const p = (probe.address() as { port: number }).port;
        probe.close(() => {
          resolve(p);
        });
      });
    });
    const t = timeControl();
    const records = await backend(`http://127.0.0.1:${port}/v1`, { maxRetries: 1, sleep: t.sleep }).caption([
      item('a'),
    ]);
    expect(records[0]!.error?.code).toBe('CAPTION_ERR_NETWORK');
    expect(records[0]!.error?.message).toMatch(/ECONNREFUSED/);
  });
});

describe('OpenAiBackend: bad answers are per-image errors', () => {
  it('malformed JSON, no choices, null or blank content; the other images go on', async () => {
    const s = await start([
      { kind: 'malformed' },
      { kind: 'no-choices' },
      { kind: 'success', content: null },
      { kind: 'success', content: '   ' },
      { kind: 'success', content: 'lamp' },
    ]);
    const b = backend(s.url, { concurrency: 1 });
    const records = await b.caption(['a', 'b', 'c', 'd', 'e'].map((id) => item(id)));
    expect(records.map((r) => r.error?.code ?? r.raw)).toEqual([
      'CAPTION_ERR_BAD_RESPONSE',
      'CAPTION_ERR_BAD_RESPONSE',
      'CAPTION_ERR_EMPTY_ANSWER',
      'CAPTION_ERR_EMPTY_ANSWER',
      'lamp',
    ]);
    expect(records[0]!.error?.message).toMatch(/^a: the response is not JSON/);
    // Not retried: the server answered.
    expect(s.requests).toHaveLength(5);
    expect(b.state).toBe('closed');
  });

  it('does not retry 4xx other than 429 and says what to check', async () => {
    const s = await start([
      { kind: 'status', status: 401 },
      { kind: 'status', status: 404 },
      { kind: 'status', status: 400, body: 'image too large' },
    ]);
    const records = await backend(s.url, { concurrency: 1 }).caption([item('a'), item('b'), item('c')]);
    expect(records.map((r) => r.error?.code)).toEqual([
      'CAPTION_ERR_HTTP_STATUS',
      'CAPTION_ERR_HTTP_STATUS',
      'CAPTION_ERR_HTTP_STATUS',
    ]);
    expect(records[0]!.error?.message).toMatch(/HTTP 401 \(check the API key\)/);
    expect(records[1]!.error?.message).toMatch(/serves model llava-test/);
    expect(records[2]!.error?.message).toMatch(/HTTP 400: "image too large"/);
    expect(s.requests).toHaveLength(3);
  });

  it('fails unreadable and unknown images without a request', async () => {
    const s = await start();
    const records = await backend(s.url).caption([
      item('missing', path.join(dir, 'nope.jpg')),
      item('text', Buffer.from('not an image')),
    ]);
    expect(records.map((r) => [r.error?.code, r.attempts])).toEqual([
      ['CAPTION_ERR_IMAGE_READ', 0],
      ['CAPTION_ERR_IMAGE_FORMAT', 0],
    ]);
    expect(s.requests).toHaveLength(0);
  });
});

describe('OpenAiBackend: circuit breaker', () => {
  it('opens after N consecutive failures, then fails fast without requests', async () => {
    const s = await start([], { kind: 'status', status: 500 });
    const t = timeControl();
    const b = backend(s.url, {
      breakerThreshold: 3,
      breakerCooldownMs: 10_000,
      maxRetries: 10,
      concurrency: 1,
      sleep: t.sleep,
      now: t.now,
    });
    expect(await codeOf(b.caption([item('a'), item('b')]))).toEqual({
      code: 'CAPTION_ERR_UNAVAILABLE',
      retryable: true,
    });
    expect(s.requests).toHaveLength(3);
    expect(b.state).toBe('open');
    expect(b.paused).toBe(true);
    expect(b.retryAfterMs).toBe(10_000);

    t.advance(4_000);
    const err = await b.caption([item('c')]).catch((e: unknown) => e as CaptionError);
    expect(err).toBeInstanceOf(CaptionError);
    expect((err as CaptionError).code).toBe('CAPTION_ERR_UNAVAILABLE');
    expect((err as CaptionError).retryAfterMs).toBe(6_000);
    expect((err as CaptionError).message).toMatch(/circuit breaker is open.*HTTP 500.*next probe in 6 s/);
    expect(s.requests).toHaveLength(3);
  });

  it('lets one probe through after the cool-down and closes when it succeeds', async () => {
    const s = await start([], { kind: 'status', status: 500 });
    const t = timeControl();
    const b = backend(s.url, {
      breakerThreshold: 2,
      breakerCooldownMs: 1_000,
      concurrency: 2,
      sleep: t.sleep,
      now: t.now,
    });
    await expect(b.caption([item('a')])).rejects.toThrow(/unavailable/);
    expect(s.requests).toHaveLength(2);
    s.setFallback({ kind: 'success', content: 'fence', delayMs: 30 });
    t.advance(1_000);
    const records = await b.caption([item('a'), item('b'), item('c')]);
    expect(records.map((r) => r.raw)).toEqual(['fence', 'fence', 'fence']);
    expect(b.state).toBe('closed');
    expect(s.requests).toHaveLength(5);
  });

  it('opens again when the probe fails, after that single request', async () => {
    const s = await start([], { kind: 'status', status: 503 });
    const t = timeControl();
    const b = backend(s.url, {
      breakerThreshold: 2,
      breakerCooldownMs: 1_000,
      concurrency: 2,
      sleep: t.sleep,
      now: t.now,
    });
    await expect(b.caption([item('a')])).rejects.toThrow(CaptionError);
    expect(s.requests).toHaveLength(2);
    t.advance(1_500);
    expect(b.state).toBe('open');
    expect(await codeOf(b.caption([item('a'), item('b')]))).toEqual({
      code: 'CAPTION_ERR_UNAVAILABLE',
      retryable: true,
    });
    // Two items, two slots, but only the probe was sent: the other request waited for its outcome.
    expect(s.requests).toHaveLength(3);
    expect(b.state).toBe('open');
    expect(b.retryAfterMs).toBe(1_000);
  });

  it('resets the failure count on success', async () => {
    const s = await start([
      { kind: 'status', status: 500 },
      { kind: 'success', content: 'a1' },
      { kind: 'status', status: 500 },
      { kind: 'success', content: 'b1' },
    ]);
    const t = timeControl();
    const b = backend(s.url, { breakerThreshold: 2, concurrency: 1, sleep: t.sleep, now: t.now });
    const records = await b.caption([item('a'), item('b')]);
    expect(records.map((r) => r.raw)).toEqual(['a1', 'b1']);
    expect(b.state).toBe('closed');
  });
});

describe('OpenAiBackend: cancellation and options', () => {
  it('stops when the signal fires, before or during a request', async () => {
    const s = await start([{ kind: 'hang' }]);
    const b = backend(s.url);
    expect(await codeOf(b.caption([item('a')], AbortSignal.abort()))).toEqual({
      code: 'CAPTION_ERR_ABORTED',
      retryable: false,
    });
    const controller = new AbortController();
    const pending = b.caption([item('a')], controller.signal);
    setTimeout(() => {
      controller.abort();
    }, 50);
    expect(await codeOf(pending)).toEqual({ code: 'CAPTION_ERR_ABORTED', retryable: false });
    expect(b.state).toBe('closed');
  });

  it('rejects bad options with coded errors', () => {
    expect(() => new OpenAiBackend({ endpoint: 'not a url', model: 'm' })).toThrow(/is not a URL/);
    expect(() => new OpenAiBackend({ endpoint: 'ftp://host/v1', model: 'm' })).toThrow(/http or https/);
    expect(() => new OpenAiBackend({ endpoint: 'http://h/v1', model: ' ' })).toThrow(/model name is empty/);
    expect(() => new OpenAiBackend({ endpoint: 'http://h/v1', model: 'm', concurrency: 0 })).toThrow(
      CaptionError,
    );
  });

  it('builds the chat-completions URL from a base URL', () => {
    expect(backend('http://h:8000/v1/').url).toBe('http://h:8000/v1/chat/completions');
    expect(backend('http://h:8000/v1/chat/completions').url).toBe('http://h:8000/v1/chat/completions');
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('7')).toBe(7000);
    expect(parseRetryAfter('0.5')).toBe(500);
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});
