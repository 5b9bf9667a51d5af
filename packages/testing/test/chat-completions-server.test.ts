import { afterEach, describe, expect, it } from '@jest/globals';

import { type ChatCompletionsServer, startChatCompletionsServer } from '../src/chat-completions-server';

let server: ChatCompletionsServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

const chatBody = JSON.stringify({
  model: 'llava-test',
  messages: [
    { role: 'system', content: 'be brief' },
    {
      role: 'user',
      content: [
        { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
        { type: 'text', text: 'what is around the dog?' },
      ],
    },
  ],
});

async function post(url: string, body = chatBody, signal?: AbortSignal): Promise<Response> {
  return fetch(`${url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
    body,
    ...(signal === undefined ? {} : { signal }),
  });
}

describe('startChatCompletionsServer', () => {
  it('answers scripted replies in order, then the fallback', async () => {
    server = await startChatCompletionsServer({
      replies: [
        { kind: 'success', content: 'bamboo, railing' },
        { kind: 'status', status: 429, retryAfter: 3 },
        { kind: 'status', status: 500 },
      ],
      fallback: { kind: 'success', content: 'fallback', model: 'served-name' },
    });
    const r1 = await post(server.url);
    expect(r1.status).toBe(200);
    const j1 = (await r1.json()) as { model: string; choices: { message: { content: string } }[] };
    expect(j1.choices[0]!.message.content).toBe('bamboo, railing');
    expect(j1.model).toBe('llava-test');

    const r2 = await post(server.url);
    expect(r2.status).toBe(429);
    expect(r2.headers.get('retry-after')).toBe('3');
    await r2.text();

    const r3 = await post(server.url);
    expect(r3.status).toBe(500);
    await r3.text();

    const r4 = await post(server.url);
    const j4 = (await r4.json()) as { model: string; choices: { message: { content: string } }[] };
    expect(j4.choices[0]!.message.content).toBe('fallback');
    expect(j4.model).toBe('served-name');
  });

  it('logs the model, image URLs, texts and headers of each request', async () => {
    server = await startChatCompletionsServer();
    await (await post(server.url)).text();
    expect(server.requests).toHaveLength(1);
    const req = server.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/v1/chat/completions');
    expect(req.model).toBe('llava-test');
    expect(req.imageUrls).toEqual(['data:image/png;base64,AAAA']);
    expect(req.texts).toEqual(['be brief', 'what is around the dog?']);
    expect(req.headers.authorization).toBe('Bearer k');
    expect(req.rawBody).toBe(chatBody);
  });

  it('sends malformed JSON and responses without choices', async () => {
    server = await startChatCompletionsServer({ replies: [{ kind: 'malformed' }, { kind: 'no-choices' }] });
    const bad = await (await post(server.url)).text();
    expect(() => JSON.parse(bad) as unknown).toThrow();
    const empty = (await (await post(server.url)).json()) as { choices: unknown[] };
    expect(empty.choices).toEqual([]);
  });

  it('hangs until the client gives up, and close() ends hung requests', async () => {
    server = await startChatCompletionsServer({ replies: [{ kind: 'hang' }, { kind: 'hang' }] });
    await expect(post(server.url, chatBody, AbortSignal.timeout(100))).rejects.toThrow();
    const pending = post(server.url);
    // Wait until the second request is in the server's hands before closing.
    for (let i = 0; i < 100 && server.inFlight === 0; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(server.inFlight).toBe(1);
    await server.close();
    server = undefined;
    await expect(pending).rejects.toThrow();
  });

  it('resets the connection', async () => {
    server = await startChatCompletionsServer({ replies: [{ kind: 'reset' }] });
    await expect(post(server.url)).rejects.toThrow();
  });

  it('tracks requests in flight at once', async () => {
    server = await startChatCompletionsServer({ fallback: { kind: 'success', content: 'x', delayMs: 60 } });
    const url = server.url;
    await Promise.all([post(url), post(url), post(url)].map(async (p) => (await p).text()));
    expect(server.maxInFlight).toBe(3);
    expect(server.inFlight).toBe(0);
  });

  it('answers 404 on other routes without using the script', async () => {
    server = await startChatCompletionsServer({ replies: [{ kind: 'success', content: 'first' }] });
    const r = await fetch(`${server.url}/models`);
    expect(r.status).toBe(404);
    await r.text();
    const j = (await (await post(server.url)).json()) as { choices: { message: { content: string } }[] };
    expect(j.choices[0]!.message.content).toBe('first');
  });
});
