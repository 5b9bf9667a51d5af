/**
 * Shared test helpers: tiny encoded images and a scripted fake backend.
 */
import { encodeJpeg, encodePng } from '@synood/vision';

import type { BackendRecord, CaptionBackend, CaptionItem } from '../src';

/** A `size`×`size` PNG of one colour. */
export async function solidPng(r: number, g: number, b: number, size = 8): Promise<Buffer> {
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < size * size; i++) {
    data.set([r, g, b], i * 3);
  }
  return encodePng({ width: size, height: size, data });
}

/** A `size`×`size` JPEG of one colour. */
export async function solidJpeg(r: number, g: number, b: number, size = 8): Promise<Buffer> {
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < size * size; i++) {
    data.set([r, g, b], i * 3);
  }
  return encodeJpeg({ width: size, height: size, data });
}

/** A backend that answers from a table (id → answer or failure) and records the calls it got. */
export class ScriptedBackend implements CaptionBackend {
  readonly name = 'scripted';
  readonly model = 'scripted-model';
  readonly state = 'closed' as const;
  readonly calls: (readonly CaptionItem[])[] = [];

  constructor(
    private readonly answers: Readonly<Record<string, string | { code: string; message: string } | Error>>,
  ) {}

  caption(items: readonly CaptionItem[]): Promise<BackendRecord[]> {
    this.calls.push(items);
    const records = items.map((item): BackendRecord => {
      const a = this.answers[item.id];
      if (a instanceof Error) {
        throw a;
      }
      if (a === undefined || typeof a !== 'string') {
        return {
          id: item.id,
          raw: '',
          error: a ?? { code: 'CAPTION_ERR_SERVER', message: 'no answer' },
          ms: 1,
          attempts: 1,
        };
      }
      return { id: item.id, raw: a, ms: 2, attempts: 1 };
    });
    return Promise.resolve(records);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
