/**
 * @file Bounded concurrency over a list, stopping at the first thrown error.
 */

/**
 * Runs `fn` over `items` with at most `concurrency` calls in flight; results are in item order. The
 * first call that throws stops new calls from starting, aborts the signal given to the calls in flight
 * (with that error as the reason), and is rethrown once they settle. The caller's `signal` is forwarded.
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number, signal: AbortSignal) => Promise<R>,
  signal?: AbortSignal,
): Promise<R[]> {
  const controller = new AbortController();
  const forward = (): void => {
    controller.abort(signal?.reason);
  };
  if (signal?.aborted === true) {
    forward();
  }
  signal?.addEventListener('abort', forward, { once: true });
  const results = new Array<R>(items.length);
  // An object, not `let`s: the workers write it across awaits, which flow analysis does not follow.
  const run: { next: number; failed: boolean; error: unknown } = { next: 0, failed: false, error: undefined };
  const fail = (err: unknown): void => {
    if (!run.failed) {
      run.failed = true;
      run.error = err;
      controller.abort(err);
    }
  };
  const worker = async (): Promise<void> => {
    while (!run.failed && run.next < items.length) {
      const i = run.next++;
      try {
        results[i] = await fn(items[i]!, i, controller.signal);
      } catch (err) {
        fail(err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  } finally {
    signal?.removeEventListener('abort', forward);
  }
  if (run.failed) {
    throw run.error;
  }
  return results;
}
