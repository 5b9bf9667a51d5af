import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { ConfigError, envVar, loadCommonConfig, parseEnv } from '../src';

describe('loadCommonConfig', () => {
  it('applies defaults to an empty environment', () => {
    expect(loadCommonConfig({})).toEqual({
      redis: { url: 'redis://127.0.0.1:6379' },
      storage: { url: 'file://./.synood/storage' },
      log: { level: 'info' },
      onnx: { executionProvider: 'cpu', deviceId: 0 },
      models: { endpoint: 'https://huggingface.co' },
      client: { apiUrl: 'http://127.0.0.1:8080' },
    });
  });

  it('parses set values and treats empty strings as unset', () => {
    const c = loadCommonConfig({
      REDIS_URL: 'redis://redis:6380',
      SYNOOD_EXECUTION_PROVIDER: 'cuda',
      SYNOOD_CUDA_DEVICE: '2',
      SYNOOD_INTRA_OP_THREADS: '4',
      SYNOOD_LOG_LEVEL: '',
    });
    expect(c.redis.url).toBe('redis://redis:6380');
    expect(c.onnx).toEqual({ executionProvider: 'cuda', deviceId: 2, intraOpThreads: 4 });
    expect(c.log.level).toBe('info');
  });

  it('gives clients the API URL and the first API key', () => {
    expect(
      loadCommonConfig({ SYNOOD_API_URL: 'https://api.example', SYNOOD_API_KEY: 'k1, k2' }).client,
    ).toEqual({
      apiUrl: 'https://api.example',
      apiKey: 'k1',
    });
  });

  it('reads the model cache, Hub endpoint and token', () => {
    expect(
      loadCommonConfig({
        SYNOOD_MODEL_CACHE: '/models',
        HF_ENDPOINT: 'http://127.0.0.1:9000',
        HF_TOKEN: 'hf_x',
      }).models,
    ).toEqual({ cacheDir: '/models', endpoint: 'http://127.0.0.1:9000', token: 'hf_x' });
  });

  it('lists every bad variable in one error', () => {
    let error: unknown;
    try {
      loadCommonConfig({
        REDIS_URL: 'http://x',
        SYNOOD_CUDA_DEVICE: 'one',
        SYNOOD_EXECUTION_PROVIDER: 'tpu',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const e = error as ConfigError;
    expect(e.code).toBe('CONFIG_ERR_INVALID');
    expect(e.issues.map((i) => i.variable).sort()).toEqual([
      'REDIS_URL',
      'SYNOOD_CUDA_DEVICE',
      'SYNOOD_EXECUTION_PROVIDER',
    ]);
    expect(e.message).toMatch(/3 problems/);
  });
});

describe('envVar', () => {
  it('parses booleans, lists and bounded integers', () => {
    const schema = z.object({ A: envVar.bool(), B: envVar.list(), C: envVar.int(1, 8) });
    expect(parseEnv(schema, { A: 'Yes', B: ' x, ,y ', C: '8' })).toEqual({ A: true, B: ['x', 'y'], C: 8 });
    expect(() => parseEnv(schema, { A: 'maybe', B: 'x', C: '9' })).toThrow(
      /A: expected true\/false[\s\S]*C:/,
    );
  });
});
