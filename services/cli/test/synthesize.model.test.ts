import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { InpaintingPipeline, SynOodSynthesizer, buildGuidanceModel } from '@synood/diffusion';
import { modelToBytes, readModel, writeFixture, writeModel } from '@synood/graph';
import { ClipTokenizer, clipLetterVocab, clipTokenizerJson } from '@synood/models';
import { createSession, releaseSession } from '@synood/onnx';
import { decodeImage, encodePng } from '@synood/vision';

import { registerSynthesizeCommand } from '../src/commands/synthesize';
import { type CliRun, runCli } from './support/run-cli';

let dir: string;
const files: Record<string, string> = {};
const SD = { width: 8, groups: 2, factor: 2, hidden: 16, heads: 2 };

/** A CLIP-style tokenizer.json: letters a–z (ids 0–25), word-final letters (26–51), '.', start, end. */
function tinyTokenizerJson(): Record<string, unknown> {
  return clipTokenizerJson({ ...clipLetterVocab(), '.': 52, '.</w>': 53 }, []);
}

function testImage(width: number, height: number): { width: number; height: number; data: Uint8Array } {
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const x = p % width;
    const y = Math.floor(p / width);
    data.set([(x * 255) / (width - 1), (y * 255) / (height - 1), 128 + ((x * y) % 64)], 3 * p);
  }
  return { width, height, data };
}

const synood = (args: string[]): Promise<CliRun> =>
  runCli((program) => {
    registerSynthesizeCommand(program, { interactive: false });
  }, args);

const modelArgs = (): string[] => [
  '--unet',
  files.unet!,
  '--vae-encoder',
  files.encoder!,
  '--vae-decoder',
  files.decoder!,
  '--text-encoder',
  files.text!,
  '--tokenizer',
  files.tokenizer!,
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'synood-synthesize-cli-'));
  files.unet = await writeFixture('unet', SD, dir);
  files.encoder = await writeFixture('vae-encoder', SD, dir);
  files.decoder = await writeFixture('vae-decoder', SD, dir);
  files.text = await writeFixture('sd-text-encoder', SD, dir);
  files.classifier = await writeFixture('resnet', { width: 4 }, dir);
  files.tokenizer = join(dir, 'tokenizer.json');
  await writeFile(files.tokenizer, JSON.stringify(tinyTokenizerJson()));
  files.image = join(dir, 'input.png');
  await writeFile(files.image, await encodePng(testImage(40, 30)));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('synood synthesize', () => {
  it('writes the image the library gives for the same settings, with a JSON manifest', async () => {
    const out = join(dir, 'out.png');
    const json = join(dir, 'out.json');
    const r = await synood([
      'synthesize',
      '--image',
      files.image!,
      '--caption',
      'grass, fence, sky and a long wooden railing near the river bank at dusk, stones',
      '--out',
      out,
      '--size',
      '32',
      '--seed',
      '4',
      '--classifier',
      files.classifier!,
      '--threads',
      '1',
      '--json',
      json,
      ...modelArgs(),
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /^wrote .*out\.png \(32×32 PNG, \d+ bytes\) in [\d.]+ s; loss per iteration: [\d.]+ → [\d.]+\n$/,
    );
    const written = await decodeImage(await readFile(out), 'out.png');
    expect([written.width, written.height]).toEqual([32, 32]);
    const manifest = JSON.parse(await readFile(json, 'utf8')) as {
      id: string;
      prompt: string;
      losses: number[];
      seeds: { noise: string };
    };
    expect(manifest.id).toBe('input.png');
    // compat: the first 73 characters of the 79-character caption.
    expect(manifest.prompt).toBe(
      'A photo only remain grass, fence, sky and a long wooden railing near the river bank at dusk, .',
    );
    expect(manifest.losses).toHaveLength(2);
    expect(manifest.seeds.noise).toBe('4:synthesize:input.png:noise');

    // The same run through the library: the CLI adds nothing of its own to the pixels.
    const tokenizer = await ClipTokenizer.fromFile(files.tokenizer!, { padId: 0 });
    const config = { intraOpThreads: 1 };
    const models = {
      textEncoder: await createSession(files.text!, config),
      vaeEncoder: await createSession(files.encoder!, config),
      vaeDecoder: await createSession(files.decoder!, config),
      unet: await createSession(files.unet!, config),
    };
    const grad = await createSession(
      modelToBytes(
        buildGuidanceModel({
          classifier: await readModel(files.classifier!),
          decoder: await readModel(files.decoder!),
          latentShape: [4, 16, 16],
        }),
      ),
      config,
    );
    try {
      const pipeline = new InpaintingPipeline(
        models,
        { encodeIds: (texts) => tokenizer.encode(texts) },
        { width: 32, height: 32 },
      );
      const [expected] = await new SynOodSynthesizer(pipeline, grad, { seed: 4, format: 'png' }).synthesize([
        {
          id: 'input.png',
          image: await decodeImage(await readFile(files.image!), 'in'),
          prompt: manifest.prompt,
        },
      ]);
      expect(Array.from(written.data)).toEqual(Array.from(expected!.image.data));
      expect(manifest.losses).toEqual(expected!.losses);
    } finally {
      for (const s of [...Object.values(models), grad]) {
        await releaseSession(s);
      }
    }
  });

  it('takes a prebuilt gradient model and a verbatim prompt, and writes JPEG', async () => {
    const gradFile = join(dir, 'grad.onnx');
    await writeModel(
      gradFile,
      buildGuidanceModel({
        classifier: await readModel(files.classifier!),
        decoder: await readModel(files.decoder!),
        latentShape: [4, 8, 8],
      }),
    );
    const out = join(dir, 'out.jpg');
    const r = await synood([
      'synthesize',
      '--image',
      files.image!,
      '--prompt',
      'A photo only remain sky.',
      '--out',
      out,
      '--size',
      '16',
      '--iterations',
      '1',
      '--scheduler',
      'ddim',
      '--gradient',
      gradFile,
      ...modelArgs(),
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('(16×16 JPEG');
    expect(r.out).toContain('loss per iteration: -');
    expect((await decodeImage(await readFile(out), 'out.jpg')).format).toBe('jpeg');
  });

  it('reports usage errors and missing files with codes', async () => {
    const base = ['synthesize', '--image', files.image!, '--out', join(dir, 'x.png'), ...modelArgs()];
    const cases: [string[], RegExp][] = [
      [[...base, '--classifier', files.classifier!], /CLI_ERR_USAGE.*--prompt and --caption/],
      [[...base, '--prompt', 'p'], /CLI_ERR_USAGE.*--classifier and --gradient/],
      [
        [...base, '--prompt', 'p', '--classifier', files.classifier!, '--size', '30'],
        /CLI_ERR_USAGE.*multiple of 8/,
      ],
      [
        [
          'synthesize',
          '--image',
          files.image!,
          '--out',
          join(dir, 'x.gif'),
          '--prompt',
          'p',
          '--classifier',
          'c',
          ...modelArgs(),
        ],
        /CLI_ERR_USAGE.*\.png/,
      ],
      [
        [...base, '--prompt', 'p', '--classifier', files.classifier!, '--unet', join(dir, 'missing.onnx')],
        /CLI_ERR_NOT_FOUND.*missing\.onnx/,
      ],
      [
        [...base, '--prompt', 'p', '--classifier', files.classifier!, '--unet', files.decoder!],
        /DIFFUSION_ERR_MODEL/,
      ],
    ];
    for (const [args, pattern] of cases) {
      const r = await synood(args);
      expect(r.code).toBeGreaterThan(0);
      expect(r.err).toMatch(pattern);
    }
  });
});
