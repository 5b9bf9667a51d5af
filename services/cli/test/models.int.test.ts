import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { type HttpFixtureServer, startHttpFixtureServer } from '@synood/testing';

import { formatBytes, registerModelsCommand } from '../src/commands/models';
import { buildProgram, runProgram } from '../src/program';

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

const REV = 'v1.0';
const VISION = Buffer.from(Array.from({ length: 150_000 }, (_, i) => (i * 13 + 5) % 251));
const TOKENIZER = Buffer.from('{"model":{"type":"BPE","vocab":{}}}\n');
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

let server: HttpFixtureServer;
let dir: string;
let catalogFile: string;

async function synood(...args: string[]): Promise<RunResult> {
  const out: string[] = [];
  const err: string[] = [];
  const program = buildProgram({ writeOut: (t) => out.push(t), writeErr: (t) => err.push(t) });
  registerModelsCommand(program, { interactive: false });
  const code = await runProgram(program, args);
  return { code, stdout: out.join(''), stderr: err.join('') };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'synood-cli-models-'));
  server = await startHttpFixtureServer({
    files: {
      [`/cdn/acme/clip/${REV}/onnx/vision.onnx`]: VISION,
      [`/cdn/acme/clip/${REV}/tokenizer.json`]: TOKENIZER,
    },
    redirect: (path) => {
      const match = /^\/acme\/clip\/resolve\/([^/]+)\/(.+)$/.exec(path);
      return match === null ? undefined : `/cdn/acme/clip/${match[1]!}/${match[2]!}`;
    },
  });
  catalogFile = join(dir, 'catalog.json');
  await writeFile(
    catalogFile,
    JSON.stringify({
      version: 1,
      models: [
        {
          role: 'clip.vision',
          files: [
            {
              name: 'model',
              source: `hf://acme/clip@${REV}/onnx/vision.onnx`,
              path: 'acme/clip/onnx/vision.onnx',
              sha256: sha256(VISION),
              size: VISION.length,
            },
          ],
        },
        {
          role: 'clip.tokenizer',
          unverified: true,
          files: [
            {
              name: 'tokenizer',
              source: `hf://acme/clip@${REV}/tokenizer.json`,
              path: 'acme/clip/tokenizer.json',
            },
          ],
        },
        {
          role: 'classifier',
          exportRequired: { command: 'make-resnet --out {cache}/resnet/model.onnx' },
          files: [{ name: 'model', path: 'resnet/model.onnx' }],
        },
      ],
    }),
  );
});

afterEach(() => {
  server.reset();
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('synood models', () => {
  it('pulls from the loopback hub, then lists and verifies', async () => {
    const cache = join(dir, 'cache-a');
    const pulled = await synood(
      'models',
      'pull',
      '--catalog',
      catalogFile,
      '--cache',
      cache,
      '--endpoint',
      server.url,
    );
    expect(pulled.stderr).toBe('');
    expect(pulled.code).toBe(0);
    expect(pulled.stdout).toContain('✓ clip.vision model: downloaded (150.0 kB)');
    expect(pulled.stdout).toContain(`✓ clip.tokenizer tokenizer: downloaded (${TOKENIZER.length} B)`);
    expect(pulled.stdout).toContain('✓ classifier model: export-required (0 B)');
    expect(pulled.stdout).toContain(
      `cache: ${cache}\n2 downloaded, 0 copied, 0 already present, 1 to export\n`,
    );
    expect(pulled.stdout).toContain(
      `To export classifier (see docs/models.md), run:\n  make-resnet --out ${cache}/resnet/model.onnx\n`,
    );
    expect((await readFile(join(cache, 'acme', 'clip', 'onnx', 'vision.onnx'))).equals(VISION)).toBe(true);
    expect(server.requests.map((r) => r.status).sort()).toEqual([200, 200, 302, 302]);

    const listed = await synood('models', 'list', '--catalog', catalogFile, '--cache', cache);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toBe(
      `cache: ${cache}\n` +
        'ROLE            STATUS           SIZE      FILES\n' +
        'clip.vision     verified         150.0 kB  acme/clip/onnx/vision.onnx\n' +
        `clip.tokenizer  verified         ${formatBytes(TOKENIZER.length).padEnd(8)}  acme/clip/tokenizer.json\n` +
        'classifier      export-required  -         resnet/model.onnx\n' +
        '\n' +
        `To export classifier (see docs/models.md), run:\n  make-resnet --out ${cache}/resnet/model.onnx\n`,
    );

    const json = await synood('models', 'list', '--catalog', catalogFile, '--cache', cache, '--json');
    const parsed = JSON.parse(json.stdout) as {
      cacheDir: string;
      models: { role: string; status: string }[];
    };
    expect(parsed.cacheDir).toBe(cache);
    expect(parsed.models.map((m) => [m.role, m.status])).toEqual([
      ['clip.vision', 'verified'],
      ['clip.tokenizer', 'verified'],
      ['classifier', 'export-required'],
    ]);

    const verified = await synood(
      'models',
      'verify',
      'clip.vision',
      'clip.tokenizer',
      '--catalog',
      catalogFile,
      '--cache',
      cache,
    );
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain('clip.vision     model      verified    acme/clip/onnx/vision.onnx');
    expect(verified.stdout).toContain(
      'clip.tokenizer  tokenizer  unverified  no published hash; matches the pinned hash',
    );

    server.reset();
    const again = await synood(
      'models',
      'pull',
      'clip.vision',
      '--catalog',
      catalogFile,
      '--cache',
      cache,
      '--endpoint',
      server.url,
    );
    expect(again.stdout).toContain('0 downloaded, 0 copied, 1 already present, 0 to export');
    expect(server.requests).toHaveLength(0);
  });

  it('resumes after a cut connection and reports the retry', async () => {
    const cache = join(dir, 'cache-b');
    server.inject(`/cdn/acme/clip/${REV}/onnx/vision.onnx`, { kind: 'cut', afterBytes: 40_000 });
    const pulled = await synood(
      'models',
      'pull',
      'clip.vision',
      '--catalog',
      catalogFile,
      '--cache',
      cache,
      '--endpoint',
      server.url,
      '--concurrency',
      '1',
    );
    expect(pulled.code).toBe(0);
    expect(pulled.stdout).toMatch(
      /! clip\.vision model: attempt 2 in \d+\.\d s after \[MODELS_ERR_NETWORK\]/,
    );
    expect(server.requestsFor(`/cdn/acme/clip/${REV}/onnx/vision.onnx`).map((r) => r.headers.range)).toEqual([
      undefined,
      'bytes=40000-',
    ]);
    expect(sha256(await readFile(join(cache, 'acme', 'clip', 'onnx', 'vision.onnx')))).toBe(sha256(VISION));
  });

  it('fails verify on a corrupted file with a coded error and exit status 1', async () => {
    const cache = join(dir, 'cache-c');
    await synood(
      'models',
      'pull',
      'clip.vision',
      '--catalog',
      catalogFile,
      '--cache',
      cache,
      '--endpoint',
      server.url,
    );
    const corrupted = Buffer.from(VISION);
    corrupted[1234] = corrupted[1234]! ^ 0x01;
    await writeFile(join(cache, 'acme', 'clip', 'onnx', 'vision.onnx'), corrupted);
    const verified = await synood(
      'models',
      'verify',
      'clip.vision',
      '--catalog',
      catalogFile,
      '--cache',
      cache,
    );
    expect(verified.code).toBe(1);
    expect(verified.stdout).toContain(`mismatch  expected ${sha256(VISION)}, got ${sha256(corrupted)}`);
    expect(verified.stderr).toBe(
      'error [CLI_ERR_MODELS_UNVERIFIED]: 1 file(s) failed verification: clip.vision model (mismatch); ' +
        'run "synood models pull" (and the export commands of "synood models list") to fix them\n',
    );
  });

  it('fails offline without a request, listing the missing files', async () => {
    const cache = join(dir, 'cache-d');
    const pulled = await synood('models', 'pull', '--offline', '--catalog', catalogFile, '--cache', cache);
    expect(pulled.code).toBe(1);
    expect(pulled.stderr).toContain('error [MODELS_ERR_OFFLINE]: offline mode: 2 file(s) missing');
    expect(pulled.stderr).toContain(
      `clip.vision acme/clip/onnx/vision.onnx (hf://acme/clip@${REV}/onnx/vision.onnx)`,
    );
    expect(server.requests).toHaveLength(0);
  });

  it('reports bad input with coded errors', async () => {
    const cache = join(dir, 'cache-e');
    const role = await synood('models', 'pull', 'clip.image', '--catalog', catalogFile, '--cache', cache);
    expect(role).toMatchObject({ code: 1, stdout: '' });
    expect(role.stderr).toContain('error [MODELS_ERR_ROLE]: unknown model role "clip.image"');
    const usage = await synood(
      'models',
      'pull',
      '--concurrency',
      'many',
      '--catalog',
      catalogFile,
      '--cache',
      cache,
    );
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe(
      'error [CLI_ERR_USAGE]: --concurrency must be a whole number from 1 to 64, got "many"\n',
    );
    const catalog = await synood('models', 'list', '--catalog', join(dir, 'none.json'), '--cache', cache);
    expect(catalog.code).toBe(1);
    expect(catalog.stderr).toContain('error [MODELS_ERR_CATALOG]: catalog');
    expect(catalog.stderr).toContain('none.json: no such file');
  });

  it('lists the built-in catalog with its export commands on an empty cache', async () => {
    const cache = join(dir, 'cache-f');
    const listed = await synood('models', 'list', '--cache', cache);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(
      /^clip\.vision +missing +- +Xenova\/clip-vit-base-patch16\/onnx\/vision_model\.onnx$/m,
    );
    expect(listed.stdout).toMatch(
      /^sd\.unet +export-required +- +stable-diffusion-2-inpainting-onnx\/unet\/model\.onnx, /m,
    );
    expect(listed.stdout).toContain(
      'To export sd.text_encoder, sd.vae_encoder, sd.vae_decoder, sd.unet (see docs/models.md), run:\n' +
        `  optimum-cli export onnx --model stabilityai/stable-diffusion-2-inpainting --task inpainting ${cache}/stable-diffusion-2-inpainting-onnx/\n`,
    );
    expect(listed.stdout).toContain('To export classifier (see docs/models.md), run:');
  });
});

describe('formatBytes', () => {
  it('uses decimal units with one decimal', () => {
    expect([formatBytes(undefined), formatBytes(999), formatBytes(1000), formatBytes(345_060_000)]).toEqual([
      '-',
      '999 B',
      '1.0 kB',
      '345.1 MB',
    ]);
  });
});
