import { performance } from 'node:perf_hooks';

import { MetricsError, MetricsErrorCode } from './errors';

/** Options of {@link RateMeter}. */
export interface RateMeterOptions {
  /**
   * Length of the sliding window. Two 15 s scrape intervals by default: long enough to smooth over
   * shard-sized bursts (a worker marks 64 images at once), short enough to show a stall within a
   * minute. @defaultValue 30
   */
  windowSeconds?: number;
}

/**
 * Events per second over a sliding window, for the `stage_images_per_second` gauge: the harness calls
 * {@link RateMeter.mark} when a batch finishes and sets the gauge from {@link RateMeter.rate}.
 *
 * The rate at time `t` is the sum of the counts marked at times in `(t − W, t]` divided by `W` seconds.
 * During the first window after start it therefore ramps up from 0 instead of extrapolating from a few
 * marks. Times are milliseconds on a monotonic clock (`performance.now()`, the default); pass them
 * explicitly for deterministic tests. Memory is one entry per mark inside the window.
 */
export class RateMeter {
  /** Window length in milliseconds. */
  readonly windowMs: number;
  private times: number[] = [];
  private counts: number[] = [];
  private head = 0;
  private sum = 0;
  private lastMs = -Infinity;

  constructor(options: RateMeterOptions = {}) {
    const seconds = options.windowSeconds ?? 30;
    if (!Number.isFinite(seconds) || seconds <= 0) {
      throw new MetricsError(
        MetricsErrorCode.Argument,
        `RateMeter windowSeconds must be a finite number > 0, got ${String(seconds)}`,
      );
    }
    this.windowMs = seconds * 1000;
  }

  /**
   * Records `count` events at `nowMs`.
   *
   * @throws MetricsError `METRICS_ERR_ARGUMENT` for a negative or non-finite count, or a time earlier
   * than the previous call's.
   */
  mark(count: number, nowMs: number = performance.now()): void {
    if (!Number.isFinite(count) || count < 0) {
      throw new MetricsError(
        MetricsErrorCode.Argument,
        `RateMeter.mark count must be a finite number ≥ 0, got ${String(count)}`,
      );
    }
    this.advance(nowMs, 'mark');
    if (count > 0) {
      this.times.push(nowMs);
      this.counts.push(count);
      this.sum += count;
    }
  }

  /**
   * Events per second over the window ending at `nowMs`.
   *
   * @throws MetricsError `METRICS_ERR_ARGUMENT` for a time earlier than the previous call's.
   */
  rate(nowMs: number = performance.now()): number {
    this.advance(nowMs, 'rate');
    return this.sum / (this.windowMs / 1000);
  }

  private advance(nowMs: number, method: string): void {
    if (!Number.isFinite(nowMs) || nowMs < this.lastMs) {
      throw new MetricsError(
        MetricsErrorCode.Argument,
        `RateMeter.${method} nowMs must be finite and not earlier than the previous call's ` +
          `(${this.lastMs} ms), got ${String(nowMs)}; use a monotonic clock such as performance.now()`,
      );
    }
    this.lastMs = nowMs;
    const cutoff = nowMs - this.windowMs;
    while (this.head < this.times.length && this.times[this.head]! <= cutoff) {
      this.sum -= this.counts[this.head]!;
      this.head++;
    }
    if (this.head === this.times.length) {
      // Restarting the sum when the window empties drops float error accumulated by fractional counts.
      this.times = [];
      this.counts = [];
      this.head = 0;
      this.sum = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.times.length) {
      // Dropping evicted entries only once they are many and at least half keeps eviction amortised O(1).
      this.times = this.times.slice(this.head);
      this.counts = this.counts.slice(this.head);
      this.head = 0;
    }
  }
}
