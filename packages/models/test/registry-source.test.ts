import { describe, expect, it } from '@jest/globals';

import {
  ModelRegistryError,
  type ModelSource,
  hfResolveUrl,
  normalizeHfEndpoint,
  parseModelSource,
} from '../src/registry';

const ENTRY = 'clip.vision file "model"';

function errorOf(fn: () => unknown): ModelRegistryError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ModelRegistryError);
    return error as ModelRegistryError;
  }
  throw new Error('expected a throw');
}

describe('parseModelSource', () => {
  it('parses hf://owner/repo@revision/path', () => {
    expect(parseModelSource('hf://Xenova/clip-vit-base-patch16@main/onnx/vision_model.onnx', ENTRY)).toEqual({
      scheme: 'hf',
      uri: 'hf://Xenova/clip-vit-base-patch16@main/onnx/vision_model.onnx',
      owner: 'Xenova',
      repo: 'clip-vit-base-patch16',
      revision: 'main',
      path: 'onnx/vision_model.onnx',
    });
  });

  it('keeps a percent-encoded ref and a commit hash as the revision', () => {
    const pr = parseModelSource('hf://o/r@refs%2Fpr%2F3/a.json', ENTRY) as Extract<
      ModelSource,
      { scheme: 'hf' }
    >;
    expect(pr.revision).toBe('refs%2Fpr%2F3');
    const sha = 'a7cbb3082bec12e48b43f50ea12f93f4d31182f2';
    expect((parseModelSource(`hf://o/r@${sha}/x/y/z.onnx`, ENTRY) as { revision: string }).revision).toBe(
      sha,
    );
  });

  it('parses https:// and http:// URLs', () => {
    expect(parseModelSource('https://example.com/models/a.onnx?x=1', ENTRY)).toEqual({
      scheme: 'http',
      uri: 'https://example.com/models/a.onnx?x=1',
      url: 'https://example.com/models/a.onnx?x=1',
    });
    expect(parseModelSource('http://127.0.0.1:9000/a.onnx', ENTRY)).toMatchObject({ scheme: 'http' });
  });

  it('parses s3://bucket/key', () => {
    expect(parseModelSource('s3://synood-models/clip/vision.onnx', ENTRY)).toEqual({
      scheme: 's3',
      uri: 's3://synood-models/clip/vision.onnx',
      bucket: 'synood-models',
      key: 'clip/vision.onnx',
    });
  });

  it('parses file:///absolute/path, decoding escapes', () => {
    expect(parseModelSource('file:///opt/models/my%20model.onnx', ENTRY)).toEqual({
      scheme: 'file',
      uri: 'file:///opt/models/my%20model.onnx',
      path: '/opt/models/my model.onnx',
    });
    expect(parseModelSource('file://localhost/opt/a.onnx', ENTRY)).toMatchObject({ path: '/opt/a.onnx' });
  });

  it.each([
    ['hf://Xenova/clip@main', 'is not of the form hf://owner/repo@revision/path'],
    ['hf://Xenova/clip/onnx/a.onnx', 'is not of the form hf://owner/repo@revision/path'],
    ['hf://Xenova@main/a.onnx', 'is not of the form hf://owner/repo@revision/path'],
    ['hf://-bad/clip@main/a.onnx', 'invalid repository'],
    ['hf://o/r@main/../secret', 'invalid file path'],
    ['hf://o/r@ma in/a.onnx', 'invalid revision'],
    ['s3://bucket', 'is not of the form s3://bucket/key'],
    ['s3://Bad_Bucket/key', 'invalid bucket name'],
    ['file://server/share/a.onnx', 'remote host'],
    ['file:///opt/models/', 'names a folder'],
    ['https://', 'is not a valid URL'],
    ['https://example.com/', 'names no file'],
    ['ftp://example.com/a.onnx', 'unsupported scheme "ftp://"'],
    ['models/a.onnx', 'has no scheme'],
  ])('rejects %s with MODELS_ERR_SOURCE naming the entry', (uri, problem) => {
    const error = errorOf(() => parseModelSource(uri, ENTRY));
    expect(error.code).toBe('MODELS_ERR_SOURCE');
    expect(error.message).toContain(ENTRY);
    expect(error.message).toContain(JSON.stringify(uri));
    expect(error.message).toContain(problem);
  });
});

describe('hfResolveUrl', () => {
  const source = parseModelSource(
    'hf://Xenova/clip-vit-base-patch16@main/onnx/vision_model.onnx',
    ENTRY,
  ) as Extract<ModelSource, { scheme: 'hf' }>;

  it('maps to <endpoint>/owner/repo/resolve/revision/path on the Hub by default', () => {
    expect(hfResolveUrl(source)).toBe(
      'https://huggingface.co/Xenova/clip-vit-base-patch16/resolve/main/onnx/vision_model.onnx',
    );
  });

  it('uses a mirror endpoint, with or without a trailing slash or path prefix', () => {
    expect(hfResolveUrl(source, 'http://127.0.0.1:8080/')).toBe(
      'http://127.0.0.1:8080/Xenova/clip-vit-base-patch16/resolve/main/onnx/vision_model.onnx',
    );
    expect(hfResolveUrl(source, 'https://mirror.example/hf')).toBe(
      'https://mirror.example/hf/Xenova/clip-vit-base-patch16/resolve/main/onnx/vision_model.onnx',
    );
  });

  it('percent-encodes path segments', () => {
    const spaced = parseModelSource('hf://o/r@v1/dir/a b#.json', ENTRY) as Extract<
      ModelSource,
      { scheme: 'hf' }
    >;
    expect(hfResolveUrl(spaced, 'https://h.example')).toBe(
      'https://h.example/o/r/resolve/v1/dir/a%20b%23.json',
    );
  });

  it('rejects an endpoint that is not an http(s) URL', () => {
    expect(errorOf(() => normalizeHfEndpoint('huggingface.co')).code).toBe('MODELS_ERR_OPTIONS');
    expect(errorOf(() => normalizeHfEndpoint('ftp://h.example')).code).toBe('MODELS_ERR_OPTIONS');
  });
});
