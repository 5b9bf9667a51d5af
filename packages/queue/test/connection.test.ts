import { describe, expect, it } from '@jest/globals';

import {
  QueueErrorCode,
  checkPrefix,
  parseRedisUrl,
  redactRedisUrl,
  redisOptions,
  resolveRedisOptions,
} from '../src';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

function messageOf(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    return (error as Error).message;
  }
  return '';
}

describe('parseRedisUrl', () => {
  it('reads host and port and defaults the database to 0', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379')).toEqual({
      host: '127.0.0.1',
      port: 6379,
      db: 0,
      tls: false,
    });
  });

  it('defaults the port to 6379', () => {
    expect(parseRedisUrl('redis://cache.internal')).toEqual({
      host: 'cache.internal',
      port: 6379,
      db: 0,
      tls: false,
    });
  });

  it('reads user, percent-decoded password, database and TLS from rediss://', () => {
    expect(parseRedisUrl('rediss://worker:p%40ss%2Fw0rd@redis.example.com:6380/3')).toEqual({
      host: 'redis.example.com',
      port: 6380,
      db: 3,
      tls: true,
      username: 'worker',
      password: 'p@ss/w0rd',
    });
  });

  it('takes a password without a user name (requirepass)', () => {
    expect(parseRedisUrl('redis://:secret@h:7000/15')).toEqual({
      host: 'h',
      port: 7000,
      db: 15,
      tls: false,
      password: 'secret',
    });
  });

  it('unbrackets IPv6 hosts', () => {
    expect(parseRedisUrl('redis://[::1]:7001/2')).toMatchObject({ host: '::1', port: 7001, db: 2 });
  });

  it.each([
    ['not a url', 'not a URL'],
    ['http://h:6379', 'scheme is http'],
    ['redis://h:99999', 'not a URL'],
    ['redis://h/abc', 'database "abc"'],
    ['redis://h/1/2', 'database "1/2"'],
    ['redis://h/70000', 'database "70000"'],
  ])('rejects %s with QUEUE_ERR_URL', (url, problem) => {
    expect(codeOf(() => parseRedisUrl(url))).toBe(QueueErrorCode.Url);
    expect(messageOf(() => parseRedisUrl(url))).toContain(problem);
  });

  it('never puts the password into an error message', () => {
    const message = messageOf(() => parseRedisUrl('redis://u:topsecret@h/x'));
    expect(message).toContain('redis://u:***@h/x');
    expect(message).not.toContain('topsecret');
  });
});

describe('redactRedisUrl', () => {
  it('masks the password and keeps everything else', () => {
    expect(redactRedisUrl('rediss://user:pw@host:1/2')).toBe('rediss://user:***@host:1/2');
    expect(redactRedisUrl('redis://:pw@host')).toBe('redis://:***@host');
    expect(redactRedisUrl('redis://host:6379')).toBe('redis://host:6379');
  });
});

describe('redisOptions', () => {
  it('gives workers maxRetriesPerRequest null (blocking commands survive reconnects)', () => {
    expect(redisOptions('redis://127.0.0.1:6379/1')).toEqual({
      host: '127.0.0.1',
      port: 6379,
      db: 1,
      maxRetriesPerRequest: null,
    });
  });

  it('makes producers fail fast while Redis is down', () => {
    expect(redisOptions('redis://h', 'producer')).toEqual({
      host: 'h',
      port: 6379,
      db: 0,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
    });
  });

  it('turns TLS on for rediss:// with the host as server name, and passes credentials', () => {
    expect(redisOptions('rediss://u:p@secure.example:6380')).toEqual({
      host: 'secure.example',
      port: 6380,
      db: 0,
      username: 'u',
      password: 'p',
      tls: { servername: 'secure.example' },
      maxRetriesPerRequest: null,
    });
  });

  it('applies the worker setting to given options without changing them', () => {
    const given = { host: 'h', port: 1, maxRetriesPerRequest: 3 };
    expect(resolveRedisOptions(given, 'worker')).toEqual({ host: 'h', port: 1, maxRetriesPerRequest: null });
    expect(given.maxRetriesPerRequest).toBe(3);
  });
});

describe('checkPrefix', () => {
  it('accepts plain and hash-tagged prefixes', () => {
    expect(checkPrefix('synood')).toBe('synood');
    expect(checkPrefix('{synood}')).toBe('{synood}');
  });

  it.each(['', 'has space', 'glob*', 'x'.repeat(65)])('rejects %j', (prefix) => {
    expect(codeOf(() => checkPrefix(prefix))).toBe(QueueErrorCode.Options);
  });
});
