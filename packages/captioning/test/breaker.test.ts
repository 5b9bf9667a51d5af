import { describe, expect, it } from '@jest/globals';

import { CaptionError, CircuitBreaker } from '../src';

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 0;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

describe('CircuitBreaker', () => {
  it('opens after the threshold of consecutive failures and throws a retryable error while open', async () => {
    const c = clock();
    const b = new CircuitBreaker({ failureThreshold: 2, cooldownMs: 100, now: c.now, target: 'http://x' });
    b.failure(await b.acquire(), 'HTTP 500');
    expect(b.state).toBe('closed');
    expect(b.consecutiveFailures).toBe(1);
    b.failure(await b.acquire(), 'HTTP 502');
    expect(b.state).toBe('open');
    const err = await b.acquire().catch((e: unknown) => e as CaptionError);
    expect(err).toBeInstanceOf(CaptionError);
    expect((err as CaptionError).code).toBe('CAPTION_ERR_UNAVAILABLE');
    expect((err as CaptionError).retryable).toBe(true);
    expect((err as CaptionError).message).toContain('http://x is unavailable');
    expect((err as CaptionError).message).toContain('last failure: HTTP 502');
    c.advance(40);
    expect(b.retryAfterMs).toBe(60);
  });

  it('lets one probe through after the cool-down; the others wait for its outcome', async () => {
    const c = clock();
    const b = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 100, now: c.now });
    b.failure(await b.acquire(), 'down');
    c.advance(100);
    const probe = await b.acquire();
    expect(probe.probe).toBe(true);
    expect(b.state).toBe('half-open');
    let waited = false;
    const waiter = b.acquire().then((t) => {
      waited = true;
      return t;
    });
    await Promise.resolve();
    expect(waited).toBe(false);
    b.success(probe);
    const ticket = await waiter;
    expect(ticket.probe).toBe(false);
    expect(b.state).toBe('closed');
  });

  it('reopens on a failed probe; a released probe hands over to the next request', async () => {
    const c = clock();
    const b = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 100, now: c.now });
    b.failure(await b.acquire(), 'down');
    c.advance(100);
    const first = await b.acquire();
    const second = b.acquire();
    b.release(first);
    const next = await second;
    expect(next.probe).toBe(true);
    b.failure(next, 'still down');
    expect(b.state).toBe('open');
    expect(b.retryAfterMs).toBe(100);
    await expect(b.acquire()).rejects.toThrow(/still down/);
  });

  it('counts only consecutive failures and rejects bad options', async () => {
    const b = new CircuitBreaker({ failureThreshold: 2 });
    b.failure(await b.acquire(), 'x');
    b.success(await b.acquire());
    b.failure(await b.acquire(), 'y');
    expect(b.state).toBe('closed');
    expect(() => new CircuitBreaker({ failureThreshold: 0 })).toThrow(/failureThreshold/);
    expect(() => new CircuitBreaker({ cooldownMs: -1 })).toThrow(/cooldownMs/);
  });
});
