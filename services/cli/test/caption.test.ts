import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Env } from '@synood/config';
import { type ChatCompletionsServer, type ChatReply, startChatCompletionsServer } from '@synood/testing';
import { encodePng } from '@synood/vision';

import { registerCaptionCommand } from '../src/commands/caption';
import { buildProgram, runProgram } from '../src/program';

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function synood(env: Env, ...args: string[]): Promise<RunResult> {
  const out: string[] = [];
  const err: string[] = [];
  const program = buildProgram({ writeOut: (t) => out.push(t), writeErr: (t) => err.push(t) });
  registerCaptionCommand(program, { env });
  const code = await runProgram(program, args);
  return { code, stdout: out.join(''), stderr: err.join('') };
}

let dir = '';
let image = '';
let server: ChatCompletionsServer | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'synood-cli-caption-'));
  image = join(dir, 'n02084071_7.png');
  writeFileSync(image, await encodePng({ width: 2, height: 2, data: new Uint8Array(12).fill(90) }));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function endpoint(...replies: ChatReply[]): Promise<string> {
  server = await startChatCompletionsServer({ replies });
  return server.url;
}

const openai = (url: string, ...rest: string[]): string[] => [
  'caption',
  '--image',
  image,
  '--class',
  'dog',
  '--backend',
  'openai',
  '--endpoint',
  url,
  '--model',
  'llava-1.5',
  ...rest,
];

describe('synood caption --backend openai', () => {
  it('prints the elements and the compat prompt', async () => {
    const url = await endpoint({ kind: 'success', content: 'Leash, grass, a wooden fence' });
    const r = await synood({}, ...openai(url, '--no-wordnet'));
    expect(r).toEqual({
      code: 0,
      stderr: '',
      stdout:
        `image     ${image}\n` +
        'class     dog\n' +
        'backend   openai (llava-1.5)\n' +
        'mode      compat\n' +
        'elements  leash, grass, wooden fence\n' +
        'prompt    A photo only remain Leash, grass, a wooden fence.\n' +
        'raw       "Leash, grass, a wooden fence"\n',
    });
    const req = server!.requests[0]!;
    expect(req.model).toBe('llava-1.5');
    expect(req.imageUrls[0]!.startsWith('data:image/png;base64,')).toBe(true);
    expect(req.headers.authorization).toBeUndefined();
  });

  it('prints one JSON record in clean mode, dropping WordNet synonyms of the class', async () => {
    const url = await endpoint({
      kind: 'success',
      content: 'Dogs, domestic dog, Canis familiaris, leash, grass',
    });
    const r = await synood({}, ...openai(url, '--mode', 'clean', '--json'));
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const record = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(record).toMatchObject({
      id: 'n02084071_7.png',
      className: 'dog',
      elements: ['leash', 'grass'],
      prompt: 'A photo only remain leash, grass.',
      backend: 'openai',
      model: 'llava-1.5',
      mode: 'clean',
    });
    expect((record.dropped as { reason: string }[]).map((d) => d.reason)).toEqual([
      'class-name',
      'class-name',
      'class-name',
    ]);
  });

  it('sends the API key from the named environment variable', async () => {
    const url = await endpoint({ kind: 'success', content: 'sofa' });
    const r = await synood(
      { CAPTION_KEY: ' sk-local ' },
      ...openai(url, '--no-wordnet', '--api-key-env', 'CAPTION_KEY'),
    );
    expect(r.code).toBe(0);
    expect(server!.requests[0]!.headers.authorization).toBe('Bearer sk-local');
    const unset = await synood({}, ...openai(url, '--no-wordnet', '--api-key-env', 'CAPTION_KEY'));
    expect(unset.code).toBe(1);
    expect(unset.stderr).toBe(
      'error [CLI_ERR_ENV]: --api-key-env names CAPTION_KEY, but that environment variable is not set\n',
    );
  });

  it('retries a 429 and exits 1 with the image’s code when the answer is unusable', async () => {
    const url = await endpoint({ kind: 'status', status: 429, retryAfter: 0 }, { kind: 'malformed' });
    const r = await synood({}, ...openai(url, '--no-wordnet', '--json'));
    expect(r.code).toBe(1);
    expect(server!.requests).toHaveLength(2);
    expect(r.stderr).toMatch(
      /^error \[CAPTION_ERR_BAD_RESPONSE\]: n02084071_7\.png: the response is not JSON/,
    );
    const record = JSON.parse(r.stdout) as { error: { code: string }; prompt: string };
    expect(record.error.code).toBe('CAPTION_ERR_BAD_RESPONSE');
    expect(record.prompt).toBe('');
  });

  it('reports a missing image file', async () => {
    const url = await endpoint();
    const r = await synood(
      {},
      'caption',
      '--image',
      join(dir, 'nope.jpg'),
      ...openai(url, '--no-wordnet').slice(3),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error \[CAPTION_ERR_IMAGE_READ\]: cannot read image .*nope\.jpg/);
    expect(server!.requests).toHaveLength(0);
  });
});

describe('synood caption: usage and other backends', () => {
  it('rejects missing or bad options as usage errors', async () => {
    const noEndpoint = await synood(
      {},
      'caption',
      '--image',
      image,
      '--class',
      'dog',
      '--backend',
      'openai',
      '--no-wordnet',
    );
    expect(noEndpoint).toMatchObject({
      code: 2,
      stderr: 'error [CLI_ERR_USAGE]: --backend openai needs --endpoint URL and --model NAME\n',
    });
    const badMode = await synood({}, 'caption', '--image', image, '--class', 'dog', '--mode', 'fancy');
    expect(badMode.code).toBe(2);
    expect(badMode.stderr).toContain('--mode must be one of compat, clean');
    const badBackend = await synood(
      {},
      'caption',
      '--image',
      image,
      '--class',
      'dog',
      '--backend',
      'gpt',
      '--no-wordnet',
    );
    expect(badBackend.code).toBe(2);
    expect(badBackend.stderr).toContain('--backend must be one of openai, clip-tags, local');
    const noClass = await synood({}, 'caption', '--image', image);
    expect(noClass.code).toBe(2);
    expect(noClass.stderr).toContain("required option '--class <name>' not specified");
  });

  it('explains a missing local model folder', async () => {
    const modelDir = join(dir, 'Florence-2-base-ft');
    const r = await synood(
      {},
      'caption',
      '--image',
      image,
      '--class',
      'dog',
      '--backend',
      'local',
      '--model-dir',
      modelDir,
      '--no-wordnet',
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `error [CAPTION_ERR_MODEL_MISSING]: local model folder ${modelDir} does not exist`,
    );
    expect(r.stderr).toContain('onnx-community/Florence-2-base-ft');
  });
});
