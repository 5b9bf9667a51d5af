import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { describe, expect, it } from '@jest/globals';

import { FileStore, S3Store, StorageError, openStore, parseS3Url, s3ClientConfig } from '../src';

function errorOf(fn: () => unknown): StorageError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(StorageError);
    return error as StorageError;
  }
  throw new Error('expected a StorageError');
}

describe('openStore', () => {
  it('opens a file store from a file URL, an absolute path or a relative path', async () => {
    const dir = join(tmpdir(), 'synood-open-store');
    const fromUrl = openStore(`file://${dir}`);
    expect(fromUrl).toBeInstanceOf(FileStore);
    expect(fromUrl.url).toBe(`file://${dir}`);
    const fromPath = openStore(dir);
    expect(fromPath).toBeInstanceOf(FileStore);
    expect(fromPath.url).toBe(`file://${dir}`);
    expect(openStore('relative/data').url).toBe(`file://${resolve('relative/data')}`);
    await fromUrl.close();
  });

  it('opens an S3 store and normalises its URL', async () => {
    const store = openStore('s3://my-bucket/some/prefix/', { s3: { endpoint: 'http://127.0.0.1:9000' } });
    expect(store).toBeInstanceOf(S3Store);
    expect(store.url).toBe('s3://my-bucket/some/prefix');
    await store.close();
  });

  it.each(['http://example.com/data', 'gs://bucket/x', 'hdfs://nn/x'])(
    'rejects %s naming the URL and the supported schemes',
    (url) => {
      const error = errorOf(() => openStore(url));
      expect(error.code).toBe('STORAGE_ERR_URL');
      expect(error.message).toContain(JSON.stringify(url));
      expect(error.message).toContain('file://, s3://');
    },
  );
});

describe('S3 URL and options', () => {
  it('parses bucket and prefix', () => {
    expect(parseS3Url('s3://b1')).toEqual({ bucket: 'b1', prefix: '' });
    expect(parseS3Url('s3://b1/')).toEqual({ bucket: 'b1', prefix: '' });
    expect(parseS3Url('s3://datasets.example/imagenet/train/')).toEqual({
      bucket: 'datasets.example',
      prefix: 'imagenet/train',
    });
  });

  it.each(['s3://', 's3:///x', 's3://b/a//c', 's3://b/../x', 's3://-bad'])('rejects %s', (url) => {
    expect(errorOf(() => parseS3Url(url)).code).toBe('STORAGE_ERR_URL');
  });

  it('defaults region to us-east-1 and path style to "endpoint given"', () => {
    expect(s3ClientConfig({})).toMatchObject({ region: 'us-east-1', forcePathStyle: false });
    expect(s3ClientConfig({}).credentials).toBeUndefined();
    expect(s3ClientConfig({ endpoint: 'http://minio:9000' })).toMatchObject({
      endpoint: 'http://minio:9000',
      forcePathStyle: true,
    });
    expect(s3ClientConfig({ endpoint: 'http://minio:9000', forcePathStyle: false }).forcePathStyle).toBe(
      false,
    );
    expect(s3ClientConfig({ accessKeyId: 'k', secretAccessKey: 's', region: 'eu-west-1' })).toMatchObject({
      region: 'eu-west-1',
      credentials: { accessKeyId: 'k', secretAccessKey: 's' },
    });
  });

  it.each([
    [{ partSize: 5 * 1024 * 1024 - 1 }, 'partSize'],
    [{ queueSize: 0 }, 'queueSize'],
    [{ listPageSize: 1001 }, 'listPageSize'],
    [{ maxAttempts: 0 }, 'maxAttempts'],
    [{ accessKeyId: 'only-the-key' }, 'accessKeyId and secretAccessKey'],
    [{ endpoint: 'minio:9000' }, 'endpoint'],
  ])('rejects %j naming %s', (options, field) => {
    const error = errorOf(() => new S3Store('s3://bucket', options));
    expect(error.code).toBe('STORAGE_ERR_CONFIG');
    expect(error.message).toContain(field);
  });
});
