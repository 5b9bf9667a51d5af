/**
 * @file A loopback server speaking the OpenAI chat-completions protocol, for testing clients of
 * vision-language model endpoints without a model or the network. Each request to `…/chat/completions`
 * gets the next scripted reply: a success with given content, an error status (429 with `Retry-After`,
 * 500, …), a hang that never answers, malformed JSON, a response without choices, or a reset connection.
 * Every request is logged with its parsed body, the `model` asked for, the image URLs and texts of its
 * messages, so tests can assert what the client sent.
 *
 * ```ts
 * const server = await startChatCompletionsServer({
 *   replies: [{ kind: 'status', status: 429, retryAfter: 1 }, { kind: 'success', content: 'sky, grass' }],
 * });
 * // … point the client at server.url (`http://127.0.0.1:<port>/v1`) …
 * expect(server.requests[0]?.imageUrls[0]).toMatch(/^data:image\/png;base64,/);
 * await server.close();
 * ```
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the server answers to one chat-completions request. */
export type ChatReply =
  /** 200 with one choice whose `message.content` is `content` (`null` is sent as JSON null). */
  | {
      readonly kind: 'success';
      readonly content: string | null;
      /** The response's `model`. @defaultValue the model the request asked for */
      readonly model?: string;
      /** @defaultValue `'stop'` */
      readonly finishReason?: string;
      /** Wait before answering, in ms. */
      readonly delayMs?: number;
    }
  /** This status with an OpenAI-style error body (or `body`), and `Retry-After` when given. */
  | {
      readonly kind: 'status';
      readonly status: number;
      /** Seconds (a number) or any header value (an HTTP date). */
      readonly retryAfter?: number | string;
      readonly body?: string;
      readonly delayMs?: number;
    }
  /** Never answer; the connection stays open until the client gives up or the server closes. */
  | { readonly kind: 'hang' }
  /** 200 with a body that is not JSON. @defaultValue body `{"choices": [` */
  | { readonly kind: 'malformed'; readonly body?: string }
  /** 200 with valid JSON and an empty `choices` array. */
  | { readonly kind: 'no-choices' }
  /** Destroy the socket without answering (the client sees a network error). */
  | { readonly kind: 'reset' };

/** One logged request. */
export interface ChatRequest {
  /** Position among all requests, from 0. */
  readonly index: number;
  readonly method: string;
  /** The URL path. */
  readonly path: string;
  /** Request headers, names in lower case. */
  readonly headers: IncomingHttpHeaders;
  /** The body as sent. */
  readonly rawBody: string;
  /** The parsed JSON body; undefined when it is not JSON. */
  readonly body: unknown;
  /** The body's `model`. */
  readonly model: string | undefined;
  /** `image_url.url` of every image content part, in message order. */
  readonly imageUrls: readonly string[];
  /** Every text content (string contents and `text` parts), in message order. */
  readonly texts: readonly string[];
}

/** Options of {@link startChatCompletionsServer}. */
export interface ChatCompletionsServerOptions {
  /** Replies in order, one per chat request; once they are used up, the fallback answers. */
  readonly replies?: readonly ChatReply[];
  /** The reply once `replies` is used up, or a function of the request. @defaultValue a success with `'tree, sky, grass'` */
  readonly fallback?: ChatReply | ((request: ChatRequest) => ChatReply);
}

/** A running server; see the file notes. */
export interface ChatCompletionsServer {
  /** Base URL with the `/v1` prefix, e.g. `http://127.0.0.1:43121/v1`. */
  readonly url: string;
  /** Every request received, chat or not, in arrival order. */
  readonly requests: readonly ChatRequest[];
  /** Chat requests being handled right now (hangs and delays included). */
  readonly inFlight: number;
  /** The most chat requests in flight at once so far. */
  readonly maxInFlight: number;
  /** Appends replies to the script (used before the fallback). */
  enqueue(...replies: ChatReply[]): void;
  /** Replaces the reply used once the script is exhausted. */
  setFallback(fallback: ChatReply | ((request: ChatRequest) => ChatReply)): void;
  /** Stops the server and cuts every open connection (hung requests included). */
  close(): Promise<void>;
}

const DEFAULT_FALLBACK: ChatReply = { kind: 'success', content: 'tree, sky, grass' };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Image URLs and texts of a chat-completions body's messages. */
function contentsOf(body: unknown): { imageUrls: string[]; texts: string[] } {
  const imageUrls: string[] = [];
  const texts: string[] = [];
  const messages = isRecord(body) && Array.isArray(body.messages) ? (body.messages as unknown[]) : [];
  for (const message of messages) {
    const content = isRecord(message) ? message.content : undefined;
    if (typeof content === 'string') {
      texts.push(content);
    } else if (Array.isArray(content)) {
      for (const part of content as unknown[]) {
        if (!isRecord(part)) {
          continue;
        }
        if (part.type === 'text' && typeof part.text === 'string') {
          texts.push(part.text);
        } else if (part.type === 'image_url') {
          const image = part.image_url;
          const url = isRecord(image) ? image.url : image;
          if (typeof url === 'string') {
            imageUrls.push(url);
          }
        }
      }
    }
  }
  return { imageUrls, texts };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed || res.writableEnded) {
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(body);
}

function wait(ms: number | undefined): Promise<void> {
  return ms === undefined || ms <= 0 ? Promise.resolve() : new Promise((r) => setTimeout(r, ms));
}

/**
 * Starts the server on 127.0.0.1 with a free port. Requests to paths ending in `/chat/completions` (POST)
 * are answered from the script; others get 404.
 */
export async function startChatCompletionsServer(
  options: ChatCompletionsServerOptions = {},
): Promise<ChatCompletionsServer> {
  const script: ChatReply[] = [...(options.replies ?? [])];
  let fallback = options.fallback ?? DEFAULT_FALLBACK;
  const requests: ChatRequest[] = [];
  const counters = { inFlight: 0, maxInFlight: 0 };

  const answer = async (reply: ChatReply, request: ChatRequest, res: ServerResponse): Promise<void> => {
    switch (reply.kind) {
      case 'success': {
        await wait(reply.delayMs);
        const body = {
          id: `chatcmpl-test-${request.index}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: reply.model ?? request.model ?? 'test-model',
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: reply.content },
              finish_reason: reply.finishReason ?? 'stop',
            },
          ],
          usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
        };
        sendJson(res, 200, JSON.stringify(body));
        return;
      }
      case 'status': {
        await wait(reply.delayMs);
        const headers: Record<string, string> =
          reply.retryAfter === undefined ? {} : { 'retry-after': String(reply.retryAfter) };
        const body =
          reply.body ??
          JSON.stringify({
            error: { message: `scripted status ${reply.status}`, type: 'test', code: reply.status },
          });
        sendJson(res, reply.status, body, headers);
        return;
      }
      case 'hang':
        // Left open on purpose; close() cuts it.
        return;
      case 'malformed':
        sendJson(res, 200, reply.body ?? '{"choices": [');
        return;
      case 'no-choices':
        sendJson(res, 200, JSON.stringify({ id: 'chatcmpl-empty', object: 'chat.completion', choices: [] }));
        return;
      case 'reset':
        res.socket?.destroy();
        return;
    }
  };

  const server = createServer((req, res) => {
    void (async () => {
      const rawBody = await readBody(req);
      let body: unknown;
      try {
        body = JSON.parse(rawBody);
      } catch {
        body = undefined;
      }
      const path = (req.url ?? '/').split('?')[0]!;
      const { imageUrls, texts } = contentsOf(body);
      const request: ChatRequest = {
        index: requests.length,
        method: req.method ?? '',
        path,
        headers: req.headers,
        rawBody,
        body,
        model: isRecord(body) && typeof body.model === 'string' ? body.model : undefined,
        imageUrls,
        texts,
      };
      requests.push(request);
      if (req.method !== 'POST' || !path.endsWith('/chat/completions')) {
        sendJson(res, 404, JSON.stringify({ error: { message: `no route ${req.method ?? ''} ${path}` } }));
        return;
      }
      const scripted = script.shift();
      const reply = scripted ?? (typeof fallback === 'function' ? fallback(request) : fallback);
      counters.inFlight++;
      counters.maxInFlight = Math.max(counters.maxInFlight, counters.inFlight);
      res.once('close', () => {
        counters.inFlight--;
      });
      await answer(reply, request, res);
    })().catch((err: unknown) => {
      sendJson(res, 500, JSON.stringify({ error: { message: `test server failed: ${String(err)}` } }));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    get inFlight() {
      return counters.inFlight;
    },
    get maxInFlight() {
      return counters.maxInFlight;
    },
    enqueue: (...replies) => {
      script.push(...replies);
    },
    setFallback: (f) => {
      fallback = f;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => {
          if (err === undefined) {
            resolve();
          } else {
            reject(err);
          }
        });
        server.closeAllConnections();
      }),
  };
}
