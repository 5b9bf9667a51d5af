/**
 * @file The `openai` backend: any OpenAI-compatible chat-completions endpoint that takes images (vLLM or
 * SGLang serving LLaVA or Qwen2-VL, Ollama, llama.cpp's server, hosted APIs). One request per image, the
 * image as a base64 `data:` URL in an `image_url` content part.
 *
 * What users of such endpoints run into, and what is done about it here:
 * - a server that is down fails every request: a circuit breaker opens after N consecutive failures and
 *   the backend throws one retryable `CAPTION_ERR_UNAVAILABLE` instead of failing images (the stage
 *   pauses), then probes with one request after a cool-down;
 * - a server that hangs: every request has its own timeout (`AbortSignal.timeout`);
 * - overload: 429 and 5xx are retried with exponential backoff and full jitter, `Retry-After` (seconds or
 *   an HTTP date) is honoured, and a concurrency limit bounds the requests in flight;
 * - answers that are not what the protocol says (malformed JSON, no choices, empty text): a per-image
 *   coded error, the rest of the shard goes on;
 * - which model answered: the response's `model` field is recorded per image.
 */
import { setTimeout as delay } from 'node:timers/promises';

import {
  type BackendRecord,
  type BackendState,
  type CaptionBackend,
  type CaptionItem,
  imageDataUrl,
  throwIfAborted,
} from '../backend';
import { CaptionError, CaptionErrorCode, failureOf, hasCode, requireArg } from '../errors';
import { mapWithConcurrency } from '../pool';
import { captionQuestion, type QuestionOptions } from '../prompt';
import { type BreakerTicket, CircuitBreaker } from './breaker';

/** Options of {@link OpenAiBackend}. */
export interface OpenAiBackendOptions {
  /** Base URL (`http://host:8000/v1`) or the full `…/chat/completions` URL. */
  endpoint: string;
  /** The `model` sent with every request (as the server names it). */
  model: string;
  /** Sent as `Authorization: Bearer <key>` when set. */
  apiKey?: string;
  /** Per-request timeout, in ms. @defaultValue 60000 */
  timeoutMs?: number;
  /** Retries after a 429, 5xx, timeout or network failure. @defaultValue 4 */
  maxRetries?: number;
  /** Backoff before retry k (from 0) is uniform in [0, min(max, base·2^k)), in ms. @defaultValue 500 */
  backoffBaseMs?: number;
  /** @defaultValue 20000 */
  backoffMaxMs?: number;
  /** Longest `Retry-After` honoured, in ms; longer values are cut to it. @defaultValue 120000 */
  maxRetryAfterMs?: number;
  /** Requests in flight at once. @defaultValue 4 */
  concurrency?: number;
  /** Consecutive failed requests that open the breaker. @defaultValue 5 */
  breakerThreshold?: number;
  /** Time the breaker stays open before a probe, in ms. @defaultValue 30000 */
  breakerCooldownMs?: number;
  /** `max_tokens` of each request. @defaultValue 128 */
  maxTokens?: number;
  /** `temperature` of each request. @defaultValue 0 */
  temperature?: number;
  /** The question, as options of `captionQuestion` or a function of the class name. */
  question?: QuestionOptions | ((className: string) => string);
  /** An optional system message. */
  systemPrompt?: string;
  /** Extra request fields (`top_p`, vLLM's `repetition_penalty`, …); they cannot replace `messages`. */
  extraBody?: Readonly<Record<string, unknown>>;
  /** @defaultValue the global `fetch` */
  fetch?: typeof fetch;
  /** Clock of the breaker, in ms. @defaultValue `Date.now` */
  now?: () => number;
  /** Waits between retries; rejects when the signal fires. @defaultValue a timer */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Jitter source in [0, 1). @defaultValue `Math.random` */
  random?: () => number;
}

/** Outcome of one HTTP exchange. */
type Exchange =
  | { kind: 'answer'; text: string; model: string | undefined }
  /** The server answered, but not usably: a per-image failure, not retried. */
  | { kind: 'reject'; code: CaptionErrorCode; message: string }
  /** The server looks unhealthy: retried, counted by the breaker. */
  | { kind: 'retry'; code: CaptionErrorCode; message: string; retryAfterMs: number | undefined }
  | { kind: 'aborted' };

const SNIPPET = 200;

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > SNIPPET ? `${flat.slice(0, SNIPPET)}…` : flat;
}

/** `Retry-After` as ms from now: delay-seconds or an HTTP date; undefined when absent or malformed. */
export function parseRetryAfter(value: string | null, nowMs: number = Date.now()): number | undefined {
  if (value === null) {
    return undefined;
  }
  const v = value.trim();
  if (/^\d+(?:\.\d+)?$/.test(v)) {
    return Math.round(Number(v) * 1000);
  }
  const date = Date.parse(v);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

function errnoOf(err: unknown): string {
  // undici puts the socket error (ECONNREFUSED, ECONNRESET, …) on `cause`.
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      return code;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return err instanceof Error ? err.message : String(err);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The answer text of a chat-completions response body. */
function answerOf(body: string): Exchange {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return {
      kind: 'reject',
      code: CaptionErrorCode.BadResponse,
      message: `the response is not JSON: ${JSON.stringify(snippet(body))}`,
    };
  }
  if (!isRecord(json) || !Array.isArray(json.choices) || json.choices.length === 0) {
    return {
      kind: 'reject',
      code: CaptionErrorCode.BadResponse,
      message: `the response has no choices: ${JSON.stringify(snippet(body))}`,
    };
  }
  const choice: unknown = json.choices[0];
  const message = isRecord(choice) ? choice.message : undefined;
  const content = isRecord(message) ? message.content : undefined;
  let text: string;
  if (typeof content === 'string') {
    text = content;
  } else if (Array.isArray(content)) {
    // Some servers return content parts even for plain text.
    text = content.map((part) => (isRecord(part) && typeof part.text === 'string' ? part.text : '')).join('');
  } else if (content === null) {
    text = '';
  } else {
    return {
      kind: 'reject',
      code: CaptionErrorCode.BadResponse,
      message: `choices[0] has no message.content: ${JSON.stringify(snippet(body))}`,
    };
  }
  if (text.trim() === '') {
    const finish = isRecord(choice) ? choice.finish_reason : undefined;
    return {
      kind: 'reject',
      code: CaptionErrorCode.EmptyAnswer,
      message: `the model answered with empty text (finish_reason ${JSON.stringify(finish ?? null)})`,
    };
  }
  return { kind: 'answer', text, model: typeof json.model === 'string' ? json.model : undefined };
}

function chatUrl(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new CaptionError(
      CaptionErrorCode.BadArgument,
      `endpoint ${JSON.stringify(endpoint)} is not a URL; give the base URL, e.g. http://127.0.0.1:8000/v1`,
    );
  }
  requireArg(
    url.protocol === 'http:' || url.protocol === 'https:',
    `endpoint ${endpoint} must be an http or https URL`,
  );
  const base = url.toString().replace(/\/+$/, '');
  return base.endsWith('/chat/completions') ? base : `${base}/chat/completions`;
}

async function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  await delay(ms, undefined, { signal });
}

function positiveInt(name: string, v: number): number {
  requireArg(Number.isSafeInteger(v) && v >= 1, `${name} must be a positive integer, got ${v}`);
  return v;
}

function nonNegative(name: string, v: number): number {
  requireArg(Number.isFinite(v) && v >= 0, `${name} must be a non-negative number, got ${v}`);
  return v;
}

/** The `openai` backend; see the file notes. */
export class OpenAiBackend implements CaptionBackend {
  readonly name = 'openai';
  readonly model: string;
  /** The chat-completions URL requests go to. */
  readonly url: string;
  private readonly breaker: CircuitBreaker;
  private readonly options: OpenAiBackendOptions;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly concurrency: number;
  private readonly question: (className: string) => string;
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly random: () => number;

  /** @throws CaptionError `CAPTION_ERR_BAD_ARGUMENT` for a bad URL, empty model or out-of-range option. */
  constructor(options: OpenAiBackendOptions) {
    this.url = chatUrl(options.endpoint);
    requireArg(options.model.trim() !== '', 'the model name is empty; give the model the server serves');
    this.model = options.model;
    this.options = options;
    this.timeoutMs = positiveInt('timeoutMs', options.timeoutMs ?? 60_000);
    this.maxRetries = options.maxRetries ?? 4;
    requireArg(
      Number.isSafeInteger(this.maxRetries) && this.maxRetries >= 0,
      `maxRetries must be a non-negative integer, got ${this.maxRetries}`,
    );
    this.concurrency = positiveInt('concurrency', options.concurrency ?? 4);
    positiveInt('maxTokens', options.maxTokens ?? 128);
    nonNegative('backoffBaseMs', options.backoffBaseMs ?? 500);
    nonNegative('backoffMaxMs', options.backoffMaxMs ?? 20_000);
    nonNegative('maxRetryAfterMs', options.maxRetryAfterMs ?? 120_000);
    const q = options.question;
    this.question = typeof q === 'function' ? q : (className) => captionQuestion(className, q);
    this.fetchFn = options.fetch ?? fetch;
    this.sleep = options.sleep ?? defaultSleep;
    this.random = options.random ?? Math.random;
    this.breaker = new CircuitBreaker({
      failureThreshold: options.breakerThreshold ?? 5,
      cooldownMs: options.breakerCooldownMs ?? 30_000,
      ...(options.now === undefined ? {} : { now: options.now }),
      target: `captioning endpoint ${this.url}`,
    });
  }

  /** The breaker's state: `open` means the stage should pause (see {@link paused}). */
  get state(): BackendState {
    return this.breaker.state;
  }

  /** Whether the endpoint is considered down (breaker open): the caption stage should pause. */
  get paused(): boolean {
    return this.breaker.state === 'open';
  }

  /** Remaining breaker cool-down, in ms (0 unless open). */
  get retryAfterMs(): number {
    return this.breaker.retryAfterMs;
  }

  /**
   * Captions the items, `concurrency` requests at a time.
   *
   * @throws CaptionError `CAPTION_ERR_UNAVAILABLE` (retryable) when the breaker is or becomes open;
   * `CAPTION_ERR_ABORTED` when `signal` fires.
   */
  async caption(items: readonly CaptionItem[], signal?: AbortSignal): Promise<BackendRecord[]> {
    throwIfAborted(signal, 'captioning');
    if (items.length > 0 && this.breaker.state === 'open' && this.breaker.retryAfterMs > 0) {
      // Fail fast: not even the images are read while the endpoint is known to be down.
      throw this.breaker.unavailableError();
    }
    return mapWithConcurrency(items, this.concurrency, (item, _i, s) => this.captionOne(item, s), signal);
  }

  /** Nothing to release: `fetch` keeps no per-backend resources. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  /** The JSON body sent for one image. */
  requestBody(item: CaptionItem, dataUrl: string): string {
    const o = this.options;
    const messages: unknown[] = [];
    if (o.systemPrompt !== undefined) {
      messages.push({ role: 'system', content: o.systemPrompt });
    }
    messages.push({
      role: 'user',
      content: [
        { type: 'image_url', image_url: { url: dataUrl } },
        { type: 'text', text: this.question(item.className) },
      ],
    });
    return JSON.stringify({
      ...o.extraBody,
      model: this.model,
      messages,
      max_tokens: o.maxTokens ?? 128,
      temperature: o.temperature ?? 0,
      stream: false,
    });
  }

  private async captionOne(item: CaptionItem, signal: AbortSignal): Promise<BackendRecord> {
    const started = performance.now();
    const ms = (): number => performance.now() - started;
    let body: string;
    try {
      body = this.requestBody(item, await imageDataUrl(item));
    } catch (err) {
      return {
        id: item.id,
        raw: '',
        error: failureOf(err, CaptionErrorCode.ImageRead),
        ms: ms(),
        attempts: 0,
      };
    }
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(signal, `captioning ${item.id}`);
      const ticket = await this.breaker.acquire();
      const exchange = await this.send(body, signal);
      switch (exchange.kind) {
        case 'answer':
          this.breaker.success(ticket);
          return {
            id: item.id,
            raw: exchange.text,
            model: exchange.model ?? this.model,
            ms: ms(),
            attempts: attempt + 1,
          };
        case 'reject':
          this.breaker.success(ticket);
          return {
            id: item.id,
            raw: '',
            error: { code: exchange.code, message: `${item.id}: ${exchange.message}` },
            ms: ms(),
            attempts: attempt + 1,
          };
        case 'aborted':
          this.breaker.release(ticket);
          throw new CaptionError(CaptionErrorCode.Aborted, `captioning ${item.id} was aborted`, {
            cause: signal.reason,
          });
        case 'retry':
          break;
      }
      this.recordFailure(ticket, exchange.message);
      if (attempt >= this.maxRetries) {
        return {
          id: item.id,
          raw: '',
          error: {
            code: exchange.code,
            message: `${item.id}: ${exchange.message} (gave up after ${attempt + 1} attempts)`,
          },
          ms: ms(),
          attempts: attempt + 1,
        };
      }
      await this.wait(this.backoffMs(attempt, exchange.retryAfterMs), signal, item.id);
    }
  }

  private recordFailure(ticket: BreakerTicket, message: string): void {
    this.breaker.failure(ticket, message);
    if (this.breaker.state !== 'closed') {
      throw this.breaker.unavailableError();
    }
  }

  /** Delay before retry `attempt` (from 0): `Retry-After` when given, else full jitter. */
  backoffMs(attempt: number, retryAfterMs: number | undefined): number {
    if (retryAfterMs !== undefined) {
      return Math.min(retryAfterMs, this.options.maxRetryAfterMs ?? 120_000);
    }
    const base = this.options.backoffBaseMs ?? 500;
    const cap = Math.min(this.options.backoffMaxMs ?? 20_000, base * 2 ** attempt);
    return Math.floor(this.random() * cap);
  }

  private async wait(ms: number, signal: AbortSignal, id: string): Promise<void> {
    try {
      await this.sleep(ms, signal);
    } catch (err) {
      if (hasCode(err, CaptionErrorCode.Aborted)) {
        throw err;
      }
      throw new CaptionError(CaptionErrorCode.Aborted, `captioning ${id} was aborted during backoff`, {
        cause: signal.aborted ? signal.reason : err,
      });
    }
  }

  private async send(body: string, signal: AbortSignal): Promise<Exchange> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = AbortSignal.any([signal, timeout]);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json',
    };
    if (this.options.apiKey !== undefined && this.options.apiKey !== '') {
      headers.authorization = `Bearer ${this.options.apiKey}`;
    }
    const failed = (err: unknown): Exchange => {
      if (signal.aborted) {
        return { kind: 'aborted' };
      }
      if (timeout.aborted) {
        return {
          kind: 'retry',
          code: CaptionErrorCode.Timeout,
          message: `no complete response from ${this.url} within ${this.timeoutMs} ms`,
          retryAfterMs: undefined,
        };
      }
      return {
        kind: 'retry',
        code: CaptionErrorCode.Network,
        message: `request to ${this.url} failed: ${errnoOf(err)}`,
        retryAfterMs: undefined,
      };
    };
    let response: Response;
    let text: string;
    try {
      response = await this.fetchFn(this.url, { method: 'POST', headers, body, signal: combined });
      text = await response.text();
    } catch (err) {
      return failed(err);
    }
    const status = response.status;
    if (status === 429 || status === 408 || status >= 500) {
      const code =
        status === 429
          ? CaptionErrorCode.RateLimited
          : status === 408
            ? CaptionErrorCode.Timeout
            : CaptionErrorCode.Server;
      return {
        kind: 'retry',
        code,
        message: `${this.url} answered HTTP ${status}: ${JSON.stringify(snippet(text))}`,
        retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
      };
    }
    if (status < 200 || status >= 300) {
      const hint =
        status === 401 || status === 403
          ? ' (check the API key)'
          : status === 404
            ? ` (check the endpoint URL and that the server serves model ${this.model})`
            : '';
      return {
        kind: 'reject',
        code: CaptionErrorCode.HttpStatus,
        message: `${this.url} answered HTTP ${status}${hint}: ${JSON.stringify(snippet(text))}`,
      };
    }
    return answerOf(text);
  }
}
