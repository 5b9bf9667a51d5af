import { describe, expect, it } from '@jest/globals';

import { loadEncoderConfig } from '../src';

describe('the shared environment', () => {
  it('parses booleans, lists and numbers once, with defaults', () => {
    const config = loadEncoderConfig({
      SYNOOD_S3_ENDPOINT: 'http://127.0.0.1:9000',
      SYNOOD_S3_FORCE_PATH_STYLE: 'yes',
      SYNOOD_QUEUE_PREFIX: '{synood}',
    });
    expect(config.runtime.s3).toEqual({ endpoint: 'http://127.0.0.1:9000', forcePathStyle: true });
    expect(config.runtime.queue.prefix).toBe('{synood}');
    expect(config.runtime.metrics).toEqual({ port: 9464, host: '0.0.0.0' });
    expect(config.runtime.shutdownTimeoutMs).toBe(30_000);
    expect(config.batch).toEqual({ images: 32, texts: 256 });
    expect(config.runtime.common.storage.url).toBe('file://./.synood/storage');
  });
});
