/**
 * Fixtures of the synthesizer tests: the shared ones from `@synood/test-fixtures`, plus the tiny SD parts.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { ARTIFACTS } from '@synood/contracts';
import { writeFixture } from '@synood/graph';
import { artifactKey } from '@synood/storage';
import { type TinyRun, tinyClipTokenizerJson } from '@synood/test-fixtures';

export * from '@synood/test-fixtures';

/** Tiny SD parts, as the diffusion package's model tests use them: VAE factor 2, base width 8, text width 16. */
export const SD = { width: 8, groups: 2, factor: 2, hidden: 16, heads: 2 } as const;

/** Paths of the fixture SD parts, classifier and prompt tokenizer. */
export interface SdFiles {
  textEncoder: string;
  vaeEncoder: string;
  vaeDecoder: string;
  unet: string;
  classifier: string;
  tokenizer: string;
}

/** Writes (or reuses) the SD fixtures and writes the tiny tokenizer into `dir`. */
export async function sdFiles(dir: string): Promise<SdFiles> {
  await mkdir(dir, { recursive: true });
  const tokenizer = join(dir, 'sd-tokenizer.json');
  await writeFile(tokenizer, JSON.stringify(tinyClipTokenizerJson()));
  return {
    textEncoder: await writeFixture('sd-text-encoder', SD),
    vaeEncoder: await writeFixture('vae-encoder', SD),
    vaeDecoder: await writeFixture('vae-decoder', SD),
    unet: await writeFixture('unet', SD),
    classifier: await writeFixture('resnet', { width: 4 }),
    tokenizer,
  };
}

/** The synthesizer's environment on the fixtures. */
export function sdEnv(storageDir: string, sd: SdFiles): Record<string, string> {
  return {
    SYNOOD_STORAGE_URL: storageDir,
    SYNOOD_SD_TEXT_ENCODER: sd.textEncoder,
    SYNOOD_SD_TOKENIZER: sd.tokenizer,
    SYNOOD_SD_VAE_ENCODER: sd.vaeEncoder,
    SYNOOD_SD_VAE_DECODER: sd.vaeDecoder,
    SYNOOD_SD_UNET: sd.unet,
    SYNOOD_CLASSIFIER_MODEL: sd.classifier,
    SYNOOD_VAE_SCALE_FACTOR: '2',
    SYNOOD_INTRA_OP_THREADS: '1',
    SYNOOD_LOG_LEVEL: 'fatal',
    SYNOOD_METRICS_PORT: '0',
  };
}

/**
 * Writes a caption shard's output: a prompt per item, except the first item, whose record carries an
 * error and no prompt.
 */
export async function writeCaptions(run: TinyRun, shard: number): Promise<void> {
  const lines = run.shards[shard]!.map((item, i) =>
    JSON.stringify({
      id: item.id,
      elements: i === 0 ? [] : ['grass', 'fence'],
      prompt: i === 0 ? '' : 'A photo only remain grass, fence.',
      raw: i === 0 ? '' : 'grass, fence',
      backend: 'clip-tags',
      model: 'clip',
      seconds: 0,
      ...(i === 0 ? { error: { code: 'CAPTION_ERR_NO_ELEMENTS', message: 'no tag' } } : {}),
    }),
  );
  await run.store.put(
    artifactKey({ runId: run.runId, stage: 'caption', shard, name: ARTIFACTS.caption.captions }),
    Buffer.from(lines.map((l) => `${l}\n`).join('')),
  );
}
