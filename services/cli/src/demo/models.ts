/**
 * The pipeline demo's models: tiny fixture networks from `@synood/graph` (CLIP towers, the SD 2
 * inpainting parts at factor 2, a ResNet classifier) and the letter tokenizer, listed in a catalog with
 * `file://` sources and sha256 pins, then pulled into a model cache by the real registry code, so the
 * services load them exactly as they load real models (`SYNOOD_MODEL_CATALOG`, `SYNOOD_MODEL_CACHE`).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { type FixtureKind, writeFixture } from '@synood/graph';
import { type ModelCatalogInput, parseModelCatalog, pullModels } from '@synood/models';

import { tinyClipTokenizerJson } from './tokenizer';

/** Image side of the fixture CLIP vision tower. */
export const DEMO_CLIP_IMAGE_SIZE = 32;
/** Embedding width of the fixture CLIP towers. */
export const DEMO_EMBED_DIM = 16;
/**
 * SD fixture shape: VAE factor 2 (so `SYNOOD_VAE_SCALE_FACTOR=2`), 8 base channels, a 16-wide text
 * encoder; small enough that a 32² synthesis step takes milliseconds on one core.
 */
export const DEMO_SD = { width: 8, groups: 2, factor: 2, hidden: 16, heads: 2 } as const;
/** `SYNOOD_VAE_SCALE_FACTOR` of {@link DEMO_SD}. */
export const DEMO_VAE_SCALE_FACTOR = DEMO_SD.factor;

/** Where the demo's models ended up. */
export interface DemoModels {
  /** The catalog JSON (`SYNOOD_MODEL_CATALOG`). */
  catalogFile: string;
  /** The model cache the catalog was pulled into (`SYNOOD_MODEL_CACHE`). */
  cacheDir: string;
  /** Files pulled (copied) by this call; 0 when the cache already held verified copies. */
  pulled: number;
}

interface DemoModelFile {
  role: string;
  path: string;
  build: (dir: string) => Promise<string>;
}

function fixture(kind: FixtureKind, options: object): (dir: string) => Promise<string> {
  return (dir) => writeFixture(kind, options, dir);
}

const MODEL_FILES: readonly DemoModelFile[] = [
  {
    role: 'clip.vision',
    path: 'demo-clip/vision.onnx',
    build: fixture('clip-vision', { seed: 3, imageSize: DEMO_CLIP_IMAGE_SIZE, embedDim: DEMO_EMBED_DIM }),
  },
  {
    role: 'clip.text',
    path: 'demo-clip/text.onnx',
    build: fixture('clip-text', { seed: 4, embedDim: DEMO_EMBED_DIM }),
  },
  { role: 'clip.tokenizer', path: 'demo-clip/tokenizer.json', build: writeTokenizer },
  { role: 'sd.text_encoder', path: 'demo-sd/text_encoder.onnx', build: fixture('sd-text-encoder', DEMO_SD) },
  { role: 'sd.tokenizer', path: 'demo-sd/tokenizer.json', build: writeTokenizer },
  { role: 'sd.vae_encoder', path: 'demo-sd/vae_encoder.onnx', build: fixture('vae-encoder', DEMO_SD) },
  { role: 'sd.vae_decoder', path: 'demo-sd/vae_decoder.onnx', build: fixture('vae-decoder', DEMO_SD) },
  { role: 'sd.unet', path: 'demo-sd/unet.onnx', build: fixture('unet', DEMO_SD) },
  { role: 'classifier', path: 'demo-classifier/resnet.onnx', build: fixture('resnet', { width: 4 }) },
];

async function writeTokenizer(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'tokenizer.json');
  await writeFile(path, JSON.stringify(tinyClipTokenizerJson()));
  return path;
}

/**
 * Writes the fixtures into `<root>/fixtures`, the catalog to `<root>/catalog.json` and pulls it into
 * `<root>/models`. Fixture files are content-addressed, so a second call reuses them and the pull only
 * re-verifies.
 *
 * @throws ModelRegistryError when a pulled file does not match its pin (a corrupted cache).
 */
export async function prepareDemoModels(root: string): Promise<DemoModels> {
  const fixtures = join(root, 'fixtures');
  const entries = new Map<string, { path: string; source: string; sha256: string; size: number }[]>();
  for (const file of MODEL_FILES) {
    const written = await file.build(fixtures);
    const bytes = await readFile(written);
    const list = entries.get(file.role) ?? [];
    list.push({
      path: file.path,
      source: pathToFileURL(written).href,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.byteLength,
    });
    entries.set(file.role, list);
  }
  const input: ModelCatalogInput = {
    version: 1,
    models: [...entries].map(([role, files]) => ({
      role: role as ModelCatalogInput['models'][number]['role'],
      description: `synood demo fixture (${role}): random weights, no meaningful output`,
      files,
    })),
  };
  const catalog = parseModelCatalog(input, 'the demo catalog');
  const catalogFile = join(root, 'catalog.json');
  await writeFile(catalogFile, `${JSON.stringify(input, null, 2)}\n`);
  const cacheDir = join(root, 'models');
  const report = await pullModels({ catalog, cacheDir, offline: false, concurrency: 2, retries: 0 });
  return {
    catalogFile,
    cacheDir,
    pulled: report.files.filter((f) => f.outcome === 'copied' || f.outcome === 'downloaded').length,
  };
}
