import { describe, expect, it } from '@jest/globals';

import { SynoodError } from '@synood/contracts';

import { QueueError, classifyError, codedMessage, errorCode, parseFailedReason } from '../src';

function errno(code: string, message = `connect ${code} 10.0.0.1:9000`): Error {
  return Object.assign(new Error(message), { code });
}

describe('classifyError', () => {
  it('treats UnrecoverableError as permanent, by name', () => {
    expect(classifyError(Object.assign(new Error('x'), { name: 'UnrecoverableError' }))).toBe('permanent');
  });

  it('follows a boolean retryable flag', () => {
    expect(classifyError(new SynoodError('API_ERR_UNAVAILABLE', 'storage down'))).toBe('transient');
    expect(classifyError(new SynoodError('JOB_ERR_PAYLOAD', 'bad payload'))).toBe('permanent');
    expect(
      classifyError(Object.assign(new Error('503'), { code: 'STORAGE_ERR_UNAVAILABLE', retryable: true })),
    ).toBe('transient');
  });

  it('retries socket and DNS errors, also when wrapped as a cause', () => {
    expect(classifyError(errno('ECONNREFUSED'))).toBe('transient');
    expect(classifyError(errno('EAI_AGAIN'))).toBe('transient');
    const wrapped = Object.assign(new Error('model server call failed', { cause: errno('ECONNRESET') }), {
      code: 'CAPTION_ERR_HTTP',
    });
    expect(classifyError(wrapped)).toBe('transient');
  });

  it('fails coded errors without a retry flag at once: they report bad input', () => {
    expect(classifyError(Object.assign(new Error('corrupt JPEG'), { code: 'VISION_ERR_DECODE' }))).toBe(
      'permanent',
    );
    expect(classifyError(new QueueError('QUEUE_ERR_RESULT', 'bad result'))).toBe('permanent');
  });

  it('retries uncoded errors (BullMQ default, bounded by attempts)', () => {
    expect(classifyError(new RangeError('Array buffer allocation failed'))).toBe('transient');
    expect(classifyError('a string')).toBe('transient');
    expect(classifyError(errno('ENOENT'))).toBe('transient');
  });

  it('terminates on a cyclic cause chain', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    Object.assign(a, { cause: b });
    expect(classifyError(a)).toBe('transient');
  });
});

describe('failed reasons', () => {
  it('round-trips a coded message', () => {
    expect(parseFailedReason(codedMessage('RUN_ERR_CANCELLED', 'run r-1: stopped'))).toEqual({
      code: 'RUN_ERR_CANCELLED',
      message: 'run r-1: stopped',
    });
  });

  it('leaves reasons without a platform code alone', () => {
    expect(parseFailedReason('job stalled more than allowable limit')).toEqual({
      message: 'job stalled more than allowable limit',
    });
    expect(parseFailedReason('Error: boom')).toEqual({ message: 'Error: boom' });
  });

  it('reads platform codes only', () => {
    expect(errorCode(errno('ECONNREFUSED'))).toBeUndefined();
    expect(errorCode(new SynoodError('ITEM_ERR_IMAGE', 'x'))).toBe('ITEM_ERR_IMAGE');
  });
});
