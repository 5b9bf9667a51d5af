import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import {
  DEFAULT_MODEL_CATALOG,
  DEFAULT_MODEL_CATALOG_JSON,
  MODEL_ROLES,
  ModelRegistryError,
  defaultModelCacheDir,
  exportCommandFor,
  loadModelCatalog,
  parseModelCatalog,
  resolveModelPath,
} from '../src/registry';

const SHA = 'ab'.repeat(32);

function errorOf(fn: () => unknown): ModelRegistryError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ModelRegistryError);
    return error as ModelRegistryError;
  }
  throw new Error('expected a throw');
}

/** A valid one-entry catalog to mutate. */
function catalog(overrides: Record<string, unknown> = {}, file: Record<string, unknown> = {}): unknown {
  return {
    version: 1,
    models: [
      {
        role: 'clip.vision',
        files: [
          { source: 'hf://o/r@main/onnx/v.onnx', path: 'o/r/onnx/v.onnx', sha256: SHA, size: 10, ...file },
        ],
        ...overrides,
      },
    ],
  };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'synood-catalog-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('parseModelCatalog', () => {
  it('accepts a valid catalog, defaulting the file name to the base name', () => {
    const parsed = parseModelCatalog(catalog(), 'my.json');
    expect(parsed.models).toHaveLength(1);
    expect(parsed.models[0]).toMatchObject({ role: 'clip.vision', unverified: false });
    expect(parsed.models[0]!.files[0]).toMatchObject({
      name: 'v.onnx',
      path: 'o/r/onnx/v.onnx',
      sha256: SHA,
      size: 10,
      source: { scheme: 'hf', owner: 'o', repo: 'r', revision: 'main', path: 'onnx/v.onnx' },
    });
  });

  it.each([
    [{ role: 'clip.image' }, {}, 'models[0].role: must be one of clip.vision'],
    [{}, { sha256: 'ABC' }, 'models[0].files[0].sha256: must be 64 lower-case hexadecimal characters'],
    [
      {},
      { sha256: undefined },
      'models[0].files[0].sha256: is required unless the entry is marked "unverified"',
    ],
    [
      {},
      { source: undefined },
      'models[0].files[0].source: is required unless the entry has "exportRequired"',
    ],
    [{}, { path: '../escape.onnx' }, 'models[0].files[0].path: must be a relative POSIX path'],
    [{}, { path: '/abs/v.onnx' }, 'models[0].files[0].path: must be a relative POSIX path'],
    [{}, { size: -1 }, 'models[0].files[0].size: must not be negative'],
    [{}, { size: 1.5 }, 'models[0].files[0].size: must be a whole number of bytes'],
    [{}, { sizes: 3 }, 'models[0].files[0]: Unrecognized key: "sizes"'],
    [{ files: [] }, {}, 'models[0].files: must list at least one file'],
  ])('names the bad field (%j, %j)', (entry, file, message) => {
    const error = errorOf(() => parseModelCatalog(catalog(entry, file), 'my.json'));
    expect(error.code).toBe('MODELS_ERR_CATALOG');
    expect(error.message).toContain('my.json: invalid model catalog: ');
    expect(error.message).toContain(message);
  });

  it('rejects a wrong version and duplicate roles, paths and names', () => {
    expect(errorOf(() => parseModelCatalog({ version: 2, models: [] }, 'c')).message).toContain(
      'version: must be 1',
    );
    const entry = {
      role: 'clip.text',
      unverified: true,
      files: [
        { source: 'https://h.example/a', path: 'same/a' },
        { name: 'a', source: 'https://h.example/b', path: 'same/b' },
      ],
    };
    const message = errorOf(() =>
      parseModelCatalog({ version: 1, models: [entry, { ...entry, files: [entry.files[0]] }] }, 'c'),
    ).message;
    expect(message).toContain('models[0].files[1].name: duplicate file name "a"');
    expect(message).toContain('models[1].role: duplicate role "clip.text"');
    expect(message).toContain('models[1].files[0].path: "same/a" is already the path of clip.text file "a"');
  });

  it('allows files without sha256 in unverified entries, and without source in export-required ones', () => {
    const parsed = parseModelCatalog(
      {
        version: 1,
        models: [
          {
            role: 'vlm',
            unverified: true,
            files: [{ source: 'https://h.example/a.onnx', path: 'v/a.onnx' }],
          },
          {
            role: 'sd.unet',
            exportRequired: { command: 'export {cache}/u' },
            files: [{ path: 'u/model.onnx' }],
          },
        ],
      },
      'c',
    );
    expect(parsed.models.map((m) => [m.role, m.unverified, m.exportRequired?.command])).toEqual([
      ['vlm', true, undefined],
      ['sd.unet', false, 'export {cache}/u'],
    ]);
    expect(exportCommandFor(parsed.models[1]!, '/cache')).toBe('export /cache/u');
  });

  it('throws MODELS_ERR_SOURCE naming the entry for a malformed source', () => {
    const error = errorOf(() =>
      parseModelCatalog(catalog({}, { source: 'hf://o/r/onnx/v.onnx' }), 'my.json'),
    );
    expect(error.code).toBe('MODELS_ERR_SOURCE');
    expect(error.message).toContain('my.json: models[0] (clip.vision) files[0] "v.onnx"');
  });
});

describe('loadModelCatalog', () => {
  it('reads a catalog file', async () => {
    const file = join(dir, 'ok.json');
    await writeFile(file, JSON.stringify(catalog()));
    expect((await loadModelCatalog(file)).models[0]!.role).toBe('clip.vision');
  });

  it('reports a missing file and invalid JSON as MODELS_ERR_CATALOG', async () => {
    await expect(loadModelCatalog(join(dir, 'none.json'))).rejects.toMatchObject({
      code: 'MODELS_ERR_CATALOG',
      message: expect.stringContaining('no such file'),
    });
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"version": 1,');
    await expect(loadModelCatalog(bad)).rejects.toMatchObject({
      code: 'MODELS_ERR_CATALOG',
      message: expect.stringContaining(`catalog ${bad} is not valid JSON`),
    });
  });
});

describe('DEFAULT_MODEL_CATALOG', () => {
  it('covers every role once, in the order of MODEL_ROLES', () => {
    expect(DEFAULT_MODEL_CATALOG.models.map((m) => m.role)).toEqual([...MODEL_ROLES]);
  });

  it('publishes no sha256 it could not check: downloadable entries are unverified', () => {
    for (const entry of DEFAULT_MODEL_CATALOG.models) {
      for (const file of entry.files) {
        expect(file.sha256).toBeUndefined();
      }
      expect(entry.unverified || entry.exportRequired !== undefined).toBe(true);
    }
  });

  it('downloads CLIP ViT-B/16 and Florence-2 from the Hub and exports SD2-inpainting and ResNet50', () => {
    const byRole = new Map(DEFAULT_MODEL_CATALOG.models.map((m) => [m.role, m]));
    expect(byRole.get('clip.vision')!.files[0]!.source?.uri).toBe(
      'hf://Xenova/clip-vit-base-patch16@main/onnx/vision_model.onnx',
    );
    expect(byRole.get('clip.text')!.files[0]!.source?.uri).toBe(
      'hf://Xenova/clip-vit-base-patch16@main/onnx/text_model.onnx',
    );
    expect(byRole.get('vlm')!.files.map((f) => f.name)).toEqual([
      'vision_encoder',
      'embed_tokens',
      'encoder',
      'decoder',
      'tokenizer',
      'tokenizer_config',
      'config',
      'generation_config',
      'preprocessor_config',
    ]);
    for (const role of ['sd.text_encoder', 'sd.vae_encoder', 'sd.vae_decoder', 'sd.unet'] as const) {
      expect(exportCommandFor(byRole.get(role)!, '/c')).toBe(
        'optimum-cli export onnx --model stabilityai/stable-diffusion-2-inpainting --task inpainting ' +
          '/c/stable-diffusion-2-inpainting-onnx/',
      );
    }
    expect(byRole.get('sd.unet')!.files.map((f) => f.path)).toEqual([
      'stable-diffusion-2-inpainting-onnx/unet/model.onnx',
      'stable-diffusion-2-inpainting-onnx/unet/model.onnx_data',
    ]);
    const resnet = exportCommandFor(byRole.get('classifier')!, '/c')!;
    for (const part of [
      "'/c/resnet50-imagenet1k-v2/model.onnx'",
      'ResNet50_Weights.IMAGENET1K_V2',
      'opset_version=17',
      "input_names=['input']",
      "output_names=['logits']",
      "dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}}",
    ]) {
      expect(resnet).toContain(part);
    }
  });

  it('round-trips its JSON form through the schema', () => {
    expect(parseModelCatalog(JSON.parse(JSON.stringify(DEFAULT_MODEL_CATALOG_JSON)), 'copy')).toEqual(
      DEFAULT_MODEL_CATALOG,
    );
  });
});

describe('resolveModelPath and defaultModelCacheDir', () => {
  const where = { catalog: DEFAULT_MODEL_CATALOG, cacheDir: '/var/cache/m' };

  it('joins the cache folder and the catalog path; the first file by default', () => {
    expect(resolveModelPath('clip.vision', undefined, where)).toBe(
      '/var/cache/m/Xenova/clip-vit-base-patch16/onnx/vision_model.onnx',
    );
    expect(resolveModelPath('sd.unet', 'model_data', where)).toBe(
      '/var/cache/m/stable-diffusion-2-inpainting-onnx/unet/model.onnx_data',
    );
    expect(
      resolveModelPath(
        'sd.tokenizer',
        'stabilityai/stable-diffusion-2-inpainting/tokenizer/merges.txt',
        where,
      ),
    ).toBe('/var/cache/m/stabilityai/stable-diffusion-2-inpainting/tokenizer/merges.txt');
  });

  it('throws MODELS_ERR_ROLE for unknown roles, absent roles and unknown files', () => {
    expect(errorOf(() => resolveModelPath('clip.image', undefined, where)).message).toContain(
      'unknown model role "clip.image"',
    );
    const partial = { catalog: parseModelCatalog(catalog(), 'c'), cacheDir: '/x' };
    expect(errorOf(() => resolveModelPath('vlm', undefined, partial)).message).toContain(
      'the catalog has no entry for role "vlm"',
    );
    const error = errorOf(() => resolveModelPath('sd.unet', 'weights', where));
    expect(error.code).toBe('MODELS_ERR_ROLE');
    expect(error.message).toContain('role "sd.unet" has no file "weights"; its files are model, model_data');
  });

  it('defaults the cache to ~/.cache/synood/models', () => {
    expect(defaultModelCacheDir('/home/u')).toBe('/home/u/.cache/synood/models');
  });
});
