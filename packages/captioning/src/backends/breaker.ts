/**
 * @file A circuit breaker for calls to a model server. When the server is down, failing every image of
 * every shard loses work (Immich #5888: the queue kept dispatching to an offline ML server and jobs
 * failed); the breaker instead stops sending after N consecutive failures and reports the server as
 * unavailable, so the stage pauses, then lets one probe request through after a cool-down.
 */
import { CaptionError, CaptionErrorCode, requireArg } from '../errors';
import type { BackendState } from '../backend';

/** Options of {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failed requests that open the breaker. @defaultValue 5 */
  failureThreshold?: number;
  /** Time the breaker stays open before a probe request is let through, in ms. @defaultValue 30000 */
  cooldownMs?: number;
  /** Clock in ms (tests inject one). @defaultValue `Date.now` */
  now?: () => number;
  /** Names the server in messages (its URL). */
  target?: string;
}

/** Permission to send one request; report its outcome with exactly one of the breaker's methods. */
export interface BreakerTicket {
  /** Whether this request is the half-open probe whose outcome decides the breaker's state. */
  readonly probe: boolean;
}

/**
 * Closed → (N consecutive failures) → open → (cool-down elapsed, next request) → half-open with one probe
 * in flight → closed on the probe's success, open again on its failure. While open, {@link acquire}
 * throws `CAPTION_ERR_UNAVAILABLE` without any request; while the probe is in flight, other requests wait
 * for its outcome.
 */
export class CircuitBreaker {
  private current: BackendState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private lastFailure = '';
  private probeDone: Promise<void> | undefined;
  private settleProbe: (() => void) | undefined;
  private readonly threshold: number;
  private readonly cooldownMs: number;
  private readonly now: () => number;
  private readonly target: string;

  constructor(options: CircuitBreakerOptions = {}) {
    this.threshold = options.failureThreshold ?? 5;
    this.cooldownMs = options.cooldownMs ?? 30_000;
    requireArg(
      Number.isSafeInteger(this.threshold) && this.threshold >= 1,
      `breaker failureThreshold must be a positive integer, got ${this.threshold}`,
    );
    requireArg(
      Number.isFinite(this.cooldownMs) && this.cooldownMs >= 0,
      `breaker cooldownMs must be a non-negative number, got ${this.cooldownMs}`,
    );
    this.now = options.now ?? Date.now;
    this.target = options.target ?? 'the model server';
  }

  /** `closed` (requests flow), `open` (none are sent) or `half-open` (one probe is in flight). */
  get state(): BackendState {
    return this.current;
  }

  /** Consecutive failures counted so far while closed. */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Remaining cool-down while open, in ms (0 otherwise). */
  get retryAfterMs(): number {
    return this.current === 'open' ? Math.max(0, this.openedAt + this.cooldownMs - this.now()) : 0;
  }

  /** The error callers get while the breaker is not closed. */
  unavailableError(): CaptionError {
    const retryAfterMs = this.retryAfterMs;
    return new CaptionError(
      CaptionErrorCode.Unavailable,
      `${this.target} is unavailable: its circuit breaker is ${this.current} (opens after ${this.threshold} ` +
        `consecutive failed requests; last failure: ${this.lastFailure}); next probe in ` +
        `${Math.ceil(retryAfterMs / 1000)} s`,
      { retryAfterMs },
    );
  }

  /**
   * Waits for permission to send one request.
   *
   * @throws CaptionError `CAPTION_ERR_UNAVAILABLE` (retryable) while the breaker is open.
   */
  async acquire(): Promise<BreakerTicket> {
    for (;;) {
      if (this.current === 'closed') {
        return { probe: false };
      }
      if (this.current === 'open') {
        if (this.now() - this.openedAt < this.cooldownMs) {
          throw this.unavailableError();
        }
        this.current = 'half-open';
      }
      if (this.probeDone === undefined) {
        this.probeDone = new Promise<void>((resolve) => {
          this.settleProbe = resolve;
        });
        return { probe: true };
      }
      await this.probeDone;
    }
  }

  /** The request reached a healthy server (any answer that is not 429/5xx/timeout/network failure). */
  success(ticket: BreakerTicket): void {
    if (ticket.probe) {
      this.current = 'closed';
      this.endProbe();
    }
    if (this.current === 'closed') {
      this.failures = 0;
    }
  }

  /** The request failed in a way that says the server is unhealthy; `reason` goes into messages. */
  failure(ticket: BreakerTicket, reason: string): void {
    this.lastFailure = reason;
    if (ticket.probe) {
      this.open();
      this.endProbe();
      return;
    }
    if (this.current === 'closed') {
      this.failures++;
      if (this.failures >= this.threshold) {
        this.open();
      }
    }
  }

  /** The request ended without telling anything about the server (the caller aborted it). */
  release(ticket: BreakerTicket): void {
    if (ticket.probe) {
      // Still half-open with no probe: the next request becomes the probe.
      this.endProbe();
    }
  }

  private open(): void {
    this.current = 'open';
    this.openedAt = this.now();
    this.failures = 0;
  }

  private endProbe(): void {
    const settle = this.settleProbe;
    this.probeDone = undefined;
    this.settleProbe = undefined;
    settle?.();
  }
}
